// Administrators: separate from directory users, each with one role.
import { randomUUID } from 'node:crypto';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { hashToken, randomToken } from './crypto/tokens.js';
import { matchTotp, newTotpSecret, totpUri } from './crypto/totp.js';
import { useTotp, type TotpUse } from './auth/totp-use.js';
import { secondFactorNeeded } from './auth/authenticate.js';
import { CairnError, conflict, invalidInput, notFound, policyViolation } from './errors.js';
import { Policies } from './policies.js';
import type { ActionContext } from './types.js';
import { USERNAME_RE } from './users.js';

export const adminRoles = ['administrator', 'manager', 'help_desk', 'read_only'] as const;
export type AdminRole = (typeof adminRoles)[number];

export interface Admin {
  id: string;
  orgId: string;
  username: string;
  email: string | null;
  role: AdminRole;
  state: 'active' | 'suspended';
  mustChangePassword: boolean;
  totpEnrolled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type AdminRow = {
  id: string; org_id: string; username: string; email: string | null; role: string; state: string; password_hash: string;
  must_change_password: boolean | number; totp_seed_enc: string | null; totp_pending_enc: string | null; totp_last_step: number | null;
  totp_enrolled_at: number | null; created_at: number; updated_at: number;
};

export const toAdmin = (r: AdminRow): Admin => ({
  id: r.id, orgId: r.org_id, username: r.username, email: r.email, role: r.role as AdminRole, state: r.state as Admin['state'],
  mustChangePassword: !!r.must_change_password, totpEnrolled: !!r.totp_enrolled_at,
  createdAt: toDate(r.created_at)!, updatedAt: toDate(r.updated_at)!,
});

/** A 401 that never says why (the audit trail has the reason). */
const unauthenticated = () => new CairnError('unauthenticated', 'authentication required');
const ENROLL_TTL_MS = 10 * 60_000;
const ACCOUNT = '*';
export const SESSION_PREFIX = 'cairn-session-';

export interface AdminSession {
  admin: Admin;
  /** 'enroll': may only confirm a TOTP enrolment; 'restricted': must change the password first. */
  kind: 'session' | 'restricted' | 'enroll';
  expiresAt: Date;
  mfaAt: Date | null;
  tokenHash: string;
}

export type LoginResult =
  | { status: 'ok'; token: string; expiresAt: Date; admin: Admin; mustChangePassword: boolean }
  | { status: 'totp_enrollment_required'; enrollmentToken: string; expiresAt: Date; totpSecret: string; otpauthUri: string };

export class Admins {
  readonly #d: Deps;
  readonly #policies: Policies;
  constructor(deps: Deps) {
    this.#d = deps;
    this.#policies = new Policies(deps);
  }

  async list(orgId: string): Promise<Admin[]> {
    const rows = await read(() => this.#d.db('admins').where({ org_id: orgId }).whereNot({ state: 'deleted' }).orderBy('username'));
    return rows.map(toAdmin);
  }

  async get(orgId: string, id: string): Promise<Admin> {
    const row = await read(() => this.#d.db('admins').where({ org_id: orgId, id }).whereNot({ state: 'deleted' }).first());
    if (!row) throw notFound('admin');
    return toAdmin(row);
  }

  async count(orgId: string): Promise<number> {
    const [{ n }] = await read(() => this.#d.db('admins').where({ org_id: orgId }).count({ n: '*' }));
    return Number(n);
  }

  async create(ctx: ActionContext, input: { username: string; email?: string | null; role: AdminRole; password: string; mustChangePassword?: boolean }): Promise<Admin> {
    if (typeof input.username !== 'string' || !USERNAME_RE.test(input.username)) throw invalidInput('username', 'lower-case letters, digits, _ . - ; at most 32 characters');
    if (!adminRoles.includes(input.role)) throw invalidInput('role', adminRoles.join(', '));
    if (typeof input.password !== 'string' || input.password.length < 12) throw invalidInput('password', 'at least 12 characters for an administrator');
    const hash = await this.#d.hasher.hash(input.password);
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('admins').where({ org_id: ctx.orgId, username: input.username }).first()) throw conflict('username already taken', 'username');
      await trx('admins').insert({
        id, org_id: ctx.orgId, username: input.username, email: input.email ?? null, role: input.role, state: 'active',
        password_hash: hash, must_change_password: !!input.mustChangePassword, created_at: now(), updated_at: now(),
      });
      return {
        result: undefined,
        audit: { eventType: 'admin.created', success: true, resource: { type: 'admin', id, name: input.username }, resourceIsPerson: true, resourceEmail: input.email ?? null, changes: { role: input.role } },
      };
    });
    return this.get(ctx.orgId, id);
  }

  async update(ctx: ActionContext, id: string, patch: { email?: string | null; role?: AdminRole; state?: Admin['state'] }): Promise<Admin> {
    const before = await this.get(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      if (key === 'email') {
        if (value !== null && (typeof value !== 'string' || value.length > 320 || !/^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(value))) throw invalidInput('email', 'not an email address');
        row.email = value; if (value !== before.email) changes.email = 'changed';
      } else if (key === 'role') {
        if (!adminRoles.includes(value as AdminRole)) throw invalidInput('role', adminRoles.join(', '));
        row.role = value; if (value !== before.role) changes.role = { from: before.role, to: value };
      } else if (key === 'state') {
        if (value !== 'active' && value !== 'suspended') throw invalidInput('state', 'active or suspended');
        row.state = value; if (value !== before.state) changes.state = { from: before.state, to: value };
      } else throw invalidInput(key, 'unknown or read-only field');
    }
    if (!Object.keys(changes).length) return before;
    const losesAdmin = before.role === 'administrator' && before.state === 'active' && ((row.role && row.role !== 'administrator') || row.state === 'suspended');
    await mutate(this.#d, ctx, async (trx) => {
      if (losesAdmin) await this.#assertAnotherAdministrator(trx, ctx.orgId, id);
      await trx('admins').where({ org_id: ctx.orgId, id }).update({ ...row, updated_at: now() });
      // A demoted or suspended admin's sessions end now; their keys are capped by their role at use.
      if (changes.role || changes.state) await trx('admin_sessions').where({ admin_id: id }).delete();
      return { result: undefined, audit: { eventType: 'admin.updated', success: true, resource: { type: 'admin', id, name: before.username }, resourceIsPerson: true, changes } };
    });
    return this.get(ctx.orgId, id);
  }

  async delete(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    if (ctx.actor.type === 'admin' && ctx.actor.id === id) throw policyViolation('an administrator cannot delete their own account');
    await mutate(this.#d, ctx, async (trx) => {
      if (before.role === 'administrator' && before.state === 'active') await this.#assertAnotherAdministrator(trx, ctx.orgId, id);
      // Keys outlive nobody: the owner's keys are revoked, kept for the record.
      const revoked = await trx('api_keys').where({ owner_admin_id: id }).whereNull('revoked_at').update({ revoked_at: now() });
      await trx('admin_sessions').where({ admin_id: id }).delete();
      await trx('admin_auth_failures').where({ admin_id: id }).delete();
      await trx('admins').where({ org_id: ctx.orgId, id }).update({ state: 'deleted', password_hash: '!', totp_seed_enc: null, totp_pending_enc: null, email: null, username: `deleted-${id.slice(0, 8)}`, updated_at: now() });
      await this.#d.audit.forgetSubject(trx, id);
      return { result: undefined, audit: { eventType: 'admin.deleted', success: true, resource: { type: 'admin', id, name: null }, changes: { role: before.role, apiKeysRevoked: Number(revoked) } } };
    });
  }

  async #assertAnotherAdministrator(trx: import('knex').Knex.Transaction, orgId: string, exceptId: string): Promise<void> {
    const [{ n }] = await trx('admins').where({ org_id: orgId, role: 'administrator', state: 'active' }).whereNot({ id: exceptId }).count({ n: '*' });
    if (Number(n) < 1) throw policyViolation('the organization must keep at least one active administrator');
  }

  async resetTotp(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('admins').where({ org_id: ctx.orgId, id }).update({ totp_seed_enc: null, totp_pending_enc: null, totp_last_step: null, totp_enrolled_at: null, updated_at: now() });
      await trx('admin_sessions').where({ admin_id: id }).delete();
      return { result: undefined, audit: { eventType: 'admin.mfa_reset', success: true, resource: { type: 'admin', id, name: before.username }, resourceIsPerson: true, mfaType: 'totp' } };
    });
  }

  /**
   * Recovery from the server's shell (a forgotten password): a temporary password the admin must
   * replace at their next login; every session of theirs ends.
   */
  async resetPassword(ctx: ActionContext, id: string, temporary: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    if (typeof temporary !== 'string' || temporary.length < 12) throw invalidInput('password', 'at least 12 characters for an administrator');
    if (this.#d.hasher.tooLong(temporary)) throw invalidInput('password', 'too long');
    const hash = await this.#d.hasher.hash(temporary);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('admins').where({ org_id: ctx.orgId, id }).update({ password_hash: hash, must_change_password: true, updated_at: now() });
      await trx('admin_sessions').where({ admin_id: id }).delete();
      return { result: undefined, audit: { eventType: 'admin.password_reset', success: true, resource: { type: 'admin', id, name: before.username }, resourceIsPerson: true } };
    });
  }

  /** An admin changes their own password (the current one is required). */
  async changeOwnPassword(ctx: ActionContext, id: string, current: string, next: string, keepTokenHash: string | null): Promise<void> {
    const row = (await read(() => this.#d.db('admins').where({ org_id: ctx.orgId, id }).first())) as AdminRow | undefined;
    if (!row || !(await this.#d.hasher.verify(row.password_hash, String(current ?? '')))) throw invalidInput('currentPassword', 'does not match');
    if (typeof next !== 'string' || next.length < 12) throw invalidInput('newPassword', 'at least 12 characters for an administrator');
    if (this.#d.hasher.tooLong(next)) throw invalidInput('newPassword', 'too long');
    if (next === current) throw invalidInput('newPassword', 'must differ from the current password');
    const hash = await this.#d.hasher.hash(next);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('admins').where({ id }).update({ password_hash: hash, must_change_password: false, updated_at: now() });
      // Every other session of this admin ends; this one becomes a full session.
      const others = trx('admin_sessions').where({ admin_id: id });
      if (keepTokenHash) others.whereNot({ token_hash: keepTokenHash });
      await others.delete();
      if (keepTokenHash) await trx('admin_sessions').where({ token_hash: keepTokenHash }).update({ kind: 'session' });
      return { result: undefined, audit: { eventType: 'admin.password_changed', success: true, resource: { type: 'admin', id, name: row.username }, resourceIsPerson: true } };
    });
  }

  // --- login, MFA, sessions ---------------------------------------------------------------

  /**
   * Username + password (+ TOTP when MFA is required for admins, the default). Every attempt is
   * audited with its real reason; the caller only ever learns "unauthenticated".
   */
  async login(orgId: string, input: { username: string; password: string; otp?: string | undefined }, clientIp: string | null): Promise<LoginResult> {
    const username = String(input.username ?? '').toLowerCase();
    const password = String(input.password ?? '');
    const source = (clientIp ?? 'unknown').slice(0, 64);
    const row = USERNAME_RE.test(username)
      ? ((await read(() => this.#d.db('admins').where({ org_id: orgId, username }).first())) as AdminRow | undefined)
      : undefined;
    const audit = (success: boolean, reason: string | null, mfaType: string | null = null, eventType = 'admin.login') =>
      this.#d.audit.record(
        { orgId, actor: { type: 'admin', id: row?.id ?? null, name: row?.username ?? null }, clientIp, service: 'api' },
        { eventType, success, reason, mfaType, actorEmail: row?.email ?? null, changes: row ? null : { attemptedUsername: username.slice(0, 64) } },
      );
    const fail = async (reason: string): Promise<never> => {
      await audit(false, reason);
      throw unauthenticated();
    };
    if (this.#d.hasher.tooLong(password)) return fail('input_too_long');
    if (!row) {
      await this.#d.hasher.verify(null, password); // an unknown name costs what a known one does
      return fail('unknown_admin');
    }
    const policy = await this.#policies.passwordPolicy(orgId);
    if (await this.#isLocked(row.id, source)) return fail('locked');
    if (!(await this.#d.hasher.verify(row.password_hash, password))) {
      await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
      return fail('invalid_password');
    }
    if (row.state !== 'active') return fail(row.state === 'deleted' ? 'unknown_admin' : 'suspended');
    if (this.#d.hasher.needsRehash(row.password_hash)) {
      const hash = await this.#d.hasher.hash(password);
      await read(() => this.#d.db('admins').where({ id: row.id }).update({ password_hash: hash }));
    }
    const mfaMode = (await this.#policies.mfaPolicy(orgId)).mode.admin;
    const otp = input.otp === undefined || input.otp === null ? '' : String(input.otp);
    let mfa = false;
    if (row.totp_enrolled_at) {
      if (secondFactorNeeded(mfaMode, true) && !otp) return fail('mfa_required');
      if (otp) {
        const use = await this.#verifyTotp(row.id, otp);
        if (use !== 'accepted') {
          await this.#recordFailure(row, source, policy.lockoutThreshold, policy.lockoutMinutes);
          return fail(use === 'replayed' ? 'mfa_replayed' : 'mfa_invalid');
        }
        mfa = true;
      }
    } else if (secondFactorNeeded(mfaMode, false)) {
      // First login of an admin without a second factor: enrol now, before any session exists.
      const secret = newTotpSecret();
      const token = SESSION_PREFIX + randomToken(32);
      const t = now();
      await read(() => this.#d.db.transaction(async (trx) => {
        await trx('admins').where({ id: row.id }).update({ totp_pending_enc: this.#d.box.encrypt(secret, `admin-totp:${row.id}`) });
        await trx('admin_sessions').where({ admin_id: row.id, kind: 'enroll' }).delete();
        await trx('admin_sessions').insert({ token_hash: hashToken(token), org_id: orgId, admin_id: row.id, kind: 'enroll', created_at: t, expires_at: t + ENROLL_TTL_MS, last_seen_at: t, mfa_at: null, client_ip: clientIp });
      }));
      await this.#clearFailures(row.id, source);
      await audit(true, 'mfa_enrollment_required', null, 'admin.login.enrollment');
      return { status: 'totp_enrollment_required', enrollmentToken: token, expiresAt: new Date(t + ENROLL_TTL_MS), totpSecret: secret, otpauthUri: totpUri(secret, 'Cairn admin', row.username) };
    }
    await this.#clearFailures(row.id, source);
    const session = await this.#newSession(row, orgId, clientIp, mfa);
    await audit(true, null, mfa ? 'totp' : null);
    return { status: 'ok', ...session, admin: toAdmin(row), mustChangePassword: !!row.must_change_password };
  }

  /** Confirm the TOTP enrolment begun at login with a code from the app; returns a session. */
  async confirmEnrollment(orgId: string, enrollmentToken: string, code: string, clientIp: string | null): Promise<LoginResult> {
    const hash = hashToken(String(enrollmentToken ?? ''));
    const s = (await read(() => this.#d.db('admin_sessions').where({ token_hash: hash, org_id: orgId, kind: 'enroll' }).first())) as { admin_id: string; expires_at: number } | undefined;
    const row = s ? ((await read(() => this.#d.db('admins').where({ id: s.admin_id }).first())) as AdminRow | undefined) : undefined;
    const audit = (success: boolean, reason: string | null) =>
      this.#d.audit.record(
        { orgId, actor: { type: 'admin', id: row?.id ?? null, name: row?.username ?? null }, clientIp, service: 'api' },
        { eventType: 'admin.mfa_enrolled', success, reason, mfaType: 'totp', resource: row ? { type: 'admin', id: row.id, name: row.username } : null, resourceIsPerson: true },
      );
    if (!s || !row || Number(s.expires_at) < now() || row.state !== 'active' || !row.totp_pending_enc) {
      await audit(false, 'enrollment_invalid');
      throw unauthenticated();
    }
    const secret = this.#d.box.decrypt(row.totp_pending_enc, `admin-totp:${row.id}`).toString();
    const step = matchTotp(secret, String(code ?? ''), null);
    if (step === null) {
      const policy = await this.#policies.passwordPolicy(orgId);
      await this.#recordFailure(row, (clientIp ?? 'unknown').slice(0, 64), policy.lockoutThreshold, policy.lockoutMinutes);
      await audit(false, 'mfa_invalid');
      throw unauthenticated();
    }
    const taken = await read(() => this.#d.db.transaction(async (trx) => {
      const n = await trx('admin_sessions').where({ token_hash: hash }).delete();
      if (n !== 1) return 0;
      await trx('admins').where({ id: row.id }).update({ totp_seed_enc: row.totp_pending_enc, totp_pending_enc: null, totp_last_step: step, totp_enrolled_at: now(), updated_at: now() });
      const after = await this.#d.audit.append(trx, { orgId, actor: { type: 'admin', id: row.id, name: row.username }, clientIp, service: 'api' }, { eventType: 'admin.mfa_enrolled', success: true, mfaType: 'totp', resource: { type: 'admin', id: row.id, name: row.username }, resourceIsPerson: true });
      return after;
    }));
    if (!taken) throw unauthenticated();
    taken();
    const fresh = (await read(() => this.#d.db('admins').where({ id: row.id }).first())) as AdminRow;
    const session = await this.#newSession(fresh, orgId, clientIp, true);
    await this.#d.audit.record({ orgId, actor: { type: 'admin', id: row.id, name: row.username }, clientIp, service: 'api' }, { eventType: 'admin.login', success: true, mfaType: 'totp', actorEmail: row.email });
    return { status: 'ok', ...session, admin: toAdmin(fresh), mustChangePassword: !!fresh.must_change_password };
  }

  /** Step-up: prove the second factor again (revoke-all asks for it). */
  async verifyStepUp(orgId: string, adminId: string, code: string): Promise<boolean> {
    const row = (await read(() => this.#d.db('admins').where({ org_id: orgId, id: adminId }).first())) as AdminRow | undefined;
    if (!row?.totp_enrolled_at) return false;
    return (await this.#verifyTotp(row.id, String(code ?? ''))) === 'accepted';
  }

  async #newSession(row: AdminRow, orgId: string, clientIp: string | null, mfa: boolean): Promise<{ token: string; expiresAt: Date }> {
    const token = SESSION_PREFIX + randomToken(32);
    const t = now();
    const expires = t + this.#d.config.api.sessionTtlMinutes * 60_000;
    await read(async () => {
      await this.#d.db('admin_sessions').where('expires_at', '<', t).delete(); // housekeeping
      await this.#d.db('admin_sessions').insert({
        token_hash: hashToken(token), org_id: orgId, admin_id: row.id, kind: row.must_change_password ? 'restricted' : 'session',
        created_at: t, expires_at: expires, last_seen_at: t, mfa_at: mfa ? t : null, client_ip: clientIp,
      });
    });
    return { token, expiresAt: new Date(expires) };
  }

  /** The session a bearer token names, or null (expired, idle, admin suspended...). */
  async session(token: string): Promise<AdminSession | null> {
    if (!token.startsWith(SESSION_PREFIX) || token.length > 128) return null;
    const tokenHash = hashToken(token);
    const s = (await read(() => this.#d.db('admin_sessions as s').join('admins as a', 'a.id', 's.admin_id').where('s.token_hash', tokenHash)
      .select('s.kind as s_kind', 's.expires_at as s_expires_at', 's.last_seen_at as s_last_seen_at', 's.mfa_at as s_mfa_at', 'a.*').first())) as
      | (AdminRow & { s_kind: string; s_expires_at: number; s_last_seen_at: number; s_mfa_at: number | null }) | undefined;
    if (!s || s.state !== 'active') return null;
    const t = now();
    const idleMs = this.#d.config.api.sessionIdleMinutes * 60_000;
    if (Number(s.s_expires_at) <= t || Number(s.s_last_seen_at) + idleMs <= t) {
      await read(() => this.#d.db('admin_sessions').where({ token_hash: tokenHash }).delete());
      return null;
    }
    // One write a minute at most, not one per request.
    if (t - Number(s.s_last_seen_at) > 60_000) await read(() => this.#d.db('admin_sessions').where({ token_hash: tokenHash }).update({ last_seen_at: t }));
    return { admin: toAdmin(s), kind: s.s_kind as AdminSession['kind'], expiresAt: new Date(Number(s.s_expires_at)), mfaAt: toDate(s.s_mfa_at), tokenHash };
  }

  async logout(ctx: ActionContext, tokenHash: string): Promise<void> {
    await mutate(this.#d, ctx, async (trx) => {
      await trx('admin_sessions').where({ token_hash: tokenHash }).delete();
      return { result: undefined, audit: { eventType: 'admin.logout', success: true } };
    });
  }

  async #verifyTotp(adminId: string, otp: string): Promise<TotpUse> {
    const fresh = (await read(() => this.#d.db('admins').where({ id: adminId }).first('totp_seed_enc', 'totp_last_step'))) as Pick<AdminRow, 'totp_seed_enc' | 'totp_last_step'> | undefined;
    if (!fresh?.totp_seed_enc) return 'invalid';
    const seed = this.#d.box.decrypt(fresh.totp_seed_enc, `admin-totp:${adminId}`).toString();
    return useTotp(this.#d.db, 'admins', adminId, seed, fresh.totp_last_step === null ? null : Number(fresh.totp_last_step), otp.replace(/\s/g, ''));
  }

  async #isLocked(adminId: string, source: string): Promise<boolean> {
    const rows = (await read(() => this.#d.db('admin_auth_failures').where({ admin_id: adminId }).whereIn('source', [source, ACCOUNT]))) as { locked_until: number | null }[];
    return rows.some((r) => r.locked_until !== null && Number(r.locked_until) > now());
  }

  /**
   * Per (admin, source): locked at the policy's threshold for its duration, doubling after
   * (capped at 64x). Account-wide only at five times the threshold, so that someone who
   * knows an admin's name cannot lock them out from one address.
   */
  async #recordFailure(row: AdminRow, source: string, threshold: number, minutes: number): Promise<void> {
    if (threshold <= 0) return;
    const t = now();
    const windowMs = minutes * 60_000;
    let locked = false;
    await read(() => this.#d.db.transaction(async (trx) => {
      for (const src of [source, ACCOUNT]) {
        const cur = (await trx('admin_auth_failures').where({ admin_id: row.id, source: src }).first()) as { failures: number; last_failure_at: number } | undefined;
        const failures = (cur && t - Number(cur.last_failure_at) < windowMs * 4 ? Number(cur.failures) : 0) + 1;
        const limit = src === ACCOUNT ? threshold * 5 : threshold;
        const lockedUntil = failures >= limit ? t + windowMs * 2 ** Math.min(failures - limit, 6) : null;
        if (failures === limit) locked = true;
        await trx('admin_auth_failures').insert({ admin_id: row.id, source: src, failures, last_failure_at: t, locked_until: lockedUntil })
          .onConflict(['admin_id', 'source']).merge(['failures', 'last_failure_at', 'locked_until']);
      }
    }));
    if (locked) {
      this.#d.log.warn({ adminId: row.id, source }, 'admin login locked after repeated failures');
      await this.#d.audit.record(
        { orgId: row.org_id, actor: { type: 'system', id: null, name: 'lockout' }, clientIp: source, service: 'api' },
        { eventType: 'admin.locked', success: true, reason: 'too_many_failures', resource: { type: 'admin', id: row.id, name: row.username }, resourceIsPerson: true },
      );
    }
  }

  async #clearFailures(adminId: string, source: string): Promise<void> {
    await read(() => this.#d.db('admin_auth_failures').where({ admin_id: adminId }).whereIn('source', [source, ACCOUNT]).delete());
  }

  /** Admin unlock of an admin's login counters. */
  async unlock(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('admin_auth_failures').where({ admin_id: id }).delete();
      return { result: undefined, audit: { eventType: 'admin.unlocked', success: true, resource: { type: 'admin', id, name: before.username }, resourceIsPerson: true } };
    });
  }
}
