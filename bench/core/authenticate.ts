// Cost of one argon2id verification with the configured parameters, and authenticate()
// throughput cold (argon2 every time) and with the verified-credential cache.
// Run: node --import tsx bench/core/authenticate.ts
import { performance } from 'node:perf_hooks';
import { testDirectory } from '../../test/helpers/directory.js';

const td = await testDirectory('sqlite', { passwords: { maxConcurrentHashes: 2 } });
const { dir, ctx, org } = td;
const N = 200;
for (let i = 0; i < N; i++) await dir.users.create(ctx, { username: `u${i}`, password: 'Correct-horse-9' });

async function run(label: string, concurrency: number, count: number) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const s = performance.now();
      const r = await dir.authenticate({ orgId: org.id, username: `u${i % N}`, credential: { kind: 'password', password: 'Correct-horse-9' }, protocol: 'ldap', clientIp: '127.0.0.1' });
      if (r.decision !== 'allow') throw new Error('denied');
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(`${label.padEnd(34)} ${(count / secs).toFixed(0).padStart(6)} auth/s   p50 ${lat[Math.floor(lat.length * 0.5)]!.toFixed(1)} ms   p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(1)} ms`);
}

const argon2 = (await import('argon2')).default;
const hash = await argon2.hash('x', { type: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });
const s = performance.now();
for (let i = 0; i < 20; i++) await argon2.verify(hash, 'x');
console.log(`argon2id m=19456 t=2 p=1: ${((performance.now() - s) / 20).toFixed(1)} ms per verification (one core)`);

await run('cold (argon2 each), 8 concurrent', 8, N);
await run('cached (HMAC), 8 concurrent', 8, 2000);
await td.close();
