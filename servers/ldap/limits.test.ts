// Search limits with real clients over a directory large enough that a search's results do not
// fit in the kernel buffers between client and server: the server-side time limit, and clients
// that send big searches and do not read the results (cut off by the idle timeout, or by the
// output buffer cap when they pipeline searches while staying active).
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_PASSWORD, seed } from '../../bench/ldap/seed.js';
import { ldapFixture } from '../../test/helpers/ldap.js';
import { filter, RawClient, req } from './rawclient.js';

const USERS = 20_000;
// Every attribute of every user: about 18 MB of results, several times what loopback buffers
// hold (here about 5,000 entries fit in them while the client does not read).
const everyone = (id: number) => req.search(id, 'dc=example,dc=com', filter.eq('objectClass', 'posixAccount'), ['*', '+']);

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await sleep(50);
  return cond();
}

/** Cairn's LDAP server over `users` seeded users, and a way to open bound LDAPS connections. */
async function limitsFixture(t: Test, users: number, ldapOverrides: Record<string, unknown>) {
  const fx = await ldapFixture('sqlite', { maxSizeLimit: 100_000, ...ldapOverrides }, {
    seed: async ({ dir, org }) => seed(dir, org, users, 50, await dir.deps.hasher.hash(BENCH_PASSWORD)),
  });
  t.teardown(fx.stop);
  const ca = readFileSync(fx.caFile, 'utf8');
  const connect = async () => {
    const c = await RawClient.connect(fx.t.ports.ldaps!, { tls: true, ca });
    const bind = await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    if (bind.done?.code !== 0) throw new Error(`bind failed: ${bind.done?.code}`);
    return c;
  };
  return { fx, ldap: fx.ldap!, connect };
}

t.test('search limits', async (t) => {
  const { fx, ldap, connect } = await limitsFixture(t, USERS, { maxTimeLimitSeconds: 1, idleTimeoutSeconds: 4 });

  await t.test('a search past the server time limit ends timeLimitExceeded (3) after the entries sent so far', async (t) => {
    const c = await connect();
    t.teardown(() => c.destroy());
    // The client stops reading for longer than the limit (1 s): the search cannot finish in time.
    c.socket.pause();
    const pending = c.call(everyone(2), 30_000);
    await sleep(2500);
    c.socket.resume();
    const r = await pending;
    t.equal(r.done?.code, 3, 'timeLimitExceeded');
    t.ok(r.entries.length > 0 && r.entries.length < USERS, `${r.entries.length} of ${USERS + 3} entries before the limit`);
    t.notOk(c.isClosed, 'the connection stays usable');
    const next = await c.call(req.search(3, fx.base, filter.eq('uid', 'alice'), ['uid']));
    t.same([next.done?.code, next.entries.length], [0, 1], 'and answers the next search');
  });

  await t.test('a client that sends a big search and stops reading is disconnected; a parallel client keeps working', async (t) => {
    const normal = await connect();
    t.teardown(() => normal.destroy());
    t.ok(await waitFor(() => ldap.connections === 1, 10_000), 'only the normal client is connected');
    const stalled = await connect();
    t.teardown(() => stalled.destroy());
    stalled.socket.pause();
    stalled.send(everyone(2));
    const started = Date.now();
    let id = 10;
    let lookups = 0;
    let failures = 0;
    while (ldap.connections > 1 && Date.now() - started < 60_000) {
      const r = await normal.call(req.search(id++, fx.base, filter.eq('uid', `u${String(lookups % USERS).padStart(5, '0')}`), ['uid']), 10_000);
      if (r.done?.code === 0 && r.entries.length === 1) lookups++;
      else failures++;
      await sleep(100);
    }
    t.equal(ldap.connections, 1, 'the reader that stopped was dropped');
    t.ok(Date.now() - started >= 3000, 'not before the idle timeout (4 s) ran out');
    t.ok(lookups > 0, `${lookups} lookups meanwhile`);
    t.equal(failures, 0, 'none failed');
    stalled.socket.resume();
    t.ok(await waitFor(() => stalled.isClosed, 10_000), 'the client sees its connection closed');
    const r = await normal.call(req.search(id, fx.base, filter.eq('uid', 'alice'), ['uid']));
    t.same([r.done?.code, r.entries.length], [0, 1], 'and the normal client carries on');
  });

});

// Its own server: under a 1 s time limit, searches on a loaded machine could end before the
// kernel buffers fill, and then nothing would be queued past the cap.
t.test('pipelined searches never read, from a client that stays active: closed at the output cap', async (t) => {
  const { fx, ldap, connect } = await limitsFixture(t, 5_000, { maxTimeLimitSeconds: 3600, maxOutputBufferBytes: 1024 * 1024 });
  const normal = await connect();
  t.teardown(() => normal.destroy());
  t.ok(await waitFor(() => ldap.connections === 1, 10_000), 'only the normal client is connected');
  const flood = await connect();
  t.teardown(() => flood.destroy());
  flood.socket.pause();
  // 32 searches (maxOutstandingPerConnection) each queue up to 64 KiB once the kernel buffers
  // are full: past the 1 MiB cap. The abandons keep the connection active, so the idle
  // timeout cannot be what closes it.
  for (let i = 0; i < 32; i++) flood.send(everyone(100 + i));
  const started = Date.now();
  let id = 10;
  let failures = 0;
  while (ldap.connections > 1 && Date.now() - started < 60_000) {
    flood.send(req.abandon(id++, 99));
    const r = await normal.call(req.search(id++, fx.base, filter.eq('uid', 'bob'), ['uid']), 10_000);
    if (r.done?.code !== 0 || r.entries.length !== 1) failures++;
    await sleep(100);
  }
  t.equal(ldap.connections, 1, 'the flooding client was dropped');
  t.equal(failures, 0, 'the normal client was served all along');
  const r = await normal.call(req.search(id, fx.base, filter.eq('uid', 'alice'), ['uid']));
  t.same([r.done?.code, r.entries.length], [0, 1], 'and carries on');
});
