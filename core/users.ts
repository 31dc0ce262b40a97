// Users: identity, POSIX attributes, password (argon2id + history + expiry), SSH keys, TOTP.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { isPostgres } from './store/knex.js';
import { applyOrder, type ListOrder } from './store/keyset.js';
import { PasswordTooLong } from './crypto/passwords.js';
import { parseSshKey } from './crypto/ssh.js';
import { hashToken } from './crypto/tokens.js';
import { matchTotp, newTotpSecret, totpUri } from './crypto/totp.js';
import { conflict, invalidInput, notFound, policyViolation } from './errors.js';
import { assertPasswordAcceptable, type Policies } from './policies.js';
import { sealedNtHashFor } from './radius.js';
import type { ActionContext, PasswordPolicy, SshKey, User, UserState } from './types.js';
import { userStates } from './types.js';

/** What a user list can be sorted by: field of User → column. */
export const userSortColumns = {
  username: 'username', displayName: 'display_name', uidNumber: 'uid_number', state: 'state', createdAt: 'created_at', updatedAt: 'updated_at',
} as const;
export type UserSortField = keyof typeof userSortColumns;

export const USERNAME_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;
const CUSTOM_KEY_RE = /^[a-zA-Z][a-zA-Z0-9-]{0,63}$/;
// Fields whose values are personal data: the audit trail records that they changed, not to what.
const personalFields = new Set(['username', 'displayName', 'email', 'customAttributes']);

export type UserRow = {
  id: string; org_id: string; username: string; display_name: string; email: string | null; state: string;
  locked_until: number | null; uid_number: number; gid_number: number; home_directory: string; login_shell: string;
  password_hash: string | null; password_changed_at: number | null; must_change_password: boolean | number;
  totp_seed_enc: string | null; totp_pending_enc: string | null; totp_last_step: number | null; totp_enrolled_at: number | null;
  nt_hash_enc?: string | null; custom_attributes: string; credential_version: number; created_at: number; updated_at: number;
};

export interface CreateUserInput {
  username: string;
  displayName?: string;
  email?: string | null;
  password?: string;
  state?: UserState;
  homeDirectory?: string;
  loginShell?: string;
  mustChangePassword?: boolean;
  customAttributes?: Record<string, string>;
}

export type UpdateUserInput = Partial<Pick<User, 'displayName' | 'email' | 'homeDirectory' | 'loginShell' | 'mustChangePassword' | 'customAttributes'>>;

function validateEmail(email: unknown): string | null {
  if (email === null || email === undefined || email === '') return null;
  if (typeof email !== 'string' || email.length > 320 || !/^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(email)) throw invalidInput('email', 'not an email address');
  return email;
}

function validatePath(field: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.length > 4096 || /[\0\n:]/.test(value)) {
    throw invalidInput(field, 'an absolute path without ":" or control characters');
  }
  return value;
}

function validateCustom(attrs: unknown): Record<string, string> {
  if (attrs === undefined) return {};
  if (!attrs || typeof attrs !== 'object' || Array.isArray(attrs)) throw invalidInput('customAttributes', 'an object of string values');
  const entries = Object.entries(attrs as Record<string, unknown>);
  if (entries.length > 50) throw invalidInput('customAttributes', 'at most 50 attributes');
  for (const [k, v] of entries) {
    if (!CUSTOM_KEY_RE.test(k)) throw invalidInput(`customAttributes.${k.slice(0, 64)}`, 'names are letters, digits and -');
    if (typeof v !== 'string' || v.length > 1024) throw invalidInput(`customAttributes.${k}`, 'a string of at most 1024 characters');
  }
  return attrs as Record<string, string>;
}

function validateDisplayName(v: unknown): string {
  if (typeof v !== 'string' || v.length > 256 || /[\0-\x1f]/.test(v)) throw invalidInput('displayName', 'at most 256 characters, no control characters');
  return v;
}

export class Users {
  readonly #d: Deps;
  readonly #policies: Policies;

  constructor(deps: Deps, policies: Policies) {
    this.#d = deps;
    this.#policies = policies;
  }

  #toUser(r: UserRow, keys: SshKey[], groupIds: string[], policy: PasswordPolicy): User {
    const changed = toDate(r.password_changed_at);
    return {
      id: r.id,
      orgId: r.org_id,
      username: r.username,
      displayName: r.display_name,
      email: r.email,
      state: r.state as UserState,
      lockedUntil: toDate(r.locked_until),
      uidNumber: Number(r.uid_number),
      gidNumber: Number(r.gid_number),
      homeDirectory: r.home_directory,
      loginShell: r.login_shell,
      hasPassword: !!r.password_hash,
      passwordChangedAt: changed,
      passwordExpiresAt: changed && policy.maxAgeDays > 0 ? new Date(changed.getTime() + policy.maxAgeDays * 86400_000) : null,
      mustChangePassword: !!r.must_change_password,
      totpEnrolled: !!r.totp_enrolled_at,
      sshKeys: keys,
      groupIds,
      customAttributes: JSON.parse(r.custom_attributes) as Record<string, string>,
      createdAt: new Date(Number(r.created_at)),
      updatedAt: new Date(Number(r.updated_at)),
    };
  }

  /** Rows → Users with keys and groups in three queries, whatever the count. */
  async #hydrate(orgId: string, rows: UserRow[]): Promise<User[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const db = this.#d.db;
    const inIds = <T>(q: Knex.QueryBuilder): Promise<T[]> => (ids.length > 500 ? q.where('org_id', orgId) : q.whereIn('user_id', ids));
    const [keys, members, policy] = await Promise.all([
      inIds<{ id: string; user_id: string; key_type: string; public_key: string; comment: string; fingerprint: string; created_at: number }>(db('ssh_keys').select('*').orderBy('created_at')),
      ids.length > 500
        ? db('group_members as m').join('groups as g', 'g.id', 'm.group_id').where('g.org_id', orgId).select('m.user_id', 'm.group_id')
        : db('group_members').whereIn('user_id', ids).select('user_id', 'group_id'),
      this.#policies.passwordPolicy(orgId),
    ]);
    const keysBy = new Map<string, SshKey[]>();
    for (const k of keys) {
      const list = keysBy.get(k.user_id) ?? [];
      list.push({ id: k.id, type: k.key_type, publicKey: k.public_key, comment: k.comment, fingerprint: k.fingerprint, createdAt: new Date(Number(k.created_at)) });
      keysBy.set(k.user_id, list);
    }
    const groupsBy = new Map<string, string[]>();
    for (const m of members as { user_id: string; group_id: string }[]) {
      const list = groupsBy.get(m.user_id) ?? [];
      list.push(m.group_id);
      groupsBy.set(m.user_id, list);
    }
    return rows.map((r) => this.#toUser(r, keysBy.get(r.id) ?? [], groupsBy.get(r.id) ?? [], policy));
  }

  async get(orgId: string, id: string): Promise<User> {
    const row = await read(() => this.#d.db('users').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('user');
    return (await read(() => this.#hydrate(orgId, [row])))[0]!;
  }

  async findByUsername(orgId: string, username: string): Promise<User | null> {
    const row = await read(() => this.#d.db('users').where({ org_id: orgId, username: username.toLowerCase() }).first());
    return row ? (await read(() => this.#hydrate(orgId, [row])))[0]! : null;
  }

  /** Internal: the raw row, for authentication. */
  async row(orgId: string, username: string): Promise<UserRow | undefined> {
    return read(() => this.#d.db('users').where({ org_id: orgId, username: username.toLowerCase() }).first());
  }

  /**
   * A page of users: by username after `after` (LDAP, CLI), or in any `order` of
   * userSortColumns with keyset paging (the management API).
   */
  async list(orgId: string, opts: { after?: string; order?: ListOrder<UserSortField>; limit?: number; state?: UserState; search?: string } = {}): Promise<User[]> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 100_000);
    const rows = await read(() => {
      const q = this.#d.db('users').where({ org_id: orgId });
      if (opts.state) q.where('state', opts.state);
      if (opts.search) q.where((w) => w.where('username', 'like', `%${opts.search}%`).orWhere('display_name', 'like', `%${opts.search}%`));
      if (opts.order) return applyOrder(q, userSortColumns, opts.order).limit(limit);
      if (opts.after) q.where('username', '>', opts.after);
      return q.orderBy('username').limit(limit);
    });
    return read(() => this.#hydrate(orgId, rows));
  }

  async create(ctx: ActionContext, input: CreateUserInput): Promise<User> {
    const username = input.username;
    if (typeof username !== 'string' || !USERNAME_RE.test(username)) {
      throw invalidInput('username', 'lower-case letters, digits, _ . - ; starting with a letter or _; at most 32 characters');
    }
    const state = input.state ?? 'active';
    if (!userStates.includes(state) || state === 'locked') throw invalidInput('state', 'active, suspended or staged');
    const email = validateEmail(input.email);
    const displayName = validateDisplayName(input.displayName ?? username);
    const home = validatePath('homeDirectory', input.homeDirectory ?? this.#d.config.posix.homeTemplate.replace('{username}', username));
    const shell = validatePath('loginShell', input.loginShell ?? this.#d.config.posix.defaultShell);
    const custom = validateCustom(input.customAttributes);
    let passwordHash: string | null = null;
    if (input.password !== undefined) {
      assertPasswordAcceptable(await this.#policies.passwordPolicy(ctx.orgId), input.password, username);
      passwordHash = await this.#hashNew(input.password);
    }
    const id = randomUUID();
    const t = now();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('users').where({ org_id: ctx.orgId, username }).first()) throw conflict('username already taken', 'username');
      const posixId = await allocatePosixId(trx, ctx.orgId, this.#d.config.posix);
      await trx('users').insert({
        id, org_id: ctx.orgId, username, display_name: displayName, email, state, uid_number: posixId, gid_number: posixId,
        home_directory: home, login_shell: shell, password_hash: passwordHash, password_changed_at: passwordHash ? t : null,
        must_change_password: !!input.mustChangePassword, custom_attributes: JSON.stringify(custom), created_at: t, updated_at: t,
        nt_hash_enc: input.password !== undefined ? await sealedNtHashFor(trx, this.#d, ctx.orgId, id, input.password) : null,
      });
      if (passwordHash) await trx('password_history').insert({ user_id: id, password_hash: passwordHash, created_at: t });
      return {
        result: undefined,
        audit: {
          eventType: 'user.created', success: true, resource: { type: 'user', id, name: username }, resourceIsPerson: true, resourceEmail: email,
          changes: { uidNumber: posixId, state, homeDirectory: home, loginShell: shell, passwordSet: !!passwordHash, mustChangePassword: !!input.mustChangePassword },
        },
        changes: [{ kind: 'user', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async update(ctx: ActionContext, id: string, patch: UpdateUserInput): Promise<User> {
    const before = await this.get(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    const note = (field: string, from: unknown, to: unknown) => {
      if (JSON.stringify(from) !== JSON.stringify(to)) changes[field] = personalFields.has(field) ? 'changed' : { from, to };
    };
    for (const [key, value] of Object.entries(patch)) {
      switch (key) {
        case 'displayName': row.display_name = validateDisplayName(value); note(key, before.displayName, value); break;
        case 'email': row.email = validateEmail(value); note(key, before.email, row.email); break;
        case 'homeDirectory': row.home_directory = validatePath(key, value); note(key, before.homeDirectory, value); break;
        case 'loginShell': row.login_shell = validatePath(key, value); note(key, before.loginShell, value); break;
        case 'mustChangePassword':
          if (typeof value !== 'boolean') throw invalidInput(key, 'true or false');
          row.must_change_password = value; note(key, before.mustChangePassword, value); break;
        case 'customAttributes': row.custom_attributes = JSON.stringify(validateCustom(value)); note(key, before.customAttributes, value); break;
        default: throw invalidInput(key, 'unknown or read-only field');
      }
    }
    if (!Object.keys(changes).length) return before;
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id, org_id: ctx.orgId }).update({ ...row, updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'user.updated', success: true, resource: { type: 'user', id, name: before.username }, resourceIsPerson: true, resourceEmail: (row.email as string | undefined) ?? before.email, changes },
        changes: [{ kind: 'user', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async #hashNew(password: string): Promise<string> {
    try {
      return await this.#d.hasher.hash(password);
    } catch (err) {
      if (err instanceof PasswordTooLong) throw invalidInput('password', 'too long');
      throw err;
    }
  }

  /** Set a password (admin reset or self-service); enforces policy and history. */
  async setPassword(ctx: ActionContext, id: string, password: string, opts: { mustChange?: boolean; eventType?: string } = {}): Promise<void> {
    const user = await this.get(ctx.orgId, id);
    const policy = await this.#policies.passwordPolicy(ctx.orgId);
    assertPasswordAcceptable(policy, password, user.username);
    if (policy.historyCount > 0) {
      const history = await read(() => this.#d.db('password_history').where({ user_id: id }).orderBy('id', 'desc').limit(policy.historyCount));
      for (const h of history as { password_hash: string }[]) {
        if (await this.#d.hasher.verify(h.password_hash, password)) {
          throw policyViolation('password does not meet the policy', [`must differ from the last ${policy.historyCount} passwords`], 'password');
        }
      }
    }
    const hash = await this.#hashNew(password);
    const t = now();
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id, org_id: ctx.orgId }).update({
        password_hash: hash, password_changed_at: t, must_change_password: !!opts.mustChange, updated_at: t,
        credential_version: trx.raw('credential_version + 1'),
        nt_hash_enc: await sealedNtHashFor(trx, this.#d, ctx.orgId, id, password),
      });
      await trx('password_history').insert({ user_id: id, password_hash: hash, created_at: t });
      // Keep only what the policy can ask for (at most 24).
      const keep = await trx('password_history').where({ user_id: id }).orderBy('id', 'desc').limit(24).select('id');
      if (keep.length === 24) await trx('password_history').where({ user_id: id }).where('id', '<', keep[23].id).delete();
      return {
        result: undefined,
        audit: { eventType: opts.eventType ?? 'user.password_reset', success: true, resource: { type: 'user', id, name: user.username }, resourceIsPerson: true, resourceEmail: user.email, changes: { mustChangePassword: !!opts.mustChange } },
        changes: [{ kind: 'user', action: 'credentials', orgId: ctx.orgId, id }],
      };
    });
  }

  /** Rehash with current parameters after a successful verify (no audit: not a change of credential). */
  async rehash(id: string, password: string): Promise<void> {
    const hash = await this.#hashNew(password);
    await read(() => this.#d.db('users').where({ id }).update({ password_hash: hash }));
  }

  async setState(ctx: ActionContext, id: string, state: UserState): Promise<User> {
    if (!userStates.includes(state) || state === 'locked') throw invalidInput('state', 'active, suspended or staged');
    const before = await this.get(ctx.orgId, id);
    if (before.state === state) return before;
    const eventType = state === 'suspended' ? 'user.suspended' : state === 'active' ? 'user.reactivated' : 'user.staged';
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id, org_id: ctx.orgId }).update({ state, locked_until: null, updated_at: now(), credential_version: trx.raw('credential_version + 1') });
      if (state === 'suspended') await trx('auth_challenges').where({ user_id: id }).delete();
      return {
        result: undefined,
        audit: { eventType, success: true, resource: { type: 'user', id, name: before.username }, resourceIsPerson: true, resourceEmail: before.email, changes: { state: { from: before.state, to: state } } },
        changes: [{ kind: 'user', action: 'state', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  /** Admin unlock: clears every lockout counter of the user. */
  async unlock(ctx: ActionContext, id: string): Promise<User> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('auth_failures').where({ user_id: id }).delete();
      if (before.state === 'locked') await trx('users').where({ id }).update({ state: 'active', locked_until: null, updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'user.unlocked', success: true, resource: { type: 'user', id, name: before.username }, resourceIsPerson: true, resourceEmail: before.email },
        changes: [{ kind: 'user', action: 'state', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  /** Delete and erase: no personal data remains; the audit trail keeps the pseudonymous id. */
  async delete(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id, org_id: ctx.orgId }).delete(); // cascades keys, history, memberships, codes
      await this.#d.audit.forgetSubject(trx, id);
      return {
        result: undefined,
        audit: { eventType: 'user.deleted', success: true, resource: { type: 'user', id, name: null }, changes: { uidNumber: before.uidNumber } },
        changes: [{ kind: 'user', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  // --- SSH keys ---------------------------------------------------------------------------

  async addSshKey(ctx: ActionContext, userId: string, line: string): Promise<SshKey> {
    const user = await this.get(ctx.orgId, userId);
    if (user.sshKeys.length >= 50) throw policyViolation('at most 50 SSH keys per user');
    const parsed = parseSshKey(line);
    if (user.sshKeys.some((k) => k.fingerprint === parsed.fingerprint)) throw conflict('this key is already registered', 'publicKey');
    const key: SshKey = { id: randomUUID(), type: parsed.type, publicKey: parsed.publicKey, comment: parsed.comment, fingerprint: parsed.fingerprint, createdAt: new Date() };
    return mutate(this.#d, ctx, async (trx) => {
      await trx('ssh_keys').insert({ id: key.id, org_id: ctx.orgId, user_id: userId, key_type: key.type, public_key: key.publicKey, comment: key.comment, fingerprint: key.fingerprint, created_at: key.createdAt.getTime() });
      await trx('users').where({ id: userId }).update({ updated_at: now() });
      return {
        result: key,
        audit: { eventType: 'user.ssh_key_added', success: true, resource: { type: 'user', id: userId, name: user.username }, resourceIsPerson: true, changes: { fingerprint: key.fingerprint, type: key.type } },
        changes: [{ kind: 'user', action: 'updated', orgId: ctx.orgId, id: userId }],
      };
    });
  }

  async removeSshKey(ctx: ActionContext, userId: string, keyId: string): Promise<void> {
    const user = await this.get(ctx.orgId, userId);
    const key = user.sshKeys.find((k) => k.id === keyId);
    if (!key) throw notFound('SSH key');
    await mutate(this.#d, ctx, async (trx) => {
      await trx('ssh_keys').where({ id: keyId, user_id: userId }).delete();
      await trx('users').where({ id: userId }).update({ updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'user.ssh_key_removed', success: true, resource: { type: 'user', id: userId, name: user.username }, resourceIsPerson: true, changes: { fingerprint: key.fingerprint } },
        changes: [{ kind: 'user', action: 'updated', orgId: ctx.orgId, id: userId }],
      };
    });
  }

  // --- TOTP -------------------------------------------------------------------------------

  /** Start (re-)enrolment: a new seed, shown once, active only after confirmTotp. */
  async beginTotp(ctx: ActionContext, userId: string, issuer = 'Cairn'): Promise<{ secret: string; uri: string }> {
    const user = await this.get(ctx.orgId, userId);
    const secret = newTotpSecret();
    await read(() => this.#d.db('users').where({ id: userId, org_id: ctx.orgId }).update({ totp_pending_enc: this.#d.box.encrypt(secret, `totp:${userId}`) }));
    return { secret, uri: totpUri(secret, issuer, user.username) };
  }

  /** Confirm with a code from the app; returns one-time recovery codes (shown once). */
  async confirmTotp(ctx: ActionContext, userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    const user = await this.get(ctx.orgId, userId);
    const row = (await read(() => this.#d.db('users').where({ id: userId }).first())) as UserRow;
    if (!row.totp_pending_enc) throw invalidInput('code', 'no TOTP enrolment in progress');
    const secret = this.#d.box.decrypt(row.totp_pending_enc, `totp:${userId}`).toString();
    const step = matchTotp(secret, String(code), null);
    if (step === null) throw invalidInput('code', 'the code does not match; check the device clock');
    const codes = Array.from({ length: 10 }, () => randomBytes(10).toString('hex').replace(/(.{5})(?=.)/g, '$1-'));
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id: userId }).update({
        totp_seed_enc: row.totp_pending_enc, totp_pending_enc: null, totp_last_step: step, totp_enrolled_at: now(), updated_at: now(),
        credential_version: trx.raw('credential_version + 1'),
      });
      await trx('recovery_codes').where({ user_id: userId }).delete();
      await trx('recovery_codes').insert(codes.map((c) => ({ user_id: userId, code_hash: hashToken(c.replace(/-/g, '')) })));
      return {
        result: undefined,
        audit: { eventType: 'user.mfa_enrolled', success: true, resource: { type: 'user', id: userId, name: user.username }, resourceIsPerson: true, mfaType: 'totp' },
        changes: [{ kind: 'user', action: 'credentials', orgId: ctx.orgId, id: userId }],
      };
    });
    return { recoveryCodes: codes };
  }

  /** Remove the TOTP and recovery codes; with `securityKeys`, the WebAuthn keys too (an admin's "reset MFA"). */
  async resetTotp(ctx: ActionContext, userId: string, opts: { securityKeys?: boolean } = {}): Promise<void> {
    const user = await this.get(ctx.orgId, userId);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('users').where({ id: userId }).update({
        totp_seed_enc: null, totp_pending_enc: null, totp_last_step: null, totp_enrolled_at: null, updated_at: now(),
        credential_version: trx.raw('credential_version + 1'),
      });
      await trx('recovery_codes').where({ user_id: userId }).delete();
      const keys = opts.securityKeys ? await trx('webauthn_credentials').where({ user_id: userId }).delete() : 0;
      return {
        result: undefined,
        audit: {
          eventType: 'user.mfa_reset', success: true, resource: { type: 'user', id: userId, name: user.username }, resourceIsPerson: true, mfaType: 'totp',
          ...(opts.securityKeys ? { changes: { securityKeysRemoved: keys } } : {}),
        },
        changes: [{ kind: 'user', action: 'credentials', orgId: ctx.orgId, id: userId }],
      };
    });
  }
}

/** Next POSIX id for the org; the counter only grows, so ids are never reused. */
export async function allocatePosixId(trx: Knex.Transaction, orgId: string, posix: { idMin: number; idMax: number }): Promise<number> {
  await trx('posix_counters').insert({ org_id: orgId, next_id: posix.idMin }).onConflict('org_id').ignore();
  const q = trx('posix_counters').where({ org_id: orgId });
  const row = (await (isPostgres(trx) ? q.forUpdate() : q).first()) as { next_id: number };
  const id = Math.max(Number(row.next_id), posix.idMin);
  if (id > posix.idMax) throw policyViolation('no POSIX ids left in posix.idMin..posix.idMax');
  await trx('posix_counters').where({ org_id: orgId }).update({ next_id: id + 1 });
  return id;
}
