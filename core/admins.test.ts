// Admin login under the `admin` MFA modes: required makes an admin without TOTP enrol first,
// optional asks only admins who have enrolled, off asks nobody.
import t from 'tap';
import { testDirectory } from '../test/helpers/directory.js';
import { totpCode } from './crypto/totp.js';

const PW = 'Admin-password-123';

t.test('admin login under the admin MFA modes', async (t) => {
  const { dir, org, ctx, close } = await testDirectory('sqlite');
  t.teardown(close);
  const login = (username: string, otp?: string) => dir.admins.login(org.id, { username, password: PW, otp }, '192.0.2.1');
  await dir.admins.create(ctx, { username: 'enrolled', role: 'manager', password: PW });
  await dir.admins.create(ctx, { username: 'plain', role: 'manager', password: PW });

  // required (the default): the first login enrols.
  const first = await login('enrolled');
  if (first.status !== 'totp_enrollment_required') throw new Error(`expected an enrolment, got ${first.status}`);
  t.match(await dir.admins.confirmEnrollment(org.id, first.enrollmentToken, totpCode(first.totpSecret), '192.0.2.1'), { status: 'ok' });

  await dir.policies.setMfaModes(ctx, { admin: 'optional' });
  await t.rejects(login('enrolled'), { code: 'unauthenticated' }, 'optional: an enrolled admin needs the code');
  t.match(await login('plain'), { status: 'ok' }, 'optional: an admin without TOTP logs in with the password, not sent to enrol');

  await dir.policies.setMfaModes(ctx, { admin: 'required' });
  t.match(await login('plain'), { status: 'totp_enrollment_required' }, 'required: an admin without TOTP enrols first');

  await dir.policies.setMfaModes(ctx, { admin: 'off' });
  t.match(await login('enrolled'), { status: 'ok' }, 'off: the password alone');
});
