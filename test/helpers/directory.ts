// A fresh directory for one test: SQLite in a temp dir, or (backend 'pg') a database of its own
// on the server CAIRN_TEST_PG_URL points at, dropped afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig, type Config } from '../../config/load.js';
import { bootstrap, createLogger, openDirectory, systemContext, type Directory, type Org } from '../../core/index.js';
import type { ActionContext } from '../../core/types.js';

export type Backend = 'sqlite' | 'pg';

/** The backends storage tests run on: SQLite always, PostgreSQL when CAIRN_TEST_PG_URL is set. */
export const backends: Backend[] = process.env.CAIRN_TEST_PG_URL ? ['sqlite', 'pg'] : ['sqlite'];

/** Every log line any test produced, for the secret-leak check. */
export const logLines: string[] = [];

/**
 * Secrets the tests use. When a test process exits, no log line it produced may contain one
 * (nor an argon2 hash); a leak fails that test file. Tests add their own with addCanary().
 */
const canaries = new Set(['Correct-horse-9', 'Bootstrap-admin-pw-1', '$argon2id$']);
export function addCanary(secret: string): void {
  if (secret.length >= 6) canaries.add(secret);
}
process.on('exit', () => {
  const leaks = logLines.filter((line) => [...canaries].some((c) => line.includes(c)));
  if (leaks.length) {
    process.stderr.write(`SECRET IN LOGS (${leaks.length} lines), first: ${leaks[0]!.slice(0, 500)}\n`);
    process.exitCode = 1;
  }
});

export interface TestDirectory {
  dir: Directory;
  org: Org;
  ctx: ActionContext;
  config: Readonly<Config>;
  dataDir: string;
  databaseUrl: string;
  adminPassword: string;
  close(): Promise<void>;
}

/** A fresh database on the server of `base` (the test server by default; benches pass theirs). */
export async function createPgDatabase(base = process.env.CAIRN_TEST_PG_URL!): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cairn_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function testLogger() {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  return createLogger({ level: process.env.CAIRN_TEST_LOG ? 'debug' : 'info', destination: sink });
}

export async function testDirectory(backend: Backend = 'sqlite', overrides: Record<string, unknown> = {}): Promise<TestDirectory> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-test-'));
  const pgdb = backend === 'pg' ? await createPgDatabase() : null;
  const adminPassword = 'Bootstrap-admin-pw-1';
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      database: { url: pgdb?.url ?? '' },
      // Cheap hashes keep the suite fast; production defaults are tested in passwords.test.ts.
      passwords: { memoryKiB: 19456, iterations: 2, maxConcurrentHashes: 4 },
      bootstrap: { adminPassword },
      tls: { dir: join(dataDir, 'certs') },
      ...overrides,
    },
  });
  const dir = await openDirectory({ config, log: testLogger(), migrate: true });
  const { org } = await bootstrap(dir);
  return {
    dir, org, config, dataDir, adminPassword,
    databaseUrl: pgdb?.url ?? join(dataDir, 'cairn.sqlite'),
    ctx: systemContext(org.id, 'test', { type: 'cli', id: 'cli:test', name: 'test' }),
    async close() {
      await dir.close();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
