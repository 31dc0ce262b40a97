// sort= on list routes: only the fields a list allows, named in the problem otherwise; cursor
// pages through a sorted list with ties (store-backed and in-memory lists) cover every item
// once, in order, both directions, even when rows are added between pages.
import t from 'tap';
import { backends } from '../../test/helpers/directory.js';
import { startApi, type ApiHarness } from '../../test/helpers/api.js';
import { routes } from './routes.js';

const P = '/api/v1';

/** Every item of a list, `limit` at a time, following nextCursor. */
async function walk(h: ApiHarness, path: string, limit: number, between?: () => Promise<void>) {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await h.c.call('GET', `${P}${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token: h.admin.token });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
    items.push(...res.json.items);
    cursor = res.json.nextCursor;
    if (pages++ === 0) await between?.();
  } while (cursor);
  return items;
}

const ids = (items: Record<string, unknown>[]) => items.map((i) => i.id as string);
const byKeyThenId = (field: string) => (a: Record<string, unknown>, b: Record<string, unknown>) => {
  const x = a[field] as string | number;
  const y = b[field] as string | number;
  return x < y ? -1 : x > y ? 1 : a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0;
};

for (const backend of backends) {
  t.test(`sorted lists and cursor paging with ties, on ${backend}`, async (t) => {
    const h = await startApi(backend);
    t.teardown(h.stop);
    const A = h.admin.token;
    for (let i = 0; i < 9; i++) {
      const r = await h.c.call('POST', `${P}/users`, { token: A, body: { username: `u${i}`, displayName: ['Bea', 'Al', 'Cy'][i % 3] } });
      t.equal(r.status, 201);
    }

    // Store-backed list: a sort with ties (three users per display name), two at a time.
    const all = (await h.c.call('GET', `${P}/users?sort=displayName&limit=200`, { token: A })).json.items as Record<string, unknown>[];
    t.equal(all.length, 9);
    t.same(ids(all), ids([...all].sort(byKeyThenId('displayName'))), 'ordered by displayName, ties by id');
    t.same(ids(await walk(h, '/users?sort=displayName', 2)), ids(all), 'pages of 2 cover every user once, in order');
    t.same(ids(await walk(h, '/users?sort=-displayName', 2)), ids(all).reverse(), 'descending is the exact reverse');
    t.same((await walk(h, '/users?sort=-uidNumber', 4)).map((u) => u.uidNumber), all.map((u) => u.uidNumber as number).sort((a, b) => b - a), 'numeric sort');
    t.same((await walk(h, '/users', 4)).map((u) => u.username), all.map((u) => u.username as string).sort(), 'default order is still username');

    // A user added between pages, sorting before the cursor: the walk neither repeats nor skips.
    const seen = await walk(h, '/users?sort=displayName', 2, async () => {
      await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'early', displayName: 'Aa' } });
      await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'late', displayName: 'Zed' } });
    });
    t.equal(new Set(ids(seen)).size, seen.length, 'no user twice');
    t.same(seen.map((u) => u.username).filter((u) => u !== 'late'), all.map((u) => u.username), 'every earlier user, in order');
    t.equal(seen[seen.length - 1]!.username, 'late', 'a row added after the cursor is reached');

    // In-memory list (admins): ties on role.
    for (const [i, role] of ['read_only', 'help_desk', 'read_only', 'help_desk', 'read_only'].entries()) {
      await h.s.dir.admins.create(h.s.ctx, { username: `a${i}`, role: role as 'read_only', password: 'Role-admin-password-1' });
    }
    const admins = (await h.c.call('GET', `${P}/admins?sort=role&limit=200`, { token: A })).json.items as Record<string, unknown>[];
    t.same(ids(admins), ids([...admins].sort(byKeyThenId('role'))), 'admins by role, ties by id');
    t.same(ids(await walk(h, '/admins?sort=role', 2)), ids(admins));
    t.same(ids(await walk(h, '/admins?sort=-role', 3)), ids(admins).reverse());
    for (const name of ['k1', 'k2', 'k3']) await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name, role: 'read_only' } });
    t.same(ids(await walk(h, '/api-keys?sort=-createdAt', 1)), ids((await h.c.call('GET', `${P}/api-keys?limit=200`, { token: A })).json.items).reverse(), 'keys newest first');

    // Only allowed fields, and the problem names the parameter; a cursor belongs to its sort.
    for (const bad of ['passwordHash', '-email', 'display_name', '--username', '']) {
      const res = await h.c.call('GET', `${P}/users?sort=${encodeURIComponent(bad)}`, { token: A });
      t.same([res.status, res.json.type, res.json.field], [400, 'urn:cairn:problem:invalid_input', 'sort'], `sort=${bad} refused`);
    }
    t.equal((await h.c.call('GET', `${P}/admins?sort=lastLoginAt`, { token: A })).json.field, 'sort');
    const first = (await h.c.call('GET', `${P}/users?sort=displayName&limit=2`, { token: A })).json;
    const mixed = await h.c.call('GET', `${P}/users?sort=username&limit=2&cursor=${first.nextCursor}`, { token: A });
    t.same([mixed.status, mixed.json.field], [400, 'cursor'], 'a cursor of another sort is refused');
    t.same((await h.c.call('GET', `${P}/users?cursor=bogus`, { token: A })).json.field, 'cursor');

    // Every allowed sort of every list works, paging two at a time over at least two items.
    const { dir, ctx } = h.s;
    for (const name of ['g1', 'g2']) await dir.groups.create(ctx, { name });
    for (const hostname of ['h1.example.com', 'h2.example.com']) await dir.systems.create(ctx, { hostname });
    for (const name of ['sa1', 'sa2']) await dir.serviceAccounts.create(ctx, { name });
    for (const name of ['l1', 'l2']) await dir.policies.createIpList(ctx, { name, cidrs: ['192.0.2.0/24'] });
    for (const name of ['n1', 'n2']) {
      const net = await dir.radius.createNetwork(ctx, { name });
      await dir.radius.createClient(ctx, { name: `${name}-ap`, address: name === 'n1' ? '192.0.2.1' : '192.0.2.2', networkId: net.id });
    }
    for (const name of ['app1', 'app2']) await dir.sso.apps.create(ctx, { type: 'oidc', name, settings: { redirectUris: ['https://app.example.com/cb'] } });
    let sorts = 0;
    for (const r of routes.filter((x) => x.method === 'GET')) {
      const sortSchema = (r.schema.querystring as { properties?: { sort?: { enum: string[] } } } | undefined)?.properties?.sort;
      if (!sortSchema) continue;
      for (const spec of sortSchema.enum) {
        const items = await walk(h, `${r.url}?sort=${spec}`, 1);
        t.ok(items.length >= 2 && new Set(ids(items)).size === items.length, `${r.url}?sort=${spec}: ${items.length} items, once each`);
        sorts++;
      }
    }
    t.ok(sorts >= 60, `${sorts} list × sort combinations paged`);

    // The allowed values are published.
    const doc = (await h.c.call('GET', `${P}/openapi.json`)).json;
    const sortParam = doc.paths['/api/v1/groups'].get.parameters.find((p: { name: string }) => p.name === 'sort');
    t.same(sortParam.schema.enum, ['name', '-name', 'gidNumber', '-gidNumber', 'createdAt', '-createdAt', 'updatedAt', '-updatedAt']);
  });
}
