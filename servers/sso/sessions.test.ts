// SSO sessions against the user's current credentials and state, in headless Chromium with
// openid-client as the relying party: a password or TOTP change ends the user's other sessions
// and refresh tokens (the browser that made it carries on).
import { createServer as createHttpServer } from 'node:http';
import t from 'tap';
import * as client from 'openid-client';
import type { BrowserContext, Page } from 'playwright-core';
import { totpCode } from '../../core/index.js';
import { caFetch, launchChromium, startCairn } from './testkit.js';

// The relying party's callback: a loopback server that records what arrives (a browser route
// would not see the redirect to it).
const callbacks: string[] = [];
const rp = createHttpServer((req, res) => {
  callbacks.push(`${RP}${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain' }).end('rp');
});
await new Promise<void>((r) => rp.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => rp.close(() => r())));
const RP = `http://127.0.0.1:${(rp.address() as { port: number }).port}`;
const REDIRECT = `${RP}/cb`;
const PW = 'Winter-canary-pw-51';
const NEW_PW = 'Summer-canary-pw-52';
const THIRD_PW = 'Autumn-canary-pw-53';

const cairn = await startCairn();
t.teardown(() => cairn.stop());
const { dir, ctx } = cairn;
const staff = await dir.groups.create(ctx, { name: 'staff' });
const erin = await dir.users.create(ctx, { username: 'erin', displayName: 'Erin', email: 'erin@example.com', password: PW });
await dir.groups.addMember(ctx, staff.id, erin.id);
const FRANK_PW = 'Keeper-canary-pw-61';
const frank = await dir.users.create(ctx, { username: 'frank', displayName: 'Frank', password: FRANK_PW });
await dir.groups.addMember(ctx, staff.id, frank.id);
const { app, clientSecret } = await dir.sso.apps.create(ctx, {
  type: 'oidc', name: 'wiki', displayName: 'Team wiki', groupIds: [staff.id], settings: { clientType: 'confidential', redirectUris: [REDIRECT] },
});
if (app.type !== 'oidc' || !clientSecret) throw new Error('setup');
const fetchCa = caFetch(cairn.ca);
const config = await client.discovery(new URL(`${cairn.base}/oidc`), app.settings.clientId, clientSecret, client.ClientSecretBasic(clientSecret), {
  [client.customFetch]: fetchCa as never,
} as client.DiscoveryRequestOptions);
config[client.customFetch] = fetchCa as never;

const chromium = await launchChromium();
t.teardown(() => chromium.close());

/** A separate browser: its own cookies. */
async function newBrowser(): Promise<{ ctx: BrowserContext; page: Page }> {
  const bctx = await chromium.newContext();
  return { ctx: bctx, page: await bctx.newPage() };
}

const click = (page: Page, selector: string) => Promise.all([page.waitForNavigation().catch(() => null), page.click(selector)]).then(([r]) => r);

async function signInPortal(page: Page, password: string, username = 'erin'): Promise<void> {
  await page.goto(`${cairn.base}/sso/`);
  await page.fill('#username', username);
  await click(page, 'button[type=submit]');
  await page.fill('#password', password);
  await click(page, 'button[type=submit]');
}

/** Authorization code + PKCE in a browser that is already signed in to Cairn (no form shown). */
async function silentTokens(b: { page: Page }) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid profile offline_access', prompt: 'consent', state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  await b.page.goto(url.href);
  const callback = callbacks.find((c) => new URL(c).searchParams.get('state') === state);
  return callback ? client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }) : null;
}

const storeRows = async (model: string) =>
  Number(((await dir.store('sso_store').where({ account_id: erin.id, model }).count({ n: '*' }))[0] as { n: number }).n);

/** The revocation follows the change feed: wait until only `n` portal sessions are left. */
async function untilSessions(n: number): Promise<number> {
  for (let i = 0; i < 100 && (await storeRows('CairnSession')) !== n; i++) await new Promise((r) => setTimeout(r, 100));
  return storeRows('CairnSession');
}

t.test('a password change ends the other sessions and every refresh token; the changing session stays', async (t) => {
  const a = await newBrowser();
  const b = await newBrowser();
  t.teardown(() => Promise.all([a.ctx.close(), b.ctx.close()]));
  await signInPortal(a.page, PW);
  await signInPortal(b.page, PW);
  t.match(await b.page.content(), /Hello, Erin/);
  const fromA = await silentTokens(a);
  const fromB = await silentTokens(b);
  t.ok(fromA?.refresh_token && fromB?.refresh_token, 'both browsers got tokens without a form');

  await a.page.goto(`${cairn.base}/sso/`);
  await a.page.fill('#current', PW);
  await a.page.fill('#newPassword', NEW_PW);
  await a.page.fill('#confirm', NEW_PW);
  await click(a.page, 'form[action="/sso/portal/password"] button');
  t.match(await a.page.content(), /password was changed/);
  t.equal(await untilSessions(1), 1, 'one portal session left');

  await b.page.goto(`${cairn.base}/sso/`);
  t.ok(await b.page.locator('#username').count(), 'the other browser is sent to the login page');
  t.equal(await silentTokens(b), null, 'and gets no code without signing in again');
  await a.page.goto(`${cairn.base}/sso/`);
  t.match(await a.page.content(), /Hello, Erin/, 'the browser that changed the password is still signed in');
  for (const rt of [fromA!.refresh_token!, fromB!.refresh_token!]) {
    await t.rejects(client.refreshTokenGrant(config, rt), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'refresh token from before refused');
  }
  t.ok((await silentTokens(a))?.access_token, 'the remaining session still signs in to apps');
});

t.test('a password reset by an administrator (core, as the API and CLI do) ends every session', async (t) => {
  const a = await newBrowser();
  t.teardown(() => a.ctx.close());
  await signInPortal(a.page, NEW_PW);
  t.match(await a.page.content(), /Hello, Erin/);
  await dir.users.setPassword(ctx, erin.id, THIRD_PW);
  t.equal(await untilSessions(0), 0);
  await a.page.goto(`${cairn.base}/sso/`);
  t.ok(await a.page.locator('#username').count(), 'sent to the login page');
});

const userinfoStatus = (accessToken: string) =>
  client.fetchUserInfo(config, accessToken, frank.id).then(() => 200, (err: { status?: number }) => err.status);

t.test('introspection and userinfo re-check the user now: suspended, locked, deleted', async (t) => {
  const b = await newBrowser();
  t.teardown(() => b.ctx.close());
  await signInPortal(b.page, FRANK_PW, 'frank');
  // Another instance (or the CLI) changed the row: this process has not heard of it yet, so
  // nothing was revoked; the check on use decides.
  for (const state of ['suspended', 'locked'] as const) {
    await dir.store('users').where({ id: frank.id }).update({ state: 'active' });
    const tk = await silentTokens(b);
    t.equal((await client.tokenIntrospection(config, tk!.access_token)).active, true, `active before (${state})`);
    await dir.store('users').where({ id: frank.id }).update({ state });
    t.same(await client.tokenIntrospection(config, tk!.access_token), { active: false }, `${state}: access token inactive`);
    t.same(await client.tokenIntrospection(config, tk!.refresh_token!), { active: false }, `${state}: refresh token inactive`);
    t.equal(await userinfoStatus(tk!.access_token), 401, `${state}: userinfo 401`);
  }
  await dir.store('users').where({ id: frank.id }).update({ state: 'active' });
  const tk = await silentTokens(b);
  await dir.users.delete(ctx, frank.id);
  t.same(await client.tokenIntrospection(config, tk!.access_token), { active: false }, 'deleted: access token inactive');
  t.equal(await userinfoStatus(tk!.access_token), 401, 'deleted: userinfo 401');
});

t.test('replacing or removing TOTP in the portal asks for the password again (step-up)', async (t) => {
  const { secret } = await dir.users.beginTotp(ctx, erin.id);
  await dir.users.confirmTotp(ctx, erin.id, totpCode(secret, Date.now() / 1000 - 30));
  const a = await newBrowser();
  const b = await newBrowser();
  t.teardown(() => Promise.all([a.ctx.close(), b.ctx.close()]));
  await signInPortal(a.page, THIRD_PW);
  await signInPortal(b.page, THIRD_PW);
  t.match(await a.page.content(), /To replace or remove it, confirm your password/);

  for (const [button, purpose] of [['Replace authenticator', 'totp_replace'], ['Remove the authenticator and recovery codes', 'totp_remove']]) {
    await a.page.fill('#totpPassword', 'not-my-password');
    const res = await click(a.page, `button:has-text("${button}")`);
    t.equal(res?.status(), 401, `${purpose}: wrong password refused`);
    t.match(await a.page.content(), /current password is not correct/);
    t.notMatch(await a.page.content(), /Set up your authenticator/, 'no new seed shown');
    t.equal((await dir.users.get(cairn.org.id, erin.id)).totpEnrolled, true, 'the authenticator is unchanged');
    const [ev] = await dir.audit.list({ orgId: cairn.org.id, eventType: 'portal.login', success: false, actorId: erin.id, limit: 1, order: 'desc' });
    t.equal(ev?.changes?.purpose, purpose, 'the refused step-up is audited with its purpose');
  }
  const forged = await a.page.request.post(`${cairn.base}/sso/portal/totp/reset`, { form: { csrf: await a.page.locator('input[name=csrf]').first().inputValue() } });
  t.equal(forged.status(), 401, 'no password, no removal');
  t.equal((await dir.users.get(cairn.org.id, erin.id)).totpEnrolled, true);

  await a.page.fill('#totpPassword', THIRD_PW);
  await click(a.page, 'button:has-text("Remove the authenticator")');
  t.match(await a.page.content(), /authenticator was removed/);
  t.equal((await dir.users.get(cairn.org.id, erin.id)).totpEnrolled, false);
  t.equal(await untilSessions(1), 1, 'removing the factor ended the other session');
  await b.page.goto(`${cairn.base}/sso/`);
  t.ok(await b.page.locator('#username').count(), 'the other browser is sent to the login page');
});

t.test('session idle timeout and lifetime come from the org SSO session policy', async (t) => {
  const a = await newBrowser();
  t.teardown(() => a.ctx.close());
  await signInPortal(a.page, THIRD_PW);
  /** Pretend the last use (and the sign-in) were this many minutes ago. */
  const backdate = async (field: 'lastSeen' | 'authTime', minutes: number) => {
    for (const r of (await dir.store('sso_store').where({ model: 'CairnSession', account_id: erin.id })) as Array<{ id: string; payload: string }>) {
      const p = JSON.parse(r.payload);
      p[field] = Date.now() - minutes * 60_000;
      await dir.store('sso_store').where({ model: 'CairnSession', id: r.id }).update({ payload: JSON.stringify(p) });
    }
  };
  await backdate('lastSeen', 3);
  await a.page.goto(`${cairn.base}/sso/`);
  t.match(await a.page.content(), /Hello, Erin/, 'idle 3 minutes: within the default 60');
  await dir.policies.setSsoSessionPolicy(ctx, { idleMinutes: 2 });
  await backdate('lastSeen', 3);
  await a.page.goto(`${cairn.base}/sso/`);
  t.ok(await a.page.locator('#username').count(), 'idle 3 minutes under a 2-minute policy: sent to the login page');

  await signInPortal(a.page, THIRD_PW);
  await dir.policies.setSsoSessionPolicy(ctx, { maxAgeMinutes: 10 });
  await backdate('authTime', 11);
  await a.page.goto(`${cairn.base}/sso/`);
  t.ok(await a.page.locator('#username').count(), 'signed in 11 minutes ago under a 10-minute lifetime: sent to the login page');
});

t.test('"sign out everywhere else" in the portal ends the other sessions and every refresh token', async (t) => {
  await dir.policies.setSsoSessionPolicy(ctx, { maxAgeMinutes: 480, idleMinutes: 60 });
  const a = await newBrowser();
  const b = await newBrowser();
  t.teardown(() => Promise.all([a.ctx.close(), b.ctx.close()]));
  await signInPortal(a.page, THIRD_PW);
  await signInPortal(b.page, THIRD_PW);
  const fromB = await silentTokens(b);
  t.ok(fromB?.refresh_token, 'the other browser has an app\'s refresh token');
  await a.page.goto(`${cairn.base}/sso/`);
  await click(a.page, 'form[action="/sso/portal/sessions/revoke"] button');
  t.match(await a.page.content(), /signed out everywhere else/);
  t.equal(await storeRows('CairnSession'), 1, 'one portal session left');
  await b.page.goto(`${cairn.base}/sso/`);
  t.ok(await b.page.locator('#username').count(), 'the other browser is sent to the login page');
  await t.rejects(client.refreshTokenGrant(config, fromB!.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'its refresh token is refused');
  await a.page.goto(`${cairn.base}/sso/`);
  t.match(await a.page.content(), /Hello, Erin/, 'this browser stays signed in');
  const [ev] = await dir.audit.list({ orgId: cairn.org.id, eventType: 'sso.sessions_revoked', limit: 1 });
  t.match(ev, { success: true, initiatedBy: { id: erin.id } }, 'audited');
});
