// Benchmark: authenticated GET /api/v1/users/{id} with an API key (HMAC check, allow-list,
// owner check, permission, user + SSH keys + groups + policy read, serialisation), over
// HTTPS keep-alive. The server runs in a child process so that the load generator does not
// share its event loop.
//
//   npx tsx bench/api/get-user.ts [--seconds 10] [--connections 16] [--pipelining 1]
//   CAIRN_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/bench npx tsx bench/api/get-user.ts
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '16' }, warmup: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const warmup = Number(values.warmup);

const child = spawn(process.execPath, [...(process.env.CAIRN_BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.CAIRN_BENCH_PROFILE] : []), '--import', 'tsx', new URL('./server.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
const line = await new Promise<string>((resolve, reject) => {
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => {
    if (l.startsWith('CAIRN_BENCH ')) resolve(l.slice('CAIRN_BENCH '.length));
  });
  child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
});
const srv = JSON.parse(line) as { url: string; caFile: string; key: string; userId: string };
const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000, connect: { ca: readFileSync(srv.caFile, 'utf8') } });
const path = `${srv.url}/api/v1/users/${srv.userId}`;
const headers = { authorization: `Bearer ${srv.key}` };

async function run(durationS: number, record: boolean) {
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  const end = performance.now() + durationS * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await request(path, { headers, dispatcher: agent });
        await res.body.dump();
        if (res.statusCode === 200) ok++;
        else errors++;
      } catch {
        errors++;
      }
      if (record) latencies.push(performance.now() - t0);
    }
  }));
  return { ok, errors, latencies };
}

try {
  await run(warmup, false);
  const started = performance.now();
  const r = await run(seconds, true);
  const elapsed = (performance.now() - started) / 1000;
  r.latencies.sort((a, b) => a - b);
  const q = (p: number) => r.latencies[Math.min(r.latencies.length - 1, Math.floor(p * r.latencies.length))]!.toFixed(2);
  const result = {
    backend: process.env.CAIRN_BENCH_PG_URL ? 'postgresql' : 'sqlite',
    connections, seconds: Number(elapsed.toFixed(1)), requests: r.ok, errors: r.errors,
    requestsPerSecond: Math.round(r.ok / elapsed), p50ms: q(0.5), p99ms: q(0.99), maxMs: r.latencies.at(-1)!.toFixed(2),
  };
  console.log(JSON.stringify(result));
} finally {
  await agent.close();
  child.kill('SIGTERM');
}
