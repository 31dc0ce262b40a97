// OIDC end to end: real Cairn, openid-client as the relying party, headless Chromium filling
// Cairn's login pages (password + TOTP), and a restart between login and refresh.
import { createServer as createHttpServer } from 'node:http';
import t from 'tap';
import * as client from 'openid-client';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { totpCode } from '../../core/index.js';
import { backends, createPgDatabase } from '../../test/helpers/directory.js';
import { caFetch, launchBrowser, startCairn, type Cairn } from './testkit.js';

// The relying party's callback: a real loopback HTTP server that records what arrives.
const rpHits: string[] = [];
const rp = createHttpServer((req, res) => {
  if (req.url?.startsWith("/cb")) rpHits.push(`${RP}${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain' }).end('rp');
});
await new Promise<void>((r) => rp.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => rp.close(() => r())));
const RP = `http://127.0.0.1:${(rp.address() as { port: number }).port}`;
const REDIRECT = `${RP}/cb`;
const ALICE_PW = 'Wonder-canary-pw-42';
const BOB_PW = 'Builder-canary-pw-42';

let cairn: Cairn = await startCairn();
const { dataDir } = cairn;
const port = Number(new URL(cairn.base).port);
const dir = () => cairn.dir;
t.teardown(async () => {
  await cairn.stop();
});

const staff = await dir().groups.create(cairn.ctx, { name: 'staff' });
const alice = await dir().users.create(cairn.ctx, { username: 'alice', displayName: 'Alice <Liddell> & Co', email: 'alice@example.com', password: ALICE_PW });
await dir().users.create(cairn.ctx, { username: 'bob', displayName: 'Bob', email: 'bob@example.com', password: BOB_PW });
await dir().groups.addMember(cairn.ctx, staff.id, alice.id);
// TOTP for alice, confirmed with the previous step's code so the current one is still fresh.
const { secret } = await dir().users.beginTotp(cairn.ctx, alice.id);
const { recoveryCodes } = await dir().users.confirmTotp(cairn.ctx, alice.id, totpCode(secret, Date.now() / 1000 - 30));
await dir().policies.setMfaModes(cairn.ctx, { sso: 'required' });

const { app, clientSecret } = await dir().sso.apps.create(cairn.ctx, {
  type: 'oidc', name: 'wiki', displayName: 'Team wiki', launchUrl: `${RP}/`, groupIds: [staff.id],
  settings: { clientType: 'confidential', redirectUris: [REDIRECT], postLogoutRedirectUris: [`${RP}/bye`], clientCredentials: true },
});
if (app.type !== 'oidc' || !clientSecret) throw new Error('setup');
const clientId = app.settings.clientId;
const fetchCa = caFetch(cairn.ca);

async function discover(at: Cairn = cairn, id = clientId, secret = clientSecret!): Promise<client.Configuration> {
  const f = caFetch(at.ca);
  const config = await client.discovery(new URL(`${at.base}/oidc`), id, secret, client.ClientSecretBasic(secret), {
    [client.customFetch]: f as never,
  } as client.DiscoveryRequestOptions);
  config[client.customFetch] = f as never;
  return config;
}
let config = await discover();

const browser = await launchBrowser();
t.teardown(() => browser.close());

/** Drive the browser from the authorization URL to the redirect back to the RP. */
async function browserLogin(url: string, username: string, password: string, otp?: () => string): Promise<{ callback: string | null; html: string; status: number }> {
  const page = await browser.newPage();
  const before = rpHits.length;
  const hit = () => (rpHits.length > before ? rpHits[rpHits.length - 1]! : null);
  let callback: string | null = null;
  try {
    let res = await page.goto(url);
    callback = hit();
    if (callback) return { callback, html: '', status: 200 };
    if (await page.locator('#username').count()) {
      await page.fill('#username', username);
      await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
      await page.fill('#password', password);
      res = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]).then(([r]) => r);
      callback = hit();
      if (!callback && otp && (await page.locator('#otp').count())) {
        await page.fill('#otp', otp());
        res = await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }).catch(() => null), page.click('button[type=submit]')]).then(([r]) => r);
        await page.waitForTimeout(300);
      }
    }
    await page.waitForTimeout(100);
    callback = hit();
    return { callback, html: await page.content(), status: res?.status() ?? 0 };
  } finally {
    await page.close();
  }
}

async function authUrl(extra: Record<string, string> = {}, omit: string[] = [], rpConfig = config) {
  const verifier = client.randomPKCECodeVerifier();
  const params: Record<string, string> = {
    redirect_uri: REDIRECT, scope: 'openid profile email groups offline_access', prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    state: client.randomState(), nonce: client.randomNonce(), ...extra,
  };
  for (const k of omit) delete params[k];
  return { url: client.buildAuthorizationUrl(rpConfig, params).href, verifier, state: params.state!, nonce: params.nonce! };
}

let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

t.test('discovery: PKCE S256 only, code flow only, RS256', async (t) => {
  const meta = config.serverMetadata();
  t.same(meta.code_challenge_methods_supported, ['S256']);
  t.same(meta.response_types_supported, ['code']);
  t.same(meta.id_token_signing_alg_values_supported, ['RS256']);
  t.ok(meta.revocation_endpoint && meta.introspection_endpoint && meta.end_session_endpoint);
  const page = await fetchCa(`${cairn.base}/oidc/.well-known/openid-configuration`);
  t.equal(page.status, 200);
});

t.test('code + PKCE through the browser with TOTP; ID token verified against the JWKS; userinfo', async (t) => {
  const a = await authUrl();
  const r = await browserLogin(a.url, 'alice', ALICE_PW, () => totpCode(secret));
  t.ok(r.callback, `redirected back to the RP (${r.status})`);
  t.comment(r.callback);
  tokens = await client.authorizationCodeGrant(config, new URL(r.callback!), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
  t.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  const jwks = await (await fetchCa(config.serverMetadata().jwks_uri!)).json();
  const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: `${cairn.base}/oidc`, audience: clientId, algorithms: ['RS256'] });
  t.equal(protectedHeader.alg, 'RS256');
  t.equal(payload.sub, alice.id, 'sub is the stable user id');
  const login = await dir().audit.list({ orgId: cairn.org.id, eventType: 'sso.login', success: true, actorId: alice.id, limit: 5, order: 'desc' });
  t.equal(login.length, 1, 'one sso.login event for one sign-in');
  t.equal(login[0]?.mfaMeta?.type, 'totp', 'the sign-in used TOTP (audit)');
  const info = await client.fetchUserInfo(config, tokens.access_token, alice.id);
  t.equal(info.preferred_username, 'alice');
  t.equal(info.name, 'Alice <Liddell> & Co');
  t.equal(info.email, 'alice@example.com');
  t.equal(info.email_verified, true);
  t.same(info.groups, ['staff']);
});

t.test('refresh rotates; reuse of the old refresh token revokes the grant', async (t) => {
  const first = tokens.refresh_token!;
  const next = await client.refreshTokenGrant(config, first);
  t.ok(next.refresh_token && next.refresh_token !== first, 'rotated');
  await t.rejects(client.refreshTokenGrant(config, first), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'reuse refused');
  await t.rejects(client.refreshTokenGrant(config, next.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'the whole grant is gone');
});

t.test('revocation and introspection', async (t) => {
  const a = await authUrl();
  const r = await browserLogin(a.url, 'alice', ALICE_PW, () => totpCode(secret));
  t.ok(r.callback, 'second login reuses the browser session');
  const tk = await client.authorizationCodeGrant(config, new URL(r.callback!), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
  t.equal((await client.tokenIntrospection(config, tk.access_token)).active, true);
  await client.tokenRevocation(config, tk.access_token);
  t.equal((await client.tokenIntrospection(config, tk.access_token)).active, false);
  await client.tokenRevocation(config, tk.refresh_token!);
  await t.rejects(client.refreshTokenGrant(config, tk.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' });
});

t.test('client credentials', async (t) => {
  const cc = await client.clientCredentialsGrant(config);
  t.ok(cc.access_token);
  t.equal((await client.tokenIntrospection(config, cc.access_token)).active, true);
  const wrong = await fetchCa(`${cairn.base}/oidc/token`, {
    method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${clientId}:${app.settings.clientSecretHash}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  t.equal(wrong.status, 401, 'the stored hash is not a usable secret');
});

t.test('a rotated or deleted client secret stops working at once, though clients are cached', async (t) => {
  const { app: m2m, clientSecret: first } = await dir().sso.apps.create(cairn.ctx, { type: 'oidc', name: 'm2m', settings: { redirectUris: [REDIRECT], clientCredentials: true } });
  if (m2m.type !== 'oidc' || !first) throw new Error('setup');
  const grant = async (secret: string) => (await fetchCa(`${cairn.base}/oidc/token`, {
    method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${m2m.settings.clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  })).status;
  t.equal(await grant(first), 200, 'the client is now cached');
  const second = await dir().sso.apps.rotateClientSecret(cairn.ctx, m2m.id);
  t.equal(await grant(first), 401, 'the old secret is refused at once');
  t.equal(await grant(second), 200);
  await dir().sso.apps.delete(cairn.ctx, m2m.id);
  t.equal(await grant(second), 401, 'a deleted client is refused at once');
});

t.test('code replay: of 20 parallel redemptions exactly one wins', async (t) => {
  const a = await authUrl();
  const r = await browserLogin(a.url, 'alice', ALICE_PW);
  const code = new URL(r.callback!).searchParams.get('code')!;
  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  const results = await Promise.all(Array.from({ length: 20 }, () => fetchCa(`${cairn.base}/oidc/token`, {
    method: 'POST', headers: { authorization: basic },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier }),
  })));
  const ok = results.filter((x) => x.status === 200);
  t.equal(ok.length, 1, 'exactly one 200');
  for (const x of results.filter((y) => y.status !== 200)) t.equal((await x.json()).error, 'invalid_grant');
  const again = await fetchCa(`${cairn.base}/oidc/token`, {
    method: 'POST', headers: { authorization: basic },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier }),
  });
  t.equal(again.status, 400, 'a later replay is refused too');
});

t.test('wrong redirect_uri renders an error page, never redirects', async (t) => {
  const a = await authUrl({ redirect_uri: `${RP}/evil` });
  const r = await browserLogin(a.url, 'alice', ALICE_PW);
  t.equal(r.callback, null);
  t.equal(r.status, 400);
  t.match(r.html, /redirect_uri/);
  const prefix = await authUrl({ redirect_uri: `${REDIRECT}/x` });
  t.equal((await browserLogin(prefix.url, 'alice', ALICE_PW)).callback, null, 'no prefix matching');
});

t.test('missing PKCE is refused for a confidential client too', async (t) => {
  const a = await authUrl({}, ['code_challenge', 'code_challenge_method']);
  const r = await browserLogin(a.url, 'alice', ALICE_PW);
  t.ok(r.callback);
  t.equal(new URL(r.callback!).searchParams.get('error'), 'invalid_request');
  t.match(new URL(r.callback!).searchParams.get('error_description') ?? '', /PKCE/);
});

t.test('fresh browser: wrong password and unassigned user', async (t) => {
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const page = await ctx2.newPage();
  const a = await authUrl();
  await page.goto(a.url);
  await page.fill('#username', 'alice');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', 'wrong-password');
  await Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit]')]);
  const wrong = await page.content();
  t.match(wrong, /username or password is incorrect/);
  // The unknown-user answer is the same words.
  await page.goto(`${cairn.base}/sso/login/restart`);
  await page.fill('#username', 'nobody');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', 'whatever-pw');
  await Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit]')]);
  t.match(await page.content(), /username or password is incorrect/);
  // bob has the right password but is in no group granted the app.
  await page.goto(`${cairn.base}/sso/login/restart`);
  await page.fill('#username', 'bob');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', BOB_PW);
  const [res] = await Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit]')]);
  t.equal(res?.status(), 403);
  t.match(await page.content(), /not assigned to/);
  const events = await dir().audit.list({ orgId: cairn.org.id, eventType: 'sso.login', success: false, limit: 50, order: 'desc' });
  t.ok(events.some((e) => e.reason === 'not_assigned'), 'audited');
  const headers = (await ctx2.request.get(`${cairn.base}/sso/login`)).headers();
  t.match(headers['content-security-policy'], /frame-ancestors 'none'/);
});

t.test('a third-party app gets a consent page; deny and allow', async (t) => {
  const { app: partner } = await dir().sso.apps.create(cairn.ctx, {
    type: 'oidc', name: 'partner', displayName: 'Partner <App>', groupIds: [staff.id],
    settings: { clientType: 'public', redirectUris: [REDIRECT], thirdParty: true },
  });
  if (partner.type !== 'oidc') throw new Error('setup');
  const verifier = client.randomPKCECodeVerifier();
  const q = new URLSearchParams({ client_id: partner.settings.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st' });
  for (const decision of ['Deny', 'Allow']) {
    const page = await browser.newPage();
    const before = rpHits.length;
    await page.goto(`${cairn.base}/oidc/auth?${q}`);
    t.match(await page.content(), /Allow Partner &lt;App&gt;\?/, 'consent page, name escaped');
    await Promise.all([page.waitForNavigation({ timeout: 5000 }).catch(() => null), page.click(`button[value=${decision.toLowerCase()}]`)]);
    await page.waitForTimeout(200);
    if (rpHits.length === before) t.comment(page.url(), (await page.content()).slice(0, 800));
    await page.close();
    const cb = new URL(rpHits[rpHits.length - 1]!);
    t.ok(rpHits.length > before);
    if (decision === 'Deny') t.equal(cb.searchParams.get('error'), 'access_denied');
    else t.ok(cb.searchParams.get('code'), 'code after consent');
  }
  // A public client without PKCE.
  const noPkce = new URLSearchParams(q);
  noPkce.delete('code_challenge');
  noPkce.delete('code_challenge_method');
  const page = await browser.newPage();
  const before = rpHits.length;
  await page.goto(`${cairn.base}/oidc/auth?${noPkce}`);
  await page.close();
  t.equal(rpHits.length, before + 1);
  t.equal(new URL(rpHits[rpHits.length - 1]!).searchParams.get('error'), 'invalid_request', 'public client without PKCE refused');
});

t.test('signing out of Cairn ends silent OIDC sign-in too', async (t) => {
  const page = await browser.newPage();
  const a = await authUrl();
  const before = rpHits.length;
  await page.goto(a.url);
  t.equal(rpHits.length, before + 1, 'silent while the Cairn session lives');
  await page.goto(`${cairn.base}/sso/`);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/sso/logout"] button')]);
  const b = await authUrl();
  await page.goto(b.url);
  t.equal(rpHits.length, before + 1, 'no code without a new sign-in');
  t.ok(await page.locator('#username').count(), 'the login page is shown');
  await page.close();
});

t.test('a restart between login and refresh keeps the tokens; suspension kills them at once', async (t) => {
  const a = await authUrl();
  const r = await browserLogin(a.url, 'alice', ALICE_PW, () => recoveryCodes[0]!);
  const tk = await client.authorizationCodeGrant(config, new URL(r.callback!), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
  // Restart: same data directory and port, new process state.
  const old = cairn;
  await old.stop();
  cairn = await startCairn({ dataDir, port });
  config = await discover();
  const refreshed = await client.refreshTokenGrant(config, tk.refresh_token!);
  t.ok(refreshed.access_token, 'refresh works after restart');
  const info = await client.fetchUserInfo(config, refreshed.access_token, alice.id);
  t.equal(info.sub, alice.id);
  await cairn.dir.users.setState(cairn.ctx, alice.id, 'suspended');
  await new Promise((r) => setTimeout(r, 200));
  await t.rejects(client.refreshTokenGrant(config, refreshed.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'suspended: refresh fails');
  await t.rejects(client.fetchUserInfo(config, refreshed.access_token, alice.id), 'suspended: userinfo fails');
  const left = await cairn.dir.store('sso_store').where({ account_id: alice.id }).count({ n: '*' });
  t.equal(Number((left[0] as { n: number }).n), 0, 'no session, grant or token of the user is left');
});

// The main flow once more on PostgreSQL (CI sets CAIRN_TEST_PG_URL): browser sign-in, tokens,
// userinfo, refresh across a restart, suspension.
for (const backend of backends.filter((b) => b === 'pg')) {
  t.test(`main flow on ${backend}: code + PKCE, userinfo, refresh after a restart, suspension`, async (t) => {
    const db = await createPgDatabase();
    const first = await startCairn({ databaseUrl: db.url });
    let pg = first;
    t.teardown(async () => {
      await pg.stop();
      await db.drop();
    });
    const group = await pg.dir.groups.create(pg.ctx, { name: 'staff' });
    const user = await pg.dir.users.create(pg.ctx, { username: 'alice', email: 'alice@example.com', password: ALICE_PW });
    await pg.dir.groups.addMember(pg.ctx, group.id, user.id);
    const { app: pgApp, clientSecret: pgSecret } = await pg.dir.sso.apps.create(pg.ctx, {
      type: 'oidc', name: 'wiki', groupIds: [group.id], settings: { clientType: 'confidential', redirectUris: [REDIRECT] },
    });
    if (pgApp.type !== 'oidc' || !pgSecret) throw new Error('setup');
    let rpConfig = await discover(pg, pgApp.settings.clientId, pgSecret);
    const a = await authUrl({}, [], rpConfig);
    const r = await browserLogin(a.url, 'alice', ALICE_PW);
    t.ok(r.callback, `redirected back to the RP (${r.status})`);
    const tk = await client.authorizationCodeGrant(rpConfig, new URL(r.callback!), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
    t.equal(tk.claims()?.sub, user.id);
    t.equal((await client.fetchUserInfo(rpConfig, tk.access_token, user.id)).preferred_username, 'alice');

    await pg.stop();
    pg = await startCairn({ dataDir: first.dataDir, port: Number(new URL(first.base).port), databaseUrl: db.url });
    rpConfig = await discover(pg, pgApp.settings.clientId, pgSecret);
    const refreshed = await client.refreshTokenGrant(rpConfig, tk.refresh_token!);
    t.ok(refreshed.access_token, 'refresh works after a restart');
    t.equal((await client.tokenIntrospection(rpConfig, refreshed.access_token)).active, true);

    await pg.dir.users.setState(pg.ctx, user.id, 'suspended');
    t.equal((await client.tokenIntrospection(rpConfig, refreshed.access_token)).active, false, 'suspended: inactive at once');
    await t.rejects(client.refreshTokenGrant(rpConfig, refreshed.refresh_token!), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' }, 'suspended: refresh fails');
  });
}

t.test('no password, client secret or token in any log line', async (t) => {
  const { logLines } = await import('../../test/helpers/directory.js');
  const all = logLines.join('\n');
  for (const s of [ALICE_PW, BOB_PW, clientSecret, secret, tokens.refresh_token!, tokens.access_token]) t.notOk(all.includes(s), 'absent from logs');
});
