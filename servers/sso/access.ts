// The decision when a browser that already has an SSO session reaches an app: the same facts
// the core's authenticate() checks after the password (state, group grant, access rules, MFA
// policy), without asking for the password again. Every decision is audited.
import { isCairnError, secondFactorNeeded, type Directory, type Org, type SsoApp, type User } from '../../core/index.js';
import type { SsoSession } from './session.js';

export type SessionDecision = { ok: true; user: User } | { ok: false; reason: 'gone' | 'not_assigned' | 'access_rule' | 'reauth' };

export async function authorizeSession(dir: Directory, org: Org, sess: Pick<SsoSession, 'userId' | 'mfa'>, app: SsoApp, clientIp: string | null, opts: { auditSuccess?: boolean } = {}): Promise<SessionDecision> {
  let user: User;
  try {
    user = await dir.users.get(org.id, sess.userId);
  } catch (err) {
    if (isCairnError(err) && err.code === 'not_found') return { ok: false, reason: 'gone' };
    throw err;
  }
  if (user.state !== 'active') return { ok: false, reason: 'gone' };
  const audit = (success: boolean, reason: string | null) =>
    dir.audit.record(
      { orgId: org.id, actor: { type: 'user', id: user.id, name: user.username }, clientIp, service: 'sso' },
      { eventType: 'sso.login', success, reason, mfaType: sess.mfa, actorEmail: user.email, resource: { type: 'sso_app', id: app.id, name: app.name }, changes: { via: 'session' } },
    );
  if (!(await dir.grants.allows(org.id, { type: 'sso_app', id: app.id }, user.groupIds))) {
    await audit(false, 'not_assigned');
    return { ok: false, reason: 'not_assigned' };
  }
  const access = await dir.policies.evaluateAccess(org.id, 'sso', user.groupIds, clientIp);
  if (access.action === 'deny') {
    await audit(false, 'access_rule');
    return { ok: false, reason: 'access_rule' };
  }
  // A session opened with a second factor satisfies any policy; only one without is checked.
  if (!sess.mfa) {
    const mfaPolicy = await dir.policies.mfaPolicy(org.id);
    const enrolled = user.totpEnrolled || (await dir.securityKeys.count(user.id)) > 0;
    if (secondFactorNeeded(mfaPolicy.mode.sso, enrolled, access.action)) return { ok: false, reason: 'reauth' };
  }
  if (opts.auditSuccess !== false) await audit(true, null);
  return { ok: true, user };
}

/** Is the user (still) allowed to use this app? For token refresh and userinfo. */
export async function stillAllowed(dir: Directory, org: Org, userId: string, appId: string | null): Promise<User | null> {
  let user: User;
  try {
    user = await dir.users.get(org.id, userId);
  } catch (err) {
    if (isCairnError(err) && err.code === 'not_found') return null;
    throw err;
  }
  if (user.state !== 'active') return null;
  if (appId && !(await dir.grants.allows(org.id, { type: 'sso_app', id: appId }, user.groupIds))) return null;
  return user;
}
