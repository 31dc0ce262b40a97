// The portal and the login flow's other branches, in headless Chromium: TOTP enrolment when
// policy requires it (QR + manual key, recovery codes), recovery-code sign-in, forced password
// change, self-service (password, SSH keys, recent sign-ins), CSRF, and key rotation.
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { CairnError, totpCode } from '../../core/index.js';
import { logLines } from '../../test/helpers/directory.js';
import { rotateOidcKeys } from './keys.js';
import { caFetch, launchBrowser, startCairn } from './testkit.js';

const PW = 'Singer-canary-91';
const NEW_PW = 'Second-canary-pw-92';
const DAVE_PW = 'Diver-is-canary-93';
const cairn = await startCairn();
t.teardown(() => cairn.stop());
const { dir, ctx } = cairn;
const fetchCa = caFetch(cairn.ca);
const staff = await dir.groups.create(ctx, { name: 'staff' });
const carol = await dir.users.create(ctx, { username: 'carol', displayName: 'Carol', email: 'carol@example.com', password: PW });
await dir.groups.addMember(ctx, staff.id, carol.id);
await dir.users.create(ctx, { username: 'dave', displayName: 'Dave', password: DAVE_PW, mustChangePassword: true });
await dir.sso.apps.create(ctx, { type: 'oidc', name: 'wiki', displayName: 'Team wiki', launchUrl: 'https://wiki.example.com/', groupIds: [staff.id], settings: { redirectUris: ['https://wiki.example.com/cb'] } });
await dir.policies.setMfaModes(ctx, { portal: 'required' });

const browser = await launchBrowser();
t.teardown(() => browser.close());
const page = await browser.newPage();
const submit = () => Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit] >> nth=0')]).then(([r]) => r);

async function signIn(username: string, password: string) {
  await page.goto(`${cairn.base}/sso/`);
  await page.fill('#username', username);
  await submit();
  await page.fill('#password', password);
  return submit();
}

let recovery: string[] = [];

t.test('TOTP enrolment is required before the portal opens', async (t) => {
  await signIn('carol', PW);
  const html = await page.content();
  t.match(html, /Scan this code/);
  t.match(html, /<img src="data:image\/png;base64,/, 'QR code inline (no external asset)');
  const key = (await page.locator('main code').first().textContent())!.replace(/\s/g, '');
  t.match(key, /^[A-Z2-7]{16,}$/, 'manual key shown');
  await page.fill('#otp', totpCode(key, Date.now() / 1000 - 30));
  await submit();
  recovery = (await page.locator('main li code').allTextContents()).map((c) => c.trim());
  t.equal(recovery.length, 10, 'ten recovery codes shown once');
  await submit();
  t.match(await page.content(), /Hello, Carol/);
  t.match(await page.content(), /href="https:\/\/wiki\.example\.com\/"[^>]*>Team wiki/);
  t.equal((await dir.users.get(cairn.org.id, carol.id)).totpEnrolled, true);
});

t.test('self-service: SSH key, password change, recent sign-ins', async (t) => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const line = `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} carol@laptop`;
  await page.fill('#publicKey', line);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/portal/ssh-keys"] button')]);
  t.match(await page.content(), /SSH key added/);
  t.equal((await dir.users.get(cairn.org.id, carol.id)).sshKeys.length, 1);

  await page.fill('#current', 'not-my-password');
  await page.fill('#newPassword', NEW_PW);
  await page.fill('#confirm', NEW_PW);
  const bad = await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/portal/password"] button')]).then(([r]) => r);
  t.equal(bad?.status(), 401);
  await page.fill('#current', PW);
  await page.fill('#newPassword', NEW_PW);
  await page.fill('#confirm', NEW_PW);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/portal/password"] button')]);
  t.match(await page.content(), /password was changed/);
  t.match(await page.content(), /portal\.login/, 'recent sign-ins listed');
  t.notMatch(await page.content(), /Your password expires/, 'a fresh password: no warning');
  // Five days before expiry (90-day policy, warning from 14 days), the portal says so.
  await dir.store('users').where({ id: carol.id }).update({ password_changed_at: Date.now() - 85 * 86400_000 - 3600_000 });
  await page.goto(`${cairn.base}/sso/`);
  t.match(await page.content(), /Your password expires in 4 days: change it below/);
  await dir.store('users').where({ id: carol.id }).update({ password_changed_at: Date.now() });
});

t.test('CSRF: a portal POST without the token is refused', async (t) => {
  const res = await page.request.post(`${cairn.base}/sso/portal/totp/reset`, { form: { csrf: 'forged' } });
  t.equal(res.status(), 403);
  t.equal((await dir.users.get(cairn.org.id, carol.id)).totpEnrolled, true);
  const headers = res.headers();
  t.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
  t.equal(headers['x-frame-options'], 'DENY');
});

t.test('sign out, then sign in with a recovery code (used once)', async (t) => {
  await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/logout"] button')]);
  t.match(await page.content(), /signed out/);
  const [out] = await dir.audit.list({ orgId: cairn.org.id, eventType: 'sso.logout', limit: 1, order: 'desc' });
  t.same([out?.initiatedBy.id, out?.changes], [(await dir.users.findByUsername(cairn.org.id, 'carol'))!.id, { via: 'portal' }], 'signing out is audited');
  await signIn('carol', NEW_PW);
  t.ok(await page.locator('#otp').count(), 'asked for the second factor');
  await page.fill('#otp', recovery[0]!);
  await submit();
  t.match(await page.content(), /Hello, Carol/);
  const cookies = await browser.cookies(cairn.base);
  const sso = cookies.find((c) => c.name === '__Host-cairn_sso');
  t.ok(sso && sso.secure && sso.httpOnly && sso.sameSite === 'Lax', 'session cookie Secure, HttpOnly, SameSite');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/logout"] button')]);
  await signIn('carol', NEW_PW);
  await page.fill('#otp', recovery[0]!);
  const again = await submit();
  t.equal(again?.status(), 401, 'the same recovery code does not work twice');
});

t.test('a forced password change on sign-in', async (t) => {
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const p = await ctx2.newPage();
  await p.goto(`${cairn.base}/sso/`);
  await p.fill('#username', 'dave');
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  await p.fill('#password', DAVE_PW);
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  t.match(await p.content(), /must be changed/);
  await p.fill('#newPassword', 'short');
  await p.fill('#confirm', 'short');
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  t.match(await p.content(), /policy/, 'the policy is enforced and explained');
  await p.fill('#newPassword', 'Diver-new-canary-94');
  await p.fill('#confirm', 'Diver-new-canary-94');
  await Promise.all([p.waitForNavigation().catch(() => null), p.click('button[type=submit]')]);
  t.match(await p.content(), /Password changed/);
  await p.fill('#password', 'Diver-new-canary-94');
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  t.match(await p.content(), /Scan this code/, 'then MFA enrolment (portal requires MFA)');
});

t.test('OIDC signing key rotation: the old key stays published', async (t) => {
  const before = (await (await fetchCa(`${cairn.base}/oidc/jwks`)).json()) as { keys: Array<{ kid: string; d?: string }> };
  t.equal(before.keys.length, 1);
  t.notOk(before.keys[0]!.d, 'no private part published');
  const { kid } = await rotateOidcKeys(dir, ctx);
  await new Promise((r) => setTimeout(r, 500));
  const after = (await (await fetchCa(`${cairn.base}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> };
  t.same(after.keys.map((k) => k.kid).sort(), [kid, before.keys[0]!.kid].sort());
  t.equal(after.keys[0]!.kid, kid, 'the new key signs');
});

t.test('an idle session ends', async (t) => {
  await signIn('carol', NEW_PW);
  await page.fill('#otp', recovery[1]!);
  await submit();
  t.match(await page.content(), /Hello, Carol/);
  // Pretend the last use was two hours ago (the SSO session policy's idle timeout defaults to 60 minutes).
  const rows = await dir.store('sso_store').where({ model: 'CairnSession', account_id: carol.id });
  for (const r of rows as Array<{ id: string; payload: string }>) {
    const p = JSON.parse(r.payload);
    p.lastSeen = Date.now() - 2 * 3600_000;
    await dir.store('sso_store').where({ model: 'CairnSession', id: r.id }).update({ payload: JSON.stringify(p) });
  }
  await page.goto(`${cairn.base}/sso/`);
  t.ok(await page.locator('#username').count(), 'asked to sign in again');
});

t.test('lockout through the login page: the right password is refused once locked, with the same words', async (t) => {
  await dir.users.create(ctx, { username: 'erin', displayName: 'Erin', password: 'Painter-canary-95' });
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const p = await ctx2.newPage();
  await p.goto(`${cairn.base}/sso/`);
  await p.fill('#username', 'erin');
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  for (let i = 0; i < 6; i++) {
    await p.fill('#password', `wrong-guess-${i}`);
    await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  }
  const wrong = await p.locator('.err').textContent();
  await p.fill('#password', 'Painter-canary-95');
  const [res] = await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  t.equal(res?.status(), 401, 'locked: refused');
  t.equal(await p.locator('.err').textContent(), wrong, 'same message as a wrong password');
  const events = await dir.audit.list({ orgId: cairn.org.id, eventType: 'portal.login', success: false, limit: 20, order: 'desc' });
  t.equal(events[0]?.reason, 'locked', 'the audit trail has the real reason');
});

t.test('store unavailable: 503 and temporarily_unavailable, never a refusal of the user', async (t) => {
  const store = dir.sso.store;
  const orig = store.find.bind(store);
  const origAuth = dir.authenticate.bind(dir);
  const down = async (): Promise<never> => {
    throw new CairnError('unavailable', 'directory store unavailable');
  };
  const apps = dir.sso.apps;
  const origApp = apps.findByExternalId.bind(apps);
  store.find = down;
  apps.findByExternalId = down;
  (dir as { authenticate: unknown }).authenticate = down;
  t.teardown(() => {
    store.find = orig;
    apps.findByExternalId = origApp;
    (dir as { authenticate: unknown }).authenticate = origAuth;
  });
  const tok = await fetchCa(`${cairn.base}/oidc/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'y' }) });
  t.equal(tok.status, 503);
  t.equal((await tok.json()).error, 'temporarily_unavailable');
  const p = await browser.newPage();
  await p.goto(`${cairn.base}/sso/login/restart`).catch(() => null);
  const res = await p.goto(`${cairn.base}/sso/`);
  if (res?.status() !== 503) t.comment((await p.content()).slice(0, 500));
  t.equal(res?.status(), 503, 'the portal says unavailable');
  t.match(await p.content(), /temporarily unavailable/i);
  await p.close();
});

t.test('no password, recovery code or key in any log line', async (t) => {
  const all = logLines.join('\n');
  for (const secret of [PW, NEW_PW, DAVE_PW, 'Diver-new-canary-94', ...recovery]) t.notOk(all.includes(secret), 'secret absent from logs');
});
