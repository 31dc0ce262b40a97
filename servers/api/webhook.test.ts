// The audit webhook sink: every event, in order, signed; across a failing receiver and a
// restart of Cairn; and with two instances on one store, delivered once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { backends, createPgDatabase } from '../../test/helpers/directory.js';
import { start } from '../../test/helpers/start.js';

interface Delivery { events: { seq: number; id: string }[] }

function receiver(secret: string) {
  const got: Delivery[] = [];
  const state = { fail: 0, badSignatures: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const sig = String(req.headers['x-cairn-signature'] ?? '');
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
      const expected = m ? createHmac('sha256', secret).update(`${m[1]}.${body}`).digest() : null;
      if (!m || !expected || !timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))) {
        state.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      if (state.fail > 0) {
        state.fail--;
        res.writeHead(503).end();
        return;
      }
      got.push(JSON.parse(body) as Delivery);
      res.writeHead(204).end();
    });
  });
  return { server, got, state };
}

/** A receiver listening on loopback and a fresh store (SQLite dir or PostgreSQL database), both torn down with `t`. */
async function setup(t: Test, backend: string, secret: string) {
  const rx = receiver(secret);
  await new Promise<void>((r) => rx.server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => rx.server.close(() => r())));
  const port = (rx.server.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-webhook-'));
  const pgdb = backend === 'pg' ? await createPgDatabase() : null;
  t.teardown(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await pgdb?.drop();
  });
  const store = { dataDir, tls: { dir: join(dataDir, 'certs') }, database: { url: pgdb?.url ?? '' } };
  return { rx, port, store };
}

for (const backend of backends) {
  t.test(`webhook delivers every event in order across a restart, on ${backend}`, async (t) => {
    const secret = 'webhook-test-secret-canary';
    const { rx, port, store } = await setup(t, backend, secret);
    const overrides = {
      ...store,
      api: { webhook: { url: `http://127.0.0.1:${port}/cairn-events`, secret, pollMs: 200, maxBackoffMs: 300, batchSize: 7 } },
    };
    const waitFor = async (what: string, pred: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 100; i++) {
        if (await pred()) return;
        await sleep(100);
      }
      t.fail(`timed out waiting for ${what}`);
    };
    const delivered = () => rx.got.flatMap((d) => d.events.map((e) => e.seq));

    let s = await start({ only: ['api'], overrides });
    for (let i = 0; i < 10; i++) await s.dir.users.create(s.ctx, { username: `u${i}` });
    let head = (await s.dir.audit.list({ limit: 1, order: 'desc' }))[0]!.seq;
    await waitFor('first deliveries', () => Math.max(0, ...delivered()) >= head);
    // The receiver fails for a while; events keep coming; then Cairn stops before catching up.
    rx.state.fail = 3;
    for (let i = 10; i < 20; i++) await s.dir.groups.create(s.ctx, { name: `g${i}` });
    await sleep(300);
    await s.stop();
    // While Cairn is down nothing is delivered; on restart it resumes from the stored cursor.
    s = await start({ only: ['api'], overrides });
    t.teardown(() => s.stop());
    for (let i = 20; i < 25; i++) await s.dir.users.create(s.ctx, { username: `u${i}` });
    head = (await s.dir.audit.list({ limit: 1, order: 'desc' }))[0]!.seq;
    await waitFor('catch-up after restart', () => Math.max(0, ...delivered()) >= head);
    const seqs = delivered();
    const unique = [...new Set(seqs)].sort((a, b) => a - b);
    t.same(unique, Array.from({ length: head }, (_, i) => i + 1), `every event 1..${head} delivered (${seqs.length - unique.length} duplicates allowed)`);
    t.ok(seqs.every((q, i) => i === 0 || q > seqs[i - 1]! || seqs.slice(0, i).includes(q)), 'in order (a re-sent batch repeats, never reorders)');
    t.equal(rx.state.badSignatures, 0, 'every delivery carried a valid signature');
    t.ok(rx.state.fail === 0, 'failed deliveries were retried');
  });
}

for (const backend of backends) {
  t.test(`two instances on one store: one delivers, none duplicates, on ${backend}`, async (t) => {
    const secret = 'two-instances-secret';
    const { rx, port, store } = await setup(t, backend, secret);
    const overrides = {
      ...store,
      api: { webhook: { url: `http://127.0.0.1:${port}/e`, secret, pollMs: 100, batchSize: 3 } },
    };
    const one = await start({ only: ['api'], overrides });
    const two = await start({ only: ['api'], overrides });
    t.teardown(async () => {
      await two.stop();
    });
    for (let i = 0; i < 12; i++) await (i % 2 ? one : two).dir.users.create(one.ctx, { username: `p${i}` });
    const head = (await one.dir.audit.list({ limit: 1, order: 'desc' }))[0]!.seq;
    const delivered = () => rx.got.flatMap((d) => d.events.map((e) => e.seq));
    for (let i = 0; i < 100 && Math.max(0, ...delivered()) < head; i++) await sleep(100);
    t.same(delivered(), Array.from({ length: head }, (_, i) => i + 1), 'every event once, in order');
    // The holder stops: the other instance takes over.
    await one.stop();
    for (let i = 0; i < 3; i++) await two.dir.groups.create(two.ctx, { name: `q${i}` });
    const head2 = (await two.dir.audit.list({ limit: 1, order: 'desc' }))[0]!.seq;
    for (let i = 0; i < 100 && Math.max(0, ...delivered()) < head2; i++) await sleep(100);
    t.same([...new Set(delivered())], Array.from({ length: head2 }, (_, i) => i + 1), 'the survivor delivers the rest');
  });
}
