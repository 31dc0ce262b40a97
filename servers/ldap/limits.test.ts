// Search limits with real clients over a directory large enough that a search's results do not
// fit in the kernel buffers between client and server: the server-side time limit.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_PASSWORD, seed } from '../../bench/ldap/seed.js';
import { ldapFixture } from '../../test/helpers/ldap.js';
import { filter, RawClient, req } from './rawclient.js';

const USERS = 20_000;
// Every attribute of every user: about 18 MB of results, several times what loopback buffers
// hold (here about 5,000 entries fit in them while the client does not read).
const everyone = (id: number) => req.search(id, 'dc=example,dc=com', filter.eq('objectClass', 'posixAccount'), ['*', '+']);

t.test('search limits', async (t) => {
  const fx = await ldapFixture('sqlite', { maxTimeLimitSeconds: 1, maxSizeLimit: 100_000 }, {
    seed: async ({ dir, org }) => seed(dir, org, USERS, 50, await dir.deps.hasher.hash(BENCH_PASSWORD)),
  });
  t.teardown(fx.stop);
  const ca = readFileSync(fx.caFile, 'utf8');
  const connect = async () => {
    const c = await RawClient.connect(fx.t.ports.ldaps!, { tls: true, ca });
    const bind = await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    if (bind.done?.code !== 0) throw new Error(`bind failed: ${bind.done?.code}`);
    return c;
  };

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
});
