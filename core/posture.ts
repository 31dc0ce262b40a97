// The deployment's own settings checked against the controls PRODUCT.md names. Used by
// GET /api/v1/posture and `cairn posture`. Each check says what it found, why it matters, and
// which framework controls it evidences.
import type { Directory } from './index.js';
import { ApiKeys } from './api-keys.js';
import type { MfaMode } from './types.js';

export interface PostureCheck {
  id: string;
  title: string;
  status: 'pass' | 'fail';
  /** What was found, in one sentence. */
  finding: string;
  /** Why it matters. */
  why: string;
  frameworks: { cis: string[]; nist80053: string[]; hipaa: string[]; gdpr: string[] };
}

export interface PostureReport {
  generatedAt: Date;
  passed: number;
  failed: number;
  checks: PostureCheck[];
}

// "optional" does not pass: a user who never enrols keeps signing in with a password alone.
const mfaFinding = (service: string, mode: MfaMode) => ({
  required: `${service} logins require a second factor.`,
  optional: `${service} logins require a second factor only from users who enrolled one; the others sign in with a password alone.`,
  off: `${service} logins accept a password alone.`,
})[mode];

const fw = (cis: string[], nist80053: string[], hipaa: string[], gdpr: string[] = ['Art. 32(1)(b)']) => ({ cis, nist80053, hipaa, gdpr });

export async function postureReport(dir: Directory, orgId: string): Promise<PostureReport> {
  const [pw, mfa, admins, keys] = await Promise.all([
    dir.policies.passwordPolicy(orgId),
    dir.policies.mfaPolicy(orgId),
    dir.admins.list(orgId),
    new ApiKeys(dir.deps).list(orgId),
  ]);
  const t = Date.now();
  const liveKeys = keys.filter((k) => !k.revokedAt && k.expiresAt.getTime() > t);
  const activeAdmins = admins.filter((a) => a.state === 'active');
  const checks: PostureCheck[] = [];
  const check = (c: Omit<PostureCheck, 'status'> & { ok: boolean }) => {
    const { ok, ...rest } = c;
    checks.push({ ...rest, status: ok ? 'pass' : 'fail' });
  };

  check({
    id: 'admin_mfa_required', ok: mfa.mode.admin === 'required', title: 'MFA is required for administrators',
    finding: mfaFinding('Admin', mfa.mode.admin),
    why: 'A stolen administrator password alone must not give control of the directory.',
    frameworks: fw(['6.5'], ['IA-2(1)'], ['164.312(d)']),
  });
  const withoutMfa = activeAdmins.filter((a) => !a.totpEnrolled);
  check({
    id: 'admins_enrolled_mfa', ok: withoutMfa.length === 0, title: 'Every administrator has enrolled a second factor',
    finding: withoutMfa.length ? `${withoutMfa.length} active admin(s) without TOTP: ${withoutMfa.map((a) => a.username).slice(0, 10).join(', ')}.` : 'All active admins have TOTP.',
    why: 'An admin without a second factor is one phished password away from a takeover.',
    frameworks: fw(['6.5'], ['IA-2(1)'], ['164.312(d)']),
  });
  const administrators = activeAdmins.filter((a) => a.role === 'administrator').length;
  check({
    id: 'administrator_count', ok: administrators <= 3, title: 'At most three Administrators',
    finding: `${administrators} active Administrator(s).`,
    why: 'Least privilege: day-to-day work belongs to Manager, Help Desk and Read Only roles.',
    frameworks: fw(['5.4'], ['AC-6(1)', 'AC-6(5)'], ['164.308(a)(4)']),
  });
  const strong = pw.minLength >= 12 || (pw.minLength >= 8 && pw.minClasses >= 3);
  check({
    id: 'password_policy_strength', ok: strong && pw.notContainUsername, title: 'Password policy is strong',
    finding: `Minimum length ${pw.minLength}, ${pw.minClasses} character classes, username ${pw.notContainUsername ? 'refused' : 'allowed'}, history ${pw.historyCount}.`,
    why: 'Short or simple passwords fall to guessing and credential stuffing.',
    frameworks: fw(['5.2'], ['IA-5(1)'], ['164.308(a)(5)(ii)(D)']),
  });
  const lockoutOn = pw.lockoutThreshold > 0 && pw.lockoutThreshold <= 10;
  check({
    id: 'lockout_enabled', ok: lockoutOn, title: 'Lockout after repeated failures',
    finding: pw.lockoutThreshold > 0 ? `Locked for ${pw.lockoutMinutes} min after ${pw.lockoutThreshold} failures.` : 'Lockout is off.',
    why: 'Without lockout, online password guessing is unbounded.',
    frameworks: fw(['6.2'], ['AC-7'], ['164.312(a)(1)']),
  });
  for (const proto of ['radius', 'sso'] as const) {
    check({
      id: `${proto}_mfa_required`, ok: mfa.mode[proto] === 'required', title: `MFA is required for ${proto === 'radius' ? 'RADIUS (VPN, WiFi)' : 'SSO applications'}`,
      finding: mfaFinding(proto === 'radius' ? 'RADIUS' : 'SSO', mfa.mode[proto]),
      why: proto === 'radius' ? 'Remote network access is the first thing an attacker with a password tries.' : 'SaaS applications hold the organization\'s data.',
      frameworks: fw(proto === 'radius' ? ['6.4'] : ['6.3'], ['IA-2(1)', 'IA-2(2)'], ['164.312(d)']),
    });
  }
  const maxDays = dir.config.api.keyMaxDays;
  const longLived = liveKeys.filter((k) => k.expiresAt.getTime() - k.createdAt.getTime() > 90 * 86400_000);
  check({
    id: 'api_keys_expire', ok: maxDays <= 365 && longLived.length === 0, title: 'API keys expire within 90 days',
    finding: `${liveKeys.length} live key(s); ${longLived.length} with a lifetime over 90 days; keys may live at most ${maxDays} days.`,
    why: 'A stolen key that never expires is a permanent back door (the 2023 breach of the best-known vendor).',
    frameworks: fw(['5.4', '6.2'], ['IA-5(1)', 'AC-2(3)'], ['164.308(a)(4)']),
  });
  const unrestricted = liveKeys.filter((k) => k.allowedCidrs.length === 0);
  check({
    id: 'api_keys_ip_restricted', ok: unrestricted.length === 0, title: 'API keys are bound to source addresses',
    finding: unrestricted.length ? `${unrestricted.length} live key(s) usable from any address: ${unrestricted.map((k) => k.name).slice(0, 10).join(', ')}.` : 'Every live key has an IP allow-list.',
    why: 'A key bound to its integration\'s addresses is useless to whoever steals it.',
    frameworks: fw(['6.4', '13.5'], ['AC-17', 'SC-7'], ['164.312(e)(1)']),
  });
  const stale = liveKeys.filter((k) => !k.lastUsedAt || t - k.lastUsedAt.getTime() > 30 * 86400_000);
  check({
    id: 'api_keys_in_use', ok: stale.length === 0, title: 'No dormant API keys',
    finding: stale.length ? `${stale.length} live key(s) unused for 30 days or never used.` : 'Every live key was used in the last 30 days.',
    why: 'Dormant credentials are forgotten credentials: revoke them.',
    frameworks: fw(['5.3'], ['AC-2(3)'], ['164.308(a)(3)(ii)(C)']),
  });
  const exportOn = !!(dir.config.api.webhook.url && dir.config.api.webhook.secret);
  check({
    id: 'audit_export_configured', ok: exportOn, title: 'Audit events are exported',
    finding: exportOn ? 'A signed webhook receives every audit event.' : 'No audit export configured (api.webhook.url).',
    why: 'An attacker who controls the server can also delete its local logs; a SIEM copy survives.',
    frameworks: fw(['8.2', '8.9'], ['AU-2', 'AU-6', 'AU-9(2)'], ['164.312(b)'], ['Art. 32(1)(d)']),
  });
  return { generatedAt: new Date(), passed: checks.filter((c) => c.status === 'pass').length, failed: checks.filter((c) => c.status === 'fail').length, checks };
}
