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
  dir = await openDirectory({ config, log: testLogger() });
  t.teardown(() => dir.close());
  t.equal((await new ApiKeys(dir.deps).get(org.id, made.key.id)).status, 'revoked');
  const [ev] = await dir.audit.list({ orgId: org.id, eventType: 'api_key.revoked_all', limit: 1 });
  t.same([ev?.initiatedBy.type, ev?.service], ['cli', 'cli'], 'audited as a CLI action');
  const [rs] = await dir.audit.list({ orgId: org.id, eventType: 'admin.mfa_reset', limit: 1 });
  t.equal(rs?.initiatedBy.type, 'cli', 'the TOTP reset is audited too');
});
