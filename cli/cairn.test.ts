// The cairn CLI, run as a real process against SQLite and PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cairnCli } from '../test/helpers/cli.js';
import { backends, createPgDatabase } from '../test/helpers/directory.js';


for (const backend of backends) {
  t.test(`cairn user/group/audit commands (${backend})`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
    const pgdb = backend === 'pg' ? await createPgDatabase() : null;
    t.teardown(async () => {
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const env = { ...process.env, CAIRN_DATA_DIR: dataDir, CAIRN_DATABASE__URL: pgdb?.url ?? '' };
    const cairn = cairnCli(env);

    const first = await cairn(['user', 'add', 'alice', '--name', 'Alice Liddell', '--email', 'alice@example.com', '--password-stdin'], 'Correct-horse-9\n');
    t.equal(first.code, 0, first.stderr);
    t.match(first.stdout, /created alice \(uid 10000\)/);
    t.match(first.stderr, /Initial administrator created[\s\S]*password: \S{20,}/, 'the bootstrap admin password is printed once, on first use');
    const second = await cairn(['group', 'add', 'admins', '--description', 'Sysadmins']);
    t.match(second.stdout, /created admins \(gid 10001\)/);
    t.notMatch(second.stderr, /Initial administrator/, 'and never again');
    t.match((await cairn(['group', 'add-member', 'admins', 'alice'])).stdout, /alice added to admins/);
    t.match((await cairn(['user', 'suspend', 'alice'])).stdout, /alice suspended/);
    const list = await cairn(['user', 'list']);
    t.match(list.stdout, /alice\s+10000\s+suspended\s+alice@example.com\s+admins/);
    const show = JSON.parse((await cairn(['user', 'show', 'alice', '--json'])).stdout);
    t.match(show, { username: 'alice', displayName: 'Alice Liddell', state: 'suspended', hasPassword: true });
    t.notOk('passwordHash' in show || JSON.stringify(show).includes('argon2'), 'no hash in the output');

    const weak = await cairn(['user', 'passwd', 'alice', '--password-stdin'], 'short\n');
    t.equal(weak.code, 1);
    t.match(weak.stderr, /password: password does not meet the policy: at least 8 characters/);
    const dup = await cairn(['user', 'add', 'alice']);
    t.equal(dup.code, 1);
    t.match(dup.stderr, /username: username already taken/);
    const usage = await cairn(['user', 'frobnicate']);
    t.equal(usage.code, 2);
    t.match(usage.stderr, /unknown: user frobnicate/);

    const tail = await cairn(['audit', 'tail', '-n', '4', '--json']);
    const events = tail.stdout.trim().split('\n').map((l) => JSON.parse(l));
    t.same(events.map((e: { event_type: string }) => e.event_type), ['user.created', 'group.created', 'group.member_added', 'user.suspended']);
    t.match(events[3], { initiated_by: { type: 'cli' }, success: true, changes: { state: { from: 'active', to: 'suspended' } } });
    const verify = await cairn(['audit', 'verify']);
    t.equal(verify.code, 0);
    t.match(verify.stdout, /audit chain intact: 6 events/);

    const rotated = await cairn(['sso', 'rotate-saml-key', '--overlap-hours', '24']);
    t.equal(rotated.code, 0, rotated.stderr);
    t.match(rotated.stdout, /beside the current one; it signs from \d{4}-\d\d-\d\dT/);
    t.equal((await cairn(['sso', 'rotate-saml-key', '--overlap-hours', 'soon'])).code, 2, 'an overlap that is not a number of hours is a usage error');
  });
}

t.test('configuration errors name the key', async (t) => {
  const r = await cairnCli({ ...process.env, CAIRN_LDAP__PORTT: '1' })(['user', 'list']);
  t.equal(r.code, 2);
  t.match(r.stderr, /CAIRN_LDAP__PORTT: no config key ldap\.portt/);
});

t.test('an unusable database is reported with the driver\'s reason, never the URL\'s password', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const r = await cairnCli({ ...process.env, CAIRN_DATA_DIR: dataDir, CAIRN_DATABASE__URL: 'postgres://cairn:Url-secret-77@127.0.0.1:1/cairn' })(['user', 'list']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'cairn: the database is unreachable: connect ECONNREFUSED 127.0.0.1:1\n', 'one line, no stack');
  t.notMatch(r.stdout + r.stderr, /Url-secret-77/);
});
