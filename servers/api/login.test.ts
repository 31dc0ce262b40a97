// Admin login (MFA, replay, lockout, rate limits, sessions), failed-credential limits, and the
// client address behind a trusted proxy or on a dual-stack listener, over real HTTPS.
import t from 'tap';
import { apiClient, startApi } from '../../test/helpers/api.js';
import { logLines } from '../../test/helpers/directory.js';

const P = '/api/v1';

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
  t.same(new Set(reasons.json.items.map((e: { reason: string }) => e.reason)), new Set(['mfa_required', 'invalid_password', 'unknown_admin', 'mfa_replayed']), 'every attempt is audited with its reason (a spent code as mfa_replayed)');
  // Turning admin MFA off is audited and logged loudly; then a password alone is enough.
  const off = await h.c.call('PATCH', `${P}/policies/mfa`, { token: h.admin.token, body: { mode: { admin: 'off' } } });
  t.equal(off.json.mode.admin, 'off');
  t.ok(logLines.some((l) => l.includes('MFA requirement weakened')), 'logged at warn');
  const offEv = await h.c.call('GET', `${P}/events?event_type=policy.mfa.updated`, { token: h.admin.token });
  t.same([offEv.json.items[0].changes.mode.from.admin, offEv.json.items[0].changes.mode.to.admin], ['required', 'off'], 'audited with the change');
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
