// Systems (hosts), LDAP service accounts, and the grants that give groups access to resources.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { mutate, now, read, toDate, type Deps } from './context.js';
import type { Change } from './feed.js';
import { randomToken } from './crypto/tokens.js';
import { conflict, invalidInput, notFound } from './errors.js';
import { applyOrder, type ListOrder } from './store/keyset.js';
import type { ActionContext, ResourceRef, ServiceAccount, System, SystemState } from './types.js';
import { USERNAME_RE } from './users.js';

/** What a system list can be sorted by: field of System → column. */
export const systemSortColumns = { hostname: 'hostname', state: 'state', createdAt: 'created_at', updatedAt: 'updated_at' } as const;
export type SystemSortField = keyof typeof systemSortColumns;

export type GrantRole = 'access' | 'login' | 'sudo';

export class Grants {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  async groupsOf(orgId: string, resource: ResourceRef, role: GrantRole = 'access'): Promise<string[]> {
    const rows = await read(() =>
      this.#d.db('resource_grants').where({ org_id: orgId, resource_type: resource.type, resource_id: resource.id, role }).select('group_id'),
    );
    return rows.map((r: { group_id: string }) => r.group_id);
  }

  /** Replace the groups granted `role` on a resource (inside the caller's transaction). */
  async replace(trx: Knex.Transaction, orgId: string, resource: ResourceRef, role: GrantRole, groupIds: string[]): Promise<void> {
    const unique = [...new Set(groupIds)];
    if (unique.length) {
      const found = await trx('groups').where({ org_id: orgId }).whereIn('id', unique).select('id');
      if (found.length !== unique.length) throw notFound('group');
    }
    await trx('resource_grants').where({ org_id: orgId, resource_type: resource.type, resource_id: resource.id, role }).delete();
    if (unique.length) {
      await trx('resource_grants').insert(unique.map((g) => ({ org_id: orgId, resource_type: resource.type, resource_id: resource.id, role, group_id: g })));
    }
  }

  async set(ctx: ActionContext, resource: ResourceRef, role: GrantRole, groupIds: string[]): Promise<void> {
    const before = await this.groupsOf(ctx.orgId, resource, role);
    await mutate(this.#d, ctx, async (trx) => {
      await this.replace(trx, ctx.orgId, resource, role, groupIds);
      return {
        result: undefined,
        audit: { eventType: 'grant.updated', success: true, resource: { type: resource.type, id: resource.id, name: null }, changes: { role, groupIds: { from: before, to: [...new Set(groupIds)] } } },
        changes: [{ kind: 'grant', action: 'updated', orgId: ctx.orgId, id: resource.id }],
      };
    });
  }

  /** Least privilege: a resource no group is granted is open to nobody. */
  async allows(orgId: string, resource: ResourceRef, userGroupIds: readonly string[], role: GrantRole = 'access'): Promise<boolean> {
    const granted = await this.groupsOf(orgId, resource, role);
    return granted.some((g) => userGroupIds.includes(g));
  }
}

type SystemRow = { id: string; org_id: string; hostname: string; os: string; state: string; agent_version: string | null; last_contact_at: number | null; created_at: number; updated_at: number };
const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export class Systems {
  readonly #d: Deps;
  readonly #grants: Grants;
  constructor(deps: Deps, grants: Grants) {
    this.#d = deps;
    this.#grants = grants;
  }

  async #toSystem(r: SystemRow): Promise<System> {
    const ref: ResourceRef = { type: 'system', id: r.id };
    const [login, sudo] = await Promise.all([this.#grants.groupsOf(r.org_id, ref, 'login'), this.#grants.groupsOf(r.org_id, ref, 'sudo')]);
    return {
      id: r.id, orgId: r.org_id, hostname: r.hostname, os: r.os, state: r.state as SystemState, agentVersion: r.agent_version,
      lastContactAt: toDate(r.last_contact_at), loginGroupIds: login, sudoGroupIds: sudo,
      createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    };
  }

  async get(orgId: string, id: string): Promise<System> {
    const row = await read(() => this.#d.db('systems').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('system');
    return this.#toSystem(row);
  }

  async findByHostname(orgId: string, hostname: string): Promise<System | null> {
    const row = await read(() => this.#d.db('systems').where({ org_id: orgId, hostname: hostname.toLowerCase() }).first());
    return row ? this.#toSystem(row) : null;
  }

  /** By hostname after `after`, or in any `order` of systemSortColumns with keyset paging. */
  async list(orgId: string, opts: { after?: string; order?: ListOrder<SystemSortField>; limit?: number } = {}): Promise<System[]> {
    const rows = await read(() => {
      const q = this.#d.db('systems').where({ org_id: orgId });
      const limit = Math.min(Math.max(opts.limit ?? 100, 1), 10_000);
      if (opts.order) return applyOrder(q, systemSortColumns, opts.order).limit(limit);
      if (opts.after) q.where('hostname', '>', opts.after);
      return q.orderBy('hostname').limit(limit);
    });
    return Promise.all(rows.map((r: SystemRow) => this.#toSystem(r)));
  }

  async create(ctx: ActionContext, input: { hostname: string; os?: string; state?: SystemState; loginGroupIds?: string[]; sudoGroupIds?: string[] }): Promise<System> {
    const hostname = String(input.hostname ?? '').toLowerCase();
    if (!HOSTNAME_RE.test(hostname)) throw invalidInput('hostname', 'a DNS host name');
    const os = String(input.os ?? '').slice(0, 128);
    const state = input.state ?? 'pending';
    if (!['pending', 'enrolled', 'disabled'].includes(state)) throw invalidInput('state', 'pending, enrolled or disabled');
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('systems').where({ org_id: ctx.orgId, hostname }).first()) throw conflict('a system with this hostname exists', 'hostname');
      await trx('systems').insert({ id, org_id: ctx.orgId, hostname, os, state, created_at: now(), updated_at: now() });
      const ref: ResourceRef = { type: 'system', id };
      await this.#grants.replace(trx, ctx.orgId, ref, 'login', input.loginGroupIds ?? []);
      await this.#grants.replace(trx, ctx.orgId, ref, 'sudo', input.sudoGroupIds ?? []);
      return {
        result: undefined,
        audit: { eventType: 'system.created', success: true, resource: { type: 'system', id, name: hostname }, changes: { os, state, loginGroupIds: input.loginGroupIds ?? [], sudoGroupIds: input.sudoGroupIds ?? [] } },
        changes: [{ kind: 'system', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async update(ctx: ActionContext, id: string, patch: { os?: string; state?: SystemState; loginGroupIds?: string[]; sudoGroupIds?: string[] }): Promise<System> {
    const before = await this.get(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      if (key === 'os') { row.os = String(value).slice(0, 128); changes.os = { from: before.os, to: row.os }; }
      else if (key === 'state') {
        if (!['pending', 'enrolled', 'disabled'].includes(value as string)) throw invalidInput('state', 'pending, enrolled or disabled');
        row.state = value; changes.state = { from: before.state, to: value };
      } else if (key === 'loginGroupIds' || key === 'sudoGroupIds') {
        if (!Array.isArray(value)) throw invalidInput(key, 'a list of group ids');
        changes[key] = { from: before[key], to: value };
      } else throw invalidInput(key, 'unknown or read-only field');
    }
    await mutate(this.#d, ctx, async (trx) => {
      await trx('systems').where({ id, org_id: ctx.orgId }).update({ ...row, updated_at: now() });
      if (patch.loginGroupIds) await this.#grants.replace(trx, ctx.orgId, { type: 'system', id }, 'login', patch.loginGroupIds);
      if (patch.sudoGroupIds) await this.#grants.replace(trx, ctx.orgId, { type: 'system', id }, 'sudo', patch.sudoGroupIds);
      const feed: Change[] = [{ kind: 'system', action: 'updated', orgId: ctx.orgId, id }];
      // The host's LDAP credential follows the system: disabled with it, active again with it.
      const account = patch.state ? await this.#hostAccount(trx, ctx.orgId, id) : null;
      const accountState = patch.state === 'disabled' ? 'disabled' : 'active';
      if (account && account.state !== accountState) {
        await trx('service_accounts').where({ id: account.id }).update({ state: accountState, updated_at: now() });
        changes.hostCredential = { account: account.name, from: account.state, to: accountState };
        feed.push({ kind: 'service_account', action: 'state', orgId: ctx.orgId, id: account.id });
      }
      return {
        result: undefined,
        audit: { eventType: 'system.updated', success: true, resource: { type: 'system', id, name: before.hostname }, changes },
        changes: feed,
      };
    });
    return this.get(ctx.orgId, id);
  }

  /** The per-host LDAP service account of an enrolled system (host agent), if it has one. */
  async #hostAccount(trx: Knex.Transaction, orgId: string, systemId: string): Promise<{ id: string; name: string; state: string } | null> {
    const row = await trx('agent_hosts').join('service_accounts', 'service_accounts.id', 'agent_hosts.service_account_id')
      .where({ 'agent_hosts.system_id': systemId, 'agent_hosts.org_id': orgId })
      .first('service_accounts.id as id', 'service_accounts.name as name', 'service_accounts.state as state');
    return row ?? null;
  }

  /** A host's heartbeat: not an admin change, so no audit event per beat. */
  async touch(orgId: string, id: string, agentVersion: string | null): Promise<void> {
    await read(() => this.#d.db('systems').where({ org_id: orgId, id }).update({ last_contact_at: now(), agent_version: agentVersion }));
  }

  async delete(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      // An enrolled host's LDAP credential goes with it (its key binding goes by foreign key).
      const account = await this.#hostAccount(trx, ctx.orgId, id);
      if (account) await trx('service_accounts').where({ id: account.id }).delete();
      await trx('resource_grants').where({ org_id: ctx.orgId, resource_type: 'system', resource_id: id }).delete();
      await trx('systems').where({ id, org_id: ctx.orgId }).delete();
      return {
        result: undefined,
        audit: { eventType: 'system.deleted', success: true, resource: { type: 'system', id, name: before.hostname }, changes: account ? { hostCredential: { account: account.name, deleted: true } } : null },
        changes: [
          { kind: 'system', action: 'deleted', orgId: ctx.orgId, id },
          ...(account ? [{ kind: 'service_account', action: 'deleted', orgId: ctx.orgId, id: account.id } as const] : []),
        ],
      };
    });
  }
}

type AccountRow = {
  id: string; org_id: string; name: string; description: string; password_hash: string; permissions: string; state: string; created_at: number; updated_at: number;
  previous_password_hash: string | null; previous_expires_at: number | null;
};
export const servicePermissions = ['read_directory', 'password_modify'] as const;

export class ServiceAccounts {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  #to(r: AccountRow): ServiceAccount {
    return {
      id: r.id, orgId: r.org_id, name: r.name, description: r.description, permissions: JSON.parse(r.permissions) as string[],
      state: r.state as ServiceAccount['state'], createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    };
  }

  async list(orgId: string): Promise<ServiceAccount[]> {
    const rows = await read(() => this.#d.db('service_accounts').where({ org_id: orgId }).orderBy('name'));
    return rows.map((r: AccountRow) => this.#to(r));
  }

  async get(orgId: string, id: string): Promise<ServiceAccount> {
    const row = await read(() => this.#d.db('service_accounts').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('service account');
    return this.#to(row);
  }

  async findByName(orgId: string, name: string): Promise<ServiceAccount | null> {
    const row = await read(() => this.#d.db('service_accounts').where({ org_id: orgId, name: name.toLowerCase() }).first());
    return row ? this.#to(row) : null;
  }

  /** Creates the account with a generated password, returned once. */
  async create(ctx: ActionContext, input: { name: string; description?: string; permissions?: string[] }): Promise<{ account: ServiceAccount; password: string }> {
    if (typeof input.name !== 'string' || !USERNAME_RE.test(input.name)) throw invalidInput('name', 'lower-case letters, digits, _ . - ; at most 32 characters');
    const permissions = input.permissions ?? ['read_directory'];
    for (const p of permissions) if (!servicePermissions.includes(p as never)) throw invalidInput('permissions', `each one of ${servicePermissions.join(', ')}`);
    const password = randomToken(24);
    const hash = await this.#d.hasher.hash(password);
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('service_accounts').where({ org_id: ctx.orgId, name: input.name }).first()) throw conflict('name already taken', 'name');
      await trx('service_accounts').insert({
        id, org_id: ctx.orgId, name: input.name, description: String(input.description ?? '').slice(0, 1024), password_hash: hash,
        permissions: JSON.stringify(permissions), state: 'active', created_at: now(), updated_at: now(),
      });
      return {
        result: undefined,
        audit: { eventType: 'service_account.created', success: true, resource: { type: 'service_account', id, name: input.name }, changes: { permissions } },
        changes: [{ kind: 'service_account', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return { account: await this.get(ctx.orgId, id), password };
  }

  /** Change description, permissions or state (management API); disabling ends its binds. */
  async update(ctx: ActionContext, id: string, patch: { description?: string; permissions?: string[]; state?: ServiceAccount['state'] }): Promise<ServiceAccount> {
    const before = await this.get(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      if (key === 'description') {
        if (typeof value !== 'string' || value.length > 1024) throw invalidInput('description', 'at most 1024 characters');
        row.description = value; changes.description = { from: before.description, to: value };
      } else if (key === 'permissions') {
        if (!Array.isArray(value) || value.some((p) => !servicePermissions.includes(p as never))) throw invalidInput('permissions', `each one of ${servicePermissions.join(', ')}`);
        row.permissions = JSON.stringify([...new Set(value)]); changes.permissions = { from: before.permissions, to: [...new Set(value)] };
      } else if (key === 'state') {
        if (value !== 'active' && value !== 'disabled') throw invalidInput('state', 'active or disabled');
        row.state = value; changes.state = { from: before.state, to: value };
      } else throw invalidInput(key, 'unknown or read-only field');
    }
    if (!Object.keys(row).length) return before;
    await mutate(this.#d, ctx, async (trx) => {
      await trx('service_accounts').where({ id, org_id: ctx.orgId }).update({ ...row, updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'service_account.updated', success: true, resource: { type: 'service_account', id, name: before.name }, changes },
        changes: [{ kind: 'service_account', action: row.state ? 'state' : 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async resetPassword(ctx: ActionContext, id: string): Promise<string> {
    const account = await this.get(ctx.orgId, id);
    const password = randomToken(24);
    const hash = await this.#d.hasher.hash(password);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('service_accounts').where({ id }).update({ password_hash: hash, previous_password_hash: null, previous_expires_at: null, updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'service_account.password_reset', success: true, resource: { type: 'service_account', id, name: account.name } },
        changes: [{ kind: 'service_account', action: 'credentials', orgId: ctx.orgId, id }],
      };
    });
    return password;
  }

  async delete(ctx: ActionContext, id: string): Promise<void> {
    const account = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('service_accounts').where({ id, org_id: ctx.orgId }).delete();
      return {
        result: undefined,
        audit: { eventType: 'service_account.deleted', success: true, resource: { type: 'service_account', id, name: account.name } },
        changes: [{ kind: 'service_account', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  /**
   * Bind check for a service account; audited; unknown names cost one dummy hash. During a host
   * credential rotation (core/enrolment.ts) the previous password is accepted until it expires.
   */
  async verify(orgId: string, name: string, password: string, clientIp: string | null, service: string): Promise<ServiceAccount | null> {
    const row = (await read(() => this.#d.db('service_accounts').where({ org_id: orgId, name: name.toLowerCase() }).first())) as AccountRow | undefined;
    const previousValid = !!row?.previous_password_hash && Number(row.previous_expires_at) > now();
    const matches = (await this.#d.hasher.verify(row?.password_hash ?? null, password)) || (previousValid && (await this.#d.hasher.verify(row!.previous_password_hash, password)));
    const ok = matches && row?.state === 'active';
    await this.#d.audit.record(
      { orgId, actor: { type: 'service_account', id: row?.id ?? null, name: row?.name ?? null }, clientIp, service },
      { eventType: 'service_account.bind', success: !!ok, reason: ok ? null : row ? 'invalid_credentials' : 'unknown_account', resource: row ? { type: 'service_account', id: row.id, name: row.name } : null },
    );
    return ok && row ? this.#to(row) : null;
  }
}
