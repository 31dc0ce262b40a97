import t from 'tap';
import { defaultPasswordPolicy, ipInCidrs, passwordProblems } from './policies.js';
import { backends, testDirectory } from '../test/helpers/directory.js';

const p = defaultPasswordPolicy;

t.test('password policy rules, one by one', async (t) => {
  t.same(passwordProblems(p, 'Correct-horse-9', 'alice'), [], 'a good password');
  t.same(passwordProblems(p, 'Sh0rt!', 'alice'), ['at least 8 characters']);
  t.same(passwordProblems(p, 'alllowercase', 'bob'), ['at least 3 of: lower case, upper case, digit, special character']);
  t.same(passwordProblems(p, 'lower-and-special', 'bob'), ['at least 3 of: lower case, upper case, digit, special character'], 'two classes are not enough');
  t.same(passwordProblems(p, 'xx-Alice-2024', 'alice'), ['must not contain the username'], 'case-insensitive');
  t.same(passwordProblems({ ...p, notContainUsername: false }, 'xx-Alice-2024', 'alice'), []);
  t.same(passwordProblems({ ...p, minLength: 12 }, 'Correct-h9', 'x'), ['at least 12 characters']);
  t.same(passwordProblems({ ...p, minClasses: 4 }, 'Correcthorse9', 'x'), ['at least 4 of: lower case, upper case, digit, special character']);
  t.same(passwordProblems(p, 'Ünïcödé-pässwörd-1', 'x'), [], 'non-ASCII letters count as special');
});

t.test('CIDR matching: IPv4, IPv6, mapped addresses, garbage', async (t) => {
  t.ok(ipInCidrs('10.1.2.3', ['10.0.0.0/8']));
  t.notOk(ipInCidrs('11.1.2.3', ['10.0.0.0/8']));
  t.ok(ipInCidrs('::ffff:10.1.2.3', ['10.0.0.0/8']), 'IPv4-mapped IPv6');
  t.ok(ipInCidrs('2001:db8::1', ['2001:db8::/32']));
  t.notOk(ipInCidrs('2001:db9::1', ['2001:db8::/32']));
  t.ok(ipInCidrs('192.0.2.7', ['192.0.2.7']), 'a bare address is a /32');
  t.notOk(ipInCidrs('not an ip', ['0.0.0.0/0']));
  t.notOk(ipInCidrs(null, ['0.0.0.0/0']));
});

for (const backend of backends) {
  t.test(`policies are stored, validated and audited (${backend})`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    t.same(await dir.policies.passwordPolicy(org.id), p, 'defaults: PRODUCT.md');
    t.match(await dir.policies.setPasswordPolicy(ctx, { minLength: 12, historyCount: 5 }), { minLength: 12, historyCount: 5, lockoutThreshold: 6 });
    await t.rejects(dir.policies.setPasswordPolicy(ctx, { minLength: 4 }), { code: 'invalid_input', field: 'minLength' });
    await t.rejects(dir.policies.setPasswordPolicy(ctx, { bogus: 1 } as never), { code: 'invalid_input', field: 'bogus' });
    await t.rejects(dir.users.create(ctx, { username: 'eve', password: 'Short-pw-1' }), { code: 'policy_violation', details: ['at least 12 characters'] });
    t.equal((await dir.policies.mfaPolicy(org.id)).mode.admin, 'required', 'admins need MFA by default');
    await dir.policies.setMfaModes(ctx, { radius: 'required' });
    t.equal((await dir.policies.mfaPolicy(org.id)).mode.radius, 'required');
    await t.rejects(dir.policies.setMfaModes(ctx, { ldap: true } as never), { code: 'invalid_input', field: 'mode.ldap' });
    await t.rejects(dir.policies.setMfaModes(ctx, { telnet: 'off' } as never), { code: 'invalid_input', field: 'mode.telnet' });
    await t.rejects(dir.policies.createIpList(ctx, { name: 'x', cidrs: ['300.1.1.1/8'] }), { code: 'invalid_input', field: 'cidrs' });
    const events = await dir.audit.list({ orgId: org.id, limit: 100 });
    t.same(events.filter((e) => e.eventType.startsWith('policy.')).map((e) => [e.eventType, e.changes]), [
      ['policy.password.updated', { minLength: { from: 8, to: 12 }, historyCount: { from: 3, to: 5 } }],
      ['policy.mfa.updated', { mode: { from: { admin: 'required', portal: 'off', sso: 'off', radius: 'off', ldap: 'off', host: 'off' }, to: { admin: 'required', portal: 'off', sso: 'off', radius: 'required', ldap: 'off', host: 'off' } } }],
    ]);
  });

  t.test(`an MFA policy stored before modes existed reads as required / off (${backend})`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    const legacy = { required: { admin: false, ldap: true, radius: false, telnet: true }, mode: { sso: 'sometimes' } };
    await dir.deps.db('policies').insert({ org_id: org.id, kind: 'mfa', value: JSON.stringify(legacy), updated_at: Date.now() });
    t.same((await dir.policies.mfaPolicy(org.id)).mode, { admin: 'off', portal: 'off', sso: 'off', radius: 'off', ldap: 'required', host: 'off' }, 'unknown services and values fall back to the defaults');
    await dir.policies.setMfaModes(ctx, { ldap: 'optional' });
    const row = await dir.deps.db('policies').where({ org_id: org.id, kind: 'mfa' }).first();
    t.same(JSON.parse(row.value), { mode: { admin: 'off', portal: 'off', sso: 'off', radius: 'off', ldap: 'optional', host: 'off' } }, 'rewritten in the new form');
  });
}
