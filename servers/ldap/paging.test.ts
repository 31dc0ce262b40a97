// Paged results (RFC 2696) at the protocol level: cookies resume exactly, are bound to the
// connection and to the search, die when abandoned, and are bounded in number per connection.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ldapFixture } from '../../test/helpers/ldap.js';
import { filter, pagedCookie, RawClient, req } from './rawclient.js';

t.test('paged results cookies', async (t) => {
  const fx = await ldapFixture('sqlite', { maxPagedSearchesPerConnection: 2 });
  t.teardown(fx.stop);
  const { dir, ctx } = fx.t;
  for (let i = 0; i < 25; i++) await dir.users.create(ctx, { username: `p${String(i).padStart(2, '0')}` });
  const ca = readFileSync(fx.caFile, 'utf8');
  const connect = async () => {
    const c = await RawClient.connect(fx.t.ports.ldaps!, { tls: true, ca });
    t.equal((await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password))).done?.code, 0);
    return c;
  };
  const f = filter.eq('objectClass', 'posixAccount');
  const a = await connect();
  let id = 10;
  const page = (c: RawClient, cookie: Buffer, size = 10, flt = f) => c.call(req.search(id++, fx.base, flt, ['uid'], { paged: { size, cookie } }));

  // Whole walk: 28 users in pages of 10, each exactly once.
  const seen: string[] = [];
  let cookie: Buffer = Buffer.alloc(0);
  let pages = 0;
  do {
    const r = await page(a, cookie);
    t.equal(r.done?.code, 0);
    for (const e of r.entries) seen.push(/uid=([^,]+)/.exec(e.body.toString('latin1'))![1]!);
    cookie = pagedCookie(r.done!)!;
    pages++;
  } while (cookie.length && pages < 10);
  t.equal(pages, 3);
  t.equal(seen.length, 28);
  t.equal(new Set(seen).size, 28, 'no entry twice');

  // A cookie from connection A is worthless on connection B, and for another filter.
  const first = await page(a, Buffer.alloc(0));
  const ck = pagedCookie(first.done!)!;
  t.equal(ck.length, 16, 'a real, random cookie');
  const b = await connect();
  t.equal((await page(b, ck)).done?.code, 53, 'other connection: refused');
  t.equal((await page(a, ck, 10, filter.eq('uid', 'alice'))).done?.code, 53, 'other search: refused');
  // Refused attempts do not consume it: the legitimate owner still resumes.
  t.equal((await page(a, ck)).done?.code, 0, 'the owner resumes');
  // Size 0 abandons the paged search; its cookie is then dead.
  const again = pagedCookie((await page(a, Buffer.alloc(0))).done!)!;
  t.equal((await page(a, again, 0)).done?.code, 0);
  t.equal((await page(a, again)).done?.code, 53, 'abandoned cookie refused');
  // Bounded: with at most 2 per connection, a third evicts the oldest.
  const c1 = pagedCookie((await page(a, Buffer.alloc(0))).done!)!;
  const c2 = pagedCookie((await page(a, Buffer.alloc(0))).done!)!;
  const c3 = pagedCookie((await page(a, Buffer.alloc(0))).done!)!;
  t.equal((await page(a, c1)).done?.code, 53, 'oldest evicted');
  t.equal((await page(a, c2)).done?.code, 0);
  t.equal((await page(a, c3)).done?.code, 0);
  // A rebind drops the connection's cookies.
  const c4 = pagedCookie((await page(a, Buffer.alloc(0))).done!)!;
  await a.call(req.bind(99, fx.sssd.dn, fx.sssd.password));
  t.equal((await page(a, c4)).done?.code, 53, 'rebind: cookies gone');
  a.destroy();
  b.destroy();
});
