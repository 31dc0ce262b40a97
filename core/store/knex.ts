// The only place that opens a database. SQLite (embedded default, WAL, synchronous=FULL so an
// acknowledged write survives kill -9) or PostgreSQL (production).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../migrations/index.js';
import { CairnError } from '../errors.js';

export type Db = Knex;

// bigint columns hold epoch milliseconds and counters, all well inside 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface StoreOptions {
  /** postgres://… or a file path for SQLite (':memory:' allowed in tests). */
  url: string;
  poolMax: number;
  timeoutMs: number;
}

export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

// knex prints each failed connection attempt with its stack; the caller receives that same error
// (as 'unavailable') and reports it once, so that line is only noise.
const knexLog = { warn: (message: string) => { if (!message.startsWith('Acquire connection error')) console.warn(message); } };

export function openDb(opts: StoreOptions): Db {
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    return knexFactory({
      client: 'pg',
      log: knexLog,
      connection: { connectionString: opts.url, statement_timeout: opts.timeoutMs, connectionTimeoutMillis: opts.timeoutMs } as Knex.PgConnectionConfig,
      pool: { min: 0, max: opts.poolMax, acquireTimeoutMillis: opts.timeoutMs },
      acquireConnectionTimeout: opts.timeoutMs,
    });
  }
  if (opts.url !== ':memory:') mkdirSync(dirname(opts.url), { recursive: true });
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: opts.url, options: { timeout: opts.timeoutMs } } as Knex.Sqlite3ConnectionConfig,
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and one connection keeps
    // transactions from waiting on each other inside the pool.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = FULL');
          conn.pragma('foreign_keys = ON');
          conn.pragma(`busy_timeout = ${opts.timeoutMs}`);
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
    acquireConnectionTimeout: opts.timeoutMs,
  });
}

export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** Migrations known to the code but not yet applied (readiness checks use it). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown, Array<string | { file: string }>];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}

const unavailableCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'SQLITE_BUSY', 'SQLITE_IOERR',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '57014', '53300',
  // The server refuses the connection itself (unknown role, wrong password, pg_hba, no such
  // database), or TLS to it cannot be verified: as unusable as a server that is down.
  '28000', '28P01', '3D000',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED',
]);

/** A storage failure as a typed error: connectivity problems become 'unavailable'. */
export function storeError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const e = err as { code?: string; name?: string; message?: string };
  if (
    (e.code && unavailableCodes.has(e.code)) ||
    e.name === 'KnexTimeoutError' ||
    /Connection terminated|timeout|Timeout acquiring|connect ECONNREFUSED|database is locked|does not support SSL/i.test(e.message ?? '')
  ) {
    return new CairnError('unavailable', 'directory store unavailable', { cause: err });
  }
  if (e.code === '23505' || /UNIQUE constraint failed/.test(e.message ?? '')) {
    return new CairnError('conflict', 'already exists', { cause: err });
  }
  return new CairnError('internal', 'internal error', { cause: err, expose: false });
}
