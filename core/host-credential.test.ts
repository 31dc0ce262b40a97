// The per-host LDAP credential of an enrolled host (issue 7), in the core: it follows its
// system (disabled, enabled again, deleted) in the same transaction as the system change, with
// one audit event; and its rotation keeps the previous password valid until the host confirms
// or the overlap ends. The host's SSH MFA follows the LDAP MFA policy. On SQLite and (when
// configured) PostgreSQL.
import t from 'tap';
import { backends, testDirectory, type TestDirectory } from '../test/helpers/directory.js';
import { newHostKey } from '../agent/client.js';
import { HostAgents } from './enrolment.js';

async function enrolHost(td: TestDirectory, hostname: string) {
  const agents = new HostAgents(td.dir.deps, td.dir);
  const { secret } = await agents.createToken(td.ctx, {}, { defaultMinutes: 10, maxMinutes: 60 });
  const out = await agents.enroll(td.ctx, { token: secret, publicKey: newHostKey().publicRaw, hostname, os: 'Debian', agentVersion: '0' });
  return { agents, systemId: out.system.id, account: out.serviceAccountName, password: out.password };
}

for (const backend of backends) {
  t.test(`a host's LDAP credential follows its system (${backend})`, async (t) => {
    const td = await testDirectory(backend);
    t.teardown(() => td.close());
    const { dir, ctx, org } = td;
    const host = await enrolHost(td, 'web1.example.com');
    const binds = () => dir.serviceAccounts.verify(org.id, host.account, host.password, null, 'test').then((a) => !!a);
    t.ok(await binds(), 'the enrolled host binds');

    const seen: string[] = [];
    const unsubscribe = dir.feed.subscribe((c) => void seen.push(`${c.kind}:${c.action}`));
    t.teardown(unsubscribe);
    await dir.systems.update(ctx, host.systemId, { state: 'disabled' });
    t.notOk(await binds(), 'disabled with its system, from the moment the call returns');
    t.equal((await dir.serviceAccounts.findByName(org.id, host.account))?.state, 'disabled');
    t.ok(seen.includes('service_account:state'), 'announced, so the LDAP server ends sessions bound with it');
    const [disabled] = await dir.audit.list({ orgId: org.id, eventType: 'system.updated', order: 'desc', limit: 1 });
    t.same(disabled!.changes, { state: { from: 'enrolled', to: 'disabled' }, hostCredential: { account: host.account, from: 'active', to: 'disabled' } }, 'one audit event says both');
    t.equal((await dir.audit.list({ orgId: org.id, eventType: 'service_account.updated', limit: 10 })).length, 0, 'and no second one');

    await dir.systems.update(ctx, host.systemId, { loginGroupIds: [] });
    t.notOk(await binds(), 'other changes leave it disabled');
    await dir.systems.update(ctx, host.systemId, { state: 'enrolled' });
    t.ok(await binds(), 'enabled again with its system');
    const [enabled] = await dir.audit.list({ orgId: org.id, eventType: 'system.updated', order: 'desc', limit: 1 });
    t.same(enabled!.changes?.hostCredential, { account: host.account, from: 'disabled', to: 'active' });

    // A system without an agent has no credential to follow it.
    const plain = await dir.systems.create(ctx, { hostname: 'plain.example.com' });
    await dir.systems.update(ctx, plain.id, { state: 'disabled' });
    const [plainEvent] = await dir.audit.list({ orgId: org.id, eventType: 'system.updated', order: 'desc', limit: 1 });
    t.same(plainEvent!.changes, { state: { from: 'pending', to: 'disabled' } });

    await dir.systems.delete(ctx, host.systemId);
    t.equal(await dir.serviceAccounts.findByName(org.id, host.account), null, 'deleted with its system, in the same transaction');
    t.notOk(await binds());
    t.equal(await host.agents.binding(org.id, host.systemId), null, 'the key binding is gone too');
    const [deleted] = await dir.audit.list({ orgId: org.id, eventType: 'system.deleted', order: 'desc', limit: 1 });
    t.same(deleted!.changes, { hostCredential: { account: host.account, deleted: true } });
    t.ok(seen.includes('service_account:deleted'));
  });
}

for (const backend of backends) {
  t.test(`rotating a host's bind password keeps the host connected (${backend})`, async (t) => {
    const td = await testDirectory(backend);
    t.teardown(() => td.close());
    const { dir, ctx, org } = td;
    const host = await enrolHost(td, 'web2.example.com');
    const binds = (password: string) => dir.serviceAccounts.verify(org.id, host.account, password, null, 'test').then((a) => !!a);
    const rotateAsked = async () => (await host.agents.policy(org.id, host.systemId)).rotateCredential;
    const hostCtx = { ...ctx, actor: { type: 'system' as const, id: host.systemId, name: 'cairn-agent' } };
    const heartbeat = (credentialApplied: boolean) => host.agents.recordSync(hostCtx, host.systemId, { agentVersion: '0', configVersion: null, changedFiles: [], ok: true, credentialApplied });
    const OVERLAP = 10 * 60_000;

    t.notOk(await rotateAsked(), 'nothing asked after enrolment');
    await host.agents.requestRotation(ctx, host.systemId);
    t.ok(await rotateAsked(), 'the admin asked: the host config says so');
    t.equal((await dir.audit.list({ orgId: org.id, eventType: 'agent.credential_rotation_requested', limit: 5 })).length, 1, 'the request is audited');

    const lost = await host.agents.rotateCredential(hostCtx, host.systemId, OVERLAP);
    t.ok(await binds(lost), 'the new password binds');
    t.ok(await binds(host.password), 'the previous one still binds: the host has not confirmed yet');
    t.ok(await rotateAsked(), 'unconfirmed: the host is still told to rotate');
    // The host never saved that one (it crashed): at its next sync it fetches another.
    const fresh = await host.agents.rotateCredential(hostCtx, host.systemId, OVERLAP);
    t.ok(await binds(fresh));
    t.ok(await binds(host.password), 'the password the host last confirmed is the one kept');
    t.notOk(await binds(lost), 'the lost one is gone');
    await heartbeat(false);
    t.ok(await binds(host.password), 'a heartbeat without confirmation changes nothing');

    await heartbeat(true);
    t.notOk(await binds(host.password), 'confirmed: the previous password is refused');
    t.ok(await binds(fresh), 'the new one binds');
    t.notOk(await rotateAsked(), 'nothing more to do');
    const rotated = await dir.audit.list({ orgId: org.id, eventType: 'agent.credential_rotated', limit: 5 });
    t.same(rotated.map((e) => e.changes), [
      { serviceAccount: host.account, previousValidSeconds: 600, requested: true },
      { serviceAccount: host.account, previousValidSeconds: 600, requested: false },
    ], 'each rotation audited');
    const [synced] = await dir.audit.list({ orgId: org.id, eventType: 'agent.synced', order: 'desc', limit: 1 });
    t.same(synced!.changes, { credentialConfirmed: true }, 'the confirmation is in the heartbeat\'s one event');
    t.notOk(JSON.stringify(await dir.audit.list({ orgId: org.id, limit: 200 })).includes(fresh), 'no password in the audit trail');

    // Without a confirmation the previous password ends with the overlap.
    const next = await host.agents.rotateCredential(hostCtx, host.systemId, OVERLAP);
    t.ok(await binds(fresh));
    await dir.store('service_accounts').where({ name: host.account }).update({ previous_expires_at: Date.now() - 1 });
    t.notOk(await binds(fresh), 'after the overlap the previous password is refused');
    t.ok(await binds(next));

    // An admin's password reset ends any overlap at once; a disabled host cannot rotate.
    const account = (await dir.serviceAccounts.findByName(org.id, host.account))!;
    const fourth = await host.agents.rotateCredential(hostCtx, host.systemId, OVERLAP);
    const reset = await dir.serviceAccounts.resetPassword(ctx, account.id);
    t.notOk(await binds(fourth), 'reset: the rotated password is gone');
    t.notOk(await binds(next), 'and so is the previous one');
    t.ok(await binds(reset));
    await host.agents.requestRotation(ctx, host.systemId);
    await dir.systems.update(ctx, host.systemId, { state: 'disabled' });
    t.notOk(await rotateAsked(), 'a disabled host is not asked to rotate');
    await t.rejects(host.agents.rotateCredential(hostCtx, host.systemId, OVERLAP), { code: 'conflict' });
    await dir.systems.update(ctx, host.systemId, { state: 'enrolled' });
    t.ok(await rotateAsked(), 'and is asked again once enabled');
  });
}

t.test('the host config asks for MFA at SSH exactly when LDAP binds need it', async (t) => {
  const td = await testDirectory('sqlite');
  t.teardown(() => td.close());
  const host = await enrolHost(td, 'web3.example.com');
  const mfaForSsh = async () => (await host.agents.policy(td.org.id, host.systemId)).mfaForSsh;
  t.notOk(await mfaForSsh(), 'off by default, as for LDAP');
  await td.dir.policies.setMfaModes(td.ctx, { ldap: 'optional' });
  t.notOk(await mfaForSsh(), 'optional: the bind decides per user; keys and passwords as usual');
  await td.dir.policies.setMfaModes(td.ctx, { ldap: 'required' });
  t.ok(await mfaForSsh(), 'LDAP MFA required: hosts ask for password + code');
});
