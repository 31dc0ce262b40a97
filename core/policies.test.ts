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
    t.same(await dir.policies.ssoSessionPolicy(org.id), { maxAgeMinutes: 480, idleMinutes: 60 }, 'SSO session defaults: the former sso.* config defaults');
    t.same(await dir.policies.setSsoSessionPolicy(ctx, { idleMinutes: 15 }), { maxAgeMinutes: 480, idleMinutes: 15 });
    await t.rejects(dir.policies.setSsoSessionPolicy(ctx, { maxAgeMinutes: 1 }), { code: 'invalid_input', field: 'maxAgeMinutes' });
    await t.rejects(dir.policies.setSsoSessionPolicy(ctx, { idleMinutes: 1.5 }), { code: 'invalid_input', field: 'idleMinutes' });
    await t.rejects(dir.policies.setSsoSessionPolicy(ctx, { lifetime: 5 } as never), { code: 'invalid_input', field: 'lifetime' });
    await t.rejects(dir.policies.createIpList(ctx, { name: 'x', cidrs: ['300.1.1.1/8'] }), { code: 'invalid_input', field: 'cidrs' });
    const events = await dir.audit.list({ orgId: org.id, limit: 100 });
    t.same(events.filter((e) => e.eventType.startsWith('policy.')).map((e) => [e.eventType, e.changes]), [
      ['policy.password.updated', { minLength: { from: 8, to: 12 }, historyCount: { from: 3, to: 5 } }],
      ['policy.mfa.updated', { mode: { from: { admin: 'required', portal: 'off', sso: 'off', radius: 'off', ldap: 'off' }, to: { admin: 'required', portal: 'off', sso: 'off', radius: 'required', ldap: 'off' } } }],
      ['policy.sso_session.updated', { idleMinutes: { from: 60, to: 15 } }],
    ]);
  });

  t.test(`an MFA policy stored before modes existed reads as required / off (${backend})`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    const legacy = { required: { admin: false, ldap: true, radius: false, telnet: true }, mode: { sso: 'sometimes' } };
    await dir.deps.db('policies').insert({ org_id: org.id, kind: 'mfa', value: JSON.stringify(legacy), updated_at: Date.now() });
    t.same((await dir.policies.mfaPolicy(org.id)).mode, { admin: 'off', portal: 'off', sso: 'off', radius: 'off', ldap: 'required' }, 'unknown services and values fall back to the defaults');
    await dir.policies.setMfaModes(ctx, { ldap: 'optional' });
    const row = await dir.deps.db('policies').where({ org_id: org.id, kind: 'mfa' }).first();
    t.same(JSON.parse(row.value), { mode: { admin: 'off', portal: 'off', sso: 'off', radius: 'off', ldap: 'optional' } }, 'rewritten in the new form');
  });
}

for (const backend of backends) {
  t.test(`access rules change in place, refs checked, one event each (${backend})`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    const office = await dir.policies.createIpList(ctx, { name: 'office', cidrs: ['192.0.2.0/24'] });
    const first = await dir.policies.createAccessRule(ctx, { name: 'deny office ldap', priority: 10, protocol: 'ldap', groupId: null, ipListId: office.id, negateIpList: false, action: 'deny' });
    await dir.policies.createAccessRule(ctx, { name: 'mfa everywhere', priority: 20, protocol: '*', groupId: null, ipListId: null, negateIpList: false, action: 'require_mfa' });
    t.same(await dir.policies.evaluateAccess(org.id, 'ldap', [], '192.0.2.7'), { action: 'deny', rule: 'deny office ldap' });
    const moved = await dir.policies.updateAccessRule(ctx, first.id, { priority: 30 });
    t.same([moved.priority, moved.name, moved.ipListId], [30, 'deny office ldap', office.id], 'other fields kept');
    t.same(await dir.policies.evaluateAccess(org.id, 'ldap', [], '192.0.2.7'), { action: 'require_mfa', rule: 'mfa everywhere' }, 'the new priority decides the order');
    await dir.policies.updateAccessRule(ctx, first.id, { ipListId: null, action: 'allow' });
    t.same((await dir.policies.getAccessRule(org.id, first.id)).action, 'allow');
    await t.rejects(dir.policies.updateAccessRule(ctx, first.id, { action: 'maybe' as never }), { code: 'invalid_input', field: 'action' });
    await t.rejects(dir.policies.updateAccessRule(ctx, first.id, { orgId: 'x' } as never), { code: 'invalid_input', field: 'orgId' });
    await t.rejects(dir.policies.updateAccessRule(ctx, first.id, { groupId: 'no-such-group' }), { code: 'not_found' });
    await t.rejects(dir.policies.updateAccessRule(ctx, 'no-such-rule', { priority: 1 }), { code: 'not_found' });
    const events = (await dir.audit.list({ orgId: org.id, limit: 100 })).filter((e) => e.eventType === 'access_rule.updated');
    t.same(events.map((e) => e.changes), [
      { priority: { from: 10, to: 30 } },
      { ipListId: { from: office.id, to: null }, action: { from: 'deny', to: 'allow' } },
    ], 'one event per change, with what changed');
  });
}
