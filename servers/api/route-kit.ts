// What every route module shares: the route definition and per-request call types, ETag /
// If-Match, cursor pagination and response helpers. servers/api/routes.ts holds the table;
// route modules (routes/*.ts) build their parts of it with these.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import {
  CairnError,
  type ActionContext, type Admin, type AdminSession, type ApiKeys, type Directory, type KeyPrincipal, type Permission,
} from '../../core/index.js';
import type { Config } from '../../config/load.js';
import { HttpProblem } from './errors.js';

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

/** A page of an already sorted, small in-memory list (admins, keys, IP lists, rules...). */
export function pageOf<T>(items: T[], key: (t: T) => string, cursor: string | undefined, limit: number) {
  const after = decodeCursor(cursor);
  const rest = after === undefined ? items : items.filter((i) => key(i) > String(after));
  const page = rest.slice(0, limit);
  return { items: page, nextCursor: rest.length > limit ? encodeCursor(key(page[page.length - 1]!)) : null };
}

/** A page from a store query that orders by `key` and takes `after`; asks for one more. */
export async function pageFrom<T>(fetch: (after: string | undefined, limit: number) => Promise<T[]>, key: (t: T) => string, cursor: string | undefined, limit: number) {
  const after = decodeCursor(cursor);
  const rows = await fetch(after === undefined ? undefined : String(after), limit + 1);
  const page = rows.slice(0, limit);
  return { items: page, nextCursor: rows.length > limit ? encodeCursor(key(page[page.length - 1]!)) : null };
}

export const ok204 = async (reply: FastifyReply) => {
  reply.code(204);
  return null;
};

export const R = (code: number, s: TSchema) => ({ [code]: s });
