// The host's LDAP credential as a real LDAP client sees it (ldapwhoami over LDAPS against
// Cairn's LDAP server), with cairn-agent writing into a temporary root: disabling the system
// refuses the host's bind at once and enabling it restores it; an admin-requested rotation
// rewrites sssd.conf with a new password that binds while the old one stops once confirmed.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { apiClient, loginWithEnrollment } from '../test/helpers/api.js';
import { io } from '../test/helpers/agent.js';
import { addCanary } from '../test/helpers/directory.js';
import { ldapTool } from '../test/helpers/ldap.js';
import { start } from '../test/helpers/start.js';
import { Client, loadHostKey } from './client.js';
import { run } from './main.js';

t.test('the host credential seen through ldapwhoami', async (t) => {
  const s = await start({ only: ['api', 'ldap'], overrides: { agent: { ldapUris: ['ldaps://127.0.0.1:1'] } } });
  const c = apiClient(s);
  const root = mkdtempSync(join(tmpdir(), 'cairn-agent-cred-'));
  t.teardown(async () => {
    await c.close();
    await s.stop();
    rmSync(root, { recursive: true, force: true });
  });
  mkdirSync(join(root, 'etc'), { recursive: true });
  const admin = (await loginWithEnrollment(c, 'admin', 'Bootstrap-admin-pw-1')).token;
  const call = (method: string, path: string, body?: unknown) => c.call(method, `/api/v1${path}`, { token: admin, ...(body !== undefined ? { body } : {}) });
  const tok = await call('POST', '/agent/enrolment-tokens', {});
  addCanary(tok.json.secret);
  const enrol = io();
  const enrolled = await run(['enroll', '--server', s.url, '--token', tok.json.secret, '--ca-file', s.caFile, '--hostname', 'web1.example.com', '--root', root], enrol.io);
  t.equal(enrolled, 0, enrolled === 0 ? 'enrolled into a temporary root' : enrol.errors());
  const systemId = JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8')).systemId as string;

  /** The bind DN and password sssd.conf holds right now. */
  const sssdCredential = () => {
    const conf = readFileSync(join(root, 'etc/sssd/sssd.conf'), 'utf8');
    return { dn: /^ldap_default_bind_dn = (.+)$/m.exec(conf)![1]!, password: /^ldap_default_authtok = (.+)$/m.exec(conf)![1]! };
  };
  const whoami = async (cred: { dn: string; password: string }) => {
    const r = await ldapTool(s, 'ldapwhoami', ['-x', '-H', `ldaps://127.0.0.1:${s.ports.ldaps}`, '-D', cred.dn, '-w', cred.password]);
    return r.code === 0 ? r.stdout.trim() : `exit ${r.code}`;
  };
  const first = sssdCredential();
  addCanary(first.password);
  t.equal(await whoami(first), `dn:${first.dn}`, 'the credential in sssd.conf binds');

  await t.test('disabling the system refuses the host bind at once; enabling restores it', async (t) => {
    t.equal((await call('PATCH', `/systems/${systemId}`, { state: 'disabled' })).status, 200);
    t.equal(await whoami(first), 'exit 49', 'invalidCredentials right after the call returned');
    t.equal((await call('PATCH', `/systems/${systemId}`, { state: 'enrolled' })).status, 200);
    t.equal(await whoami(first), `dn:${first.dn}`, 'binds again');
    const events = (await call('GET', `/events?event_type=system.updated&limit=10`)).json.items;
    t.same(events.map((e: { changes: { hostCredential?: { to: string } } }) => e.changes.hostCredential?.to).sort(), ['active', 'disabled'], 'both audited on the system event');
  });

  await t.test('an admin asks for a rotation: sync rewrites sssd.conf, the old password stops once confirmed', async (t) => {
    t.equal((await call('POST', '/systems/00000000-0000-4000-8000-000000000000/rotate-credential')).status, 404, 'unknown system');
    t.equal((await call('POST', `/systems/${systemId}/rotate-credential`)).status, 202);
    const dry = io();
    t.equal(await run(['sync', '--dry-run', '--root', root], dry.io), 0, dry.errors());
    t.match(dry.text(), /^would rotate the LDAP bind password$/m);
    t.same(sssdCredential(), first, 'dry-run: sssd.conf unchanged');
    t.equal(await whoami(first), `dn:${first.dn}`, 'and the server still has the old password only');

    const sync = io();
    t.equal(await run(['sync', '--root', root], sync.io), 0, sync.errors());
    t.match(sync.text(), /^rotated the LDAP bind password$/m);
    t.match(sync.text(), /^updated \/etc\/sssd\/sssd\.conf$/m);
    t.notOk(sync.text().includes(sssdCredential().password), 'the new password is not printed');
    const second = sssdCredential();
    addCanary(second.password);
    t.not(second.password, first.password, 'sssd.conf holds a new password');
    t.equal(second.dn, first.dn, 'for the same account');
    t.equal(statSync(join(root, 'etc/sssd/sssd.conf')).mode & 0o7777, 0o600, 'still 0600');
    t.equal(JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8')).bindPassword, second.password, 'and the agent state');
    t.equal(await whoami(second), `dn:${second.dn}`, 'ldapwhoami with the new password');
    t.equal(await whoami(first), 'exit 49', 'the old one is refused: the host confirmed in its heartbeat');
    const again = io();
    t.equal(await run(['sync', '--root', root], again.io), 0, again.errors());
    t.match(again.text(), /^no changes$/m, 'done: the next sync changes nothing');

    // A host that fetched a password and lost it before saving keeps binding with the one it
    // has, and is told to rotate again at its next sync.
    const state = JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8'));
    const client = new Client(s.url, readFileSync(s.caFile, 'utf8'));
    const lost = (await client.call<{ bindPassword: string }>('POST', '/api/v1/agent/credential', { sign: { hostId: state.systemId, key: loadHostKey(readFileSync(join(root, 'var/lib/cairn-agent/host.key'), 'utf8')) } })).bindPassword;
    addCanary(lost);
    t.equal(await whoami(second), `dn:${second.dn}`, 'the password in sssd.conf still binds');
    const recover = io();
    t.equal(await run(['sync', '--root', root], recover.io), 0, recover.errors());
    t.match(recover.text(), /^rotated the LDAP bind password$/m, 'the unconfirmed rotation is done again');
    const third = sssdCredential();
    addCanary(third.password);
    t.equal(await whoami(third), `dn:${third.dn}`);
    t.equal(await whoami(second), 'exit 49');
    t.equal(await whoami({ dn: first.dn, password: lost }), 'exit 49', 'the lost password never becomes valid again');
    const events = (await call('GET', '/events?event_type=agent.credential_rotated&limit=10')).json.items;
    t.equal(events.length, 3, 'every rotation audited');
    t.equal((await call('GET', '/events?event_type=agent.credential_rotation_requested&limit=10')).json.items.length, 1);
  });
});
