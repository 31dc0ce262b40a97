// RADIUS networks and clients in the core, on SQLite and (when configured) PostgreSQL:
// sealed secrets, audit with every change, validation, grants; the NT hash hook and the
// 'nthash' credential used by PEAP-MSCHAPv2.
import t from 'tap';
import { backends, logLines, testDirectory } from '../test/helpers/directory.js';
import { ntHash } from './crypto/md4.js';

const SECRET = 'Canary-radius-secret-XyZ-0987';

for (const backend of backends) {
  t.test(`RADIUS repository (${backend})`, async (t) => {
    const td = await testDirectory(backend);
    t.teardown(() => td.close());
    const { dir, ctx, org } = td;
    const repo = dir.radius;
    const g = await dir.groups.create(ctx, { name: 'vpn-users' });

    const net = await repo.createNetwork(ctx, { name: 'vpn', mfaMode: 'challenge', groupIds: [g.id], groupReplies: [{ groupId: g.id, vlan: 10, replyMessage: 'Welcome' }] });
    t.equal(net.mfaMode, 'challenge');
    t.same(net.groupIds, [g.id]);
    t.same(await dir.grants.groupsOf(org.id, { type: 'radius_network', id: net.id }), [g.id], 'bound through dir.grants');

    // A reply naming a group that is not this org's (or does not exist) is refused, naming the entry.
    await t.rejects(repo.createNetwork(ctx, { name: 'stray', groupReplies: [{ groupId: g.id, vlan: 5 }, { groupId: '00000000-0000-4000-8000-000000000000', vlan: 6 }] }), { code: 'invalid_input', field: 'groupReplies[1].groupId' });
    await t.rejects(repo.updateNetwork(ctx, net.id, { groupReplies: [{ groupId: '00000000-0000-4000-8000-000000000000' }] }), { code: 'invalid_input', field: 'groupReplies[0].groupId' });
    t.same((await repo.getNetwork(org.id, net.id)).groupReplies, [{ groupId: g.id, vlan: 10, replyMessage: 'Welcome' }], 'nothing changed');

    const { client, secret } = await repo.createClient(ctx, { name: 'vpn-gw', address: '192.0.2.0/24', networkId: net.id, secret: SECRET });
    t.equal(secret, SECRET);
    t.equal(client.address, '192.0.2.0/24');
    const row = await dir.store('radius_clients').where({ id: client.id }).first();
    t.notMatch(row.secret_enc, SECRET, 'sealed at rest');
    t.match(row.secret_enc, /^v1\./);
    const withSecret = await repo.clientsWithSecrets(org.id);
    t.equal(withSecret[0]!.secret.toString(), SECRET, 'unsealed for the server');
    // The AAD binds the ciphertext to its row: moving it to another client breaks it.
    const other = await repo.createClient(ctx, { name: 'other', address: '198.51.100.7', networkId: net.id });
    t.match(other.secret, /^[A-Za-z0-9]{32}$/, 'generated when not given: letters and digits only (NAS forms, shell commands)');
    await dir.store('radius_clients').where({ id: other.client.id }).update({ secret_enc: row.secret_enc });
    await t.rejects(repo.clientsWithSecrets(org.id), { code: 'internal' });
    await repo.deleteClient(ctx, other.client.id);

    const events = await dir.audit.list({ orgId: org.id, limit: 20 });
    const types = events.map((e) => e.eventType);
    t.ok(types.includes('radius.network.created') && types.includes('radius.client.created') && types.includes('radius.client.deleted'));
    t.notMatch(JSON.stringify(events), SECRET, 'no secret in the audit trail');
    t.notMatch(logLines.join(''), SECRET, 'no secret in the logs');

    await t.test('validation', async (t) => {
      await t.rejects(repo.createClient(ctx, { name: 'x', address: 'not-an-ip', networkId: net.id }), { code: 'invalid_input' });
      await t.rejects(repo.createClient(ctx, { name: 'x', address: '10.0.0.0/4', networkId: net.id }), { code: 'invalid_input', field: 'address' });
      await t.rejects(repo.createClient(ctx, { name: 'x', address: '10.0.0.1', networkId: net.id, secret: 'short' }), { code: 'invalid_input', field: 'secret' });
      await t.rejects(repo.createClient(ctx, { name: 'x', address: '10.0.0.1', networkId: 'nope' }), { code: 'not_found' });
      await t.rejects(repo.createClient(ctx, { name: 'vpn-gw', address: '10.0.0.1', networkId: net.id }), { code: 'conflict' });
      await t.rejects(repo.createNetwork(ctx, { name: 'n2', mfaMode: 'sms' as never }), { code: 'invalid_input' });
      await t.rejects(repo.createNetwork(ctx, { name: 'n2', groupReplies: [{ groupId: g.id, vlan: 5000 }] }), { code: 'invalid_input' });
      await t.rejects(repo.createNetwork(ctx, { name: 'n2', groupReplies: [{ groupId: g.id, class: 'a\u0000b' }] }), { code: 'invalid_input' });
      await t.rejects(repo.updateClient(ctx, client.id, { shared: 'x' } as never), { code: 'invalid_input' });
      await t.rejects(repo.deleteNetwork(ctx, net.id), { code: 'conflict' }, 'clients still attached');
    });

    await t.test('update and delete', async (t) => {
      const updated = await repo.updateClient(ctx, client.id, { legacy: true, secret: 'Another-secret-of-20-chars' });
      t.equal(updated.legacy, true);
      t.same((await repo.legacyClients(org.id)).map((c) => c.id), [client.id]);
      t.match(await repo.posture(org.id), [{ id: 'radius.legacy_clients', severity: 'warning', detail: { clients: [{ name: 'vpn-gw' }] } }]);
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.client.updated', limit: 1, order: 'desc' }))[0]!;
      t.same(ev.changes, { legacy: { from: false, to: true }, secret: 'changed' });
      const n2 = await repo.updateNetwork(ctx, net.id, { mfaMode: 'appended', groupIds: [] });
      t.equal(n2.mfaMode, 'appended');
      t.same(n2.groupIds, []);
      await repo.deleteClient(ctx, client.id);
      await repo.deleteNetwork(ctx, net.id);
      t.same(await repo.listNetworks(org.id), []);
      t.same(await dir.grants.groupsOf(org.id, { type: 'radius_network', id: net.id }), []);
    });
  });

  t.test(`NT hash hook and the nthash credential (${backend})`, async (t) => {
    const td = await testDirectory(backend);
    t.teardown(() => td.close());
    const { dir, ctx, org } = td;
    const repo = dir.radius;
    const pw = 'Some-Password-123';
    const off = await dir.users.create(ctx, { username: 'before', password: pw });
    t.equal((await dir.store('users').where({ id: off.id }).first()).nt_hash_enc, null, 'not stored while the org has PEAP off');
    await repo.setSettings(ctx, { storeNtHash: true });
    const on = await dir.users.create(ctx, { username: 'after', password: pw });
    t.same(await repo.ntHash(org.id, on.id), ntHash(pw), 'stored sealed on create');
    await dir.users.setPassword(ctx, on.id, 'Other-Password-456');
    t.same(await repo.ntHash(org.id, on.id), ntHash('Other-Password-456'), 'replaced on change');

    const req = (username: string, verify: (h: Buffer) => boolean) => dir.authenticate({ orgId: org.id, username, protocol: 'radius', clientIp: '192.0.2.1', credential: { kind: 'nthash', verify } });
    const good = (h: Buffer) => h.equals(ntHash('Other-Password-456'));
    t.match(await req('after', good), { decision: 'allow' });
    t.match(await req('after', () => false), { decision: 'deny', reason: 'invalid_password' });
    t.equal((await dir.store('auth_failures').where({ user_id: on.id })).length, 2, 'failure counted per source and account');
    t.match(await req('before', () => true), { decision: 'deny', reason: 'nt_hash_missing' }, 'never allowed without a stored hash');
    t.match(await req('ghost', () => true), { decision: 'deny', reason: 'unknown_user' });
    t.match(await repo.posture(org.id), [{ id: 'radius.nt_hash_stored', detail: { usersWithNtHash: 1 } }]);
    await repo.setSettings(ctx, { storeNtHash: false });
    t.equal(await repo.ntHash(org.id, on.id), null, 'erased when turned off');
    t.same(await repo.posture(org.id), []);
  });
}
