// Security keys and passkeys (WebAuthn) in headless Chromium with its own virtual authenticator
// (the CDP WebAuthn domain): registration in the portal behind the password, sign-in with the
// key as the second factor, a forged answer refused, removal, and an admin's MFA reset.
// WebAuthn needs a host name for its relying party id: this Cairn's issuer is https://localhost.
// On SQLite, and on PostgreSQL when CAIRN_TEST_PG_URL is set.
import t from 'tap';
import { backends, createPgDatabase, logLines } from '../../test/helpers/directory.js';
import { freePort, launchChromium, startCairn } from './testkit.js';

const PW = 'Keyholder-canary-61';
const chromium = await launchChromium();
t.teardown(() => chromium.close());

for (const backend of backends) {
  t.test(`security keys (${backend})`, async (t) => {
    const port = await freePort();
    const pg = backend === 'pg' ? await createPgDatabase() : null;
    const cairn = await startCairn({ port, ...(pg ? { databaseUrl: pg.url } : {}), overrides: { sso: { issuer: `https://localhost:${port}` } } });
    t.teardown(async () => {
      await cairn.stop();
      await pg?.drop();
    });
    const BASE = `https://localhost:${port}`;
    const { dir, ctx, org } = cairn;
    const alice = await dir.users.create(ctx, { username: 'alice', displayName: 'Alice', email: 'alice@example.com', password: PW });

    const context = await chromium.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });

    const submitVia = (selector: string) => Promise.all([page.waitForNavigation(), page.click(selector)]);
    const lastEvent = async (eventType: string) => (await dir.audit.list({ orgId: org.id, eventType, limit: 1, order: 'desc' }))[0];

    async function signIn(): Promise<void> {
      await page.goto(`${BASE}/sso/`);
      await page.fill('#username', 'alice');
      await submitVia('button[type=submit]');
      await page.fill('#password', PW);
      await submitVia('button[type=submit]');
    }

    async function signOut(): Promise<void> {
      await page.goto(`${BASE}/sso/`);
      await submitVia('form[action="/sso/logout"] button');
    }

    async function registerKey(name: string): Promise<string> {
      await page.goto(`${BASE}/sso/`);
      await page.fill('#keyName', name);
      await page.fill('#keyPassword', PW);
      await submitVia('form[action="/sso/portal/webauthn/begin"] button');
      // The ceremony: webauthn.js asks the (virtual) key, then submits its answer.
      await page.click('form[data-webauthn="create"] button');
      await page.waitForURL(/\/sso\/portal\/webauthn\/register/, { timeout: 10_000 }).catch(async () => {
        throw new Error(`no answer from the key: ${await page.locator('.webauthn-error').textContent()}`);
      });
      return page.content();
    }

    t.test('a security key is added in the portal, behind the current password', async (t) => {
      await signIn();
      t.match(await page.content(), /Hello, Alice/, 'no second factor yet: password only');
      await page.fill('#keyName', 'YubiKey');
      await page.fill('#keyPassword', 'Not-her-password-1');
      await submitVia('form[action="/sso/portal/webauthn/begin"] button');
      t.match(await page.content(), /The current password is not correct/, 'a borrowed session alone cannot add a key');
      const html = await registerKey('YubiKey');
      t.match(html, /Your security key is registered/);
      t.match(html, /<td>YubiKey<\/td>/, 'listed by name');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      t.equal(credentials.length, 1, 'the authenticator holds one credential for Cairn');
      t.equal(credentials[0]!.rpId, 'localhost');
      t.match(await lastEvent('user.webauthn_added'), { success: true, resource: { id: alice.id }, changes: { name: 'YubiKey' } }, 'audited');
    });

    t.test('the key is the second factor: MFA required, no code asked', async (t) => {
      await signOut();
      await dir.policies.setMfaModes(ctx, { portal: 'required', ldap: 'optional' });
      await signIn();
      const html = await page.content();
      t.match(html, /Use your security key or passkey/);
      t.notMatch(html, /id="otp"/, 'no authenticator app is enrolled, so no code field');
      t.notMatch(html, /Scan this code/, 'a key counts as enrolled: no TOTP enrolment is forced');
      await submitVia('form[data-webauthn="get"] button');
      t.match(await page.content(), /Hello, Alice/, 'signed in with the key');
      t.match(await lastEvent('portal.login'), { success: true, mfaMeta: { type: 'webauthn' } }, 'audited with mfa_meta.type webauthn');
      t.match(await page.content(), /<td>YubiKey<\/td><td>[^<]+<\/td><td>\d{4}-/, 'last use shown');
      // LDAP, RADIUS: no browser, so a key is not a factor there and "optional" asks for nothing.
      t.match(await dir.authenticate({ orgId: org.id, username: 'alice', credential: { kind: 'password', password: PW, otpAppended: true }, protocol: 'ldap', clientIp: '127.0.0.1' }), { decision: 'allow', mfa: null });
    });

    t.test('a passkey signs in with no username or password (it stands for both factors)', async (t) => {
      await signOut();
      await page.goto(`${BASE}/sso/`);
      await submitVia('form[data-webauthn="get"] button');
      t.match(await page.content(), /Hello, Alice/, 'the authenticator offered its passkey for this site');
      t.match(await lastEvent('portal.login'), { success: true, initiatedBy: { id: alice.id }, mfaMeta: { type: 'webauthn' } });
      await signOut();
      await page.goto(`${BASE}/sso/`);
      const forged = JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA', userHandle: Buffer.from(alice.id).toString('base64url') } });
      await Promise.all([page.waitForNavigation(), page.evaluate((v) => {
        const form = document.querySelector('form[data-webauthn="get"]') as HTMLFormElement;
        (form.querySelector('input[name=webauthn]') as HTMLInputElement).value = v;
        form.submit();
      }, forged)]);
      t.match(await page.content(), /That passkey could not sign you in/, 'a forged passkey answer naming alice is refused');
      t.match(await lastEvent('portal.login'), { success: false, reason: 'unknown_user' });
      await page.fill('#username', 'alice');
      await submitVia('button[type=submit]');
      await page.fill('#password', PW);
      await submitVia('button[type=submit]');
      await submitVia('form[data-webauthn="get"] button');
      t.match(await page.content(), /Hello, Alice/, 'the usual way still works');
    });

    t.test('a forged key answer is refused and audited', async (t) => {
      await signOut();
      await signIn();
      const forged = JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' } });
      await Promise.all([page.waitForNavigation(), page.evaluate((v) => {
        const form = document.querySelector('form[data-webauthn="get"]') as HTMLFormElement;
        (form.querySelector('input[name=webauthn]') as HTMLInputElement).value = v;
        form.submit();
      }, forged)]);
      t.notMatch(await page.content(), /Hello, Alice/);
      t.match(await page.locator('#password').count(), 1, 'back to the password');
      t.match(await lastEvent('portal.login'), { success: false, reason: 'mfa_invalid' });
      // The real key still works after the refusal.
      await page.fill('#password', PW);
      await submitVia('button[type=submit]');
      await submitVia('form[data-webauthn="get"] button');
      t.match(await page.content(), /Hello, Alice/);
    });

    t.test('removing a key needs the password; an admin MFA reset removes them all', async (t) => {
      const [key] = await dir.securityKeys.list(org.id, alice.id);
      await page.selectOption('#keyId', key!.id);
      await page.fill('#keyRemovePassword', PW);
      await submitVia('form[action="/sso/portal/webauthn/remove"] button');
      t.match(await page.content(), /The security key was removed/);
      t.equal((await dir.securityKeys.list(org.id, alice.id)).length, 0);
      t.match(await lastEvent('user.webauthn_removed'), { success: true, changes: { name: 'YubiKey' } });

      t.match(await registerKey('Phone'), /<td>Phone<\/td>/, 'a second key');
      await dir.users.resetTotp(ctx, alice.id, { securityKeys: true });
      t.equal((await dir.securityKeys.list(org.id, alice.id)).length, 0, 'gone after the reset');
      t.match(await lastEvent('user.mfa_reset'), { changes: { securityKeysRemoved: 1 } });
      await page.goto(`${BASE}/sso/`);
      t.equal(await page.locator('#username').count(), 1, 'the reset ended her session (a credential change)');
      await signIn();
      t.match(await page.content(), /Scan this code/, 'with no factor left, MFA-required sign-in enrols an authenticator app');
    });

    t.test('no secret in the logs', async (t) => {
      t.notOk(logLines.join('\n').includes(PW));
    });
  });
}
