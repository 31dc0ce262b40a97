// Reusing an SSO session for an app follows the MFA mode for `sso`, as a fresh sign-in does.
import t from 'tap';
import { testDirectory } from '../../test/helpers/directory.js';
import { totpCode } from '../../core/index.js';
import { authorizeSession } from './access.js';

t.test('session reuse under the sso MFA modes', async (t) => {
  const { dir, org, ctx, close } = await testDirectory('sqlite');
  t.teardown(close);
  const staff = await dir.groups.create(ctx, { name: 'staff' });
  const { app } = await dir.sso.apps.create(ctx, { type: 'oidc', name: 'wiki', groupIds: [staff.id], settings: { redirectUris: ['https://wiki.example.com/cb'] } });
  const enrolled = await dir.users.create(ctx, { username: 'enrolled' });
  const plain = await dir.users.create(ctx, { username: 'plain' });
  for (const u of [enrolled, plain]) await dir.groups.addMember(ctx, staff.id, u.id);
  const { secret } = await dir.users.beginTotp(ctx, enrolled.id);
  await dir.users.confirmTotp(ctx, enrolled.id, totpCode(secret));

  // A session made with a password alone (no second factor).
  const reuse = async (userId: string, mfa: 'totp' | null = null) => {
    const d = await authorizeSession(dir, org, { userId, mfa }, app, '192.0.2.1');
    return d.ok ? 'ok' : d.reason;
  };
  const expected = {
    off: ['ok', 'ok', 'ok'],
    optional: ['reauth', 'ok', 'ok'],
    required: ['reauth', 'reauth', 'ok'],
  };
  for (const [mode, [enrolledPasswordOnly, plainPasswordOnly, withTotp]] of Object.entries(expected)) {
    await dir.policies.setMfaModes(ctx, { sso: mode as keyof typeof expected });
    t.equal(await reuse(enrolled.id), enrolledPasswordOnly, `${mode}: enrolled user, password-only session`);
    t.equal(await reuse(plain.id), plainPasswordOnly, `${mode}: user without TOTP, password-only session`);
    t.equal(await reuse(enrolled.id, 'totp'), withTotp, `${mode}: session with TOTP`);
  }
});
