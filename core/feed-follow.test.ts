// A change made by another process (here: a second Directory on the same store, as the CLI
// is) reaches this process's change feed.
import t from 'tap';
import { openDirectory, type Change } from './index.js';
import { changesOf } from './feed-follow.js';
import { loadConfig } from '../config/load.js';
import { backends, testDirectory, testLogger } from '../test/helpers/directory.js';

for (const backend of backends) {
  t.test(`outside changes reach the feed (${backend})`, async (t) => {
    const td = await testDirectory(backend, { database: { followMs: 50 } });
    t.teardown(td.close);
    const server = td.dir;
    const alice = await server.users.create(td.ctx, { username: 'alice' });
    const seen: Change[] = [];
    server.feed.subscribe((c) => seen.push(c));
    const stop = server.followOutsideChanges();
    t.teardown(stop);
    await new Promise((r) => setTimeout(r, 150));

    const other = await openDirectory({ config: loadConfig({ env: {}, overrides: { ...td.config } }), log: testLogger() });
    t.teardown(() => other.close());
    const ops = await other.groups.create(td.ctx, { name: 'ops' });
    await other.groups.addMember(td.ctx, ops.id, alice.id);
    await other.users.setState(td.ctx, alice.id, 'suspended');
    await other.authenticate({ orgId: td.org.id, username: 'alice', credential: { kind: 'password', password: 'x-Password-1' }, protocol: 'ldap', clientIp: null });
    const local = await server.users.create(td.ctx, { username: 'bob' });

    for (let i = 0; i < 40 && !seen.some((c) => c.action === 'state'); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 150));
    t.same(
      seen.map((c) => [c.kind, c.action, c.id]).sort(),
      [
        ['user', 'created', local.id], // published locally at commit
        ['group', 'created', ops.id],
        ['group', 'updated', ops.id],
        ['user', 'updated', alice.id],
        ['user', 'state', alice.id],
      ].sort(),
      'each outside change once, authentication events none, local ones not twice',
    );
  });
}

t.test('every credential change followed from the audit trail is a credentials change', async (t) => {
  for (const eventType of ['user.password_reset', 'user.password_changed', 'user.mfa_enrolled', 'user.mfa_reset']) {
    t.same(changesOf({ org_id: 'o', event_type: eventType, resource_type: 'user', resource_id: 'u', changes: null }), [{ kind: 'user', action: 'credentials', orgId: 'o', id: 'u' }], eventType);
  }
});
