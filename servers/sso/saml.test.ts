// SAML end to end: real Cairn IdP, @node-saml/node-saml (the library behind passport-saml) as
// the SP, headless Chromium doing SP-initiated (Redirect and POST bindings) and IdP-initiated
// (portal) sign-in, xmlsec1 checking the signature independently, and the refusals.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import t from 'tap';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Page } from 'playwright-core';
import * as samlify from 'samlify';
import { totpCode } from '../../core/index.js';
import { rotateSamlKey } from './keys.js';
import { caFetch, launchBrowser, startCairn } from './testkit.js';

const PW = 'Wonder-canary-pw-77';
const work = mkdtempSync(join(tmpdir(), 'cairn-saml-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test-sp', '-days', '2', '-keyout', join(work, 'sp.key'), '-out', join(work, 'sp.crt')], { stdio: 'ignore' });
const spKey = readFileSync(join(work, 'sp.key'), 'utf8');
const spCert = readFileSync(join(work, 'sp.crt'), 'utf8');

// The SP's ACS: a loopback HTTP server recording each posted SAMLResponse.
const posts: Array<Record<string, string>> = [];
const sloHits: string[] = [];
// A second SP's single logout endpoint: node-saml verifies the IdP's LogoutRequest and answers
// with its signed LogoutResponse (set up below, once Cairn's certificate is known).
const helpdeskLogouts: Array<{ nameID?: string; sessionIndex?: string; error?: string }> = [];
let helpdeskLogout: (query: Record<string, string>, raw: string) => Promise<string>;
// A third SP whose single logout endpoint speaks HTTP-POST: node-saml verifies the posted
// LogoutRequest (and answers by Redirect) or the posted LogoutResponse.
const wikiLogouts: Array<{ nameID?: string; sessionIndex?: string; loggedOut?: boolean; error?: string }> = [];
let wikiLogout: (form: Record<string, string>) => Promise<string | null>;
const sp = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/wiki/slo') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => wikiLogout(Object.fromEntries(new URLSearchParams(body))).then(
      (to) => (to ? res.writeHead(302, { location: to }).end() : res.writeHead(200, { 'content-type': 'text/plain' }).end('wiki: signed out')),
      (err: Error) => {
        wikiLogouts.push({ error: err.message });
        res.writeHead(400).end('refused');
      },
    ));
    return;
  }
  if (req.method === 'GET' && req.url?.startsWith('/slo')) sloHits.push(req.url);
  if (req.method === 'GET' && req.url?.startsWith('/helpdesk/slo?')) {
    const raw = req.url.split('?')[1]!;
    helpdeskLogout(Object.fromEntries(new URLSearchParams(raw)), raw).then(
      (to) => res.writeHead(302, { location: to }).end(),
      (err: Error) => {
        helpdeskLogouts.push({ error: err.message });
        res.writeHead(400).end('refused');
      },
    );
    return;
  }
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.method === 'POST') posts.push(Object.fromEntries(new URLSearchParams(body)));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('sp');
  });
});
await new Promise<void>((r) => sp.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => sp.close(() => r())));
const SP = `http://127.0.0.1:${(sp.address() as { port: number }).port}`;
const ACS = `${SP}/acs`;
const SP_ENTITY = `${SP}/metadata`;

const cairn = await startCairn();
t.teardown(() => cairn.stop());
const dir = cairn.dir;
const fetchCa = caFetch(cairn.ca);
const staff = await dir.groups.create(cairn.ctx, { name: 'staff' });
const alice = await dir.users.create(cairn.ctx, { username: 'alice', displayName: 'Alice <Liddell> & "Co"', email: 'alice@example.com', password: PW });
await dir.groups.addMember(cairn.ctx, staff.id, alice.id);
await dir.users.create(cairn.ctx, { username: 'bob', displayName: 'Bob', email: 'bob@example.com', password: PW });

const { app } = await dir.sso.apps.create(cairn.ctx, {
  type: 'saml', name: 'crm', displayName: 'CRM', groupIds: [staff.id],
  settings: { entityId: SP_ENTITY, acsUrls: [ACS], certificate: spCert, wantRequestsSigned: true, nameIdFormat: 'email', attributes: { email: 'email', displayName: 'name', groups: 'groups' } },
});

const metadata = await (await fetchCa(`${cairn.base}/saml/metadata`)).text();
const idpCert = /<(?:ds:)?X509Certificate>([^<]+)</.exec(metadata)![1]!.replace(/\s+/g, '');
const idpCertPem = `-----BEGIN CERTIFICATE-----\n${idpCert.replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
writeFileSync(join(work, 'idp.crt'), idpCertPem);

const spFor = (binding: 'HTTP-Redirect' | 'HTTP-POST', inResponseTo = ValidateInResponseTo.always, trusted = idpCertPem) => new SAML({
  callbackUrl: ACS, entryPoint: `${cairn.base}/saml/sso`, issuer: SP_ENTITY, audience: SP_ENTITY, idpCert: trusted,
  privateKey: spKey, signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true,
  identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', validateInResponseTo: inResponseTo,
  authnRequestBinding: binding, disableRequestedAuthnContext: true, acceptedClockSkewMs: 2000,
  logoutUrl: `${cairn.base}/saml/slo`, logoutCallbackUrl: `${SP}/slo`,
});

const HELPDESK = `${SP}/helpdesk`;
await dir.sso.apps.create(cairn.ctx, {
  type: 'saml', name: 'helpdesk', displayName: 'Helpdesk', groupIds: [staff.id],
  settings: { entityId: `${HELPDESK}/metadata`, acsUrls: [`${HELPDESK}/acs`], sloUrl: `${HELPDESK}/slo`, certificate: spCert, nameIdFormat: 'persistent' },
});
const helpdeskSp = new SAML({
  callbackUrl: `${HELPDESK}/acs`, entryPoint: `${cairn.base}/saml/sso`, issuer: `${HELPDESK}/metadata`, audience: `${HELPDESK}/metadata`, idpCert: idpCertPem,
  privateKey: spKey, signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: ValidateInResponseTo.never,
  identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', logoutUrl: `${cairn.base}/saml/slo`, logoutCallbackUrl: `${HELPDESK}/slo`,
});
helpdeskLogout = async (query, raw) => {
  const { profile } = await helpdeskSp.validateRedirectAsync(query, raw);
  if (!profile) throw new Error('not a LogoutRequest');
  helpdeskLogouts.push({ nameID: profile.nameID, sessionIndex: profile.sessionIndex });
  return helpdeskSp.getLogoutResponseUrlAsync(profile, query.RelayState ?? '', {}, true);
};

// The wiki registers by metadata that lists only an HTTP-POST SingleLogoutService. Its own
// LogoutRequests are made by samlify as an SP (node-saml sends LogoutRequests by Redirect only).
const WIKI = `${SP}/wiki`;
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const wikiSamlify = samlify.ServiceProvider({
  entityID: `${WIKI}/metadata`, privateKey: spKey, signingCert: spCert, authnRequestsSigned: true, wantAssertionsSigned: true,
  assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: `${WIKI}/acs` }],
  singleLogoutService: [{ Binding: samlify.Constants.namespace.binding.post, Location: `${WIKI}/slo` }],
  nameIDFormat: [PERSISTENT], requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
} as Parameters<typeof samlify.ServiceProvider>[0]);
const wikiSp = new SAML({
  callbackUrl: `${WIKI}/acs`, entryPoint: `${cairn.base}/saml/sso`, issuer: `${WIKI}/metadata`, audience: `${WIKI}/metadata`, idpCert: idpCertPem,
  privateKey: spKey, signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: ValidateInResponseTo.never,
  identifierFormat: PERSISTENT, logoutUrl: `${cairn.base}/saml/slo`, logoutCallbackUrl: `${WIKI}/slo`,
});
wikiLogout = async (form) => {
  if (form.SAMLResponse) {
    const { loggedOut } = await wikiSp.validatePostResponseAsync({ SAMLResponse: form.SAMLResponse });
    wikiLogouts.push({ loggedOut });
    return null;
  }
  const { profile } = await wikiSp.validatePostRequestAsync({ SAMLRequest: form.SAMLRequest! });
  if (!profile) throw new Error('not a LogoutRequest');
  wikiLogouts.push({ nameID: profile.nameID, sessionIndex: profile.sessionIndex });
  return wikiSp.getLogoutResponseUrlAsync(profile, form.RelayState ?? '', {}, true);
};

const browser = await launchBrowser();
t.teardown(() => browser.close());

async function waitPost(n: number) {
  for (let i = 0; i < 50 && posts.length < n; i++) await new Promise((r) => setTimeout(r, 100));
  return posts[n - 1];
}

/** Alice signs in to the portal in `page` and launches `app` (IdP-initiated); what `via` makes of the Response posted to its ACS. */
async function portalLaunch(page: Page, app: string, acs: RegExp, via: SAML) {
  await page.goto(`${cairn.base}/sso/`);
  await page.fill('#username', 'alice');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', PW);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const before = posts.length;
  // The launch auto-posts to the SP's ACS: let that navigation finish before the next one.
  await Promise.all([page.waitForURL(acs), page.click(`text=${app}`)]);
  return via.validatePostResponseAsync({ SAMLResponse: (await waitPost(before + 1))!.SAMLResponse! });
}

const redirectSp = spFor('HTTP-Redirect');
let firstRequestUrl = '';

t.test('metadata', async (t) => {
  t.match(metadata, /IDPSSODescriptor/);
  t.match(metadata, /HTTP-Redirect/);
  t.match(metadata, new RegExp(`${cairn.base}/saml/sso`));
});

t.test('SP-initiated, HTTP-Redirect, signed AuthnRequest: login page, signed Response; xmlsec1 agrees', async (t) => {
  firstRequestUrl = await redirectSp.getAuthorizeUrlAsync('relay-1', undefined, {});
  const page = await browser.newPage();
  await page.goto(firstRequestUrl);
  await page.fill('#username', 'alice');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', PW);
  await page.click('button[type=submit]');
  const post = await waitPost(1);
  await page.close();
  t.ok(post?.SAMLResponse, 'the browser posted a SAMLResponse to the ACS');
  t.equal(post!.RelayState, 'relay-1');
  const { profile } = await redirectSp.validatePostResponseAsync({ SAMLResponse: post!.SAMLResponse! });
  t.equal(profile?.nameID, 'alice@example.com');
  t.equal(profile?.displayName, 'Alice <Liddell> & "Co"', 'a value with XML in it arrives as that exact string');
  t.same(profile?.groups, 'staff');
  const xml = Buffer.from(post!.SAMLResponse!, 'base64').toString('utf8');
  t.match(xml, /Destination="http:\/\/127\.0\.0\.1:\d+\/acs"/);
  t.match(xml, /<saml:Audience>[^<]+\/metadata<\/saml:Audience>/);
  t.match(xml, /SubjectConfirmationData NotOnOrAfter="[^"]+" Recipient="[^"]+" InResponseTo="_/);
  t.match(xml, /rsa-sha256/);
  writeFileSync(join(work, 'resp.xml'), xml);
  const out = execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', join(work, 'idp.crt'), '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:protocol:Response',
    '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion', join(work, 'resp.xml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.pass(`xmlsec1 --verify OK ${out.toString().trim()}`);
  // Tampered: change the NameID inside the signed assertion.
  const tampered = Buffer.from(xml.replace('alice@example.com', 'admin@example.com')).toString('base64');
  await t.rejects(redirectSp.validatePostResponseAsync({ SAMLResponse: tampered }), 'the SP rejects a tampered assertion');
  writeFileSync(join(work, 'tampered.xml'), xml.replace('alice@example.com', 'admin@example.com'));
  t.throws(() => execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', join(work, 'idp.crt'), '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:protocol:Response',
    '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion', join(work, 'tampered.xml')], { stdio: 'ignore' }), 'xmlsec1 rejects it too');
});

t.test('a replayed AuthnRequest is refused', async (t) => {
  const res = await fetchCa(firstRequestUrl);
  t.equal(res.status, 400);
  t.match(await res.text(), /already used/);
});

t.test('unsigned or badly signed AuthnRequests are refused when the SP signs', async (t) => {
  const url = new URL(await redirectSp.getAuthorizeUrlAsync('', undefined, {}));
  const unsigned = new URL(url);
  unsigned.searchParams.delete('Signature');
  unsigned.searchParams.delete('SigAlg');
  t.equal((await fetchCa(unsigned.href)).status, 400, 'unsigned');
  const bad = new URL(url);
  bad.searchParams.set('Signature', Buffer.alloc(256, 1).toString('base64'));
  t.equal((await fetchCa(bad.href)).status, 400, 'bad signature');
});

t.test('DOCTYPE / entities and oversized inflated payloads are refused', async (t) => {
  const evil = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x1" Version="2.0" IssueInstant="${new Date().toISOString()}"><saml:Issuer>${SP_ENTITY}</saml:Issuer></samlp:AuthnRequest>`;
  const q = new URLSearchParams({ SAMLRequest: deflateRawSync(Buffer.from(evil)).toString('base64') });
  const res = await fetchCa(`${cairn.base}/saml/sso?${q}`);
  t.equal(res.status, 400);
  t.match(await res.text(), /not allowed/);
  // A deflate bomb: 5 MB of spaces compresses to a few KB.
  const bomb = deflateRawSync(Buffer.alloc(5 * 1024 * 1024, 0x20)).toString('base64');
  const big = await fetchCa(`${cairn.base}/saml/sso?${new URLSearchParams({ SAMLRequest: bomb })}`);
  t.equal(big.status, 400);
  const post = await fetchCa(`${cairn.base}/saml/sso`, { method: 'POST', body: new URLSearchParams({ SAMLRequest: Buffer.from(evil).toString('base64') }) });
  t.equal(post.status, 400, 'POST binding too');
});

t.test('SP-initiated, HTTP-POST binding, with the existing session', async (t) => {
  const postSp = spFor('HTTP-POST');
  const form = await postSp.getAuthorizeFormAsync('relay-2');
  const page = await browser.newPage();
  // The SP's auto-submitting form, served from the SP origin.
  await page.route(`${SP}/start`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: form }));
  const before = posts.length;
  await page.goto(`${SP}/start`);
  const post = await waitPost(before + 1);
  await page.close();
  t.ok(post?.SAMLResponse);
  const { profile } = await postSp.validatePostResponseAsync({ SAMLResponse: post!.SAMLResponse! });
  t.equal(profile?.nameID, 'alice@example.com');
});

t.test('IdP-initiated from the portal', async (t) => {
  const idpInit = spFor('HTTP-Redirect', ValidateInResponseTo.never);
  const page = await browser.newPage();
  await page.goto(`${cairn.base}/sso/`);
  t.match(await page.content(), /CRM/);
  const before = posts.length;
  await page.click('text=CRM');
  const post = await waitPost(before + 1);
  await page.close();
  const { profile } = await idpInit.validatePostResponseAsync({ SAMLResponse: post!.SAMLResponse! });
  t.equal(profile?.nameID, 'alice@example.com');
  t.notMatch(Buffer.from(post!.SAMLResponse!, 'base64').toString(), /InResponseTo/, 'unsolicited: no InResponseTo');
});

t.test('an unassigned user gets the not-assigned page, not an assertion', async (t) => {
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const page = await ctx2.newPage();
  const before = posts.length;
  await page.goto(await redirectSp.getAuthorizeUrlAsync('', undefined, {}));
  await page.fill('#username', 'bob');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', PW);
  const [res] = await Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit]')]);
  t.equal(res?.status(), 403);
  t.match(await page.content(), /not assigned/);
  t.equal(posts.length, before);
});

t.test('conditional access: a deny rule for SSO from this network shows a clear page', async (t) => {
  const list = await dir.policies.createIpList(cairn.ctx, { name: 'loopback', cidrs: ['127.0.0.0/8', '::1/128'] });
  const rule = await dir.policies.createAccessRule(cairn.ctx, { name: 'no-sso-here', priority: 1, protocol: 'sso', groupId: null, ipListId: list.id, negateIpList: false, action: 'deny' });
  t.teardown(() => dir.policies.deleteAccessRule(cairn.ctx, rule.id));
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const page = await ctx2.newPage();
  const before = posts.length;
  await page.goto(await redirectSp.getAuthorizeUrlAsync('', undefined, {}));
  await page.fill('#username', 'alice');
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  await page.fill('#password', PW);
  const [res] = await Promise.all([page.waitForNavigation().catch(() => null), page.click('button[type=submit]')]);
  t.equal(res?.status(), 403);
  t.match(await page.content(), /does not allow signing in/);
  t.equal(posts.length, before, 'no assertion');
  // The existing browser session is refused by the same rule.
  const p2 = await browser.newPage();
  await p2.goto(await redirectSp.getAuthorizeUrlAsync('', undefined, {}));
  t.match(await p2.content(), /does not allow signing in/);
  await p2.close();
  t.equal(posts.length, before);
});

t.test('portal launch of an app that needs a code the portal session lacks: sign in with it, not "not assigned"', async (t) => {
  const dora = await dir.users.create(cairn.ctx, { username: 'dora', displayName: 'Dora', email: 'dora@example.com', password: PW });
  await dir.groups.addMember(cairn.ctx, staff.id, dora.id);
  const { secret } = await dir.users.beginTotp(cairn.ctx, dora.id);
  await dir.users.confirmTotp(cairn.ctx, dora.id, totpCode(secret, Date.now() / 1000 - 30));
  await dir.policies.setMfaModes(cairn.ctx, { sso: 'required', portal: 'off' });
  t.teardown(() => dir.policies.setMfaModes(cairn.ctx, { sso: 'off' }));
  const ctx2 = await launchBrowser();
  t.teardown(() => ctx2.close());
  const page = await ctx2.newPage();
  const submit = (selector = 'button[type=submit] >> nth=0') => Promise.all([page.waitForNavigation().catch(() => null), page.click(selector)]).then(([r]) => r);
  await page.goto(`${cairn.base}/sso/`);
  await page.fill('#username', 'dora');
  await submit();
  await page.fill('#password', PW);
  await submit();
  t.match(await page.content(), /Your applications/, 'the portal opens with the password alone');
  const before = posts.length;
  const res = await submit('text=CRM');
  t.equal(res?.status(), 200);
  t.notMatch(await page.content(), /not assigned/);
  t.equal(await page.locator('#username').count(), 1, 'asked to sign in for the app');
  await page.fill('#username', 'dora');
  await submit();
  await page.fill('#password', PW);
  await submit();
  await page.fill('#otp', totpCode(secret));
  await submit();
  t.match(await page.content(), /Your applications/, 'back in the portal, now with the code');
  await page.click('text=CRM');
  t.ok(await waitPost(before + 1), 'the launch now posts an assertion');
});

t.test('encrypted assertion (AES-256-GCM, RSA-OAEP) to an SP that asks for it', async (t) => {
  const ENC = `${SP}/enc-metadata`;
  await dir.sso.apps.create(cairn.ctx, {
    type: 'saml', name: 'crm-enc', displayName: 'CRM (encrypted)', groupIds: [staff.id],
    settings: { entityId: ENC, acsUrls: [ACS], certificate: spCert, wantRequestsSigned: true, encryptAssertion: true, nameIdFormat: 'email' },
  });
  const encSp = new SAML({
    callbackUrl: ACS, entryPoint: `${cairn.base}/saml/sso`, issuer: ENC, audience: ENC, idpCert: idpCertPem, privateKey: spKey, decryptionPvk: spKey,
    signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: ValidateInResponseTo.always,
    identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', disableRequestedAuthnContext: true, acceptedClockSkewMs: 2000,
  });
  const page = await browser.newPage();
  const before = posts.length;
  await page.goto(`${cairn.base}/sso/`); // make sure the session is alive
  await page.goto(await encSp.getAuthorizeUrlAsync('', undefined, {}));
  if (await page.locator('#username').count()) {
    await page.fill('#username', 'alice');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    await page.fill('#password', PW);
    await page.click('button[type=submit]');
  }
  const post = await waitPost(before + 1);
  await page.close();
  const xml = Buffer.from(post!.SAMLResponse!, 'base64').toString('utf8');
  t.match(xml, /EncryptedAssertion/);
  t.notMatch(xml, /alice@example\.com/, 'nothing personal in clear');
  const { profile } = await encSp.validatePostResponseAsync({ SAMLResponse: post!.SAMLResponse! });
  t.equal(profile?.nameID, 'alice@example.com', 'node-saml decrypts and verifies it');
});

t.test('registration from SP metadata', async (t) => {
  const { samlSettingsFromMetadata } = await import('./saml/idp.js');
  const xml = redirectSp.generateServiceProviderMetadata(null, spCert);
  const s = samlSettingsFromMetadata(xml.replace(SP_ENTITY, `${SP}/other`));
  t.equal(s.entityId, `${SP}/other`);
  t.same(s.acsUrls, [ACS]);
  t.ok(s.certificate);
  const { app: other } = await dir.sso.apps.create(cairn.ctx, { type: 'saml', name: 'other', settings: s as Record<string, unknown> });
  t.equal(other.type, 'saml');
  t.throws(() => samlSettingsFromMetadata('<!DOCTYPE x><x/>'));
});

t.test('SP-initiated single logout (HTTP-Redirect, signed both ways), told to the session\'s other SP first', async (t) => {
  await dir.sso.apps.update(cairn.ctx, app.id, { settings: { sloUrl: `${SP}/slo` } });
  const page = await browser.newPage();
  await page.goto(`${cairn.base}/sso/`);
  t.match(await page.content(), /Hello/, 'signed in before');
  const before = posts.length;
  await Promise.all([page.waitForURL(/\/helpdesk\/acs/), page.click('text=Helpdesk')]);
  const helpdeskLogin = await helpdeskSp.validatePostResponseAsync({ SAMLResponse: (await waitPost(before + 1))!.SAMLResponse! });
  t.equal(helpdeskLogin.profile?.nameID, alice.id, 'signed in to the helpdesk too (persistent NameID)');
  const url = await redirectSp.getLogoutUrlAsync({ issuer: cairn.base, nameID: 'alice@example.com', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: '_s1' } as never, 'bye', {});
  await page.goto(url);
  t.same(helpdeskLogouts, [{ nameID: alice.id, sessionIndex: helpdeskLogin.profile?.sessionIndex }], 'the helpdesk got a LogoutRequest node-saml verified, for its NameID and SessionIndex');
  t.equal(sloHits.length, 1, 'then the browser came back to the first SP with a LogoutResponse');
  const query = sloHits[0]!.split('?')[1]!;
  const parsed = Object.fromEntries(new URLSearchParams(query));
  t.ok(parsed.Signature, 'the LogoutResponse is signed');
  const { loggedOut } = await redirectSp.validateRedirectAsync(parsed, query);
  t.equal(loggedOut, true, 'node-saml accepts it');
  await page.goto(`${cairn.base}/sso/`);
  t.ok(await page.locator('#username').count(), 'the Cairn session is gone');
  t.equal((await fetchCa(url)).status, 400, 'the same LogoutRequest twice is refused');
  t.equal((await fetchCa(`${cairn.base}/saml/slo?SAMLResponse=x&RelayState=_${'0'.repeat(40)}`)).status, 400, 'a LogoutResponse outside a logout in progress is refused');
  await page.close();
});

t.test('signing out of the portal tells the SPs of the session (IdP-initiated single logout)', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const login = await portalLaunch(page, 'Helpdesk', /\/helpdesk\/acs/, helpdeskSp);
  await page.goto(`${cairn.base}/sso/`);
  const told = helpdeskLogouts.length;
  await Promise.all([page.waitForURL(/\/saml\/slo\?SAMLResponse=/), page.click('form[action="/sso/logout"] button')]);
  await page.waitForLoadState();
  t.same(helpdeskLogouts.slice(told), [{ nameID: alice.id, sessionIndex: login.profile?.sessionIndex }], 'the helpdesk got a LogoutRequest it verified');
  t.match(await page.content(), /You are signed out of Cairn/, 'back at Cairn once it answered');
  await page.goto(`${cairn.base}/sso/`);
  t.ok(await page.locator('#username').count(), 'the Cairn session is gone');
});

t.test('single logout over HTTP-POST: an SP registered by metadata with a POST SingleLogoutService, both ways', async (t) => {
  const { samlSettingsFromMetadata } = await import('./saml/idp.js');
  const settings = samlSettingsFromMetadata(wikiSamlify.getMetadata());
  t.match(settings, { sloUrl: `${WIKI}/slo`, sloBinding: 'post', wantRequestsSigned: true }, 'the POST SingleLogoutService is read from the metadata');
  await dir.sso.apps.create(cairn.ctx, { type: 'saml', name: 'wiki', displayName: 'Wiki', groupIds: [staff.id], settings: { ...settings, nameIdFormat: 'persistent' } as Record<string, unknown> });
  const cairnAsIdp = (signed: boolean) => samlify.IdentityProvider({ metadata: metadata, wantLogoutRequestSigned: signed } as Parameters<typeof samlify.IdentityProvider>[0]);
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const signInAndLaunch = () => portalLaunch(page, 'Wiki', /\/wiki\/acs/, wikiSp);
  /** The browser POSTs a form from a page of no site, as an SP's auto-post page would. */
  const postFromElsewhere = async (fields: Record<string, string>) => {
    await page.goto('about:blank');
    await page.setContent(`<form method="post" action="${cairn.base}/saml/slo">${Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('')}</form>`);
    await Promise.all([page.waitForNavigation(), page.evaluate(() => document.forms[0]!.submit())]);
  };

  // Portal sign-out: Cairn auto-posts a signed LogoutRequest to the wiki, which answers by Redirect.
  const first = await signInAndLaunch();
  t.equal(first.profile?.nameID, alice.id);
  await page.goto(`${cairn.base}/sso/`);
  const told = wikiLogouts.length;
  await Promise.all([page.waitForURL(/\/saml\/slo\?SAMLResponse=/), page.click('form[action="/sso/logout"] button')]);
  await page.waitForLoadState();
  t.same(wikiLogouts.slice(told), [{ nameID: alice.id, sessionIndex: first.profile?.sessionIndex }], 'the wiki got a POSTed LogoutRequest node-saml verified');
  t.match(await page.content(), /You are signed out of Cairn/);

  // SP-initiated by POST: the wiki's signed LogoutRequest arrives without the session cookie;
  // Cairn verifies it, ends the session on the GET that has the cookie, and POSTs a LogoutResponse.
  const second = await signInAndLaunch();
  const unsigned = wikiSamlify.createLogoutRequest(cairnAsIdp(false), 'post', { logoutNameID: alice.id, sessionIndex: second.profile?.sessionIndex }) as { context: string };
  await postFromElsewhere({ SAMLRequest: unsigned.context, RelayState: 'r1' });
  t.match(await page.content(), /could not be verified/, 'an unsigned LogoutRequest from an SP that signs is refused');
  await page.goto(`${cairn.base}/sso/`);
  t.notOk(await page.locator('#username').count(), 'and the session is untouched');
  const signed = wikiSamlify.createLogoutRequest(cairnAsIdp(true), 'post', { logoutNameID: alice.id, sessionIndex: second.profile?.sessionIndex }) as { context: string };
  const answered = wikiLogouts.length;
  await postFromElsewhere({ SAMLRequest: signed.context, RelayState: 'r2' });
  for (let i = 0; i < 50 && wikiLogouts.length === answered; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(wikiLogouts.slice(answered), [{ loggedOut: true }], 'the wiki got a POSTed, signed LogoutResponse node-saml accepts');
  await page.goto(`${cairn.base}/sso/`);
  t.ok(await page.locator('#username').count(), 'the Cairn session is gone');
  await postFromElsewhere({ SAMLRequest: signed.context, RelayState: 'r2' });
  t.match(await page.content(), /already used/, 'the same LogoutRequest twice is refused');
});

t.test('signing certificate rotation: both certificates in the metadata during the overlap, then the new one signs', async (t) => {
  const certs = async () => [...(await (await fetchCa(`${cairn.base}/saml/metadata`)).text()).matchAll(/<(?:ds:)?X509Certificate>([^<]+)</g)].map((m) => m[1]!.replace(/\s+/g, ''));
  /** Servers reload keys from the change feed: wait until the metadata shows `n` certificates. */
  const published = async (n: number) => {
    for (let i = 0; i < 100 && (await certs()).length !== n; i++) await new Promise((r) => setTimeout(r, 100));
    return certs();
  };
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const launch = async () => {
    await page.goto(`${cairn.base}/sso/`);
    if (await page.locator('#username').count()) {
      await page.fill('#username', 'alice');
      await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
      await page.fill('#password', PW);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    }
    const before = posts.length;
    await Promise.all([page.waitForURL(ACS), page.click('text=CRM')]);
    return { SAMLResponse: (await waitPost(before + 1))!.SAMLResponse! };
  };

  const { cert } = await rotateSamlKey(dir, cairn.ctx, 'Cairn test', 3600);
  const next = cert.replace(/-----[^-]+-----|\s+/g, '');
  const nextPem = `-----BEGIN CERTIFICATE-----\n${next.replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
  t.same(await published(2), [idpCert, next], 'during the overlap: the current and the next certificate');
  const during = await launch();
  t.equal((await spFor('HTTP-Redirect', ValidateInResponseTo.never).validatePostResponseAsync(during)).profile?.nameID, 'alice@example.com', 'the current key still signs');

  // The overlap ends (as if its hour had passed).
  const stored = JSON.parse((await dir.getSealedSetting(cairn.org.id, 'sso.saml.signing'))!.toString());
  stored.next.activateAt = Date.now() - 1;
  await dir.putSealedSetting(cairn.ctx, 'sso.saml.signing', JSON.stringify(stored));
  dir.feed.publish({ kind: 'resource', action: 'updated', orgId: cairn.org.id, id: 'sso-keys' });
  t.same(await published(1), [next], 'after it: only the new certificate');
  const after = await launch();
  t.equal((await spFor('HTTP-Redirect', ValidateInResponseTo.never, nextPem).validatePostResponseAsync(after)).profile?.nameID, 'alice@example.com', 'the new key signs');
  await t.rejects(spFor('HTTP-Redirect', ValidateInResponseTo.never).validatePostResponseAsync(after), 'an SP that kept only the old certificate refuses it');
});

t.test('no password or key in any log line', async (t) => {
  const { logLines } = await import('../../test/helpers/directory.js');
  const all = logLines.join('\n');
  t.notOk(all.includes(PW));
  t.notOk(all.includes(spKey.split('\n')[1]!));
  t.notOk(/SAMLResponse|PRIVATE KEY/.test(all));
});
