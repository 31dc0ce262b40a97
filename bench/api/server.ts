// The server side of bench/api/get-user.ts: a Cairn with the API only, on a fresh store, with
// one user and a Manager API key; prints {url, caFile, key, userId} as one JSON line.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { ApiKeys, createLogger, systemContext } from '../../core/index.js';
import { startAll } from '../../servers/all.js';

const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-api-'));
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
  },
});
const running = await startAll(config, createLogger({ level: 'warn', destination: process.stderr }), ['api']);
const org = await running.dir.defaultOrg();
const [admin] = await running.dir.admins.list(org.id);
const ctx = systemContext(org.id, 'bench', { type: 'admin', id: admin!.id, name: admin!.username });
const user = await running.dir.users.create(ctx, { username: 'bench-user', email: 'bench@example.com', password: 'Correct-horse-9' });
await running.dir.users.addSshKey(ctx, user.id, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench@host');
const { secret } = await new ApiKeys(running.dir.deps).create(ctx, { name: 'bench', role: 'manager', allowedCidrs: ['127.0.0.1/32'] }, 'administrator');
process.stdout.write('CAIRN_BENCH ' + JSON.stringify({ url: `https://127.0.0.1:${running.ports.https}`, caFile: join(dataDir, 'certs', 'ca.crt'), key: secret, userId: user.id }) + '\n');
process.on('SIGTERM', () => {
  void running.stop().then(() => process.exit(0));
});
