// The common server side of the API benchmarks: a Cairn with the API only, on a fresh store
// (SQLite, or PostgreSQL from CAIRN_BENCH_PG_URL), the bootstrap admin's action context, and
// `announce` to print the benchmark's parameters as one `CAIRN_BENCH {json}` line.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { createLogger, systemContext } from '../../core/index.js';
import { startAll } from '../../servers/all.js';

export async function startApiOnly(name: string, overrides: Record<string, unknown> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `cairn-bench-${name}-`));
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      listenHost: '127.0.0.1',
      database: { url: process.env.CAIRN_BENCH_PG_URL ?? '' },
      bootstrap: { adminPassword: 'Bench-admin-password-1' },
      tls: { dir: join(dataDir, 'certs') },
      api: { port: 0 },
      log: { level: 'warn' },
      ...overrides,
    },
  });
  const running = await startAll(config, createLogger({ level: 'warn', destination: process.stderr }), ['api']);
  const org = await running.dir.defaultOrg();
  const [admin] = await running.dir.admins.list(org.id);
  const ctx = systemContext(org.id, 'bench', { type: 'admin', id: admin!.id, name: admin!.username });
  process.on('SIGTERM', () => {
    void running.stop().then(() => process.exit(0));
  });
  const announce = (params: Record<string, unknown>) =>
    process.stdout.write('CAIRN_BENCH ' + JSON.stringify({ url: `https://127.0.0.1:${running.ports.https}`, caFile: join(dataDir, 'certs', 'ca.crt'), ...params }) + '\n');
  return { running, dir: running.dir, ctx, announce };
}
