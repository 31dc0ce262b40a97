// Benchmark of the host agent's server side and of one agent sync.
//  1. enrolment: N hosts enrol (signature check, token consumption, system + service account
//     creation with an argon2id password hash, audit), sequentially;
//  2. signed GET /api/v1/agent/config: each of N hosts in its own loop (a host's requests are
//     sequential: each must carry a newer timestamp), for --seconds; Ed25519 verify, replay
//     UPDATE, system + groups + policy reads, serialisation;
//  3. `cairn-agent sync` into a temporary --root: first (writes every file) and steady state.
// The server runs in a child process so the load generator does not share its event loop.
//
//   npx tsx bench/agent/config.ts [--seconds 10] [--hosts 32]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Client, newHostKey, type HostKey } from '../../agent/client.js';
import { run } from '../../agent/main.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, hosts: { type: 'string', default: '32' } } });
const seconds = Number(values.seconds);
const hosts = Number(values.hosts);

const child = spawn(process.execPath, ['--import', 'tsx', new URL('./server.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CAIRN_BENCH_HOSTS: String(hosts + 1) } });
const line = await new Promise<string>((resolve, reject) => {
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => {
    if (l.startsWith('CAIRN_BENCH ')) resolve(l.slice('CAIRN_BENCH '.length));
  });
  child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
});
const srv = JSON.parse(line) as { url: string; caFile: string; tokens: string[] };
const ca = readFileSync(srv.caFile, 'utf8');
const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

try {
  // 1. enrolment
  const enrolled: { id: string; key: HostKey; client: Client }[] = [];
  const enrolMs: number[] = [];
  for (let i = 0; i < hosts; i++) {
    const client = new Client(srv.url, ca);
    const key = newHostKey();
    const t0 = performance.now();
    const res = await client.call<{ systemId: string }>('POST', '/api/v1/agent/enroll', {
      body: { token: srv.tokens[i], publicKey: key.publicRaw, hostname: `bench-${i}.example.com`, os: 'bench', agentVersion: 'bench' }, sign: { hostId: '-', key },
    });
    enrolMs.push(performance.now() - t0);
    enrolled.push({ id: res.systemId, key, client });
  }
  console.log(`enrolment: ${hosts} hosts, p50 ${pct(enrolMs, 0.5).toFixed(1)} ms, p99 ${pct(enrolMs, 0.99).toFixed(1)} ms`);

  // 2. signed config fetches, one loop per host
  const lat: number[] = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(enrolled.map(async (h) => {
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        await h.client.call('GET', '/api/v1/agent/config', { sign: { hostId: h.id, key: h.key } });
        lat.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }));
  console.log(`signed GET /agent/config: ${(lat.length / seconds).toFixed(0)} req/s with ${hosts} hosts, p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms, errors ${errors}`);

  // 3. agent sync into a temporary root
  const root = mkdtempSync(join(tmpdir(), 'cairn-bench-root-'));
  for (const d of ['etc', 'var/lib']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\n');
  const quiet = { out: () => {}, err: (s: string) => process.stderr.write(s + '\n') };
  let t0 = performance.now();
  if (await run(['enroll', '--server', srv.url, '--token', srv.tokens[hosts]!, '--ca-file', srv.caFile, '--hostname', 'bench-agent.example.com', '--root', root], quiet)) throw new Error('enroll failed');
  console.log(`cairn-agent enroll (incl. first sync writing 9 files): ${(performance.now() - t0).toFixed(0)} ms`);
  const syncs: number[] = [];
  for (let i = 0; i < 20; i++) {
    t0 = performance.now();
    if (await run(['sync', '--root', root], quiet)) throw new Error('sync failed');
    syncs.push(performance.now() - t0);
  }
  console.log(`cairn-agent sync, nothing to change: p50 ${pct(syncs, 0.5).toFixed(0)} ms over 20 runs (in-process; a fresh process adds node+tsx start-up)`);
  rmSync(root, { recursive: true, force: true });
} finally {
  child.kill('SIGTERM');
}
