import t from 'tap';
import { loadConfig } from '../../config/load.js';
import { backends, testDirectory, testLogger, type TestDirectory } from '../../test/helpers/directory.js';
import { openDirectory } from '../index.js';
import { totpCode } from '../crypto/totp.js';
import type { AuthRequest } from './authenticate.js';

const PW = 'Correct-horse-9';

async function setup(backend: (typeof backends)[number]) {
  const td = await testDirectory(backend);
  const alice = await td.dir.users.create(td.ctx, { username: 'alice', email: 'alice@example.com', password: PW });
  return { ...td, alice };
}

function req(td: TestDirectory, over: Partial<AuthRequest> & { password?: string } = {}): AuthRequest {
  const { password, ...rest } = over;
  return {
    orgId: td.org.id,
    username: 'alice',
    credential: { kind: 'password', password: password ?? PW },
    protocol: 'ldap',
    clientIp: '192.0.2.10',
    ...rest,
  };
}

/** Enrol TOTP and return the seed, as an authenticator app would hold it. */
async function enrol(td: TestDirectory, userId: string): Promise<string> {
  const { secret } = await td.dir.users.beginTotp(td.ctx, userId);
  // Confirm with the previous step's code so that the current step is still unused.
  await td.dir.users.confirmTotp(td.ctx, userId, totpCode(secret, Date.now() / 1000 - 30));
  return secret;
}

for (const backend of backends) {
  t.test(`authenticate on ${backend}`, async (t) => {
    const td = await setup(backend);
    t.teardown(td.close);
    const { dir, org, ctx, alice } = td;

    t.test('right password allows, wrong and unknown deny with the reason kept inside', async (t) => {
      t.match(await dir.authenticate(req(td)), { decision: 'allow', user: { username: 'alice' }, mfa: null });
      t.same(await dir.authenticate(req(td, { password: 'wrong-Password-1' })), { decision: 'deny', reason: 'invalid_password' });
      t.same(await dir.authenticate(req(td, { username: 'nobody' })), { decision: 'deny', reason: 'unknown_user' });
      t.same(await dir.authenticate(req(td, { username: '../../etc' })), { decision: 'deny', reason: 'unknown_user' });
      t.same(await dir.authenticate(req(td, { password: 'x'.repeat(2000) })), { decision: 'deny', reason: 'input_too_long' });
      const events = await dir.audit.list({ orgId: org.id, eventType: 'ldap.bind', limit: 100 });
      t.same(events.map((e) => [e.success, e.reason]), [[true, null], [false, 'invalid_password'], [false, 'unknown_user'], [false, 'unknown_user'], [false, 'input_too_long']]);
      t.equal(events[0]!.initiatedBy.username, 'alice');
      t.equal(events[0]!.initiatedBy.email, 'alice@example.com');
      t.equal(events[0]!.clientIp, '192.0.2.10');
      t.equal(events[2]!.changes?.attemptedUsername, 'nobody');
    });

    t.test('lockout is per (user, source): an attacker elsewhere cannot lock the owner out', async (t) => {
      const attacker = '203.0.113.66';
      for (let i = 0; i < 6; i++) {
        t.equal((await dir.authenticate(req(td, { clientIp: attacker, password: `Wrong-pass-${i}` }))).decision, 'deny');
      }
      t.same(await dir.authenticate(req(td, { clientIp: attacker })), { decision: 'deny', reason: 'locked' }, 'even the right password is refused from the locked source');
      t.equal((await dir.authenticate(req(td, { clientIp: '192.0.2.10' }))).decision, 'allow', 'the owner, from her own address, still gets in');
      await dir.users.unlock(ctx, alice.id);
      t.equal((await dir.authenticate(req(td, { clientIp: attacker }))).decision, 'allow', 'admin unlock clears the lock');
    });

    t.test('many sources together lock the whole account, for the policy duration', async (t) => {
      await dir.policies.setPasswordPolicy(ctx, { lockoutThreshold: 2, lockoutMinutes: 1 });
      for (let i = 0; i < 10; i++) await dir.authenticate(req(td, { clientIp: `198.51.100.${i}`, password: 'Wrong-pass-x' }));
      const locked = await dir.users.get(org.id, alice.id);
      t.equal(locked.state, 'locked');
      t.ok(locked.lockedUntil && locked.lockedUntil.getTime() > Date.now());
      t.same(await dir.authenticate(req(td)), { decision: 'deny', reason: 'locked' });
      const events = await dir.audit.list({ orgId: org.id, eventType: 'user.locked', limit: 10 });
      t.equal(events.length, 1, 'the lock is audited');
      await dir.users.unlock(ctx, alice.id);
      t.equal((await dir.users.get(org.id, alice.id)).state, 'active');
      t.equal((await dir.authenticate(req(td))).decision, 'allow');
      await dir.policies.setPasswordPolicy(ctx, { lockoutThreshold: 6, lockoutMinutes: 15 });
    });

    t.test('state, expiry and must-change', async (t) => {
      await dir.users.setState(ctx, alice.id, 'suspended');
      t.same(await dir.authenticate(req(td)), { decision: 'deny', reason: 'suspended' });
      await dir.users.setState(ctx, alice.id, 'active');
      t.equal((await dir.authenticate(req(td))).decision, 'allow');

      await dir.store('users').where({ id: alice.id }).update({ password_changed_at: Date.now() - 91 * 86400_000 });
      t.same(await dir.authenticate(req(td)), { decision: 'deny', reason: 'password_expired' });
      t.match(await dir.authenticate({ ...req(td), changingPassword: true }), { decision: 'allow' }, 'enough to replace it (LDAP Password Modify)');
      t.same(await dir.authenticate({ ...req(td, { password: 'Wrong-horse-1' }), changingPassword: true }), { decision: 'deny', reason: 'invalid_password' });
      t.match(await dir.authenticate(req(td, { protocol: 'sso', challengeSupported: true })), { decision: 'challenge', kind: 'password_change' });
      await dir.policies.setPasswordPolicy(ctx, { maxAgeDays: 0 });
      t.equal((await dir.authenticate(req(td))).decision, 'allow', 'expiry off');
      await dir.policies.setPasswordPolicy(ctx, { maxAgeDays: 90 });
      await dir.users.setPassword(ctx, alice.id, 'Another-horse-7', { mustChange: true });
      t.same(await dir.authenticate(req(td, { password: 'Another-horse-7' })), { decision: 'deny', reason: 'password_change_required' });
      await dir.users.setPassword(ctx, alice.id, PW.replace('9', '8'));
      await dir.users.setPassword(ctx, alice.id, 'Third-horse-77');
      await t.rejects(dir.users.setPassword(ctx, alice.id, 'Another-horse-7'), { code: 'policy_violation', details: ['must differ from the last 3 passwords'] });
      await dir.users.setPassword(ctx, alice.id, PW.replace('9', '5'));
      await dir.users.setPassword(ctx, alice.id, PW, {}); // PW fell out of the last-3 history
      t.equal((await dir.authenticate(req(td))).decision, 'allow');
    });

    t.test('a resource admits only the groups it is granted to', async (t) => {
      const net = { type: 'radius_network' as const, id: '00000000-0000-4000-8000-000000000001' };
      t.same(await dir.authenticate(req(td, { protocol: 'radius', resource: net })), { decision: 'deny', reason: 'not_assigned' }, 'no grant: nobody');
      const wifi = await dir.groups.create(ctx, { name: 'wifi' });
      await dir.grants.set(ctx, net, 'access', [wifi.id]);
      t.same(await dir.authenticate(req(td, { protocol: 'radius', resource: net })), { decision: 'deny', reason: 'not_assigned' });
      await dir.groups.addMember(ctx, wifi.id, alice.id);
      t.equal((await dir.authenticate(req(td, { protocol: 'radius', resource: net }))).decision, 'allow', 'the next decision sees the membership');
    });

    t.test('conditional access: deny a range, require MFA outside the office', async (t) => {
      const blocked = await dir.policies.createIpList(ctx, { name: 'blocked', cidrs: ['203.0.113.0/24'] });
      const office = await dir.policies.createIpList(ctx, { name: 'office', cidrs: ['192.0.2.0/24', '2001:db8::/32'] });
      const deny = await dir.policies.createAccessRule(ctx, { name: 'block', priority: 1, protocol: '*', groupId: null, ipListId: blocked.id, negateIpList: false, action: 'deny' });
      const mfa = await dir.policies.createAccessRule(ctx, { name: 'mfa outside', priority: 2, protocol: 'ldap', groupId: null, ipListId: office.id, negateIpList: true, action: 'require_mfa' });
      await dir.users.unlock(ctx, alice.id);
      t.same(await dir.authenticate(req(td, { clientIp: '203.0.113.9' })), { decision: 'deny', reason: 'access_rule' });
      t.equal((await dir.authenticate(req(td, { clientIp: '192.0.2.77' }))).decision, 'allow', 'inside the office: password only');
      t.equal((await dir.authenticate(req(td, { clientIp: '::ffff:192.0.2.77' }))).decision, 'allow', 'IPv4-mapped IPv6 is the same address');
      t.equal((await dir.authenticate(req(td, { clientIp: '2001:db8::5' }))).decision, 'allow');
      t.same(await dir.authenticate(req(td, { clientIp: '198.51.100.1' })), { decision: 'deny', reason: 'mfa_not_enrolled' }, 'outside: MFA required, not enrolled');
      await dir.policies.deleteAccessRule(ctx, deny.id);
      await dir.policies.deleteAccessRule(ctx, mfa.id);
    });

    t.test('TOTP: appended code, separate code, no replay, recovery codes once', async (t) => {
      await dir.users.unlock(ctx, alice.id);
      const secret = await enrol(td, alice.id);
      await dir.policies.setMfaModes(ctx, { ldap: 'required', sso: 'required' });
      t.same(await dir.authenticate(req(td)), { decision: 'deny', reason: 'mfa_required' }, 'password alone is not enough');
      const code = totpCode(secret);
      const withCode = req(td, { credential: { kind: 'password', password: PW + code, otpAppended: true } });
      t.match(await dir.authenticate(withCode), { decision: 'allow', mfa: 'totp' }, 'password123456');
      t.same(await dir.authenticate(withCode), { decision: 'deny', reason: 'mfa_replayed' }, 'the same code twice: refused, told apart in the audit trail');
      t.same(
        await dir.authenticate(req(td, { credential: { kind: 'password', password: PW + '000000', otpAppended: true } })),
        { decision: 'deny', reason: 'mfa_invalid' },
      );

      // Two-step: password, then the code against the challenge token.
      const first = await dir.authenticate(req(td, { protocol: 'sso', challengeSupported: true }));
      t.match(first, { decision: 'challenge', kind: 'totp' });
      if (first.decision !== 'challenge') return;
      t.same(await dir.authenticate(req(td, { protocol: 'sso', credential: { kind: 'challenge', token: first.token, otp: '123456' } })), { decision: 'deny', reason: 'mfa_invalid' });
      t.same(await dir.authenticate(req(td, { protocol: 'sso', credential: { kind: 'challenge', token: first.token, otp: totpCode(secret) } })), { decision: 'deny', reason: 'challenge_invalid' }, 'a challenge is single use');

      const { recoveryCodes } = await dir.users.confirmTotp(ctx, alice.id, '000000').catch(() => ({ recoveryCodes: [] as string[] }));
      t.same(recoveryCodes, [], 'confirming without an enrolment in progress fails');
      const fresh = await dir.users.beginTotp(ctx, alice.id);
      const { recoveryCodes: codes } = await dir.users.confirmTotp(ctx, alice.id, totpCode(fresh.secret, Date.now() / 1000 - 30));
      t.equal(codes.length, 10);
      const rc = req(td, { credential: { kind: 'password', password: PW, otp: codes[0]! } });
      t.match(await dir.authenticate(rc), { decision: 'allow', mfa: 'recovery_code' });
      t.same(await dir.authenticate(rc), { decision: 'deny', reason: 'mfa_invalid' }, 'a recovery code works once');
      await dir.users.unlock(ctx, alice.id);
      await dir.policies.setMfaModes(ctx, { ldap: 'off', sso: 'off' });
    });

    t.test('MFA modes: required, optional, off × enrolled or not × with or without a code', async (t) => {
      // decision (and second factor, or deny reason) for: enrolled without code, enrolled with
      // code, unenrolled without code, unenrolled with a code it cannot have.
      const expected = {
        required: [['deny', 'mfa_required'], ['allow', 'totp'], ['deny', 'mfa_not_enrolled'], ['deny', 'mfa_not_enrolled']],
        optional: [['deny', 'mfa_required'], ['allow', 'totp'], ['allow', null], ['allow', null]],
        off: [['allow', null], ['allow', null], ['allow', null], ['allow', null]],
      } as const;
      const outcome = (r: Awaited<ReturnType<typeof dir.authenticate>>) => (r.decision === 'allow' ? ['allow', r.mfa] : r.decision === 'deny' ? ['deny', r.reason] : [r.decision, r.kind]);
      for (const [mode, [enrolledNoCode, enrolledCode, plainNoCode, plainCode]] of Object.entries(expected)) {
        // Users of their own per mode: each TOTP step is accepted once.
        const enrolled = await dir.users.create(ctx, { username: `enrolled-${mode}`, password: PW });
        const plain = await dir.users.create(ctx, { username: `plain-${mode}`, password: PW });
        const secret = await enrol(td, enrolled.id);
        await dir.policies.setMfaModes(ctx, { ldap: mode as keyof typeof expected });
        const bind = (username: string, otp?: string) => dir.authenticate(req(td, { username, credential: { kind: 'password', password: PW, ...(otp ? { otp } : {}) } }));
        t.same(outcome(await bind(enrolled.username)), enrolledNoCode, `${mode}, enrolled, password alone`);
        t.same(outcome(await bind(enrolled.username, totpCode(secret))), enrolledCode, `${mode}, enrolled, password and code`);
        t.same(outcome(await bind(plain.username)), plainNoCode, `${mode}, not enrolled, password alone`);
        t.same(outcome(await bind(plain.username, '123456')), plainCode, `${mode}, not enrolled, password and a code`);
      }

      // Optional with a second round trip: the enrolled are asked for their code, the others
      // are not sent to enrol (that is what required does).
      await dir.policies.setMfaModes(ctx, { sso: 'optional' });
      const sso = (username: string) => dir.authenticate(req(td, { username, protocol: 'sso', challengeSupported: true }));
      t.match(await sso('enrolled-optional'), { decision: 'challenge', kind: 'totp' });
      t.match(await sso('plain-optional'), { decision: 'allow', mfa: null });
      // A conditional-access rule that demands MFA still wins over optional.
      const zone = await dir.policies.createIpList(ctx, { name: 'mfa-zone', cidrs: ['198.51.100.0/24'] });
      const rule = await dir.policies.createAccessRule(ctx, { name: 'mfa-zone', priority: 1, protocol: 'ldap', groupId: null, ipListId: zone.id, negateIpList: false, action: 'require_mfa' });
      await dir.policies.setMfaModes(ctx, { ldap: 'optional' });
      t.same(await dir.authenticate(req(td, { username: 'plain-optional', clientIp: '198.51.100.7' })), { decision: 'deny', reason: 'mfa_not_enrolled' });
      await dir.policies.deleteAccessRule(ctx, rule.id);
      await dir.policies.deleteIpList(ctx, zone.id);
      await dir.policies.setMfaModes(ctx, { ldap: 'off', sso: 'off' });
    });

    t.test('twenty parallel uses of one code: exactly one wins', async (t) => {
      const bob = await dir.users.create(ctx, { username: 'bob', password: PW });
      const secret = await enrol(td, bob.id);
      await dir.policies.setMfaModes(ctx, { radius: 'required' });
      const code = totpCode(secret);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => dir.authenticate({ ...req(td, { username: 'bob', protocol: 'radius' }), credential: { kind: 'password', password: PW, otp: code } })),
      );
      t.equal(results.filter((r) => r.decision === 'allow').length, 1);
      await dir.policies.setMfaModes(ctx, { radius: 'off' });
    });

    t.test('verified-credential cache: skips argon2, dies with a password change or suspension', async (t) => {
      const carol = await dir.users.create(ctx, { username: 'carol', password: PW });
      const r = () => dir.authenticate(req(td, { username: 'carol' }));
      t.equal((await r()).decision, 'allow');
      // Count argon2 verifications while the cache answers.
      const hasher = dir.deps.hasher;
      const original = hasher.verify.bind(hasher);
      let argonCalls = 0;
      hasher.verify = (h, s) => (argonCalls++, original(h, s));
      t.teardown(() => void (hasher.verify = original));
      t.equal((await r()).decision, 'allow');
      t.equal(argonCalls, 0, 'the second login needed no argon2 verification');
      t.same(await dir.authenticate(req(td, { username: 'carol', password: 'Wrong-pass-1' })), { decision: 'deny', reason: 'invalid_password' }, 'a different secret is not a hit');
      await dir.users.setPassword(ctx, carol.id, 'Changed-horse-5');
      t.same(await r(), { decision: 'deny', reason: 'invalid_password' }, 'the old password stops working at once');
      t.equal((await dir.authenticate(req(td, { username: 'carol', password: 'Changed-horse-5' }))).decision, 'allow');
      await dir.users.setState(ctx, carol.id, 'suspended');
      t.same(await dir.authenticate(req(td, { username: 'carol', password: 'Changed-horse-5' })), { decision: 'deny', reason: 'suspended' });
    });

    t.test('the audit chain holds every decision', async (t) => {
      const v = await dir.audit.verify();
      t.ok(v.ok, `chain intact over ${v.checked} events`);
    });
  });
}

t.test('hashes made with old parameters are upgraded at the next login', async (t) => {
  const td = await testDirectory('sqlite');
  t.teardown(td.close);
  await td.dir.users.create(td.ctx, { username: 'dave', password: PW });
  const hashOf = async () => ((await td.dir.store('users').where({ username: 'dave' }).first()) as { password_hash: string }).password_hash;
  t.match(await hashOf(), /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  // A second instance on the same store with stronger parameters.
  const stronger = await openDirectory({ config: loadConfig({ env: {}, overrides: { ...td.config, passwords: { ...td.config.passwords, iterations: 3 } } }), log: testLogger() });
  t.teardown(() => stronger.close());
  t.equal((await stronger.authenticate(req(td, { username: 'dave' }))).decision, 'allow');
  t.match(await hashOf(), /^\$argon2id\$v=19\$m=19456,p=1,t=3\$/, 'rehashed with t=3');
  t.equal((await stronger.authenticate(req(td, { username: 'dave', password: 'Wrong-pass-1' }))).decision, 'deny');
});
