// API keys designed against theft (PRODUCT.md: the 2023 breach). A key is
// `cairn_<public id>_<secret>`: the public id finds the row, and only HMAC-SHA256(pepper, secret)
// is stored, the pepper being outside the database (derived from the master key, or
// api.keyPepper). A key has a role (optionally narrowed by scopes), an owner admin, a mandatory
// expiry, an optional source allow-list judged on the real peer, and records its last use.
import { randomBytes, randomUUID, timingSafeEqual, createHmac } from 'node:crypto';
import type { Knex } from 'knex';
import { adminRoles, type Admin, type AdminRole, toAdmin, type AdminRow } from './admins.js';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { CairnError, conflict, invalidInput, notFound, policyViolation } from './errors.js';
import { isPermission, roleCovers, rolePermissions, type Permission } from './permissions.js';
import { ipInCidrs, parseCidr } from './policies.js';
import type { ActionContext } from './types.js';

export interface ApiKey {
  id: string;
  orgId: string;
  publicId: string;
  name: string;
  role: AdminRole;
  scopes: Permission[] | null;
  ownerAdminId: string;
  allowedCidrs: string[];
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  replacedBy: string | null;
  rotatedFrom: string | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  /** active, expired, revoked, or rotated (still valid until expiresAt, successor exists). */
  status: 'active' | 'rotated' | 'expired' | 'revoked';
}

type Row = {
  id: string; org_id: string; public_id: string; name: string; secret_hmac: string; role: string; scopes: string | null;
  owner_admin_id: string; allowed_cidrs: string; created_at: number; expires_at: number; revoked_at: number | null;
  replaced_by: string | null; rotated_from: string | null; last_used_at: number | null; last_used_ip: string | null;
};

const KEY_RE = /^cairn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[\w .:@/-]{1,128}$/;
const TOUCH_EVERY_MS = 30_000;

const toKey = (r: Row): ApiKey => {
  const t = now();
  const revoked = toDate(r.revoked_at);
  const expires = new Date(Number(r.expires_at));
  return {
    id: r.id, orgId: r.org_id, publicId: r.public_id, name: r.name, role: r.role as AdminRole,
    scopes: r.scopes ? (JSON.parse(r.scopes) as Permission[]) : null, ownerAdminId: r.owner_admin_id,
    allowedCidrs: JSON.parse(r.allowed_cidrs) as string[], createdAt: new Date(Number(r.created_at)), expiresAt: expires,
    revokedAt: revoked, replacedBy: r.replaced_by, rotatedFrom: r.rotated_from, lastUsedAt: toDate(r.last_used_at), lastUsedIp: r.last_used_ip,
    status: revoked ? 'revoked' : expires.getTime() <= t ? 'expired' : r.replaced_by ? 'rotated' : 'active',
  };
};

export interface CreateKeyInput {
  name: string;
  role: AdminRole;
  scopes?: string[] | null;
  ownerAdminId?: string;
  expiresInDays?: number;
  allowedCidrs?: string[];
}

/** Who a valid key acts as. */
export interface KeyPrincipal {
  key: ApiKey;
  owner: Admin;
  permissions: ReadonlySet<Permission>;
}

export class ApiKeys {
  readonly #d: Deps;
  readonly #pepper: Buffer;
  readonly #dummy: string;

  constructor(deps: Deps) {
    this.#d = deps;
    const configured = deps.config.api.keyPepper;
    if (configured) {
      const p = Buffer.from(configured, 'base64');
      if (p.length < 32) throw new CairnError('invalid_input', 'api.keyPepper: must be at least 32 bytes, base64-encoded', { field: 'api.keyPepper' });
      this.#pepper = p;
    } else {
      this.#pepper = deps.box.deriveKey('api-key-pepper');
    }
    this.#dummy = this.#mac(randomBytes(32).toString('base64url'));
  }

  #mac(secret: string): string {
    return createHmac('sha256', this.#pepper).update(secret).digest('hex');
  }

  #validate(input: { name?: unknown; scopes?: unknown; allowedCidrs?: unknown }): { scopes: Permission[] | null; cidrs: string[] } {
    if (input.name !== undefined && (typeof input.name !== 'string' || !NAME_RE.test(input.name))) throw invalidInput('name', '1 to 128 letters, digits, spaces and . : @ / - _');
    let scopes: Permission[] | null = null;
    if (input.scopes !== undefined && input.scopes !== null) {
      if (!Array.isArray(input.scopes) || input.scopes.length > 50) throw invalidInput('scopes', 'a list of permissions');
      for (const s of input.scopes) if (typeof s !== 'string' || !isPermission(s)) throw invalidInput('scopes', `unknown permission ${String(s).slice(0, 64)}`);
      scopes = [...new Set(input.scopes as Permission[])];
    }
    const raw = input.allowedCidrs ?? [];
    if (!Array.isArray(raw) || raw.length > 100) throw invalidInput('allowedCidrs', 'a list of at most 100 CIDRs');
    const cidrs = raw.map((c) => {
      if (typeof c !== 'string') throw invalidInput('allowedCidrs', 'a list of CIDRs');
      try {
        const [a, b] = parseCidr(c);
        return `${a.toString()}/${b}`;
      } catch {
        throw invalidInput('allowedCidrs', `not an IP address or CIDR: ${c.slice(0, 64)}`);
      }
    });
    return { scopes, cidrs };
  }

  #expiry(days: unknown): number {
    const api = this.#d.config.api;
    const d = days === undefined ? api.keyDefaultDays : days;
    if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0 || d > api.keyMaxDays) throw invalidInput('expiresInDays', `a number of days from more than 0 to ${api.keyMaxDays}`);
    return now() + Math.round(d * 86400_000);
  }

  #newSecret(): { publicId: string; secret: string; full: string } {
    const publicId = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    return { publicId, secret, full: `cairn_${publicId}_${secret}` };
  }

  async list(orgId: string, opts: { ownerAdminId?: string } = {}): Promise<ApiKey[]> {
    const q = this.#d.db('api_keys').where({ org_id: orgId });
    if (opts.ownerAdminId) q.where({ owner_admin_id: opts.ownerAdminId });
    const rows = await read(() => q.orderBy('created_at', 'asc').orderBy('id'));
    return (rows as Row[]).map(toKey);
  }

  async get(orgId: string, id: string): Promise<ApiKey> {
    const row = await read(() => this.#d.db('api_keys').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('API key');
    return toKey(row as Row);
  }

  async #owner(trx: Knex | Knex.Transaction, orgId: string, id: string): Promise<Admin> {
    const row = (await trx('admins').where({ org_id: orgId, id }).whereNot({ state: 'deleted' }).first()) as AdminRow | undefined;
    if (!row) throw notFound('admin');
    return toAdmin(row);
  }

  /** Create a key; the full key is in the result once and never again. */
  async create(ctx: ActionContext, input: CreateKeyInput, creatorRole: AdminRole): Promise<{ key: ApiKey; secret: string }> {
    if (!adminRoles.includes(input.role)) throw invalidInput('role', adminRoles.join(', '));
    if (typeof input.name !== 'string') throw invalidInput('name', 'required');
    const { scopes, cidrs } = this.#validate(input);
    const expiresAt = this.#expiry(input.expiresInDays);
    if (!roleCovers(creatorRole, input.role)) throw new CairnError('forbidden', 'a key cannot have more rights than its creator');
    const ownerId = input.ownerAdminId ?? ctx.actor.id;
    if (!ownerId) throw invalidInput('ownerAdminId', 'required');
    const s = this.#newSecret();
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      const owner = await this.#owner(trx, ctx.orgId, ownerId);
      if (owner.state !== 'active') throw policyViolation('the owner admin is not active', [], 'ownerAdminId');
      if (!roleCovers(owner.role, input.role)) throw policyViolation(`a ${owner.role} cannot own a ${input.role} key`, [], 'role');
      await trx('api_keys').insert({
        id, org_id: ctx.orgId, public_id: s.publicId, name: input.name, secret_hmac: this.#mac(s.secret), role: input.role,
        scopes: scopes ? JSON.stringify(scopes) : null, owner_admin_id: owner.id, allowed_cidrs: JSON.stringify(cidrs),
        created_at: now(), expires_at: expiresAt,
      });
      return {
        result: undefined,
        audit: { eventType: 'api_key.created', success: true, resource: { type: 'api_key', id, name: input.name }, changes: { publicId: s.publicId, role: input.role, scopes, ownerAdminId: owner.id, allowedCidrs: cidrs, expiresAt: new Date(expiresAt).toISOString() } },
      };
    });
    return { key: await this.get(ctx.orgId, id), secret: s.full };
  }

  /**
   * A successor with the same role, scopes, owner and allow-list; the old key keeps working
   * for `overlapHours` (default api.keyRotateOverlapHours) so integrations never break.
   */
  async rotate(ctx: ActionContext, id: string, opts: { overlapHours?: number; expiresInDays?: number } = {}): Promise<{ key: ApiKey; secret: string; previous: ApiKey }> {
    const api = this.#d.config.api;
    const overlap = opts.overlapHours ?? api.keyRotateOverlapHours;
    if (typeof overlap !== 'number' || !Number.isFinite(overlap) || overlap < 0 || overlap > api.keyMaxOverlapHours) throw invalidInput('overlapHours', `hours from 0 to ${api.keyMaxOverlapHours}`);
    const expiresAt = this.#expiry(opts.expiresInDays);
    const s = this.#newSecret();
    const newId = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      const old = (await trx('api_keys').where({ org_id: ctx.orgId, id }).first()) as Row | undefined;
      if (!old) throw notFound('API key');
      const k = toKey(old);
      if (k.status === 'revoked' || k.status === 'expired') throw conflict(`the key is ${k.status}`);
      if (k.replacedBy) throw conflict('the key was already rotated; rotate its successor');
      const oldEnds = Math.min(Number(old.expires_at), now() + Math.round(overlap * 3600_000));
      const n = await trx('api_keys').where({ id, replaced_by: null }).whereNull('revoked_at').update({ replaced_by: newId, expires_at: oldEnds });
      if (n !== 1) throw conflict('the key changed meanwhile');
      await trx('api_keys').insert({
        id: newId, org_id: ctx.orgId, public_id: s.publicId, name: old.name, secret_hmac: this.#mac(s.secret), role: old.role,
        scopes: old.scopes, owner_admin_id: old.owner_admin_id, allowed_cidrs: old.allowed_cidrs, created_at: now(), expires_at: expiresAt, rotated_from: id,
      });
      return {
        result: undefined,
        audit: { eventType: 'api_key.rotated', success: true, resource: { type: 'api_key', id, name: old.name }, changes: { successorId: newId, publicId: s.publicId, previousExpiresAt: new Date(oldEnds).toISOString(), expiresAt: new Date(expiresAt).toISOString() } },
      };
    });
    return { key: await this.get(ctx.orgId, newId), secret: s.full, previous: await this.get(ctx.orgId, id) };
  }

  async revoke(ctx: ActionContext, id: string): Promise<ApiKey> {
    await mutate(this.#d, ctx, async (trx) => {
      const old = (await trx('api_keys').where({ org_id: ctx.orgId, id }).first()) as Row | undefined;
      if (!old) throw notFound('API key');
      if (old.revoked_at) return { result: undefined, audit: { eventType: 'api_key.revoked', success: true, resource: { type: 'api_key', id, name: old.name }, changes: { alreadyRevoked: true } } };
      await trx('api_keys').where({ id }).update({ revoked_at: now() });
      return { result: undefined, audit: { eventType: 'api_key.revoked', success: true, resource: { type: 'api_key', id, name: old.name } } };
    });
    return this.get(ctx.orgId, id);
  }

  /** Emergency: every key of the org stops working now. The caller checks Administrator + MFA. */
  async revokeAll(ctx: ActionContext): Promise<number> {
    const n = await mutate(this.#d, ctx, async (trx) => {
      const count = Number(await trx('api_keys').where({ org_id: ctx.orgId }).whereNull('revoked_at').update({ revoked_at: now() }));
      return { result: count, audit: { eventType: 'api_key.revoked_all', success: true, resource: { type: 'org', id: ctx.orgId, name: null }, changes: { revoked: count } } };
    });
    this.#d.log.warn({ orgId: ctx.orgId, actor: ctx.actor, revoked: n }, 'EVERY API key of the organization was revoked');
    return n;
  }

  /**
   * The principal a presented key stands for, or null. Malformed, unknown, wrong secret,
   * revoked, expired, outside the allow-list, owner inactive: all the same null to the caller
   * (the audit trail records which, for keys that exist). The secret is compared in constant
   * time, and an unknown public id costs the same HMAC and compare.
   */
  async authenticate(presented: string, clientIp: string | null, opts: { auditFailures?: boolean } = {}): Promise<KeyPrincipal | null> {
    const m = KEY_RE.exec(presented);
    if (!m) return null;
    const [, publicId, secret] = m as unknown as [string, string, string];
    // One query for the key and its owner (this runs on every API request).
    const joined = (await read(() => this.#d.db('api_keys as k').leftJoin('admins as a', 'a.id', 'k.owner_admin_id').where('k.public_id', publicId)
      .select('k.*', 'a.id as o_id', 'a.org_id as o_org_id', 'a.username as o_username', 'a.email as o_email', 'a.role as o_role', 'a.state as o_state',
        'a.must_change_password as o_must_change_password', 'a.totp_enrolled_at as o_totp_enrolled_at', 'a.created_at as o_created_at', 'a.updated_at as o_updated_at').first())) as
      | (Row & Record<`o_${string}`, unknown>) | undefined;
    const row: Row | undefined = joined;
    const given = Buffer.from(this.#mac(secret), 'hex');
    const stored = Buffer.from(row?.secret_hmac ?? this.#dummy, 'hex');
    const match = timingSafeEqual(given, stored.length === given.length ? stored : given.map(() => 0)) && !!row;
    if (!row) return null;
    const t = now();
    const fail = async (reason: string) => {
      if (opts.auditFailures === false) return null;
      await this.#d.audit.record(
        { orgId: row.org_id, actor: { type: 'api_key', id: row.id, name: row.name }, clientIp, service: 'api', keyId: row.id },
        { eventType: 'api_key.auth_failed', success: false, reason },
      );
      return null;
    };
    if (!match) return fail('invalid_secret');
    if (row.revoked_at) return fail('revoked');
    if (Number(row.expires_at) <= t) return fail('expired');
    const cidrs = JSON.parse(row.allowed_cidrs) as string[];
    if (cidrs.length && !ipInCidrs(clientIp, cidrs)) return fail('ip_not_allowed');
    const j = joined!;
    if (!j.o_id || j.o_state !== 'active') return fail('owner_inactive');
    const owner = toAdmin({
      id: j.o_id, org_id: j.o_org_id, username: j.o_username, email: j.o_email, role: j.o_role, state: j.o_state, password_hash: '',
      must_change_password: j.o_must_change_password, totp_seed_enc: null, totp_pending_enc: null, totp_last_step: null,
      totp_enrolled_at: j.o_totp_enrolled_at, created_at: j.o_created_at, updated_at: j.o_updated_at,
    } as AdminRow);
    const perms = new Set<Permission>();
    const scopes = row.scopes ? new Set(JSON.parse(row.scopes) as string[]) : null;
    for (const p of rolePermissions[row.role as AdminRole] ?? []) {
      if (rolePermissions[owner.role].has(p) && (!scopes || scopes.has(p))) perms.add(p);
    }
    // Last use: at most one write per key every 30 s (or when the address changes).
    if (!row.last_used_at || t - Number(row.last_used_at) > TOUCH_EVERY_MS || row.last_used_ip !== clientIp) {
      await read(() => this.#d.db('api_keys').where({ id: row.id }).update({ last_used_at: t, last_used_ip: clientIp }));
      row.last_used_at = t;
      row.last_used_ip = clientIp;
    }
    return { key: toKey(row), owner, permissions: perms };
  }
}
