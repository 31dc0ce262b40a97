// Child process of bench/radius/pap.ts: a Cairn RADIUS server with production argon2
// parameters, 1,000 users in a group bound to one network, one NAS client (127.0.0.1).
// Prints one JSON line {"authPort": N} on stdout when ready.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../core/index.js';
import { startAll } from '../../servers/all.js';

const users = Number(process.env.BENCH_USERS ?? 1000);
const secret = process.env.BENCH_SECRET!;
const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
const config = loadConfig({
  env: {},
  overrides: {
    dataDir,
    listenHost: '127.0.0.1',
    bootstrap: { adminPassword: 'Bench-admin-pw-1' },
    tls: { dir: join(dataDir, 'certs') },
    api: { port: 0 },
    // Production argon2 defaults (19 MiB, t=2, p=1, 2 concurrent hashes); no reject delay, so
    // that rejects (there should be none) would show up in the latency rather than hide it.
    radius: { authPort: 0, acctPort: 0, rejectDelayMs: 0 },
    passwords: { verifiedCacheSeconds: Number(process.env.BENCH_CACHE_SECONDS ?? 300) },
    log: { level: 'warn' },
  },
});
const log = createLogger({ level: 'warn', destination: process.stderr });
const running = await startAll(config, log, ['radius']);
const { dir } = running;
const org = await dir.defaultOrg();
const ctx = { orgId: org.id, actor: { type: 'cli' as const, id: null, name: 'bench' }, clientIp: null, service: 'bench' };
const repo = dir.radius;
const group = await dir.groups.create(ctx, { name: 'bench' });
const network = await repo.createNetwork(ctx, { name: 'bench', groupIds: [group.id] });
await repo.createClient(ctx, { name: 'loadgen', address: '127.0.0.1', networkId: network.id, secret });
if (process.env.BENCH_STUB_AUTH === '1') {
  // Measures the RADIUS front-end alone (UDP, codec, authenticators, reply cache): the core's
  // decision is replaced by an immediate allow for a fixed user.
  const user = await dir.users.create(ctx, { username: 'stub', password: 'Bench-pass-Xy-0' });
  dir.auth.authenticate = async () => ({ decision: 'allow', user, mfa: null });
}
const t0 = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < users) {
      const i = next++;
      const u = await dir.users.create(ctx, { username: `user${String(i).padStart(4, '0')}`, password: `Bench-pass-${i}-Xy` });
      await dir.groups.addMember(ctx, group.id, u.id);
    }
  }),
);
process.stderr.write(`cairn: ${users} users created in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.stdout.write(JSON.stringify({ authPort: running.ports.radiusAuth }) + '\n');
process.on('SIGTERM', async () => {
  await running.stop();
  process.exit(0);
});
