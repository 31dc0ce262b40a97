// The LDAP options that change who may do what: requireGrant (least privilege for binds),
// userAccess (what a bound user reads) and allowCleartextCidrs (plain LDAP for a named network).
import t from 'tap';
import { ldapFixture, ldapTool } from '../../test/helpers/ldap.js';

const entries = (out: string) => out.split('\n').filter((l) => l.startsWith('dn: ')).map((l) => l.slice(4));

t.test('requireGrant, userAccess: self, allowCleartextCidrs', async (t) => {
  const fx = await ldapFixture('sqlite', { requireGrant: true, userAccess: 'self', allowCleartextCidrs: ['127.0.0.1/32'] });
  t.teardown(fx.stop);
  const { dir, ctx, org } = fx.t;
  const ldaps = ['-x', '-H', fx.ldapsUrl];
  const aliceDn = `uid=alice,ou=Users,${fx.base}`;

  let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice!]);
  t.equal(r.code, 49, 'no group is granted LDAP: nobody binds');
  const ev = await dir.audit.list({ orgId: org.id, eventType: 'ldap.bind', actorId: fx.users.alice!.id, limit: 1, order: 'desc' });
  t.equal(ev[0]?.reason, 'not_assigned');

  const admins = (await dir.groups.findByName(org.id, 'admins'))!;
  await dir.grants.set(ctx, { type: 'ldap', id: org.id }, 'access', [admins.id]);
  r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice!]);
  t.equal(r.code, 0, 'alice (admins) may bind');
  r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', 'bob', '-w', fx.passwords.bob!]);
  t.equal(r.code, 49, 'bob (not in a granted group) may not');
  r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', fx.sssd.dn, '-w', fx.sssd.password]);
  t.equal(r.code, 0, 'service accounts are not subject to the grant');

  r = await ldapTool(fx, 'ldapsearch', ['-LLL', ...ldaps, '-D', aliceDn, '-w', fx.passwords.alice!, '-b', fx.base, '(objectClass=*)', '1.1']);
  t.equal(r.code, 0);
  t.same(entries(r.stdout), [aliceDn], 'userAccess self: only her own entry');
  r = await ldapTool(fx, 'ldapsearch', ['-LLL', ...ldaps, '-D', aliceDn, '-w', fx.passwords.alice!, '-b', `uid=bob,ou=Users,${fx.base}`, '-s', 'base', '(objectClass=*)', '1.1']);
  t.equal(r.code, 32, 'another user does not exist for her');

  r = await ldapTool(fx, 'ldapwhoami', ['-x', '-H', fx.ldapUrl, '-D', aliceDn, '-w', fx.passwords.alice!]);
  t.equal(r.code, 0, '127.0.0.1 is allowed cleartext');
  t.equal(r.stdout.trim(), `dn:${aliceDn}`);
});
