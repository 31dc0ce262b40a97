// PAP load: the same 1,000 users and the same requests against Cairn and against Debian's
// FreeRADIUS (foreground, temp config, users file), on loopback, in one run.
//
//   npx tsx bench/radius/pap.ts            (BENCH_USERS, BENCH_WARM, BENCH_CONCURRENCY to change)
//
// Phases per server: "cold" = every user once (for Cairn: one argon2id verify each);
// "warm" = BENCH_WARM requests over random users (for Cairn: the in-memory verified-password
// cache answers without argon2). FreeRADIUS compares a Cleartext-Password from its users
// file: no hashing at all, the best case it can be configured for. Prints req/s, p50/p99,
// errors; then argon2id cost per hash and the ceiling it implies on this machine. A last run
// replaces the core's authenticate() with an immediate allow, to show what the RADIUS layer
// itself costs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import argon2 from 'argon2';
import { Attr, Code, encodeRaw, encodeUserPassword } from '../../servers/radius/codec.js';

const USERS = Number(process.env.BENCH_USERS ?? 1000);
const WARM = Number(process.env.BENCH_WARM ?? 10000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const TIMEOUT_MS = 3000;
const SECRET = 'Bench-shared-secret-0123456789';
const FR_PORT = 20000 + Math.floor(Math.random() * 20000);
const password = (i: number) => `Bench-pass-${i}-Xy`;
const username = (i: number) => `user${String(i).padStart(4, '0')}`;

function request(id: number, i: number): Buffer {
  const auth = randomBytes(16);
  const secret = Buffer.from(SECRET);
  const pkt = encodeRaw(Code.AccessRequest, id, auth, [
    { type: Attr.UserName, value: Buffer.from(username(i)) },
    { type: Attr.UserPassword, value: encodeUserPassword(password(i), secret, auth) },
    { type: Attr.NasIpAddress, value: Buffer.from([127, 0, 0, 1]) },
    { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) },
  ]);
  createHmac('md5', secret).update(pkt).digest().copy(pkt, pkt.length - 16);
  return pkt;
}

interface Result {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  accepts: number;
  rejects: number;
  timeouts: number;
}

/** Closed loop: CONCURRENCY slots, each its own socket, one outstanding request each. */
async function load(port: number, order: number[]): Promise<Result> {
  const latencies: number[] = [];
  let accepts = 0, rejects = 0, timeouts = 0, next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, order.length) }, async () => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      let id = 0;
      while (next < order.length) {
        const i = order[next++]!;
        const myId = id++ & 0xff;
        const pkt = request(myId, i);
        const start = process.hrtime.bigint();
        const code = await new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => {
            sock.off('message', onMsg);
            resolve(null);
          }, TIMEOUT_MS);
          const onMsg = (m: Buffer) => {
            if (m[1] !== myId) return;
            clearTimeout(timer);
            sock.off('message', onMsg);
            resolve(m[0]!);
          };
          sock.on('message', onMsg);
          sock.send(pkt, port, '127.0.0.1');
        });
        latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (code === Code.AccessAccept) accepts++;
        else if (code === null) timeouts++;
        else rejects++;
      }
      sock.close();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { requests: order.length, seconds, rps: order.length / seconds, p50: q(0.5), p99: q(0.99), max: latencies.at(-1)!, accepts, rejects, timeouts };
}

async function startCairn(stub = false): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cairn-server.ts')], {
    env: { ...process.env, BENCH_USERS: String(stub ? 0 : USERS), BENCH_SECRET: SECRET, BENCH_STUB_AUTH: stub ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`cairn-server exited ${c}`)));
  });
  return { port: (JSON.parse(line) as { authPort: number }).authPort, child };
}

async function startFreeRadius(dir: string): Promise<ChildProcess> {
  const users = Array.from({ length: USERS }, (_, i) => `${username(i)} Cleartext-Password := "${password(i)}"`).join('\n');
  writeFileSync(join(dir, 'users'), users + '\n');
  writeFileSync(join(dir, 'radiusd.conf'), `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
datarootdir = /usr/share
dictdir = \${datarootdir}/freeradius
logdir = ${dir}
raddbdir = ${dir}
radacctdir = ${dir}
name = freeradius
confdir = \${raddbdir}
modconfdir = \${confdir}
run_dir = ${dir}
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {
  destination = stdout
  auth = no
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 4
  max_servers = 32
  min_spare_servers = 3
  max_spare_servers = 10
  max_requests_per_server = 0
  max_queue_size = 65536
}
client loadgen {
  ipaddr = 127.0.0.1
  secret = ${SECRET}
  require_message_authenticator = yes
}
modules {
  files {
    filename = ${dir}/users
  }
  pap {
    normalise = yes
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${FR_PORT}
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
}
`);
  const child = spawn('freeradius', ['-f', '-d', dir, '-l', 'stdout'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 100 && !/Ready to process requests/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  if (!/Ready to process requests/.test(out)) throw new Error(`freeradius did not start:\n${out.slice(-2000)}`);
  return child;
}

async function argon2Cost(): Promise<{ msPerVerify: number; ceilingRps: number }> {
  const opts = { type: argon2.argon2id as 2, memoryCost: 19456, timeCost: 2, parallelism: 1 };
  const hash = await argon2.hash('Some-password-1', opts);
  const n = 20;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await argon2.verify(hash, 'Some-password-1');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  // Cairn computes at most passwords.maxConcurrentHashes (default 2) at once; the machine has
  // availableParallelism() cores. The smaller of the two bounds hashes per second.
  const lanes = Math.min(2, availableParallelism());
  return { msPerVerify: ms, ceilingRps: (lanes * 1000) / ms };
}

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const fmt = (r: Result) =>
  `${r.requests.toString().padStart(6)} req  ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  max ${r.max.toFixed(0).padStart(6)} ms  accept ${r.accepts}  reject ${r.rejects}  timeout ${r.timeouts}`;

const cold = shuffled(USERS);
const warm = Array.from({ length: WARM }, () => Math.floor(Math.random() * USERS));
const results: Record<string, Result> = {};
const tmp = mkdtempSync(join(tmpdir(), 'cairn-bench-fr-'));
console.log(`PAP benchmark: ${USERS} users, concurrency ${CONCURRENCY}, ${availableParallelism()} cores, node ${process.version}`);

const fr = await startFreeRadius(tmp);
try {
  results['freeradius cold'] = await load(FR_PORT, cold);
  console.log(`freeradius cold  ${fmt(results['freeradius cold'])}`);
  results['freeradius warm'] = await load(FR_PORT, warm);
  console.log(`freeradius warm  ${fmt(results['freeradius warm'])}`);
} finally {
  fr.kill('SIGTERM');
}
const cairn = await startCairn();
try {
  results['cairn cold'] = await load(cairn.port, cold);
  console.log(`cairn cold       ${fmt(results['cairn cold'])}`);
  results['cairn warm'] = await load(cairn.port, warm);
  console.log(`cairn warm       ${fmt(results['cairn warm'])}`);
} finally {
  cairn.child.kill('SIGTERM');
}
const stub = await startCairn(true);
try {
  results['cairn, core stubbed'] = await load(stub.port, warm);
  console.log(`cairn, core stubbed ${fmt(results['cairn, core stubbed'])}`);
} finally {
  stub.child.kill('SIGTERM');
}
const a2 = await argon2Cost();
rmSync(tmp, { recursive: true, force: true });

console.log('---');
for (const [name, r] of Object.entries(results)) console.log(`${name.padEnd(19)} ${fmt(r)}`);
console.log(`argon2id (m=19456 KiB, t=2, p=1): ${a2.msPerVerify.toFixed(1)} ms per verify → ceiling ≈ ${a2.ceilingRps.toFixed(0)} uncached PAP auths/s with 2 hashes at once on this machine`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(join('bench/results', `radius-pap-${Date.now()}.json`), JSON.stringify({ users: USERS, concurrency: CONCURRENCY, results, argon2: a2 }, null, 2));
process.exit(0);
