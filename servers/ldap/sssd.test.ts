// SSSD end to end, as root: sssd.conf pointing at a real Cairn with a service account and the CA;
// then getent/id/sss_ssh_authorizedkeys through NSS and pamtester through pam_sss, with MFA and
// suspension. Every file this test writes is removed afterwards and sssd is stopped.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { totpCode } from '../../core/index.js';
import { ldapFixture, ALICE_KEY } from '../../test/helpers/ldap.js';
import { logLines } from '../../test/helpers/directory.js';

const PAM_SERVICE = 'cairn-ldap-test';
const PAM_FILE = `/etc/pam.d/${PAM_SERVICE}`;
const LOCK = '/tmp/cairn-sssd-test.lock';
const SSS_DB = '/var/lib/sss/db';
const SSS_MC = '/var/lib/sss/mc';

// Asynchronous on purpose: Cairn serves SSSD from this very process, so a spawnSync here would
// block the server that the command is waiting for.
const run = (cmd: string, args: string[], input?: string): Promise<{ code: number; out: string; stdout: string }> =>
  new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', () => resolve({ code: -1, out: 'spawn failed', stdout: '' }));
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out: stdout + stderr, stdout });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
  });
const pam = (user: string, password: string) => run('pamtester', [PAM_SERVICE, user, 'authenticate'], `${password}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('SSSD and pam_sss against Cairn', async (t) => {
  const missing: string[] = [];
  for (const c of ['sssd', 'pamtester', 'sss_ssh_authorizedkeys', 'getent']) if ((await run('sh', ['-c', `command -v ${c}`])).code !== 0) missing.push(c);
  if (process.getuid?.() !== 0 || missing.length || !existsSync('/usr/lib/x86_64-linux-gnu/security/pam_sss.so')) {
    t.fail(`needs root and the packages in test/debian-packages.txt (missing: ${missing.join(', ') || 'root or pam_sss'})`);
    return;
  }
  // One SSSD per machine: refuse to run beside another copy of this test.
  let lockFd: number;
  try {
    lockFd = openSync(LOCK, 'wx');
  } catch {
    t.fail(`${LOCK} exists: another SSSD test is running (remove it if stale)`);
    return;
  }
  const dbBefore = new Set(readdirSync(SSS_DB));
  const mcBefore = new Set(readdirSync(SSS_MC));
  const work = mkdtempSync(join(tmpdir(), 'cairn-sssd-'));
  let sssd: ChildProcess | null = null;
  const fx = await ldapFixture('sqlite');
  t.teardown(async () => {
    if (sssd && sssd.exitCode === null) {
      sssd.kill('SIGTERM');
      await new Promise((r) => sssd!.once('exit', r));
    }
    rmSync(PAM_FILE, { force: true });
    for (const f of readdirSync(SSS_DB)) if (!dbBefore.has(f)) rmSync(join(SSS_DB, f), { force: true });
    for (const f of readdirSync(SSS_MC)) if (!mcBefore.has(f)) rmSync(join(SSS_MC, f), { force: true });
    rmSync(work, { recursive: true, force: true });
    await fx.stop();
    closeSync(lockFd);
    rmSync(LOCK, { force: true });
  });

  const conf = join(work, 'sssd.conf');
  writeFileSync(conf, `[sssd]
services = nss, pam, ssh
domains = cairn

[nss]
memcache_timeout = 0
entry_negative_timeout = 1

[pam]
offline_credentials_expiration = 0

[domain/cairn]
id_provider = ldap
auth_provider = ldap
access_provider = permit
ldap_uri = ${fx.ldapsUrl}
ldap_search_base = ${fx.base}
ldap_schema = rfc2307
ldap_default_bind_dn = ${fx.sssd.dn}
ldap_default_authtok = ${fx.sssd.password}
ldap_tls_cacert = ${fx.caFile}
ldap_tls_reqcert = demand
cache_credentials = false
entry_cache_timeout = 1
refresh_expired_interval = 0
`, { mode: 0o600 });
  writeFileSync(PAM_FILE, 'auth required pam_sss.so\naccount required pam_sss.so\npassword required pam_sss.so\n');
  const log = openSync(join(work, 'sssd.log'), 'w');
  sssd = spawn('sssd', ['-i', '-c', conf, '--logger=stderr', '-d', process.env.CAIRN_SSSD_DEBUG ?? '0x0070'], { stdio: ['ignore', log, log] });

  let ready = false;
  for (let i = 0; i < 60 && !ready; i++) {
    await sleep(500);
    ready = (await run('getent', ['-s', 'sss', 'passwd', 'alice'])).code === 0;
  }
  t.ok(ready, 'sssd resolves alice from Cairn');
  if (!ready) {
    const lines = readFileSync(join(work, 'sssd.log'), 'utf8').split('\n').filter((l) => /be\[cairn\]/.test(l) && /rror|fail|TLS|ldap_|connect/i.test(l));
    t.comment(lines.slice(-40).join('\n'));
    writeFileSync('/tmp/cairn-sssd-last.log', readFileSync(join(work, 'sssd.log')));
    t.comment('full log: /tmp/cairn-sssd-last.log');
    t.comment(logLines.filter((l) => l.includes('ldap')).slice(-30).join(''));
    return;
  }
  const alice = fx.users.alice!;

  await t.test('NSS: getent passwd, id (groups), getent group', async (t) => {
    const pw = await run('getent', ['passwd', 'alice']);
    t.equal(pw.stdout.trim(), `alice:*:${alice.uidNumber}:${alice.gidNumber}:Alice Liddell:/home/alice:/bin/bash`);
    const id = await run('id', ['alice']);
    t.equal(id.code, 0, id.out);
    t.match(id.stdout, `uid=${alice.uidNumber}(alice)`);
    t.match(id.stdout, `gid=${alice.gidNumber}(alice)`, 'user-private group resolves');
    t.match(id.stdout, /\(admins\)/);
    t.match(id.stdout, /\(developers\)/);
    const g = await run('getent', ['group', 'developers']);
    t.match(g.stdout, /^developers:\*:\d+:(alice,bob|bob,alice)$/m);
    t.not((await run('getent', ['-s', 'sss', 'passwd', 'nobody-here'])).code, 0, 'unknown user not found');
  });

  await t.test('SSH keys: sss_ssh_authorizedkeys', async (t) => {
    const r = await run('sss_ssh_authorizedkeys', ['alice']);
    t.equal(r.code, 0, r.out);
    t.equal(r.stdout.trim(), ALICE_KEY);
  });

  await t.test('PAM: right and wrong password', async (t) => {
    t.equal((await pam('alice', fx.passwords.alice!)).code, 0, 'right password');
    t.not((await pam('alice', 'wrong-password')).code, 0, 'wrong password');
    t.not((await pam('nobody-here', 'whatever')).code, 0, 'unknown user');
  });

  await t.test('PAM with MFA required: password + TOTP code', async (t) => {
    const { dir, ctx } = fx.t;
    const { secret } = await dir.users.beginTotp(ctx, alice.id);
    await dir.users.confirmTotp(ctx, alice.id, totpCode(secret, Date.now() / 1000 - 30));
    await dir.policies.setMfaModes(ctx, { ldap: 'required' });
    t.not((await pam('alice', fx.passwords.alice!)).code, 0, 'password alone refused');
    t.not((await pam('alice', `${fx.passwords.alice}000000`)).code, 0, 'wrong code refused');
    const ok = await pam('alice', `${fx.passwords.alice}${totpCode(secret)}`);
    t.equal(ok.code, 0, `password+code accepted ${ok.out}`);
    await dir.policies.setMfaModes(ctx, { ldap: 'off' });
    await dir.users.resetTotp(ctx, alice.id);
  });

  await t.test('a temporary password: pam_sss asks for a new one and changes it through Cairn', async (t) => {
    const { dir, ctx, org } = fx.t;
    const carol = fx.users.carol!;
    const temp = 'Temporary-from-admin-31';
    await dir.users.setPassword(ctx, carol.id, temp, { mustChange: true });
    const stale = await run('pamtester', ['-v', PAM_SERVICE, 'carol', 'authenticate', 'acct_mgmt'], `${temp}\n`);
    t.not(stale.code, 0, 'the account step refuses the temporary password');
    t.match(stale.out, /new one required/i, `pam_sss asks for a new password: ${stale.out}`);
    const changed = await run('pamtester', ['-v', PAM_SERVICE, 'carol', 'authenticate', 'chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)'], `${temp}\n${temp}\nChosen-new-pass-77\nChosen-new-pass-77\n`);
    t.equal(changed.code, 0, `changed: ${changed.out}`);
    t.equal((await dir.users.get(org.id, carol.id)).mustChangePassword, false, 'Cairn has the new password, no longer temporary');
    t.equal((await pam('carol', 'Chosen-new-pass-77')).code, 0, 'the new password logs in');
    t.not((await pam('carol', temp)).code, 0, 'the temporary one no longer');
    // Three days before expiry (90-day policy, warn 14 days before) the login warns.
    await dir.store('users').where({ id: carol.id }).update({ password_changed_at: Date.now() - 87 * 86400_000 });
    const warned = await run('pamtester', ['-v', PAM_SERVICE, 'carol', 'authenticate', 'acct_mgmt'], 'Chosen-new-pass-77\n');
    t.equal(warned.code, 0, warned.out);
    t.match(warned.out, /will expire in/, `pam_sss warns: ${warned.out}`);
  });

  await t.test('suspension: the next pamtester fails, and the user disappears', async (t) => {
    const { dir, ctx } = fx.t;
    const bob = fx.users.bob!;
    t.equal((await pam('bob', fx.passwords.bob!)).code, 0, 'bob logs in');
    await dir.users.setState(ctx, bob.id, 'suspended');
    t.not((await pam('bob', fx.passwords.bob!)).code, 0, 'suspended: refused at once');
    await sleep(2000); // entry_cache_timeout = 1
    t.not((await run('getent', ['passwd', 'bob'])).code, 0, 'suspended user no longer resolves');
    await dir.users.setState(ctx, bob.id, 'active');
  });
});
