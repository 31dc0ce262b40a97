// nslcd (libnss-ldapd) as a second NSS client, as root: /etc/nslcd.conf pointing at a real Cairn
// over LDAPS with a service account, then `getent -s ldap` for users, groups and a user's groups.
// The machine's /etc/nslcd.conf is restored and nslcd stopped afterwards; nsswitch.conf is not
// touched (`getent -s ldap` asks the ldap NSS module directly).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { ldapFixture } from '../../test/helpers/ldap.js';

const CONF = '/etc/nslcd.conf';
const BACKUP = '/etc/nslcd.conf.cairn-test-backup';
const LOCK = '/tmp/cairn-nslcd-test.lock';

// Asynchronous: Cairn answers nslcd from this very process.
const run = (cmd: string, args: string[]): Promise<{ code: number; stdout: string }> =>
  new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    p.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', () => resolve({ code: -1, stdout: '' }));
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout });
    });
  });

t.test('nslcd (libnss-ldapd) against Cairn', async (t) => {
  if (process.getuid?.() !== 0 || (await run('sh', ['-c', 'command -v nslcd'])).code !== 0 || !existsSync('/usr/lib/x86_64-linux-gnu/libnss_ldap.so.2')) {
    t.fail('needs root and nslcd + libnss-ldapd (test/debian-packages.txt)');
    return;
  }
  let lockFd: number;
  try {
    lockFd = openSync(LOCK, 'wx');
  } catch {
    t.fail(`${LOCK} exists: another nslcd test is running (remove it if stale)`);
    return;
  }
  const hadConf = existsSync(CONF);
  if (hadConf) copyFileSync(CONF, BACKUP);
  let nslcd: ChildProcess | null = null;
  const fx = await ldapFixture('sqlite');
  t.teardown(async () => {
    if (nslcd && nslcd.exitCode === null) {
      nslcd.kill('SIGTERM');
      await new Promise((r) => nslcd!.once('exit', r));
    }
    if (hadConf) {
      copyFileSync(BACKUP, CONF);
      rmSync(BACKUP, { force: true });
    } else rmSync(CONF, { force: true });
    await fx.stop();
    closeSync(lockFd);
    rmSync(LOCK, { force: true });
  });
  // No uid/gid lines: nslcd stays root, so it can read the test CA in a private temp dir.
  writeFileSync(CONF, `uri ${fx.ldapsUrl}/
base ${fx.base}
binddn ${fx.sssd.dn}
bindpw ${fx.sssd.password}
tls_cacertfile ${fx.caFile}
tls_reqcert demand
pagesize 1000
`, { mode: 0o600 });
  nslcd = spawn('nslcd', ['-d'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  nslcd.stderr!.on('data', (d) => (log = (log + d).slice(-20_000)));

  let ready = false;
  for (let i = 0; i < 40 && !ready; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ready = (await run('getent', ['-s', 'ldap', 'passwd', 'alice'])).code === 0;
  }
  t.ok(ready, 'nslcd resolves alice from Cairn');
  if (!ready) {
    t.comment(log.slice(-3000));
    return;
  }
  const alice = fx.users.alice!;
  const pw = await run('getent', ['-s', 'ldap', 'passwd', 'alice']);
  t.equal(pw.stdout.trim(), `alice:*:${alice.uidNumber}:${alice.gidNumber}:Alice Liddell:/home/alice:/bin/bash`);
  const g = await run('getent', ['-s', 'ldap', 'group', 'developers']);
  t.match(g.stdout, /^developers:\*:\d+:(alice,bob|bob,alice)$/m);
  const byGid = await run('getent', ['-s', 'ldap', 'group', String(alice.gidNumber)]);
  t.match(byGid.stdout, /^alice:\*:/m, 'user-private group by gid');
  const ig = await run('getent', ['-s', 'ldap', 'initgroups', 'alice']);
  const admins = (await fx.t.dir.groups.findByName(fx.t.org.id, 'admins'))!;
  t.match(ig.stdout, new RegExp(`\\b${admins.gidNumber}\\b`), 'initgroups lists admins');
  const all = await run('getent', ['-s', 'ldap', 'passwd']);
  t.same(all.stdout.trim().split('\n').map((l) => l.split(':')[0]).sort(), ['alice', 'bob', 'carol'], 'enumeration (paged) lists every user once');
  t.not((await run('getent', ['-s', 'ldap', 'passwd', 'nobody-here'])).code, 0);
  // Suspension: gone for nslcd too (nslcd has no cache).
  await fx.t.dir.users.setState(fx.t.ctx, fx.users.bob!.id, 'suspended');
  t.not((await run('getent', ['-s', 'ldap', 'passwd', 'bob'])).code, 0, 'suspended user no longer resolves');
  t.notMatch((await run('getent', ['-s', 'ldap', 'group', 'developers'])).stdout, /bob/, 'nor appears in groups');
});
