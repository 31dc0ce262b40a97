// The server side of bench/agent/config.ts: a Cairn with the API only, on a fresh store, with
// two groups and N enrolment tokens; prints {url, caFile, tokens} as one JSON line.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { createLogger, HostAgents, systemContext } from '../../core/index.js';
import { startAll } from '../../servers/all.js';

const hosts = Number(process.env.CAIRN_BENCH_HOSTS ?? '32');
const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-agent-'));
const config = loadConfig({
  env: {},
  overrides: {
    dataDir,
    listenHost: '127.0.0.1',
    database: { url: process.env.CAIRN_BENCH_PG_URL ?? '' },
    bootstrap: { adminPassword: 'Bench-admin-password-1' },
    tls: { dir: join(dataDir, 'certs') },
    api: { port: 0 },
    agent: { ldapUris: ['ldaps://127.0.0.1:6636'], enrolPerMinute: 100000 },
    log: { level: 'warn' },
  },
});
const running = await startAll(config, createLogger({ level: 'warn', destination: process.stderr }), ['api']);
const org = await running.dir.defaultOrg();
const [admin] = await running.dir.admins.list(org.id);
const ctx = systemContext(org.id, 'bench', { type: 'admin', id: admin!.id, name: admin!.username });
const ops = await running.dir.groups.create(ctx, { name: 'ops' });
const wheel = await running.dir.groups.create(ctx, { name: 'admins' });
const agents = new HostAgents(running.dir.deps, running.dir);
const tokens: string[] = [];
for (let i = 0; i < hosts; i++) {
  tokens.push((await agents.createToken(ctx, { loginGroupIds: [ops.id], sudoGroupIds: [wheel.id] }, { defaultMinutes: 60, maxMinutes: 60 })).secret);
}
process.stdout.write('CAIRN_BENCH ' + JSON.stringify({ url: `https://127.0.0.1:${running.ports.https}`, caFile: join(dataDir, 'certs', 'ca.crt'), tokens }) + '\n');
process.on('SIGTERM', () => {
  void running.stop().then(() => process.exit(0));
});
