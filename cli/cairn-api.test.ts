// The CLI's management-API commands (cairn posture, cairn api-key), run as real processes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cairnCli } from '../test/helpers/cli.js';
import { loadConfig } from '../config/load.js';
import { ApiKeys, openDirectory, systemContext } from '../core/index.js';
import { testLogger } from '../test/helpers/directory.js';


t.test('cairn posture and cairn api-key', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-cli-api-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { ...process.env, CAIRN_DATA_DIR: dataDir, CAIRN_BOOTSTRAP__ADMIN_PASSWORD: 'Bootstrap-admin-pw-1' };
  const cairn = cairnCli(env);
  const posture = await cairn(['posture']);
  t.equal(posture.code, 0, posture.stderr);
  t.match(posture.stdout, /PASS {2}MFA is required for administrators/);
  t.match(posture.stdout, /FAIL {2}Every administrator has enrolled a second factor/);
  t.match(posture.stdout, /IA-2\(1\)/);
  t.match(posture.stdout, /\d+ passed, \d+ failed/);

  // A key made through the core, then listed and revoked from the shell.
  const config = loadConfig({ env: {}, overrides: { dataDir } });
  let dir = await openDirectory({ config, log: testLogger() });
  const org = await dir.defaultOrg();
  const [admin] = await dir.admins.list(org.id);
  const made = await new ApiKeys(dir.deps).create(systemContext(org.id, 'test', { type: 'admin', id: admin!.id, name: admin!.username }), { name: 'ci-deploy', role: 'manager' }, 'administrator');
  await dir.close();
  const list = await cairn(['api-key', 'list']);
  t.match(list.stdout, new RegExp(`${made.key.publicId}\\s+active\\s+manager`));
  // The secret is the last 43 characters (base64url: it may itself contain '_').
  t.notOk(list.stdout.includes(made.secret.slice(-43)), 'never the secret');
  const all = await cairn(['api-key', 'revoke-all']);
  t.match(all.stdout, /revoked 1 API key/);
  // The last Administrator lost their phone: the shell can reset their TOTP.
  const reset = await cairn(['admin', 'totp-reset', 'admin']);
  t.match(reset.stdout, /admin: TOTP removed/, reset.stderr);
  // ... and forgot their password: a temporary one from the shell, to change at next login.
  const short = await cairn(['admin', 'passwd', 'admin', '--password-stdin'], 'too-short\n');
  t.same([short.code, short.stderr.trim()], [1, 'cairn: password: at least 12 characters for an administrator'], 'a short password is refused, naming why');
  const passwd = await cairn(['admin', 'passwd', 'admin', '--password-stdin'], 'Temporary-admin-pw-7\n');
  t.match(passwd.stdout, /admin: password reset; they must choose a new one/, passwd.stderr);
  dir = await openDirectory({ config, log: testLogger() });
  t.teardown(() => dir.close());
  t.equal((await new ApiKeys(dir.deps).get(org.id, made.key.id)).status, 'revoked');
  const [ev] = await dir.audit.list({ orgId: org.id, eventType: 'api_key.revoked_all', limit: 1 });
  t.same([ev?.initiatedBy.type, ev?.service], ['cli', 'cli'], 'audited as a CLI action');
  const [rs] = await dir.audit.list({ orgId: org.id, eventType: 'admin.mfa_reset', limit: 1 });
  t.equal(rs?.initiatedBy.type, 'cli', 'the TOTP reset is audited too');
  const login = await dir.admins.login(org.id, { username: 'admin', password: 'Temporary-admin-pw-7' }, '127.0.0.1');
  // Its TOTP was reset above: the right password leads to enrolment (and then to the forced change).
  t.equal(login.status, 'totp_enrollment_required', 'the temporary password is accepted');
  t.equal((await dir.admins.list(org.id)).find((a) => a.username === 'admin')?.mustChangePassword, true, 'and must be changed');
  const [pr] = await dir.audit.list({ orgId: org.id, eventType: 'admin.password_reset', limit: 1 });
  t.equal(pr?.initiatedBy.type, 'cli', 'audited');
});
