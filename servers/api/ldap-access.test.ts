// Least privilege for LDAP: with ldap.requireGrant on, only members of the groups granted through
// PUT /policies/ldap-access bind as users, proven with ldapwhoami.
import t from 'tap';
import { startApi } from '../../test/helpers/api.js';
import { ldapTool } from '../../test/helpers/ldap.js';

const P = '/api/v1';
const PASSWORD = 'Wonder-land-Canary-1';

t.test('PUT /policies/ldap-access decides who binds when ldap.requireGrant is on', async (t) => {
  const h = await startApi('sqlite', { ldap: { requireGrant: true, port: 0, ldapsPort: 0 } }, ['api', 'ldap']);
  t.teardown(h.stop);
  const call = (method: string, path: string, body?: unknown) => h.c.call(method, P + path, { token: h.admin.token, ...(body !== undefined ? { body } : {}) });
  const alice = (await call('POST', '/users', { username: 'alice', password: PASSWORD })).json;
  const ops = (await call('POST', '/groups', { name: 'ops' })).json;
  const whoami = () => ldapTool({ caFile: h.s.caFile }, 'ldapwhoami', ['-x', '-H', `ldaps://127.0.0.1:${h.s.ports.ldaps}`, '-D', 'alice', '-w', PASSWORD]);

  t.same((await call('GET', '/policies/ldap-access')).json, { groupIds: [] }, 'nobody by default');
  t.equal((await whoami()).code, 49, 'no group granted: invalidCredentials');
  t.same((await call('PUT', '/policies/ldap-access', { groupIds: [ops.id] })).json, { groupIds: [ops.id] });
  t.equal((await whoami()).code, 49, 'granted group, not a member yet');
  await call('PUT', `/groups/${ops.id}/members/${alice.id}`);
  const r = await whoami();
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'dn:uid=alice,ou=Users,dc=example,dc=com');
  t.equal((await call('PUT', '/policies/ldap-access', { groupIds: ['00000000-0000-4000-8000-000000000000'] })).status, 404, 'an unknown group is refused');
});
