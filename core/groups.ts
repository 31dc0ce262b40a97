// Groups: how access is given. POSIX gidNumbers come from the same never-reused counter as users.
import { randomUUID } from 'node:crypto';
import { mutate, now, read, type Deps } from './context.js';
import { conflict, invalidInput, notFound } from './errors.js';
import { applyOrder, type ListOrder } from './store/keyset.js';
import type { ActionContext, Group } from './types.js';
import { allocatePosixId, USERNAME_RE } from './users.js';

/** What a group list can be sorted by: field of Group → column. */
export const groupSortColumns = { name: 'name', gidNumber: 'gid_number', createdAt: 'created_at', updatedAt: 'updated_at' } as const;
export type GroupSortField = keyof typeof groupSortColumns;

type GroupRow = { id: string; org_id: string; name: string; gid_number: number; description: string; created_at: number; updated_at: number };

function validateDescription(v: unknown): string {
  if (typeof v !== 'string' || v.length > 1024 || /[\0]/.test(v)) throw invalidInput('description', 'at most 1024 characters');
  return v;
}

export class Groups {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  async #hydrate(orgId: string, rows: GroupRow[]): Promise<Group[]> {
    if (!rows.length) return [];
    const members = (await (rows.length > 500
      ? this.#d.db('group_members as m').join('groups as g', 'g.id', 'm.group_id').where('g.org_id', orgId).select('m.group_id', 'm.user_id')
      : this.#d.db('group_members').whereIn('group_id', rows.map((r) => r.id)).select('group_id', 'user_id'))) as { group_id: string; user_id: string }[];
    const by = new Map<string, string[]>();
    for (const m of members) by.set(m.group_id, [...(by.get(m.group_id) ?? []), m.user_id]);
    return rows.map((r) => ({
      id: r.id, orgId: r.org_id, name: r.name, gidNumber: Number(r.gid_number), description: r.description,
      memberIds: by.get(r.id) ?? [], createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    }));
  }

  async get(orgId: string, id: string): Promise<Group> {
    const row = await read(() => this.#d.db('groups').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('group');
    return (await read(() => this.#hydrate(orgId, [row])))[0]!;
  }

  async findByName(orgId: string, name: string): Promise<Group | null> {
    const row = await read(() => this.#d.db('groups').where({ org_id: orgId, name: name.toLowerCase() }).first());
    return row ? (await read(() => this.#hydrate(orgId, [row])))[0]! : null;
  }

  /** By name after `after`, or in any `order` of groupSortColumns with keyset paging. */
  async list(orgId: string, opts: { after?: string; order?: ListOrder<GroupSortField>; limit?: number } = {}): Promise<Group[]> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 100_000);
    const rows = await read(() => {
      const q = this.#d.db('groups').where({ org_id: orgId });
      if (opts.order) return applyOrder(q, groupSortColumns, opts.order).limit(limit);
      if (opts.after) q.where('name', '>', opts.after);
      return q.orderBy('name').limit(limit);
    });
    return read(() => this.#hydrate(orgId, rows));
  }

  async create(ctx: ActionContext, input: { name: string; description?: string }): Promise<Group> {
    if (typeof input.name !== 'string' || !USERNAME_RE.test(input.name)) {
      throw invalidInput('name', 'lower-case letters, digits, _ . - ; starting with a letter or _; at most 32 characters');
    }
    const description = validateDescription(input.description ?? '');
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('groups').where({ org_id: ctx.orgId, name: input.name }).first()) throw conflict('group name already taken', 'name');
      // A group may not share its name with a user: user-private groups (gid = uid) use the user's name.
      if (await trx('users').where({ org_id: ctx.orgId, username: input.name }).first()) throw conflict('a user has this name', 'name');
      const gid = await allocatePosixId(trx, ctx.orgId, this.#d.config.posix);
      await trx('groups').insert({ id, org_id: ctx.orgId, name: input.name, gid_number: gid, description, created_at: now(), updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'group.created', success: true, resource: { type: 'group', id, name: input.name }, changes: { gidNumber: gid, description } },
        changes: [{ kind: 'group', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async update(ctx: ActionContext, id: string, patch: { description?: string }): Promise<Group> {
    const before = await this.get(ctx.orgId, id);
    for (const key of Object.keys(patch)) if (key !== 'description') throw invalidInput(key, 'unknown or read-only field');
    if (patch.description === undefined || patch.description === before.description) return before;
    const description = validateDescription(patch.description);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('groups').where({ id, org_id: ctx.orgId }).update({ description, updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'group.updated', success: true, resource: { type: 'group', id, name: before.name }, changes: { description: { from: before.description, to: description } } },
        changes: [{ kind: 'group', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  async delete(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.get(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('groups').where({ id, org_id: ctx.orgId }).delete();
      return {
        result: undefined,
        audit: { eventType: 'group.deleted', success: true, resource: { type: 'group', id, name: before.name }, changes: { memberCount: before.memberIds.length } },
        changes: [{ kind: 'group', action: 'deleted', orgId: ctx.orgId, id }, ...before.memberIds.map((u) => ({ kind: 'user' as const, action: 'updated' as const, orgId: ctx.orgId, id: u }))],
      };
    });
  }

  async addMember(ctx: ActionContext, groupId: string, userId: string): Promise<void> {
    await this.#membership(ctx, groupId, userId, true);
  }

  async removeMember(ctx: ActionContext, groupId: string, userId: string): Promise<void> {
    await this.#membership(ctx, groupId, userId, false);
  }

  async #membership(ctx: ActionContext, groupId: string, userId: string, add: boolean): Promise<void> {
    const group = await this.get(ctx.orgId, groupId);
    const user = await read(() => this.#d.db('users').where({ org_id: ctx.orgId, id: userId }).first());
    if (!user) throw notFound('user');
    if (group.memberIds.includes(userId) === add) return; // already as asked: nothing to record
    await mutate(this.#d, ctx, async (trx) => {
      if (add) await trx('group_members').insert({ group_id: groupId, user_id: userId });
      else await trx('group_members').where({ group_id: groupId, user_id: userId }).delete();
      await trx('groups').where({ id: groupId }).update({ updated_at: now() });
      return {
        result: undefined,
        audit: {
          eventType: add ? 'group.member_added' : 'group.member_removed', success: true,
          resource: { type: 'group', id: groupId, name: group.name }, changes: { userId },
        },
        changes: [
          { kind: 'group', action: 'updated', orgId: ctx.orgId, id: groupId },
          { kind: 'user', action: 'updated', orgId: ctx.orgId, id: userId },
        ],
      };
    });
  }
}
