// The per-host LDAP credential of an enrolled host (issue 7), in the core: it follows its
// system (disabled, enabled again, deleted) in the same transaction as the system change, with
// one audit event; on SQLite and (when configured) PostgreSQL.
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
