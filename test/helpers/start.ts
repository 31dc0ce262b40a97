// Start real Cairn servers in this process on port 0, on a fresh SQLite (or PostgreSQL) store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../config/load.js';
import { startAll, type Running, type ServiceName } from '../../servers/all.js';
import { createPgDatabase, testLogger, type Backend } from './directory.js';
import { systemContext, type Org } from '../../core/index.js';
import type { ActionContext } from '../../core/types.js';

export interface Started extends Running {
  config: Readonly<Config>;
  org: Org;
  ctx: ActionContext;
  /** https://127.0.0.1:<port> of the shared HTTPS listener. */
  url: string;
  caFile: string;
  dataDir: string;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export async function start(opts: { only?: ServiceName[]; backend?: Backend; overrides?: Record<string, unknown> } = {}): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-srv-'));
  const pgdb = opts.backend === 'pg' ? await createPgDatabase() : null;
  const config = loadConfig({
    env: {},
    overrides: deepMerge(
      {
        dataDir,
        listenHost: '127.0.0.1',
        database: { url: pgdb?.url ?? '' },
        bootstrap: { adminPassword: 'Bootstrap-admin-pw-1' },
        passwords: { maxConcurrentHashes: 4 },
        tls: { dir: join(dataDir, 'certs') },
        api: { port: 0 },
        ldap: { port: 0, ldapsPort: 0 },
        radius: { authPort: 0, acctPort: 0 },
      },
      opts.overrides ?? {},
    ),
  });
  const running = await startAll(config, testLogger(), opts.only);
  const org = await running.dir.defaultOrg();
  return {
    ...running,
    config,
    org,
    ctx: systemContext(org.id, 'test', { type: 'cli', id: 'cli:test', name: 'test' }),
    url: `https://127.0.0.1:${running.ports.https}`,
    caFile: join(dataDir, 'certs', 'ca.crt'),
    dataDir,
    async stop(deadlineMs?: number) {
      await running.stop(deadlineMs);
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
