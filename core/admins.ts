// Administrators: separate from directory users, each with one role.
import { randomUUID } from 'node:crypto';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { conflict, invalidInput, notFound } from './errors.js';
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

export class Admins {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  async list(orgId: string): Promise<Admin[]> {
    const rows = await read(() => this.#d.db('admins').where({ org_id: orgId }).orderBy('username'));
    return rows.map(toAdmin);
  }

  async get(orgId: string, id: string): Promise<Admin> {
    const row = await read(() => this.#d.db('admins').where({ org_id: orgId, id }).first());
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
}
