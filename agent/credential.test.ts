// The host's LDAP credential as a real LDAP client sees it (ldapwhoami over LDAPS against
// Cairn's LDAP server), with cairn-agent writing into a temporary root: disabling the system
// refuses the host's bind at once and enabling it restores it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { apiClient, loginWithEnrollment } from '../test/helpers/api.js';
import { addCanary } from '../test/helpers/directory.js';
import { ldapTool } from '../test/helpers/ldap.js';
import { start } from '../test/helpers/start.js';
import { run, type Io } from './main.js';

const quiet = (): Io & { text: string } => {
  const io = { text: '', out: (s: string) => void (io.text += s + '\n'), err: (s: string) => void (io.text += s + '\n') };
  return io;
};

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
  const enrol = quiet();
  const enrolled = await run(['enroll', '--server', s.url, '--token', tok.json.secret, '--ca-file', s.caFile, '--hostname', 'web1.example.com', '--root', root], enrol);
  t.equal(enrolled, 0, enrolled === 0 ? 'enrolled into a temporary root' : enrol.text);
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
});
