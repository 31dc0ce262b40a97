// API keys against theft, and admin login: the lifecycle the issue names, over real HTTPS.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { totpCode } from '../../core/index.js';
import { apiClient, loginWithEnrollment, startApi } from '../../test/helpers/api.js';
import { backends, logLines } from '../../test/helpers/directory.js';

const P = '/api/v1';

for (const backend of backends) {
  t.test(`key lifecycle on ${backend}`, async (t) => {
    const h = await startApi(backend);
    t.teardown(h.stop);
    const A = h.admin.token;
    const mk = async (body: Record<string, unknown>) => {
      const r = await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'integration', role: 'manager', ...body } });
      t.equal(r.status, 201, `created ${JSON.stringify(body)}`);
      return r.json as { key: { id: string; publicId: string; expiresAt: string }; secret: string };
    };

    // created → used
    const k1 = await mk({});
    t.match(k1.secret, /^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    t.equal(k1.key.publicId, k1.secret.split('_')[1]);
    const days = (Date.parse(k1.key.expiresAt) - Date.now()) / 86400_000;
    t.ok(days > 89.9 && days <= 90, 'default expiry is 90 days');
    t.equal((await h.c.call('GET', `${P}/users`, { token: k1.secret })).status, 200, 'the key works');
    const seen = await h.c.call('GET', `${P}/api-keys/${k1.key.id}`, { token: A });
    t.ok(seen.json.lastUsedAt, 'last_used_at recorded');
    t.equal(seen.json.lastUsedIp, '127.0.0.1', 'last_used_ip recorded');
    t.notOk(JSON.stringify(seen.json).includes(k1.secret.split('_')[2]!), 'the secret is never returned again');
    const list = await h.c.call('GET', `${P}/api-keys`, { token: A });
    t.notOk(list.text.includes(k1.secret.split('_')[2]!), 'not in the list either');
    const row = await h.s.dir.store('api_keys').where({ id: k1.key.id }).first();
    t.match(row.secret_hmac, /^[0-9a-f]{64}$/, 'only an HMAC is stored');
    t.notOk(JSON.stringify(row).includes(k1.secret.split('_')[2]!), 'the secret is not in the database');

    // rotated: both work during the overlap, the old one stops after
    const rot = await h.c.call('POST', `${P}/api-keys/${k1.key.id}/rotate`, { token: A, body: { overlapHours: 6 / 3600 } });
    t.equal(rot.status, 200);
    t.equal(rot.json.previous.status, 'rotated');
    t.equal(rot.json.previous.replacedBy, rot.json.key.id);
    const k2 = rot.json.secret as string;
    t.not(k2, k1.secret);
    t.equal((await h.c.call('GET', `${P}/users`, { token: k1.secret })).status, 200, 'old key works during the overlap');
    t.equal((await h.c.call('GET', `${P}/users`, { token: k2 })).status, 200, 'new key works');
    t.equal((await h.c.call('POST', `${P}/api-keys/${k1.key.id}/rotate`, { token: A, body: {} })).status, 409, 'a rotated key cannot be rotated again');
    const short = await mk({ expiresInDays: 6 / 86400 }); // expires in 6 s
    t.equal((await h.c.call('GET', `${P}/users`, { token: short.secret })).status, 200);
    // Wait for the real clock to pass both ends (no time travel in the store).
    await sleep(Math.max(Date.parse(rot.json.previous.expiresAt), Date.parse(short.key.expiresAt)) - Date.now() + 300);
    t.equal((await h.c.call('GET', `${P}/users`, { token: k1.secret })).status, 401, 'old key stops after the overlap');
    t.equal((await h.c.call('GET', `${P}/users`, { token: k2 })).status, 200, 'successor still works');
    t.equal((await h.c.call('GET', `${P}/users`, { token: short.secret })).status, 401, 'expired key → 401');

    // revoked → 401
    t.equal((await h.c.call('DELETE', `${P}/api-keys/${rot.json.key.id}`, { token: A })).json.status, 'revoked');
    const after = await h.c.call('GET', `${P}/users`, { token: k2 });
    t.equal(after.status, 401, 'revoked key → 401');
    t.notOk(/revok|expir/i.test(after.text), 'the 401 does not say why');
    const fails = await h.c.call('GET', `${P}/events?event_type=api_key.auth_failed&limit=10`, { token: A });
    t.same(fails.json.items.map((e: { reason: string }) => e.reason).sort(), ['expired', 'expired', 'revoked'], 'the audit trail knows why');

    // a wrong secret for a real public id, and malformed keys → 401
    const k3 = await mk({});
    const racing = await Promise.all(Array.from({ length: 5 }, () => h.c.call('POST', `${P}/api-keys/${k3.key.id}/rotate`, { token: A, body: {} })));
    t.same(racing.map((r) => r.status).sort(), [200, 409, 409, 409, 409], 'concurrent rotations: exactly one successor');
    const wrong = k3.secret.slice(0, -4) + (k3.secret.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    t.equal((await h.c.call('GET', `${P}/users`, { token: wrong })).status, 401, 'wrong secret');
    for (const bad of ['cairn_', k3.secret + 'x', k3.secret.toUpperCase(), 'cairn_zzzz_abc', k3.secret.replace('cairn_', 'cairn-')]) {
      t.equal((await h.c.call('GET', `${P}/users`, { token: bad })).status, 401, 'malformed key');
    }

    // IP allow-list judged on the peer: 127.0.0.1 is outside 10/8; forwarded headers are ignored
    // because no trusted proxy is configured.
    const fenced = await mk({ allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'] });
    t.equal((await h.c.call('GET', `${P}/users`, { token: fenced.secret })).status, 401, 'outside the allow-list → 401');
    t.equal((await h.c.call('GET', `${P}/users`, { token: fenced.secret, headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 401, 'X-Forwarded-For from an untrusted peer is ignored');
    const home = await mk({ allowedCidrs: ['127.0.0.0/8'] });
    t.equal((await h.c.call('GET', `${P}/users`, { token: home.secret })).status, 200, 'inside the allow-list');
    t.equal((await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'x', role: 'manager', allowedCidrs: ['10.0.0.300/8'] } })).json.field, 'allowedCidrs');
    t.equal((await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'x', role: 'manager', expiresInDays: 400 } })).json.field, 'expiresInDays', 'expiry is capped by api.keyMaxDays');

    // scopes narrow the role; the owner's current role caps the key; an inactive owner ends it
    const scoped = await mk({ scopes: ['users.read'] });
    t.equal((await h.c.call('GET', `${P}/users`, { token: scoped.secret })).status, 200);
    t.equal((await h.c.call('POST', `${P}/users`, { token: scoped.secret, body: { username: 'x1' } })).status, 403, 'scope excludes users.write');
    const owner = await h.s.dir.admins.create(h.s.ctx, { username: 'ops-lead', role: 'manager', password: 'Ops-lead-password-1' });
    t.equal((await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'x', role: 'administrator', ownerAdminId: owner.id } })).status, 422, 'a manager cannot own an administrator key');
    const owned = await mk({ ownerAdminId: owner.id });
    t.equal((await h.c.call('POST', `${P}/users`, { token: owned.secret, body: { username: 'made-by-key' } })).status, 201);
    await h.c.call('PATCH', `${P}/admins/${owner.id}`, { token: A, body: { role: 'read_only' } });
    t.equal((await h.c.call('POST', `${P}/users`, { token: owned.secret, body: { username: 'x2' } })).status, 403, 'owner demoted: the key shrinks with them');
    t.equal((await h.c.call('GET', `${P}/users`, { token: owned.secret })).status, 200);
    await h.c.call('PATCH', `${P}/admins/${owner.id}`, { token: A, body: { state: 'suspended' } });
    t.equal((await h.c.call('GET', `${P}/users`, { token: owned.secret })).status, 401, 'owner suspended: the key stops');

    // revoke-all: Administrator session + a fresh TOTP code, never a key
    const mgr = await h.s.dir.admins.create(h.s.ctx, { username: 'mgr', role: 'manager', password: 'Manager-password-1' });
    void mgr;
    const mgrSession = (await loginWithEnrollment(h.c, 'mgr', 'Manager-password-1')).token;
    const adminKey = (await mk({ role: 'administrator' })).secret;
    const confirm = 'revoke every API key';
    t.equal((await h.c.call('POST', `${P}/api-keys/revoke-all`, { token: adminKey, body: { otp: '000000', confirm } })).status, 403, 'not with a key');
    t.equal((await h.c.call('POST', `${P}/api-keys/revoke-all`, { token: mgrSession, body: { otp: '000000', confirm } })).status, 403, 'not as a manager');
    t.equal((await h.c.call('POST', `${P}/api-keys/revoke-all`, { token: A, body: { otp: '000000', confirm } })).status, 403, 'not without a valid code');
    t.equal((await h.c.call('POST', `${P}/api-keys/revoke-all`, { token: A, body: { otp: totpCode(h.admin.totpSecret) } })).status, 400, 'the confirmation phrase is required');
    // The enrolment used this 30-second step's code; a step-up needs a code not used before, so
    // let the stored step fall back one (as if the next step had come).
    await h.s.dir.store('admins').where({ id: h.admin.adminId }).update({ totp_last_step: Math.floor(Date.now() / 30000) - 1 });
    const ra = await h.c.call('POST', `${P}/api-keys/revoke-all`, { token: A, body: { otp: totpCode(h.admin.totpSecret), confirm } });
    t.equal(ra.status, 200);
    t.ok(ra.json.revoked >= 3, `${ra.json.revoked} keys revoked`);
    t.equal((await h.c.call('GET', `${P}/users`, { token: adminKey })).status, 401, 'every key stops');
    t.equal((await h.c.call('GET', `${P}/users`, { token: home.secret })).status, 401);
    const ev = await h.c.call('GET', `${P}/events?event_type=api_key.revoked_all`, { token: A });
    t.same(ev.json.items.map((e: { success: boolean }) => e.success), [true, false], 'both the refused and the done revoke-all are audited');
    t.ok(logLines.some((l) => l.includes('EVERY API key')), 'and loudly logged');
    const secrets = [k1.secret, k2, home.secret, adminKey, h.admin.totpSecret, 'Bootstrap-admin-pw-1', 'Manager-password-1'];
    for (const sec of secrets) t.notOk(logLines.some((l) => l.includes(sec)), 'no secret in any log line');
  });
}

t.test('admin login: MFA, lockout, rate limit, sessions', async (t) => {
  const h = await startApi('sqlite', { api: { loginPerMinute: 14 } });
  t.teardown(h.stop);
  const login = (body: Record<string, unknown>) => h.c.call('POST', `${P}/auth/login`, { body });
  const okPw = 'Bootstrap-admin-pw-1';
  // MFA is on for admins by default: the right password alone is refused like a wrong one.
  const noOtp = await login({ username: 'admin', password: okPw });
  const wrongPw = await login({ username: 'admin', password: 'Nope-nope-nope-1', otp: '123456' });
  const unknown = await login({ username: 'nobody', password: okPw });
  t.same([noOtp.status, wrongPw.status, unknown.status], [401, 401, 401]);
  const strip = (s: string) => s.replace(/"instance":"[^"]*"/, '');
  t.equal(strip(noOtp.text), strip(unknown.text), 'same answer whatever the reason');
  // Replay: the code used at enrolment is spent.
  // (The very code used at enrolment: a fresh one could belong to a later 30-second step.)
  t.equal((await login({ username: 'admin', password: okPw, otp: h.admin.usedCode })).status, 401, 'a TOTP code is accepted once');
  const reasons = await h.c.call('GET', `${P}/events?event_type=admin.login&success=false&limit=20`, { token: h.admin.token });
  t.same(new Set(reasons.json.items.map((e: { reason: string }) => e.reason)), new Set(['mfa_required', 'invalid_password', 'unknown_admin', 'mfa_invalid']), 'every attempt is audited with its reason');
  // Turning admin MFA off is audited and logged loudly; then a password alone is enough.
  const off = await h.c.call('PATCH', `${P}/policies/mfa`, { token: h.admin.token, body: { required: { admin: false } } });
  t.equal(off.json.required.admin, false);
  t.ok(logLines.some((l) => l.includes('MFA requirement turned OFF')), 'logged at warn');
  const offEv = await h.c.call('GET', `${P}/events?event_type=policy.mfa.updated`, { token: h.admin.token });
  t.same([offEv.json.items[0].changes.required.from.admin, offEv.json.items[0].changes.required.to.admin], [true, false], 'audited with the change');
  const pwOnly = await login({ username: 'admin', password: okPw });
  t.equal(pwOnly.status, 200, 'with admin MFA off, a password alone logs in');
  // Lockout: the policy threshold (6) of failures from one address locks that (admin, address).
  for (let i = 0; i < 6; i++) await login({ username: 'admin', password: `Wrong-password-${i}` });
  const locked = await login({ username: 'admin', password: okPw });
  t.equal(locked.status, 401, 'locked after the threshold, even with the right password');
  const lockEv = await h.c.call('GET', `${P}/events?event_type=admin.locked`, { token: h.admin.token });
  t.equal(lockEv.json.items.length, 1, 'the lock is audited');
  // Rate limit per address (14/min here): login, enrolment confirm, and 12 attempts so far.
  const limited = await login({ username: 'admin', password: 'x' });
  t.equal(limited.status, 429);
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After');
  t.equal(limited.json.type, 'urn:cairn:problem:rate_limited');
  // Sessions: logout ends one; an expired one is refused.
  t.equal((await h.c.call('POST', `${P}/auth/logout`, { token: h.admin.token })).status, 204);
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: h.admin.token })).status, 401, 'logged out');
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: pwOnly.json.token })).status, 200);
  await h.s.dir.store('admin_sessions').update({ last_seen_at: Date.now() - 14 * 60_000 });
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: pwOnly.json.token })).status, 200, 'used within the idle timeout (15 min): alive, and seen again');
  t.ok(Number((await h.s.dir.store('admin_sessions').first()).last_seen_at) > Date.now() - 60_000, 'last_seen_at moved');
  await h.s.dir.store('admin_sessions').update({ last_seen_at: Date.now() - 16 * 60_000 });
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: pwOnly.json.token })).status, 401, 'idle too long');
  // (This address is locked and rate limited by now: log in through the core from another.)
  const fresh = await h.s.dir.admins.login(h.s.org.id, { username: 'admin', password: okPw }, '192.0.2.50');
  if (fresh.status !== 'ok') throw new Error('login failed');
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: fresh.token })).status, 200);
  await h.s.dir.store('admin_sessions').update({ expires_at: Date.now() - 1 });
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: fresh.token })).status, 401, 'expired session (absolute lifetime)');
});

t.test('failed credentials per address are limited without locking out valid ones', async (t) => {
  const h = await startApi('sqlite', { api: { failedAuthPerMinute: 5 } });
  t.teardown(h.stop);
  const key = (await h.c.call('POST', `${P}/api-keys`, { token: h.admin.token, body: { name: 'k', role: 'read_only' } })).json;
  const wrong = key.secret.slice(0, -1) + (key.secret.endsWith('A') ? 'B' : 'A');
  const codes: number[] = [];
  for (let i = 0; i < 8; i++) codes.push((await h.c.call('GET', `${P}/users`, { token: wrong })).status);
  t.same(codes, [401, 401, 401, 401, 401, 429, 429, 429]);
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret })).status, 200, 'a valid key from the same address still works');
  const failures = await h.s.dir.audit.list({ eventType: 'api_key.auth_failed', limit: 100 });
  t.equal(failures.length, 5, 'failures past the limit are not audited one by one');
  t.ok(logLines.some((l) => l.includes('too many failed API authentications')), 'a warning says so');
});

t.test('trusted proxy and IPv4-mapped peers', async (t) => {
  const h = await startApi('sqlite', { listenHost: '::', api: { trustedProxies: ['127.0.0.1/32'] } });
  t.teardown(h.stop);
  const A = h.admin.token;
  const key = (await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'behind-proxy', role: 'read_only', allowedCidrs: ['203.0.113.0/24'] } })).json;
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret })).status, 401, 'the proxy itself is not in the list');
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret, headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 200, 'the forwarded client is, via a trusted proxy');
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret, headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' } })).status, 401, 'the right-most untrusted hop counts, not what the client wrote first');
  const seen = await h.c.call('GET', `${P}/api-keys/${key.key.id}`, { token: A });
  t.equal(seen.json.lastUsedIp, '203.0.113.9');
  // The dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1; it is judged as 127.0.0.1.
  const local = (await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'local', role: 'read_only', allowedCidrs: ['127.0.0.1/32'] } })).json;
  t.equal((await h.c.call('GET', `${P}/users`, { token: local.secret })).status, 200, '::ffff:127.0.0.1 matches 127.0.0.1/32');
  const ev = await h.c.call('GET', `${P}/events?limit=1`, { token: A });
  t.equal(ev.json.items[0].client_ip, '127.0.0.1', 'the audit trail records the normalised address');
  // Over IPv6 loopback, if the machine has it.
  const v6 = apiClient({ url: h.c.base.replace('127.0.0.1', '[::1]'), caFile: h.s.caFile });
  t.teardown(() => v6.close());
  const r6 = await v6.call('GET', `${P}/users`, { token: local.secret }).catch(() => null);
  if (r6) t.equal(r6.status, 401, '::1 is not 127.0.0.1/32');
});
