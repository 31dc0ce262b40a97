// What every route module shares: the route definition and per-request call types, ETag /
// If-Match, cursor pagination and response helpers. servers/api/routes.ts holds the table;
// route modules (routes/*.ts) build their parts of it with these.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import {
  CairnError,
  type ActionContext, type Admin, type AdminSession, type ApiKeys, type Directory, type KeyPrincipal, type ListOrder, type Permission,
} from '../../core/index.js';
import type { Config } from '../../config/load.js';
import { HttpProblem } from './errors.js';
import { IdParams, NoContent, Page, PageQuery } from './schemas.js';

export type Who =
  | { kind: 'session'; admin: Admin; session: AdminSession }
  | { kind: 'api_key'; admin: Admin; key: KeyPrincipal };

export interface Call {
  dir: Directory;
  keys: ApiKeys;
  config: Readonly<Config>;
  orgId: string;
  /** The default org (login happens there). */
  defaultOrgId: string;
  ip: string | null;
  who: Who | null;
  actx: ActionContext;
}

// Bodies, queries and params are validated against the route's schema before a handler runs.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Req = FastifyRequest & { body: any; query: any; params: any };
export interface RouteDef {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  permission: Permission | 'public' | 'self';
  session?: boolean;
  summary: string;
  tag: string;
  schema: { body?: TSchema; querystring?: TSchema; params?: TSchema; response: Record<number, TSchema> };
  handler(req: Req, reply: FastifyReply, c: Call): Promise<unknown>;
}

export function etagOf(value: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 27)}"`;
}

/** Optimistic concurrency: a PATCH with If-Match must name the current version. */
export function checkIfMatch(req: Req, current: unknown): void {
  const h = req.headers['if-match'];
  if (h === undefined) return;
  const tags = String(h).split(',').map((s) => s.trim().replace(/^W\//, ''));
  if (tags.includes('*') || tags.includes(etagOf(current))) return;
  throw new HttpProblem('precondition_failed', 'the resource changed since it was read; GET it again and retry', 'If-Match');
}

export function withEtag<T>(reply: FastifyReply, presented: T): T {
  reply.header('etag', etagOf(presented));
  return presented;
}

export const encodeCursor = (k: unknown) => Buffer.from(JSON.stringify({ k })).toString('base64url');
export function decodeCursor(c: string | undefined): string | number | undefined {
  if (c === undefined) return undefined;
  try {
    const v = (JSON.parse(Buffer.from(c, 'base64url').toString()) as { k?: unknown }).k;
    if (typeof v === 'string' || typeof v === 'number') return v;
  } catch {
    /* fall through */
  }
  throw new CairnError('invalid_input', 'not a cursor this API issued', { field: 'cursor' });
}

export function pageLimit(c: Call, asked: number | undefined): number {
  return Math.min(asked ?? c.config.api.pageSizeDefault, c.config.api.pageSizeMax);
}

/** A page of a small list kept in its one meaningful order (access rules: evaluation order). */
export function pageOf<T>(items: T[], key: (t: T) => string, cursor: string | undefined, limit: number) {
  const after = decodeCursor(cursor);
  const rest = after === undefined ? items : items.filter((i) => key(i) > String(after));
  const page = rest.slice(0, limit);
  return { items: page, nextCursor: rest.length > limit ? encodeCursor(key(page[page.length - 1]!)) : null };
}

export const ok204 = async (reply: FastifyReply) => {
  reply.code(204);
  return null;
};

export const R = (code: number, s: TSchema) => ({ [code]: s });

// --- sorted lists --------------------------------------------------------------------------
// `sort=<field>` or `sort=-<field>` over a per-list allow-list of the resource's own field names
// (the first is the default order). Rows are ordered by (field, id) and a cursor carries the
// sort, the field's value and the id of the last row, so pages resume exactly, ties included.

interface Sort<F extends string> { field: F; desc: boolean }
type SortKey = { value: string | number; id: string };

/** The query string of a sorted list: limit, cursor, sort over `fields`, and any filters. */
export function sortedListQuery(fields: readonly string[], filters: TProperties = {}) {
  const sort = Type.Unsafe<string>({
    type: 'string', enum: fields.flatMap((f) => [f, `-${f}`]),
    description: `Order by ${fields.join(', ')} (default ${fields[0]}); a leading - sorts descending. Ties are ordered by id.`,
  });
  return Type.Object({ ...PageQuery, sort: Type.Optional(sort), ...filters }, { additionalProperties: false });
}

function parseSort<F extends string>(raw: unknown, fields: readonly F[]): Sort<F> {
  const spec = typeof raw === 'string' ? raw : fields[0]!;
  const desc = spec.startsWith('-');
  const field = (desc ? spec.slice(1) : spec) as F;
  if (!fields.includes(field)) throw new CairnError('invalid_input', `sort by one of ${fields.join(', ')}, with a leading - for descending`, { field: 'sort' });
  return { field, desc };
}

const specOf = (s: Sort<string>) => `${s.desc ? '-' : ''}${s.field}`;

/** A field's value as the store orders it: timestamps in ms, booleans as 0/1. */
function sortValue(item: object, field: string): string | number {
  const v = (item as Record<string, unknown>)[field];
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'boolean') return Number(v);
  if (typeof v === 'string' || typeof v === 'number') return v;
  throw new CairnError('internal', `cannot sort by ${field}`);
}

function encodeSortCursor(sort: Sort<string>, last: { id: string }): string {
  return Buffer.from(JSON.stringify({ s: specOf(sort), v: sortValue(last, sort.field), i: last.id })).toString('base64url');
}

function decodeSortCursor(cursor: string | undefined, sort: Sort<string>): SortKey | undefined {
  if (cursor === undefined) return undefined;
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { s?: unknown; v?: unknown; i?: unknown };
    if (c.s === specOf(sort) && (typeof c.v === 'string' || typeof c.v === 'number') && typeof c.i === 'string') return { value: c.v, id: c.i };
  } catch {
    /* fall through */
  }
  throw new CairnError('invalid_input', 'not a cursor this API issued for this sort', { field: 'cursor' });
}

const compare = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** A sorted page of a small list the core returns whole (admins, keys, apps, ...). */
function pageSorted<T extends { id: string }>(all: readonly T[], fields: readonly (keyof T & string)[], q: { sort?: string; cursor?: string }, limit: number) {
  const sort = parseSort(q.sort, fields);
  const after = decodeSortCursor(q.cursor, sort);
  const sign = sort.desc ? -1 : 1;
  const cmp = (a: SortKey, b: SortKey) => sign * (compare(a.value, b.value) || compare(a.id, b.id));
  const keyed = all.map((item) => ({ item, key: { value: sortValue(item, sort.field), id: item.id } })).sort((x, y) => cmp(x.key, y.key));
  const rest = after ? keyed.filter((x) => cmp(x.key, after) > 0) : keyed;
  const page = rest.slice(0, limit).map((x) => x.item);
  return { items: page, nextCursor: rest.length > limit ? encodeSortCursor(sort, page[page.length - 1]!) : null };
}

/** GET `/<path>`: a sorted page of a small list the core returns whole. */
export function listRoute<T extends { id: string }>(r: {
  path: string;
  tag: string;
  read: Permission;
  summary: string;
  schema: TSchema;
  sort: readonly (keyof T & string)[];
  present(item: T): unknown;
  list(c: Call): Promise<readonly T[]>;
}): RouteDef {
  return {
    method: 'GET', url: `/${r.path}`, permission: r.read, tag: r.tag, summary: r.summary,
    schema: { querystring: sortedListQuery(r.sort), response: R(200, Page(r.schema)) },
    handler: async (req, _reply, c) => {
      const p = pageSorted(await r.list(c), r.sort, req.query, pageLimit(c, req.query.limit));
      return { items: p.items.map((i) => r.present(i)), nextCursor: p.nextCursor };
    },
  };
}

/** POST `/<path>`: create one, answered 201 with the presented item and its ETag. */
export function createRoute<T>(r: {
  path: string;
  tag: string;
  write: Permission;
  /** API keys refused (as for admins). */
  session?: boolean;
  summary: string;
  body: TSchema;
  schema: TSchema;
  present(item: T): unknown;
  create(c: Call, body: any): Promise<T>;
}): RouteDef {
  return {
    method: 'POST', url: `/${r.path}`, permission: r.write, ...(r.session ? { session: true } : {}), tag: r.tag, summary: r.summary,
    schema: { body: r.body, response: R(201, r.schema) },
    handler: async (req, reply, c) => {
      reply.code(201);
      return withEtag(reply, r.present(await r.create(c, req.body)));
    },
  };
}

/** A sorted page from a store query that takes a keyset order (users, groups, systems); asks for one more. */
export async function pageStored<T extends { id: string }, F extends string>(
  fetch: (order: ListOrder<F>, limit: number) => Promise<T[]>, fields: readonly F[], q: { sort?: string; cursor?: string }, limit: number,
) {
  const sort = parseSort(q.sort, fields);
  const after = decodeSortCursor(q.cursor, sort);
  const rows = await fetch({ field: sort.field, desc: sort.desc, ...(after ? { after } : {}) }, limit + 1);
  const page = rows.slice(0, limit);
  return { items: page, nextCursor: rows.length > limit ? encodeSortCursor(sort, page[page.length - 1]!) : null };
}

/**
 * A resource's item routes in one declaration: GET `/<path>/:id` (with an ETag), PATCH (If-Match
 * honoured against the presented current version) and DELETE, each with its own permission and
 * summary in the table. `update` receives the current item it was checked against.
 */
export function itemRoutes<T>(r: {
  path: string;
  tag: string;
  read: Permission;
  write: Permission;
  /** PATCH and DELETE refuse API keys (as for admins). */
  session?: boolean;
  schema: TSchema;
  present(item: T): unknown;
  get(c: Call, id: string): Promise<T>;
  patch?: { summary: string; body: TSchema; update(c: Call, id: string, body: any, current: T): Promise<T> };
  remove?: { summary: string; run(c: Call, id: string): Promise<void> };
  summary: string;
}): RouteDef[] {
  const url = `/${r.path}/:id`;
  const common = { url, tag: r.tag };
  const write = { ...common, permission: r.write, ...(r.session ? { session: true } : {}) };
  const routes: RouteDef[] = [{
    ...common, method: 'GET', permission: r.read, summary: r.summary,
    schema: { params: IdParams, response: R(200, r.schema) },
    handler: async (req, reply, c) => withEtag(reply, r.present(await r.get(c, req.params.id))),
  }];
  const { patch, remove } = r;
  if (patch) {
    routes.push({
      ...write, method: 'PATCH', summary: patch.summary,
      schema: { params: IdParams, body: patch.body, response: R(200, r.schema) },
      handler: async (req, reply, c) => {
        const current = await r.get(c, req.params.id);
        checkIfMatch(req, r.present(current));
        return withEtag(reply, r.present(await patch.update(c, req.params.id, req.body, current)));
      },
    });
  }
  if (remove) {
    routes.push({
      ...write, method: 'DELETE', summary: remove.summary,
      schema: { params: IdParams, response: R(204, NoContent) },
      handler: async (req, reply, c) => {
        await remove.run(c, req.params.id);
        return ok204(reply);
      },
    });
  }
  return routes;
}

/**
 * A setting of the org (a policy) in one declaration: GET `/policies/<name>` (with an ETag) and
 * its change — PATCH merges, PUT replaces — with If-Match honoured against the current value.
 */
export function settingRoutes<T>(r: {
  name: string;
  tag: string;
  read: Permission;
  write: Permission;
  schema: TSchema;
  get(c: Call): Promise<T>;
  summary: string;
  change: { method: 'PATCH' | 'PUT'; summary: string; body: TSchema; apply(c: Call, body: any): Promise<T> };
}): RouteDef[] {
  const url = `/policies/${r.name}`;
  return [
    {
      method: 'GET', url, permission: r.read, tag: r.tag, summary: r.summary,
      schema: { response: R(200, r.schema) },
      handler: async (_req, reply, c) => withEtag(reply, await r.get(c)),
    },
    {
      method: r.change.method, url, permission: r.write, tag: r.tag, summary: r.change.summary,
      schema: { body: r.change.body, response: R(200, r.schema) },
      handler: async (req, reply, c) => {
        checkIfMatch(req, await r.get(c));
        return withEtag(reply, await r.change.apply(c, req.body));
      },
    },
  ];
}
