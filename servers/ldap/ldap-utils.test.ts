// Cairn LDAP against OpenLDAP's own clients (ldap-utils): ldapwhoami, ldapsearch, ldappasswd,
// ldapmodify, ldapcompare, on a real server on ephemeral ports.
import t from 'tap';
import { backends, logLines, testLogger } from '../../test/helpers/directory.js';
import { loadConfig } from '../../config/load.js';
import { openDirectory, totpCode } from '../../core/index.js';
import { ldapFixture, ldapTool, ALICE_KEY } from '../../test/helpers/ldap.js';

/** ldappasswd exits 1 on any failure and prints "Result: <text> (<code>)". */
const pwCode = (r: { code: number; stdout: string; stderr: string }) =>
  r.code === 0 ? 0 : Number(/\((\d+)\)/.exec(r.stdout + r.stderr)?.[1] ?? -1);
const entries = (out: string) => out.split('\n').filter((l) => l.startsWith('dn: ')).map((l) => l.slice(4));

for (const backend of backends) {
  t.test(`ldap-utils against Cairn (${backend})`, async (t) => {
    const fx = await ldapFixture(backend);
    t.teardown(fx.stop);
    const { base } = fx;
    const aliceDn = `uid=alice,ou=Users,${base}`;
    const ldaps = ['-x', '-H', fx.ldapsUrl];
    const asSssd = [...ldaps, '-D', fx.sssd.dn, '-w', fx.sssd.password];
    const search = (args: string[]) => ldapTool(fx, 'ldapsearch', ['-LLL', ...args]);

    await t.test('ldapwhoami over LDAPS and StartTLS; every bind name form', async (t) => {
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout.trim(), `dn:${aliceDn}`);
      r = await ldapTool(fx, 'ldapwhoami', ['-x', '-ZZ', '-H', fx.ldapUrl, '-D', aliceDn, '-w', fx.passwords.alice]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout.trim(), `dn:${aliceDn}`);
      for (const name of ['alice', 'alice@example.com', 'UID=Alice, OU=users, DC=Example, DC=com', 'uid=alice']) {
        r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', name, '-w', fx.passwords.alice]);
        t.equal(r.stdout.trim(), `dn:${aliceDn}`, `bind as ${name}`);
      }
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', fx.sssd.dn, '-w', fx.sssd.password]);
      t.equal(r.stdout.trim(), `dn:${fx.sssd.dn}`, 'service account');
      r = await ldapTool(fx, 'ldapwhoami', ldaps);
      t.equal(r.code, 0);
      t.equal(r.stdout.trim(), 'anonymous');
      // libldap checks a `localhost` URL against the machine's own hostname: the dev certificate names it.
      r = await ldapTool(fx, 'ldapwhoami', ['-x', '-H', fx.ldapsUrl.replace('127.0.0.1', 'localhost')]);
      t.equal(r.code, 0, `ldaps://localhost: ${r.stderr}`);
    });

    await t.test('plain port: bind and search refused before StartTLS (13)', async (t) => {
      let r = await ldapTool(fx, 'ldapwhoami', ['-x', '-H', fx.ldapUrl, '-D', aliceDn, '-w', fx.passwords.alice]);
      t.equal(r.code, 13, r.stderr);
      t.match(r.stderr, /Confidentiality required/);
      r = await ldapTool(fx, 'ldapsearch', ['-x', '-H', fx.ldapUrl, '-b', '', '-s', 'base']);
      t.equal(r.code, 13);
    });

    await t.test('failed credentials are all invalidCredentials (49); unauthenticated bind is 53', async (t) => {
      for (const [dn, pw] of [[aliceDn, 'wrong-password'], [`uid=nobody,ou=Users,${base}`, 'whatever-1'], [fx.sssd.dn, 'nope'], ['cn=x,dc=elsewhere', 'pw'], ['alice@other.org', fx.passwords.alice]]) {
        const r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', dn!, '-w', pw!]);
        t.equal(r.code, 49, `${dn}: ${r.stderr}`);
        t.notMatch(r.stderr, /unknown|locked|suspend|expired/i, 'no reason leaks');
      }
      const r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', '']);
      t.equal(r.code, 53, r.stderr);
      const ev = await fx.t.dir.audit.list({ orgId: fx.t.org.id, eventType: 'ldap.bind', success: false, limit: 50 });
      t.ok(ev.some((e) => e.reason === 'invalid_password'), 'the real reason is in the audit trail');
      t.ok(ev.some((e) => e.reason === 'unknown_user'));
    });

    await t.test('root DSE', async (t) => {
      const r = await search([...ldaps, '-s', 'base', '-b', '', '+']);
      t.equal(r.code, 0, r.stderr);
      t.match(r.stdout, `namingContexts: ${base}`);
      t.match(r.stdout, 'supportedLDAPVersion: 3');
      t.match(r.stdout, 'supportedControl: 1.2.840.113556.1.4.319');
      for (const oid of ['1.3.6.1.4.1.1466.20037', '1.3.6.1.4.1.4203.1.11.1', '1.3.6.1.4.1.4203.1.11.3']) t.match(r.stdout, `supportedExtension: ${oid}`);
      t.match(r.stdout, 'vendorName: Cairn');
      t.match(r.stdout, /vendorVersion: \d/);
    });

    await t.test('anonymous sees nothing but the root DSE', async (t) => {
      const r = await search([...ldaps, '-b', base, '(objectClass=*)']);
      t.equal(r.code, 50);
      t.same(entries(r.stdout), []);
    });

    await t.test('users: every attribute SSSD needs, never a password', async (t) => {
      const r = await search([...asSssd, '-o', 'ldif-wrap=no', '-b', base, '(uid=alice)', '*', '+']);
      t.equal(r.code, 0, r.stderr);
      const out = r.stdout;
      t.same(entries(out), [aliceDn]);
      for (const oc of ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'posixAccount', 'shadowAccount', 'ldapPublicKey']) t.match(out, `objectClass: ${oc}\n`);
      for (const line of ['uid: alice', 'cn: Alice Liddell', 'sn: Liddell', 'givenName: Alice', 'displayName: Alice Liddell', 'mail: alice@example.com',
        `uidNumber: ${fx.users.alice!.uidNumber}`, `gidNumber: ${fx.users.alice!.gidNumber}`, 'homeDirectory: /home/alice', 'loginShell: /bin/bash',
        'gecos: Alice Liddell', `sshPublicKey: ${ALICE_KEY}`, `memberOf: cn=admins,ou=Groups,${base}`, `memberOf: cn=developers,ou=Groups,${base}`,
        'shadowMax: 90', `entryUUID: ${fx.users.alice!.id}`]) {
        t.match(out, `${line}\n`, line);
      }
      t.match(out, /shadowLastChange: \d+/);
      t.match(out, /createTimestamp: \d{14}Z/);
      t.match(out, /modifyTimestamp: \d{14}Z/);
      t.notMatch(out, /userPassword|argon2|\$argon/i);
      t.notMatch(out, /pwdAccountLockedTime/);
      // Operational attributes only on request.
      const plain = await search([...asSssd, '-b', base, '(uid=alice)']);
      t.notMatch(plain.stdout, /entryUUID|createTimestamp/);
      const one = await search([...asSssd, '-b', base, '(uid=alice)', '1.1']);
      t.equal(one.stdout.trim(), `dn: ${aliceDn}`);
    });

    await t.test('groups: posixGroup + groupOfNames', async (t) => {
      const r = await search([...asSssd, '-b', `ou=Groups,${base}`, '(cn=developers)']);
      t.equal(r.code, 0, r.stderr);
      t.match(r.stdout, 'objectClass: posixGroup');
      t.match(r.stdout, 'objectClass: groupOfNames');
      t.match(r.stdout, 'memberUid: alice');
      t.match(r.stdout, 'memberUid: bob');
      t.match(r.stdout, `member: uid=bob,ou=Users,${base}`);
      t.match(r.stdout, /gidNumber: \d+/);
      const admins = await search([...asSssd, '-b', base, '(&(objectClass=posixGroup)(cn=admins))', 'description']);
      t.match(admins.stdout, 'description: Administrators');
    });

    await t.test('filters: and/or/not, substrings, ordering, presence, approx, case', async (t) => {
      const cases: [string, string[]][] = [
        ['(&(objectClass=posixAccount)(|(uid=alice)(uid=BOB)))', ['alice', 'bob']],
        ['(&(objectClass=posixAccount)(!(uid=alice)))', ['bob', 'carol']],
        ['(&(objectClass=posixAccount)(cn=*lid*))', ['alice']],
        ['(&(objectClass=posixAccount)(cn=b*r))', ['bob']],
        ['(&(objectClass=posixAccount)(uidNumber>=10001))', ['bob', 'carol']],
        ['(&(objectClass=posixAccount)(uidNumber<=10000))', ['alice']],
        ['(&(objectClass=posixAccount)(mail=*))', ['alice', 'bob']],
        ['(&(objectClass=posixAccount)(mail~=ALICE@EXAMPLE.COM))', ['alice']],
        ['(&(objectClass=inetOrgPerson)(memberOf=cn=Admins,ou=groups,dc=example,dc=com))', ['alice']],
        ['(userPassword=*)', []],
        ['(!(userPassword=*))', []],
        ['(&(objectClass=posixAccount)(uidNumber=notanumber))', []],
      ];
      for (const [filter, want] of cases) {
        const r = await search([...asSssd, '-b', `ou=Users,${base}`, filter, 'uid']);
        t.equal(r.code, 0, `${filter}: ${r.stderr}`);
        const got = entries(r.stdout).map((d) => /^uid=([^,]+)/.exec(d)![1]).sort();
        t.same(got, want, filter);
      }
    });

    await t.test('scopes and noSuchObject', async (t) => {
      let r = await search([...asSssd, '-b', base, '-s', 'one', '(objectClass=*)', '1.1']);
      t.same(entries(r.stdout).sort(), [`ou=Groups,${base}`, `ou=Services,${base}`, `ou=Users,${base}`]);
      r = await search([...asSssd, '-b', aliceDn, '-s', 'base', '(objectClass=*)', 'uid']);
      t.same(entries(r.stdout), [aliceDn]);
      r = await search([...asSssd, '-b', `uid=ghost,ou=Users,${base}`, '(objectClass=*)']);
      t.equal(r.code, 32);
      t.match(r.stdout + r.stderr, `ou=Users,${base}`, 'matchedDN');
      r = await search([...asSssd, '-b', 'not a dn', '(objectClass=*)']);
      t.equal(r.code, 34);
    });

    await t.test('size limit: client limit, server maximum', async (t) => {
      let r = await search([...asSssd, '-b', base, '-z', '2', '(objectClass=*)', '1.1']);
      t.equal(r.code, 4, 'sizeLimitExceeded');
      t.equal(entries(r.stdout).length, 2);
      r = await search([...asSssd, '-b', base, '-z', '0', '(objectClass=*)', '1.1']);
      t.equal(r.code, 0);
    });

    await t.test('paged results (RFC 2696) resume where the last page ended', async (t) => {
      const all = entries((await search([...asSssd, '-b', base, '(objectClass=*)', '1.1'])).stdout);
      const r = await search([...asSssd, '-b', base, '-E', 'pr=2/noprompt', '(objectClass=*)', '1.1']);
      t.equal(r.code, 0, r.stderr);
      const paged = entries(r.stdout);
      t.same(paged.sort(), [...all].sort(), 'same entries, each once');
      t.equal(new Set(paged).size, paged.length);
      t.ok(all.length > 8, `enough entries to need several pages (${all.length})`);
      const crit = await search([...asSssd, '-b', base, '-E', '!pr=3/noprompt', '(objectClass=posixGroup)', 'cn']);
      t.equal(crit.code, 0, 'critical paged control accepted');
    });

    await t.test('unknown critical control refused (12)', async (t) => {
      const r = await search([...asSssd, '-b', base, '-E', '!1.2.3.4.5.6', '(uid=alice)']);
      t.equal(r.code, 12, r.stderr);
    });

    await t.test('users read users and groups, not service accounts', async (t) => {
      const r = await search([...ldaps, '-D', aliceDn, '-w', fx.passwords.alice, '-b', base, '(objectClass=*)', '1.1']);
      t.equal(r.code, 0);
      const dns = entries(r.stdout);
      t.ok(dns.includes(`uid=bob,ou=Users,${base}`));
      t.ok(dns.includes(`cn=admins,ou=Groups,${base}`));
      t.notOk(dns.some((d) => d.includes('ou=Services')), 'no service accounts');
    });

    await t.test('writes answer unwillingToPerform and point at the API', async (t) => {
      const ldif = `dn: ${aliceDn}\nchangetype: modify\nreplace: mail\nmail: evil@example.com\n`;
      let r = await ldapTool(fx, 'ldapmodify', [...asSssd], ldif);
      t.equal(r.code, 53, r.stderr);
      t.match(r.stderr, /management API/);
      r = await ldapTool(fx, 'ldapdelete', [...asSssd, aliceDn]);
      t.equal(r.code, 53);
      r = await ldapTool(fx, 'ldapadd', [...asSssd], `dn: uid=eve,ou=Users,${base}\nobjectClass: account\nuid: eve\n`);
      t.equal(r.code, 53);
      r = await ldapTool(fx, 'ldapmodrdn', [...asSssd, aliceDn, 'uid=eve']);
      t.equal(r.code, 53);
    });

    await t.test('compare: values yes, secrets never', async (t) => {
      let r = await ldapTool(fx, 'ldapcompare', [...asSssd, aliceDn, 'uid:alice']);
      t.equal(r.code, 6, 'compareTrue');
      r = await ldapTool(fx, 'ldapcompare', [...asSssd, aliceDn, 'uid:bob']);
      t.equal(r.code, 5, 'compareFalse');
      r = await ldapTool(fx, 'ldapcompare', [...asSssd, aliceDn, `userPassword:${fx.passwords.alice}`]);
      t.not(r.code, 6);
      t.not(r.code, 5);
    });

    await t.test('ldappasswd: self-service with old password, policy and history enforced, audited', async (t) => {
      const pw = fx.passwords.carol!;
      const carolDn = `uid=carol,ou=Users,${base}`;
      let r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-a', 'wrong-old-pw', '-s', 'Fresh-Sing-pass-42']);
      t.equal(pwCode(r), 49, 'wrong old password');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-s', 'Fresh-Sing-pass-42']);
      t.equal(pwCode(r), 53, 'old password required');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-a', pw, '-s', 'short']);
      t.equal(pwCode(r), 19, 'policy: constraintViolation');
      t.match(r.stdout, /at least/);
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-a', pw, '-s', pw]);
      t.equal(pwCode(r), 19, 'history');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-a', pw, '-s', 'Fresh-Sing-pass-42', `uid=bob,ou=Users,${base}`]);
      t.equal(pwCode(r), 50, 'not someone else\'s');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', carolDn, '-w', pw, '-a', pw, '-s', 'Fresh-Sing-pass-42']);
      t.equal(pwCode(r), 0, r.stderr);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', 'Fresh-Sing-pass-42']);
      t.equal(r.code, 0, 'new password works');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', pw]);
      t.equal(r.code, 49, 'old one no longer');
      const ev = await fx.t.dir.audit.list({ orgId: fx.t.org.id, eventType: 'user.password_changed', limit: 5 });
      t.equal(ev.length, 1);
      t.equal(ev[0]!.service, 'ldap');
      // Service accounts: only with the permission.
      r = await ldapTool(fx, 'ldappasswd', [...asSssd, '-s', 'Reset-by-sssd-77', carolDn]);
      t.equal(pwCode(r), 50, 'read-only service account may not');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-D', fx.resetter.dn, '-w', fx.resetter.password, '-s', 'Reset-by-app-77', carolDn]);
      t.equal(pwCode(r), 0, r.stderr);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', 'Reset-by-app-77']);
      t.equal(r.code, 0);
      r = await ldapTool(fx, 'ldappasswd', ['-x', '-H', fx.ldapUrl, '-D', carolDn, '-w', 'Reset-by-app-77', '-a', 'Reset-by-app-77', '-s', 'Another-one-88']);
      t.equal(pwCode(r), 13, 'not over cleartext');
    });

    await t.test('a temporary password: 49 with the password policy control, then changed by an unbound Password Modify (as SSSD does)', async (t) => {
      const { dir, ctx, org } = fx.t;
      const temp = 'Temporary-from-admin-31';
      const dave = await dir.users.create(ctx, { username: 'dave', displayName: 'Dave', password: 'First-pass-of-his-1' });
      t.teardown(() => dir.users.delete(ctx, dave.id));
      await dir.users.setPassword(ctx, dave.id, temp, { mustChange: true });
      const daveDn = `uid=dave,ou=Users,${base}`;
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', daveDn, '-w', temp]);
      t.equal(r.code, 49, 'the bind fails');
      t.notMatch(r.stdout + r.stderr, /expired/i, 'and says why only to a client that asks');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-e', 'ppolicy', '-D', daveDn, '-w', temp]);
      t.equal(r.code, 49);
      t.match(r.stdout + r.stderr, /Password expired/, 'ldapwhoami -e ppolicy reads the control');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-e', 'ppolicy', '-D', daveDn, '-w', 'Not-the-temp-pw-1']);
      t.notMatch(r.stdout + r.stderr, /expired/i, 'a wrong password gets no control');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-s', 'Chosen-by-him-55', daveDn]);
      t.equal(pwCode(r), 50, 'unbound without the current password: refused');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-a', 'Not-the-temp-pw-1', '-s', 'Chosen-by-him-55', daveDn]);
      t.equal(pwCode(r), 49, 'unbound with a wrong current password');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-a', temp, '-s', 'Chosen-by-him-55', `uid=bob,ou=Users,${base}`]);
      t.equal(pwCode(r), 49, 'dave\'s password does not change bob\'s');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-a', temp, '-s', 'short', daveDn]);
      t.equal(pwCode(r), 19, 'the policy still applies');
      r = await ldapTool(fx, 'ldappasswd', [...ldaps, '-a', temp, '-s', 'Chosen-by-him-55', daveDn]);
      t.equal(pwCode(r), 0, r.stdout + r.stderr);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', daveDn, '-w', 'Chosen-by-him-55']);
      t.equal(r.stdout.trim(), `dn:${daveDn}`, 'the new password binds');
      t.equal((await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', daveDn, '-w', temp])).code, 49, 'the temporary one no longer');
      t.equal((await dir.users.get(org.id, dave.id)).mustChangePassword, false);
      const [ev] = await dir.audit.list({ orgId: org.id, eventType: 'user.password_changed', limit: 1, order: 'desc' });
      t.match(ev, { service: 'ldap', initiatedBy: { id: dave.id } }, 'audited as dave\'s own change');
      // Three days before expiry (policy: 90 days, warn 14 before), a bind that asks is warned.
      await dir.store('users').where({ id: dave.id }).update({ password_changed_at: Date.now() - 87 * 86400_000 });
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-e', 'ppolicy', '-D', daveDn, '-w', 'Chosen-by-him-55']);
      t.equal(r.code, 0, r.stderr);
      const left = Number(/expires in (\d+) seconds/i.exec(r.stdout + r.stderr)?.[1]);
      t.ok(left > 2.9 * 86400 && left <= 3 * 86400, `warned: ${r.stdout + r.stderr}`);
      r = await search([...asSssd, '-b', base, '(uid=dave)', 'shadowWarning']);
      t.match(r.stdout, 'shadowWarning: 14', 'shadowWarning from the policy');
    });

    await t.test('freshness: membership changes visible to the next search; suspension cuts binds and hides the user', async (t) => {
      const { dir, ctx, org } = fx.t;
      const g = (await dir.groups.findByName(org.id, 'admins'))!;
      await dir.groups.addMember(ctx, g.id, fx.users.bob!.id);
      let r = await search([...asSssd, '-b', base, '(cn=admins)', 'memberUid']);
      t.match(r.stdout, 'memberUid: bob', 'added member visible at once');
      r = await search([...asSssd, '-b', base, '(uid=bob)', 'memberOf']);
      t.match(r.stdout, `memberOf: cn=admins,ou=Groups,${base}`);
      await dir.groups.removeMember(ctx, g.id, fx.users.bob!.id);
      r = await search([...asSssd, '-b', base, '(cn=admins)', 'memberUid']);
      t.notMatch(r.stdout, 'memberUid: bob', 'removed member gone at once');

      await dir.users.setState(ctx, fx.users.bob!.id, 'suspended');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', 'bob', '-w', fx.passwords.bob!]);
      t.equal(r.code, 49, 'suspended user cannot bind');
      r = await search([...asSssd, '-b', base, '(|(uid=bob)(memberUid=bob))', '1.1']);
      t.same(entries(r.stdout), [], 'suspended user vanishes from users and groups');
      await dir.users.setState(ctx, fx.users.bob!.id, 'active');
      r = await search([...asSssd, '-b', base, '(uid=bob)', '1.1']);
      t.same(entries(r.stdout), [`uid=bob,ou=Users,${base}`], 'reactivated: back');

      await dir.policies.setPasswordPolicy(ctx, { maxAgeDays: 30 });
      r = await search([...asSssd, '-b', base, '(uid=bob)', 'shadowMax']);
      t.match(r.stdout, 'shadowMax: 30', 'a policy change reaches shadowMax at once');
      await dir.policies.setPasswordPolicy(ctx, { maxAgeDays: 90 });
      const app = await dir.serviceAccounts.create(ctx, { name: 'wiki', permissions: [] });
      r = await search([...asSssd, '-b', `ou=Services,${base}`, '(cn=wiki)', '1.1']);
      t.same(entries(r.stdout), [`cn=wiki,ou=Services,${base}`], 'a new service account appears');
      r = await search([...ldaps, '-D', `cn=wiki,ou=Services,${base}`, '-w', app.password, '-b', base, '(objectClass=*)', '1.1']);
      t.same(entries(r.stdout), [`cn=wiki,ou=Services,${base}`], 'without read_directory it sees only itself');
      await dir.serviceAccounts.delete(ctx, app.account.id);
      r = await search([...asSssd, '-b', `ou=Services,${base}`, '(cn=wiki)', '1.1']);
      t.same(entries(r.stdout), [], 'a deleted service account disappears');
    });

    /** Enrol alice's TOTP for one subtest, confirmed with the previous step's code so the current one is unused. */
    const enrolAlice = async (sub: Pick<typeof t, 'teardown'>) => {
      const { dir, ctx } = fx.t;
      const { secret } = await dir.users.beginTotp(ctx, fx.users.alice!.id);
      await dir.users.confirmTotp(ctx, fx.users.alice!.id, totpCode(secret, Date.now() / 1000 - 30));
      sub.teardown(() => dir.users.resetTotp(ctx, fx.users.alice!.id));
      return secret;
    };

    await t.test('MFA required for LDAP: password + appended TOTP; service accounts exempt', async (t) => {
      const { dir, ctx, org } = fx.t;
      const alice = fx.users.alice!;
      const secret = await enrolAlice(t);
      await dir.policies.setMfaModes(ctx, { ldap: 'required' });
      t.teardown(() => dir.policies.setMfaModes(ctx, { ldap: 'off' }));
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice]);
      t.equal(r.code, 49, 'password alone refused');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice + '000000']);
      t.equal(r.code, 49, 'wrong code refused');
      const code = totpCode(secret);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice + code]);
      t.equal(r.code, 0, 'password+code accepted');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice + code]);
      t.equal(r.code, 49, 'the same code is not accepted twice');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', fx.sssd.dn, '-w', fx.sssd.password]);
      t.equal(r.code, 0, 'service account exempt');
      const ev = await dir.audit.list({ orgId: org.id, eventType: 'ldap.bind', success: true, actorId: alice.id, limit: 1, order: 'desc' });
      t.equal(ev[0]?.mfaMeta?.type, 'totp');
    });

    await t.test('MFA optional for LDAP: the enrolled append their code, the others bind with a password', async (t) => {
      const { dir, ctx } = fx.t;
      const secret = await enrolAlice(t);
      await dir.policies.setMfaModes(ctx, { ldap: 'optional' });
      t.teardown(() => dir.policies.setMfaModes(ctx, { ldap: 'off' }));
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice]);
      t.equal(r.code, 49, 'enrolled user, password alone: refused');
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice + totpCode(secret)]);
      t.equal(r.code, 0, `enrolled user, password+code: accepted ${r.stderr}`);
      t.equal(r.stdout.trim(), `dn:${aliceDn}`);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', 'bob', '-w', fx.passwords.bob!]);
      t.equal(r.code, 0, `user without TOTP, password alone: accepted ${r.stderr}`);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', fx.sssd.dn, '-w', fx.sssd.password]);
      t.equal(r.code, 0, 'service account exempt');
    });

    await t.test('lockout: locked user refused even with the right password; pwdAccountLockedTime shown', async (t) => {
      const { dir, ctx, org } = fx.t;
      await dir.policies.setPasswordPolicy(ctx, { lockoutThreshold: 2 });
      const carol = fx.users.carol!;
      const carolDn = `uid=carol,ou=Users,${base}`;
      // Two failures from this address lock the (carol, 127.0.0.1) pair: the right password is refused too.
      for (let i = 0; i < 2; i++) await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', `bad-${i}`]);
      let r0 = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', 'Reset-by-app-77']);
      t.equal(r0.code, 49, 'locked for this source');
      const ev = await dir.audit.list({ orgId: org.id, eventType: 'ldap.bind', actorId: carol.id, limit: 1, order: 'desc' });
      t.equal(ev[0]?.reason, 'locked');
      // The account as a whole locks at 5x the threshold across sources.
      for (let i = 0; i < 10; i++) {
        await dir.authenticate({ orgId: org.id, username: 'carol', credential: { kind: 'password', password: `bad-${i}` }, protocol: 'ldap', clientIp: `192.0.2.${i}` });
      }
      const u = await dir.users.get(org.id, carol.id);
      t.equal(u.state, 'locked');
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', 'Reset-by-app-77']);
      t.equal(r.code, 49);
      r = await search([...asSssd, '-b', base, '(uid=carol)', 'pwdAccountLockedTime', 'shadowExpire']);
      t.match(r.stdout, /pwdAccountLockedTime: \d{14}Z/);
      t.match(r.stdout, 'shadowExpire: 1');
      await dir.users.unlock(ctx, carol.id);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', carolDn, '-w', 'Reset-by-app-77']);
      t.equal(r.code, 0);
      await dir.policies.setPasswordPolicy(ctx, { lockoutThreshold: 6 });
    });

    await t.test('deleted user: gone from searches and binds at once', async (t) => {
      const { dir, ctx } = fx.t;
      const dave = await dir.users.create(ctx, { username: 'dave', password: 'Hidden-pw-Canary-9x' });
      let r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', 'dave', '-w', 'Hidden-pw-Canary-9x']);
      t.equal(r.code, 0);
      await dir.users.delete(ctx, dave.id);
      r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', 'dave', '-w', 'Hidden-pw-Canary-9x']);
      t.equal(r.code, 49);
      r = await search([...asSssd, '-b', base, '(|(uid=dave)(cn=dave))', '1.1']);
      t.same(entries(r.stdout), []);
    });

    await t.test('a change made by another process (the CLI, another instance) reaches searches', async (t) => {
      const other = await openDirectory({ config: loadConfig({ env: {}, overrides: { ...fx.t.config } }), log: testLogger() });
      t.teardown(() => other.close());
      const g = await other.groups.create(fx.t.ctx, { name: 'elsewhere' });
      await other.groups.addMember(fx.t.ctx, g.id, fx.users.carol!.id);
      let seen = false;
      const started = Date.now();
      for (let i = 0; i < 40 && !seen; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const r = await search([...asSssd, '-b', base, '(cn=elsewhere)', 'memberUid']);
        seen = r.stdout.includes('memberUid: carol');
      }
      t.ok(seen, `visible after ${Date.now() - started} ms (database.followMs = ${fx.t.config.database.followMs})`);
    });

    await t.test('no secret in any log line', async (t) => {
      const secrets = [...Object.values(fx.passwords), fx.sssd.password, fx.resetter.password, 'Fresh-Sing-pass-42', 'Reset-by-app-77', 'Hidden-pw-Canary-9x'];
      const leaks = logLines.filter((l) => secrets.some((s) => l.includes(s!)));
      t.same(leaks, [], `${logLines.length} log lines checked`);
    });

    await t.test('audit trail: chain verifies', async (t) => {
      const v = await fx.t.dir.audit.verify();
      t.ok(v.ok ?? v, 'audit chain verifies');
    });
  });
}
