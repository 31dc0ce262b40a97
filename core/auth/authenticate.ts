// The one authentication decision for every protocol. Front-ends translate its result;
// the real reason stays in the audit trail (the protocol only ever says "invalid credentials").
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { read, type Deps } from '../context.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import type { Grants } from '../resources.js';
import { useTotp } from './totp-use.js';
import type { SecurityKeys, WebAuthnSite } from '../webauthn.js';
import type { Policies } from '../policies.js';
import type { AccessAction, MfaMode, Protocol, ResourceRef, User } from '../types.js';
import { USERNAME_RE, type UserRow, type Users } from '../users.js';

export type Credential =
  /** A password; `otp` typed separately, or `otpAppended` when the code may trail the password. */
  | { kind: 'password'; password: string; otp?: string; otpAppended?: boolean }
  /** Identity already proven by a client certificate (EAP-TLS); counts as a second factor. */
  | { kind: 'certificate'; subject: string }
  /** A passkey sign-in: the assertion names the user and stands for both factors (browser only). */
  | { kind: 'passkey'; webauthn: WebAuthnAnswer }
  /** Second step after a challenge: the token it returned and a code, or a security key's answer. */
  | { kind: 'challenge'; token: string; otp?: string; webauthn?: WebAuthnAnswer }
  /**
   * A challenge-response proof over the NT hash (PEAP-MSCHAPv2): the core unseals the user's
   * NT hash and asks the front-end whether the peer's response matches it. Counts as the
   * password; a wrong answer counts as a failed password.
   */
  | { kind: 'nthash'; verify: (ntHash: Buffer) => boolean };

export interface AuthRequest {
  orgId: string;
  username: string;
  credential: Credential;
  protocol: Protocol;
  clientIp: string | null;
  /** What the user wants to reach; its granted groups decide. */
  resource?: ResourceRef;
  /** The front-end can run a second round trip (Access-Challenge, an MFA page). */
  challengeSupported?: boolean;
  /** Extra facts for the audit event (NAS, Calling-Station-Id, ...). */
  detail?: Record<string, string>;
  /**
   * The credential is checked in order to replace the password (LDAP Password Modify): a
   * temporary or expired password is then enough, everything else (state, MFA) still applies.
   */
  changingPassword?: boolean;
}

export type DenyReason =
  | 'unknown_user' | 'invalid_password' | 'input_too_long' | 'locked' | 'suspended' | 'staged'
  | 'password_expired' | 'password_change_required' | 'not_assigned' | 'access_rule'
  | 'mfa_required' | 'mfa_not_enrolled' | 'mfa_invalid' | 'mfa_replayed' | 'challenge_invalid' | 'nt_hash_missing';

export type ChallengeKind = 'totp' | 'totp_enroll' | 'password_change';
export type MfaType = 'totp' | 'recovery_code' | 'certificate' | 'webauthn';

/** A security key's assertion, with the challenge the browser was given and where it ran. */
export interface WebAuthnAnswer {
  response: unknown;
  expectedChallenge: string;
  site: WebAuthnSite;
}

export type AuthResult =
  | { decision: 'allow'; user: User; mfa: MfaType | null }
  | { decision: 'deny'; reason: DenyReason }
  | { decision: 'challenge'; kind: ChallengeKind; token: string; userId: string };

/**
 * Whether a sign-in needs a second factor — the one MFA decision for every service: always
 * under `required` or a conditional-access rule that demands it, under `optional` only from
 * users who have enrolled one, never under `off`. Service accounts never come here.
 */
export function secondFactorNeeded(mode: MfaMode, totpEnrolled: boolean, accessAction: AccessAction = 'allow'): boolean {
  return mode === 'required' || accessAction === 'require_mfa' || (mode === 'optional' && totpEnrolled);
}

const eventTypes: Record<Protocol, string> = {
  ldap: 'ldap.bind', radius: 'radius.auth', sso: 'sso.login', portal: 'portal.login', admin: 'admin.login',
};
const CHALLENGE_TTL_MS = 5 * 60_000;
const RECOVERY_RE = /^[0-9a-f]{20}$/;
const ACCOUNT = '*'; // the account-wide failure counter's source

/**
 * Remembers, for a short time, a keyed HMAC of a password that argon2 just verified, so that
 * SSSD re-authentications and WiFi reconnects do not each cost an argon2 hash. The key is
 * random per process and never stored; entries die with any credential or state change.
 */
export class VerifiedCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, { mac: Buffer; version: number; expires: number }>();
  readonly #ttlMs: number;
  readonly #max = 100_000;

  constructor(ttlSeconds: number) {
    this.#ttlMs = ttlSeconds * 1000;
  }

  #mac(userId: string, secret: string) {
    return createHmac('sha256', this.#key).update(userId).update('\0').update(secret).digest();
  }

  hit(userId: string, version: number, secret: string): boolean {
    const e = this.#entries.get(userId);
    if (!e) return false;
    if (e.expires < Date.now() || e.version !== version) {
      this.#entries.delete(userId);
      return false;
    }
    return timingSafeEqual(e.mac, this.#mac(userId, secret));
  }

  remember(userId: string, version: number, secret: string): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(userId, { mac: this.#mac(userId, secret), version, expires: Date.now() + this.#ttlMs });
  }

  forget(userId: string): void {
    this.#entries.delete(userId);
  }

  get size() {
    return this.#entries.size;
  }
}

export class Authenticator {
  readonly #d: Deps;
  readonly #users: Users;
  readonly #policies: Policies;
  readonly #grants: Grants;
  readonly #keys: SecurityKeys;
  readonly cache: VerifiedCache;

  constructor(deps: Deps, users: Users, policies: Policies, grants: Grants, keys: SecurityKeys) {
    this.#d = deps;
    this.#users = users;
    this.#policies = policies;
    this.#grants = grants;
    this.#keys = keys;
    this.cache = new VerifiedCache(deps.config.passwords.verifiedCacheSeconds);
    deps.feed.subscribe((c) => {
      if (c.kind === 'user' && c.action !== 'updated' && c.action !== 'created') this.cache.forget(c.id);
    });
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    const username = String(req.username ?? '').toLowerCase();
    const audit = (success: boolean, user: { id: string; username: string; email: string | null } | null, extra: { reason?: string; mfa?: MfaType | null; eventType?: string }) =>
      this.#d.audit.record(
        {
          orgId: req.orgId,
          actor: { type: 'user', id: user?.id ?? null, name: user?.username ?? null },
          clientIp: req.clientIp,
          service: req.protocol,
        },
        {
          eventType: extra.eventType ?? eventTypes[req.protocol],
          success,
          reason: extra.reason ?? null,
          mfaType: extra.mfa ?? null,
          actorEmail: user?.email ?? null,
          resource: req.resource ? { type: req.resource.type, id: req.resource.id } : null,
          changes: { ...(user ? {} : { attemptedUsername: username.slice(0, 64) }), ...(req.detail ?? {}) },
        },
      );
    const deny = async (reason: DenyReason, user: { id: string; username: string; email: string | null } | null): Promise<AuthResult> => {
      await audit(false, user, { reason });
      return { decision: 'deny', reason };
    };

    if (req.credential.kind === 'challenge') return this.#completeChallenge(req, req.credential, audit, deny);

    const cred = req.credential;
    if (cred.kind === 'password' && this.#d.hasher.tooLong(cred.password)) return deny('input_too_long', null);

    let row: UserRow | undefined;
    if (cred.kind === 'passkey' && req.protocol !== 'sso' && req.protocol !== 'portal') return deny('unknown_user', null);
    if (cred.kind === 'passkey') {
      // The passkey names its user; a wrong or unknown one is an unknown user.
      const a = cred.webauthn;
      const userId = await this.#keys.verifyPasskey(req.orgId, a.response, a.expectedChallenge, a.site);
      row = userId ? ((await read(() => this.#d.db('users').where({ id: userId, org_id: req.orgId }).first())) as UserRow | undefined) : undefined;
    } else {
      row = USERNAME_RE.test(username) ? await this.#users.row(req.orgId, username) : undefined;
    }
    if (!row) {
      if (cred.kind === 'password') await this.#d.hasher.verify(null, cred.password); // same cost as a known user
      if (cred.kind === 'nthash') cred.verify(randomBytes(16));
      return deny('unknown_user', null);
    }
    const who = { id: row.id, username: row.username, email: row.email };
    const policy = await this.#policies.passwordPolicy(req.orgId);
    const source = (req.clientIp ?? 'unknown').slice(0, 64);

    const lock = await this.#lockState(row, source);
    if (lock.locked) return deny('locked', who);

    const user = await this.#users.get(req.orgId, row.id);
    const access = await this.#policies.evaluateAccess(req.orgId, req.protocol, user.groupIds, req.clientIp);
    const mfaPolicy = await this.#policies.mfaPolicy(req.orgId);
    // A security key is a second factor only where a browser is.
    const enrolled = user.totpEnrolled || ((req.protocol === 'sso' || req.protocol === 'portal') && (await this.#keys.count(row.id)) > 0);
    const mfaNeeded = secondFactorNeeded(mfaPolicy.mode[req.protocol], enrolled, access.action);

    let otp: string | undefined;
    let mfa: MfaType | null = null;
    if (cred.kind === 'password') {
      let password = cred.password;
      otp = cred.otp;
      // "password123456": the code rides on the password when the protocol has no second field.
      if (cred.otpAppended && mfaNeeded && user.totpEnrolled && otp === undefined) {
        const m = /^([\s\S]*?)(\d{6})$/.exec(password);
        if (m) {
          password = m[1]!;
          otp = m[2]!;
        }
      }
      if (!(await this.#verifyPassword(row, password))) {
        await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
        return deny('invalid_password', who);
      }
    } else if (cred.kind === 'nthash') {
      const sealed = row.nt_hash_enc;
      // No NT hash (PEAP-MSCHAPv2 off, or the password predates it): not the user's failure.
      if (!sealed) {
        cred.verify(randomBytes(16));
        return deny('nt_hash_missing', who);
      }
      if (!cred.verify(this.#d.box.decrypt(sealed, `nthash:${row.id}`))) {
        await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
        return deny('invalid_password', who);
      }
    } else if (cred.kind === 'passkey') {
      mfa = 'webauthn';
    } else {
      mfa = 'certificate';
    }

    // From here the secret was right: refusals do not count as failures.
    if (user.state === 'suspended' || user.state === 'staged') return deny(user.state, who);
    if (!req.changingPassword && (user.mustChangePassword || (user.passwordExpiresAt && user.passwordExpiresAt.getTime() < Date.now()))) {
      const reason = user.mustChangePassword ? 'password_change_required' : 'password_expired';
      if (req.challengeSupported && (cred.kind === 'password' || cred.kind === 'passkey')) return this.#challenge(req, row, 'password_change', audit, reason);
      return deny(reason, who);
    }
    if (req.resource && !(await this.#grants.allows(req.orgId, req.resource, user.groupIds, req.resource.type === 'system' ? 'login' : 'access'))) {
      return deny('not_assigned', who);
    }
    if (access.action === 'deny') return deny('access_rule', who);

    if (mfaNeeded && mfa === null) {
      if (!enrolled) {
        if (req.challengeSupported) return this.#challenge(req, row, 'totp_enroll', audit, 'mfa_not_enrolled');
        return deny('mfa_not_enrolled', who);
      }
      if (otp === undefined || otp === '') {
        if (req.challengeSupported) return this.#challenge(req, row, 'totp', audit, 'mfa_required');
        return deny('mfa_required', who);
      }
      const second = await this.#verifySecondFactor(row, otp);
      if (second === 'invalid' || second === 'replayed') {
        await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
        return deny(second === 'replayed' ? 'mfa_replayed' : 'mfa_invalid', who);
      }
      mfa = second;
    }

    if (lock.hasFailures) await this.#clearFailures(row, source);
    await audit(true, who, { mfa });
    return { decision: 'allow', user, mfa };
  }

  async #verifyPassword(row: UserRow, password: string): Promise<boolean> {
    const version = Number(row.credential_version);
    if (row.password_hash && this.cache.hit(row.id, version, password)) return true;
    const ok = await this.#d.hasher.verify(row.password_hash, password);
    if (ok) {
      this.cache.remember(row.id, version, password);
      if (this.#d.hasher.needsRehash(row.password_hash!)) {
        await this.#users.rehash(row.id, password).catch((err) => this.#d.log.warn({ err: (err as Error).message }, 'rehash failed'));
      }
    }
    return ok;
  }

  /** TOTP (never the same step twice, even across instances) or a one-time recovery code. */
  async #verifySecondFactor(row: UserRow, otp: string): Promise<MfaType | 'invalid' | 'replayed'> {
    const code = otp.replace(/[\s-]/g, '').toLowerCase();
    if (RECOVERY_RE.test(code)) {
      const used = await read(() =>
        this.#d.db('recovery_codes').where({ user_id: row.id, code_hash: hashToken(code) }).whereNull('used_at').update({ used_at: Date.now() }),
      );
      return used === 1 ? 'recovery_code' : 'invalid';
    }
    const fresh = (await read(() => this.#d.db('users').where({ id: row.id }).first('totp_seed_enc', 'totp_last_step'))) as Pick<UserRow, 'totp_seed_enc' | 'totp_last_step'>;
    if (!fresh?.totp_seed_enc) return 'invalid';
    const seed = this.#d.box.decrypt(fresh.totp_seed_enc, `totp:${row.id}`).toString();
    const use = await useTotp(this.#d.db, 'users', row.id, seed, fresh.totp_last_step === null ? null : Number(fresh.totp_last_step), code);
    return use === 'accepted' ? 'totp' : use;
  }

  async #lockState(row: UserRow, source: string): Promise<{ locked: boolean; hasFailures: boolean }> {
    const t = Date.now();
    if (row.state === 'locked') {
      if (row.locked_until && Number(row.locked_until) > t) return { locked: true, hasFailures: true };
      // The account lock ran out: back to active, counters cleared.
      await read(() => this.#d.db.transaction(async (trx) => {
        await trx('users').where({ id: row.id, state: 'locked' }).update({ state: 'active', locked_until: null });
        await trx('auth_failures').where({ user_id: row.id }).delete();
      }));
      row.state = 'active';
      return { locked: false, hasFailures: false };
    }
    const rows = (await read(() => this.#d.db('auth_failures').where({ user_id: row.id }).whereIn('source', [source, ACCOUNT]))) as { locked_until: number | null }[];
    return { locked: rows.some((r) => r.locked_until !== null && Number(r.locked_until) > t), hasFailures: rows.length > 0 };
  }

  /**
   * Count a failure per (user, source): at the threshold that pair is locked for the policy's
   * duration, doubling with each further failure (capped at 64×). The account as a whole is
   * locked only when failures from all sources reach five times the threshold, so that
   * knowing a username from one address is not enough to lock its owner out.
   */
  async #recordFailure(row: UserRow, source: string, threshold: number, minutes: number): Promise<void> {
    if (threshold <= 0) return;
    const t = Date.now();
    const windowMs = minutes * 60_000;
    let accountLocked = false;
    await read(() => this.#d.db.transaction(async (trx) => {
      for (const src of [source, ACCOUNT]) {
        const cur = (await trx('auth_failures').where({ user_id: row.id, source: src }).first()) as { failures: number; last_failure_at: number } | undefined;
        // Failures older than the lockout window are forgotten.
        const failures = (cur && t - Number(cur.last_failure_at) < windowMs * 4 ? Number(cur.failures) : 0) + 1;
        const limit = src === ACCOUNT ? threshold * 5 : threshold;
        const lockedUntil = failures >= limit ? t + windowMs * 2 ** Math.min(failures - limit, 6) : null;
        await trx('auth_failures')
          .insert({ user_id: row.id, source: src, failures, last_failure_at: t, locked_until: lockedUntil })
          .onConflict(['user_id', 'source'])
          .merge(['failures', 'last_failure_at', 'locked_until']);
        if (src === ACCOUNT && lockedUntil && failures === limit) {
          await trx('users').where({ id: row.id }).update({ state: 'locked', locked_until: lockedUntil, credential_version: trx.raw('credential_version + 1') });
          accountLocked = true;
        }
      }
    }));
    if (accountLocked) {
      this.cache.forget(row.id);
      await this.#d.audit.record(
        { orgId: row.org_id, actor: { type: 'system', id: null, name: 'lockout' }, clientIp: source, service: 'core' },
        { eventType: 'user.locked', success: true, resource: { type: 'user', id: row.id, name: row.username }, resourceIsPerson: true, reason: 'too_many_failures' },
      );
      this.#d.feed.publish({ kind: 'user', action: 'state', orgId: row.org_id, id: row.id });
    }
  }

  async #clearFailures(row: UserRow, source: string): Promise<void> {
    await read(() => this.#d.db('auth_failures').where({ user_id: row.id }).whereIn('source', [source, ACCOUNT]).delete());
  }

  async #challenge(
    req: AuthRequest,
    row: UserRow,
    kind: ChallengeKind,
    audit: (s: boolean, u: { id: string; username: string; email: string | null }, e: { reason?: string; eventType?: string }) => Promise<void>,
    reason: string,
  ): Promise<AuthResult> {
    const token = randomToken(24);
    await read(() =>
      this.#d.db('auth_challenges').insert({
        token_hash: hashToken(token), org_id: req.orgId, user_id: row.id, kind,
        context: JSON.stringify({ protocol: req.protocol, resource: req.resource ?? null }), expires_at: Date.now() + CHALLENGE_TTL_MS,
      }),
    );
    await audit(true, { id: row.id, username: row.username, email: row.email }, { eventType: `${eventTypes[req.protocol]}.challenge`, reason });
    return { decision: 'challenge', kind, token, userId: row.id };
  }

  /** The user a pending challenge was issued for (enrolment and password-change pages). */
  async challengeUser(orgId: string, token: string): Promise<{ userId: string; kind: ChallengeKind } | null> {
    const row = (await read(() => this.#d.db('auth_challenges').where({ token_hash: hashToken(token), org_id: orgId }).first())) as
      | { user_id: string; kind: ChallengeKind; expires_at: number } | undefined;
    return row && Number(row.expires_at) > Date.now() ? { userId: row.user_id, kind: row.kind } : null;
  }

  /** Drop a challenge once its purpose (enrolment, password change) is done elsewhere. */
  async consumeChallenge(orgId: string, token: string): Promise<void> {
    await read(() => this.#d.db('auth_challenges').where({ token_hash: hashToken(token), org_id: orgId }).delete());
  }

  async #completeChallenge(
    req: AuthRequest,
    cred: { token: string; otp?: string; webauthn?: WebAuthnAnswer },
    audit: (s: boolean, u: { id: string; username: string; email: string | null } | null, e: { reason?: string; mfa?: MfaType | null }) => Promise<void>,
    deny: (r: DenyReason, u: { id: string; username: string; email: string | null } | null) => Promise<AuthResult>,
  ): Promise<AuthResult> {
    const hash = hashToken(String(cred.token ?? ''));
    // Single use: whoever deletes the row owns the challenge.
    const pending = (await read(() => this.#d.db('auth_challenges').where({ token_hash: hash, org_id: req.orgId }).first())) as
      | { user_id: string; kind: string; context: string; expires_at: number } | undefined;
    const taken = pending ? await read(() => this.#d.db('auth_challenges').where({ token_hash: hash }).delete()) : 0;
    if (!pending || taken !== 1 || Number(pending.expires_at) < Date.now() || pending.kind !== 'totp') return deny('challenge_invalid', null);
    const context = JSON.parse(pending.context) as { protocol: Protocol };
    const row = (await read(() => this.#d.db('users').where({ id: pending.user_id, org_id: req.orgId }).first())) as UserRow | undefined;
    if (!row || context.protocol !== req.protocol) return deny('challenge_invalid', null);
    const who = { id: row.id, username: row.username, email: row.email };
    // The username in the second request must be the one the challenge was issued for.
    if (req.username && String(req.username).toLowerCase() !== row.username) return deny('challenge_invalid', who);
    const source = (req.clientIp ?? 'unknown').slice(0, 64);
    const lock = await this.#lockState(row, source);
    if (lock.locked) return deny('locked', who);
    if (row.state !== 'active') return deny(row.state === 'staged' ? 'staged' : 'suspended', who);
    const mfa = cred.webauthn
      ? ((await this.#keys.verify(row.id, cred.webauthn.response, cred.webauthn.expectedChallenge, cred.webauthn.site)) ? 'webauthn' : 'invalid')
      : await this.#verifySecondFactor(row, String(cred.otp ?? ''));
    if (mfa === 'invalid' || mfa === 'replayed') {
      const policy = await this.#policies.passwordPolicy(req.orgId);
      await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
      return deny(mfa === 'replayed' ? 'mfa_replayed' : 'mfa_invalid', who);
    }
    if (lock.hasFailures) await this.#clearFailures(row, source);
    await audit(true, who, { mfa });
    return { decision: 'allow', user: await this.#users.get(req.orgId, row.id), mfa };
  }
}
