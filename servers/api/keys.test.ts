// API keys against theft: the lifecycle the issue names, over real HTTPS (admin login: login.test.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { totpCode } from '../../core/index.js';
import { loginWithEnrollment, startApi } from '../../test/helpers/api.js';
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
    // The secret is the last 43 characters (base64url: it may itself contain '_').
    t.notOk(JSON.stringify(seen.json).includes(k1.secret.slice(-43)), 'the secret is never returned again');
    const list = await h.c.call('GET', `${P}/api-keys`, { token: A });
    t.notOk(list.text.includes(k1.secret.slice(-43)), 'not in the list either');
    const row = await h.s.dir.store('api_keys').where({ id: k1.key.id }).first();
    t.match(row.secret_hmac, /^[0-9a-f]{64}$/, 'only an HMAC is stored');
    t.notOk(JSON.stringify(row).includes(k1.secret.slice(-43)), 'the secret is not in the database');

    // rotated: both work during the overlap, the old one stops after
    // Short windows (12 s) so that the test can watch them end; generous enough for a loaded machine.
    const short = await mk({ expiresInDays: 12 / 86400 });
    t.equal((await h.c.call('GET', `${P}/users`, { token: short.secret })).status, 200, 'a short-lived key works before its expiry');
    const rot = await h.c.call('POST', `${P}/api-keys/${k1.key.id}/rotate`, { token: A, body: { overlapHours: 12 / 3600 } });
    t.equal(rot.status, 200);
    t.equal(rot.json.previous.status, 'rotated');
    t.equal(rot.json.previous.replacedBy, rot.json.key.id);
    const k2 = rot.json.secret as string;
    t.not(k2, k1.secret);
    t.equal((await h.c.call('GET', `${P}/users`, { token: k1.secret })).status, 200, 'old key works during the overlap');
    t.equal((await h.c.call('GET', `${P}/users`, { token: k2 })).status, 200, 'new key works');
    t.equal((await h.c.call('POST', `${P}/api-keys/${k1.key.id}/rotate`, { token: A, body: {} })).status, 409, 'a rotated key cannot be rotated again');
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
    // Exactly one wins; the others are refused (409, or 503 if a loaded machine starves the store).
    t.equal(racing.filter((r) => r.status === 200).length, 1, 'concurrent rotations: exactly one successor');
    t.ok(racing.every((r) => r.status === 200 || r.status === 409 || r.status === 503), racing.map((r) => r.status).join(','));
    t.equal((await h.s.dir.store('api_keys').where({ rotated_from: k3.key.id })).length, 1, 'one successor in the store');
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
