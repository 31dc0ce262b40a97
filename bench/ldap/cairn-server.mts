// One Cairn LDAP server process for the benchmark: seeds (if asked), starts LDAP, prints its
// ports and the argon2id cost, then serves until SIGTERM. Env: BENCH_DIR, BENCH_USERS,
// BENCH_GROUPS, BENCH_IMPL=cairn|ldapjs.
import { join } from 'node:path';
import argon2 from 'argon2';
import { loadConfig } from '../../config/load.js';
import { bootstrap, createLogger, openDirectory } from '../../core/index.js';
import { loadTls } from '../../servers/shared/tls.js';
import { start } from '../../servers/ldap/main.js';
import { startLdapjs } from './ldapjs-server.js';
import { BENCH_PASSWORD, seed } from './seed.js';

const dataDir = process.env.BENCH_DIR!;
const config = loadConfig({
  env: {},
  overrides: {
    dataDir, listenHost: '127.0.0.1', bootstrap: { adminPassword: 'Bench-admin-pw-1' }, tls: { dir: join(dataDir, 'certs') },
    ldap: { port: 0, ldapsPort: 0, maxConnectionsPerIp: 1000, maxSizeLimit: 100000 },
    log: { level: 'warn' },
  },
});
const log = createLogger({ level: 'warn', destination: process.stderr });
const dir = await openDirectory({ config, log, migrate: true });
const { org } = await bootstrap(dir);
const out: Record<string, unknown> = {};
if (process.env.BENCH_SEED) {
  const hash = await argon2.hash(BENCH_PASSWORD, { type: argon2.argon2id, memoryCost: config.passwords.memoryKiB, timeCost: config.passwords.iterations, parallelism: config.passwords.parallelism });
  const t0 = Date.now();
  await seed(dir, org, Number(process.env.BENCH_USERS), Number(process.env.BENCH_GROUPS), hash);
  out.seedMs = Date.now() - t0;
  const sa = await dir.serviceAccounts.create({ orgId: org.id, actor: { type: 'cli', id: null, name: 'bench' }, clientIp: null, service: 'bench' }, { name: 'sssd' });
  out.servicePassword = sa.password;
  // argon2id cost per hash with the configured parameters (median of 9, one at a time).
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t = process.hrtime.bigint();
    await argon2.verify(hash, BENCH_PASSWORD);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  out.argon2 = { params: `m=${config.passwords.memoryKiB}KiB,t=${config.passwords.iterations},p=${config.passwords.parallelism}`, msPerHash: times.sort((a, b) => a - b)[4], maxConcurrentHashes: config.passwords.maxConcurrentHashes };
}
const tls = await loadTls(config, log);
const t1 = Date.now();
const server = process.env.BENCH_IMPL === 'ldapjs'
  ? await startLdapjs({ dir, config, log, org, tls })
  : await start({ dir, config, log, org, tls });
out.startMs = Date.now() - t1;
out.ports = server.ports;
out.caFile = tls.caFile;
(globalThis as { gc?: () => void }).gc?.(); // with node --expose-gc: heap after collection
out.rssMiB = Math.round(process.memoryUsage().rss / 1048576);
out.heapMiB = Math.round(process.memoryUsage().heapUsed / 1048576);
process.stdout.write(JSON.stringify(out) + '\n');
// BENCH_PROFILE=file: SIGUSR2 starts the CPU profiler, SIGTERM writes the profile (serving only, no startup).
let session: import('node:inspector').Session | null = null;
// SIGUSR1 is Node's inspector signal; SIGUSR2 marks the start of a measured window.
let cpuMark: NodeJS.CpuUsage | null = null;
process.on('SIGUSR2', () => {
  cpuMark = process.cpuUsage();
});
if (process.env.BENCH_PROFILE) {
  const inspector = await import('node:inspector');
  process.on('SIGUSR2', () => {
    session = new inspector.Session();
    session.connect();
    session.post('Profiler.enable', () => session!.post('Profiler.start'));
  });
}
process.on('SIGTERM', async () => {
  if (session) {
    const { writeFileSync } = await import('node:fs');
    await new Promise<void>((resolve) => session!.post('Profiler.stop', (_err, res) => {
      writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(res.profile));
      resolve();
    }));
  }
  const rss = Math.round(process.memoryUsage().rss / 1048576);
  if (cpuMark) {
    const d = process.cpuUsage(cpuMark);
    process.stderr.write(JSON.stringify({ cpuSinceMarkMs: Math.round((d.user + d.system) / 1000), userMs: Math.round(d.user / 1000), systemMs: Math.round(d.system / 1000) }) + '\n');
  }
  await server.stop();
  await dir.close();
  process.stderr.write(JSON.stringify({ rssMiBAtEnd: rss }) + '\n');
  process.exit(0);
});
