// `cairn enrolment-token` from the server's shell, run as a real process: the token it prints
// enrols a host through the API (single use), and the listing shows it used.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cairnCli } from '../test/helpers/cli.js';
import { start } from '../test/helpers/start.js';
import { addCanary } from '../test/helpers/directory.js';
import { HostAgents } from '../core/index.js';
import { Client, newHostKey } from '../agent/client.js';


t.test('cairn enrolment-token create / list', async (t) => {
  const s = await start({ only: ['api'] });
  t.teardown(() => s.stop());
  await s.dir.groups.create(s.ctx, { name: 'ops' });
  const env = { ...process.env, CAIRN_DATA_DIR: s.dataDir, CAIRN_TLS__DIR: join(s.dataDir, 'certs') };
  const cairn = cairnCli(env);
  t.equal((await cairn(['enrolment-token', 'create', '--login-groups', 'nope'])).code, 2, 'unknown group refused');
  const made = await cairn(['enrolment-token', 'create', '--login-groups', 'ops', '--sudo-groups', 'ops', '--minutes', '10', '--description', 'db1']);
  t.equal(made.code, 0, made.stderr);
  const secret = made.stdout.trim();
  addCanary(secret);
  t.match(secret, /^cairn-enrol-[A-Za-z0-9_-]{43}$/);
  t.match(made.stderr, /shown only this once/);
  const client = new Client(s.url, readFileSync(s.caFile, 'utf8'));
  const key = newHostKey();
  const res = await client.call<{ systemId: string; config: { loginGroups: string[]; sudoGroups: string[] } }>('POST', '/api/v1/agent/enroll', {
    body: { token: secret, publicKey: key.publicRaw, hostname: 'db1.example.com', os: 'x', agentVersion: '0' }, sign: { hostId: '-', key },
  });
  t.same(res.config.loginGroups, ['ops']);
  t.same(res.config.sudoGroups, ['ops']);
  const list = await cairn(['enrolment-token', 'list']);
  t.match(list.stdout, /used +expires \S+ +db1/);
  t.notOk(list.stdout.includes(secret), 'never the secret');

  // The enrolled host from the shell: listed, disabled and enabled, asked to rotate its credential.
  t.match((await cairn(['system', 'list'])).stdout, /^db1\.example\.com {2}enrolled {2}last contact /m);
  t.match((await cairn(['system', 'disable', 'DB1.example.com'])).stdout, /db1\.example\.com: disabled/);
  t.equal((await s.dir.systems.get(s.org.id, res.systemId)).state, 'disabled');
  t.equal((await cairn(['system', 'enable', 'db1.example.com'])).code, 0);
  t.equal((await s.dir.systems.get(s.org.id, res.systemId)).state, 'enrolled');
  t.equal((await cairn(['system', 'rotate-credential', 'nope.example.com'])).code, 2, 'unknown host refused');
  t.match((await cairn(['system', 'rotate-credential', 'db1.example.com'])).stdout, /new LDAP bind password/);
  t.ok((await new HostAgents(s.dir.deps, s.dir).policy(s.org.id, res.systemId)).rotateCredential, 'the host is asked to rotate');
  const [ev] = await s.dir.audit.list({ orgId: s.org.id, eventType: 'agent.credential_rotation_requested', limit: 1 });
  t.equal(ev?.initiatedBy.type, 'cli', 'audited as a CLI action');
});
