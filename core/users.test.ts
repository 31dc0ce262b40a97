import t from 'tap';
import { backends, testDirectory } from '../test/helpers/directory.js';

for (const backend of backends) {
  t.test(`users round trip on ${backend}`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    const alice = await dir.users.create(ctx, { username: 'alice', displayName: 'Alice A', email: 'alice@example.com', password: 'Correct-horse-9' });
    t.equal(alice.username, 'alice');
    t.equal(alice.uidNumber, 10000);
    t.equal(alice.gidNumber, 10000);
    t.equal(alice.homeDirectory, '/home/alice');
    t.ok(alice.hasPassword);
    const bob = await dir.users.create(ctx, { username: 'bob' });
    t.equal(bob.uidNumber, 10001, 'ids are allocated in order');
    const admins = await dir.groups.create(ctx, { name: 'admins', description: 'sysadmins' });
    t.equal(admins.gidNumber, 10002, 'groups share the never-reused counter');
    await dir.groups.addMember(ctx, admins.id, alice.id);
    const again = await dir.users.get(org.id, alice.id);
    t.same(again.groupIds, [admins.id]);
    await dir.users.delete(ctx, bob.id);
    const carol = await dir.users.create(ctx, { username: 'carol' });
    t.equal(carol.uidNumber, 10003, 'a deleted user\'s uid is not reused');
    await t.rejects(dir.users.create(ctx, { username: 'alice' }), { code: 'conflict' });
    await t.rejects(dir.users.create(ctx, { username: 'Bad Name' }), { code: 'invalid_input', field: 'username' });
    const r = await dir.authenticate({ orgId: org.id, username: 'alice', credential: { kind: 'password', password: 'Correct-horse-9' }, protocol: 'ldap', clientIp: '127.0.0.1' });
    t.equal(r.decision, 'allow');
    const v = await dir.audit.verify();
    t.ok(v.ok, 'audit chain verifies');
  });
}
