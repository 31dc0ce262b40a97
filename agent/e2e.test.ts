// End to end, as root, on the real paths but inside a private mount namespace (unshare -m):
// /etc, /var/lib and /usr/share/pam-configs are tmpfs copies there, so the machine itself is
// never changed. Cairn (API + LDAP) runs here; in the namespace `cairn-agent enroll` writes the
// real /etc/sssd/sssd.conf, nsswitch, PAM profile, sudoers and sshd drop-ins; a real SSSD then
// serves getent, id, sss_ssh_authorizedkeys, pam_sss (pamtester) and sudo -l. The admin removes
// alice from the login group, the agent syncs, her next login is refused; then MFA is required
// for LDAP: after a sync sshd accepts only password + TOTP code; unenroll leaves /etc
// byte for byte as it was. systemctl is a stub that records calls (no systemd here, and a real
// one must never be touched by a test).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { addCanary } from '../test/helpers/directory.js';
import { apiClient, loginWithEnrollment } from '../test/helpers/api.js';
import { totpCode } from '../core/index.js';
import { start } from '../test/helpers/start.js';

const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';
const ALICE_PW = 'Wonder-land-Canary-1';
const CAROL_PW = 'Sing-song-Canary-3';

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

const SCRIPT = String.raw`
set -u
step() { echo "STEP $*"; }
cp -a /etc "$WORK/etc-orig"
mount -t tmpfs tmpfs /etc && cp -a "$WORK/etc-orig/." /etc/
mkdir -p "$WORK/pamcfg" && cp -a /usr/share/pam-configs/. "$WORK/pamcfg/"
mount -t tmpfs tmpfs /usr/share/pam-configs && cp -a "$WORK/pamcfg/." /usr/share/pam-configs/
mkdir -p "$WORK/varlib-pam" && cp -a /var/lib/pam/. "$WORK/varlib-pam/" 2>/dev/null
mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/pam /var/lib/sss/db /var/lib/sss/pipes/private /var/lib/sss/mc /var/lib/sss/pubconf /var/lib/sss/gpo_cache && cp -a "$WORK/varlib-pam/." /var/lib/pam/
mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && chmod 755 /run/sshd
mount -t tmpfs tmpfs /home
cp -a /etc "$WORK/etc-before"
printf 'auth required pam_sss.so\naccount required pam_sss.so\n' > /etc/pam.d/cairn-e2e
export PATH="$WORK/fakebin:$PATH"
agent() { "$NODE" --import tsx "$AGENT" "$@"; }
agent enroll --server "$SERVER" --token "$TOKEN" --ca-file "$CAFILE" --hostname e2e.example.com > "$WORK/enroll.out" 2>&1; echo "ENROLL $?"
startsssd() { sssd -i -c /etc/sssd/sssd.conf --logger=stderr -d 0x0070 >>"$WORK/sssd.log" 2>&1 & SSSD=$!; for i in $(seq 80); do getent passwd alice >/dev/null 2>&1 && break; sleep 0.25; done; }
startsssd
agent status > "$WORK/status.out" 2>&1; echo "STATUS $?"
echo "GETENT $(getent passwd alice)"
echo "ID $(id alice 2>&1)"
echo "KEYS $(sss_ssh_authorizedkeys alice 2>&1)"
printf '%s\n' "$ALICE_PW" | pamtester cairn-e2e alice authenticate acct_mgmt >/dev/null 2>&1; echo "PAM_ALICE $?"
printf 'wrong-password\n' | pamtester cairn-e2e alice authenticate >/dev/null 2>&1; echo "PAM_ALICE_WRONG $?"
printf '%s\n' "$CAROL_PW" | pamtester cairn-e2e carol authenticate acct_mgmt >/dev/null 2>&1; echo "PAM_CAROL $?"
echo "SUDO $(sudo -l -U alice 2>&1 | tr '\n' ' ')"
echo "SUDO_CAROL $(sudo -l -U carol 2>&1 | tr '\n' ' ')"
SSHD=
startsshd() { /usr/sbin/sshd -D -e -p "$SSHPORT" -o ListenAddress=127.0.0.1 >>"$WORK/sshd.log" 2>&1 & SSHD=$!; for i in $(seq 40); do (exec 3<>/dev/tcp/127.0.0.1/$SSHPORT) 2>/dev/null && break; sleep 0.25; done; }
if [ -x /usr/sbin/sshd ]; then
  startsshd
  SSHOPTS="-p $SSHPORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=15"
  echo "SSH_KEY $(ssh $SSHOPTS -i "$WORK/alice_key" -o BatchMode=yes -o PasswordAuthentication=no alice@127.0.0.1 'id -un; test -d /home/alice && echo home' 2>>"$WORK/ssh.err" | tr '\n' ' ')"
  echo "SSH_PW $(SSHPASS="$ALICE_PW" sshpass -e ssh $SSHOPTS -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive alice@127.0.0.1 id -un 2>>"$WORK/ssh.err")"
  SSHPASS="$CAROL_PW" sshpass -e ssh $SSHOPTS -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive carol@127.0.0.1 id -un >/dev/null 2>>"$WORK/ssh.err"; echo "SSH_CAROL $?"
fi
echo PHASE1
read go
agent sync > "$WORK/sync.out" 2>&1; echo "SYNC $?"
sss_cache -E >/dev/null 2>&1
printf '%s\n' "$ALICE_PW" | pamtester cairn-e2e alice authenticate acct_mgmt >/dev/null 2>&1; echo "PAM_ALICE_AFTER $?"
if [ -n "$SSHD" ]; then
  ssh $SSHOPTS -i "$WORK/alice_key" -o BatchMode=yes -o PasswordAuthentication=no alice@127.0.0.1 id -un >/dev/null 2>>"$WORK/ssh.err"; echo "SSH_KEY_AFTER $?"
fi
# MFA: the admin puts alice back, requires MFA for LDAP and enrols her TOTP; the next sync
# follows the LDAP policy. sssd and sshd restart as systemctl would restart them.
echo MFA
read go TOTP_SECRET
agent sync > "$WORK/sync-mfa.out" 2>&1; echo "SYNC_MFA $?"
kill $SSSD 2>/dev/null; wait $SSSD 2>/dev/null; startsssd
if [ -n "$SSHD" ]; then
  kill $SSHD 2>/dev/null; wait $SSHD 2>/dev/null; startsshd
  sshpw() { SSHPASS="$1" sshpass -e ssh $SSHOPTS -o PubkeyAuthentication=no -o PreferredAuthentications=keyboard-interactive,password alice@127.0.0.1 id -un 2>>"$WORK/ssh.err"; }
  sshpw "$ALICE_PW" >/dev/null; echo "SSH_MFA_PW_ONLY $?"
  ssh $SSHOPTS -i "$WORK/alice_key" -o BatchMode=yes alice@127.0.0.1 id -un >/dev/null 2>>"$WORK/ssh.err"; echo "SSH_MFA_KEY_ONLY $?"
  echo "SSH_MFA $(sshpw "$ALICE_PW$(oathtool --totp -b "$TOTP_SECRET")")"
  kill $SSHD 2>/dev/null; wait $SSHD 2>/dev/null
fi
agent unenroll > "$WORK/unenroll.out" 2>&1; echo "UNENROLL $?"
kill $SSSD 2>/dev/null; wait $SSSD 2>/dev/null
rm -f /etc/pam.d/cairn-e2e
diff -r --no-dereference "$WORK/etc-before" /etc > "$WORK/etc.diff" 2>&1; echo "ETCDIFF $?"
echo "END ok"
`;

t.test('cairn-agent end to end with SSSD, pam_sss and sudo in a private mount namespace', async (t) => {
  const need = ['sssd', 'pamtester', 'sss_ssh_authorizedkeys', 'getent', 'unshare', 'sudo', 'diff', 'oathtool'];
  const missing = need.filter((c) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, c))));
  if (process.getuid?.() !== 0 || missing.length || !existsSync(new URL('../servers/ldap/main.ts', import.meta.url))) {
    t.fail(`needs root, the LDAP server and the packages in test/debian-packages.txt (missing: ${missing.join(', ') || 'root or servers/ldap'})`);
    return;
  }
  const ldapsPort = await freePort();
  const s = await start({ only: ['api', 'ldap'], overrides: { ldap: { port: 0, ldapsPort }, agent: { ldapUris: [`ldaps://127.0.0.1:${ldapsPort}`] } } });
  const c = apiClient(s);
  const work = mkdtempSync(join(tmpdir(), 'cairn-agent-e2e-'));
  t.teardown(async () => {
    await c.close();
    await s.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const admin = (await loginWithEnrollment(c, 'admin', 'Bootstrap-admin-pw-1')).token;
  const call = (method: string, path: string, body?: unknown) => c.call(method, `/api/v1${path}`, { token: admin, ...(body !== undefined ? { body } : {}) });
  addCanary(ALICE_PW);
  addCanary(CAROL_PW);
  const { dir, ctx } = s;
  const alice = await dir.users.create(ctx, { username: 'alice', displayName: 'Alice Liddell', password: ALICE_PW });
  await dir.users.create(ctx, { username: 'carol', displayName: 'Carol', password: CAROL_PW });
  await dir.users.addSshKey(ctx, alice.id, ALICE_KEY);
  // A key pair for logging in over SSH (its public half in the directory, beside ALICE_KEY).
  const haveSsh = existsSync('/usr/sbin/sshd') && existsSync('/usr/bin/sshpass') && existsSync('/usr/bin/ssh-keygen');
  if (haveSsh) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@e2e', '-f', join(work, 'alice_key')]);
    await dir.users.addSshKey(ctx, alice.id, readFileSync(join(work, 'alice_key.pub'), 'utf8').trim());
  }
  const sshPort = await freePort();
  const devs = await dir.groups.create(ctx, { name: 'developers' });
  const admins = await dir.groups.create(ctx, { name: 'admins' });
  await dir.groups.addMember(ctx, devs.id, alice.id);
  await dir.groups.addMember(ctx, admins.id, alice.id);
  const tok = await call('POST', '/agent/enrolment-tokens', { loginGroupIds: [devs.id], sudoGroupIds: [admins.id] });
  t.equal(tok.status, 201);
  addCanary(tok.json.secret);

  mkdirSync(join(work, 'fakebin'));
  writeFileSync(join(work, 'fakebin/systemctl'), `#!/bin/sh\necho "$@" >> ${work}/systemctl.calls\nexit 0\n`);
  chmodSync(join(work, 'fakebin/systemctl'), 0o755);
  writeFileSync(join(work, 'e2e.sh'), SCRIPT);
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'bash', join(work, 'e2e.sh')], {
    env: {
      ...process.env, WORK: work, SERVER: s.url, TOKEN: tok.json.secret, CAFILE: s.caFile, NODE: process.execPath,
      AGENT: new URL('./main.ts', import.meta.url).pathname, ALICE_PW, CAROL_PW, SSHPORT: String(sshPort),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const results: Record<string, string> = {};
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  await new Promise<void>((resolve) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const sp = line.indexOf(' ');
      if (line === 'PHASE1') {
        void (async () => {
          // The admin takes alice out of the login group; the host applies it at its next sync.
          t.equal((await call('DELETE', `/groups/${devs.id}/members/${alice.id}`)).status, 204);
          child.stdin.write('go\n');
        })();
      } else if (line === 'MFA') {
        void (async () => {
          t.equal((await call('PUT', `/groups/${devs.id}/members/${alice.id}`)).status, 204);
          await dir.policies.setMfaModes(ctx, { ldap: 'required' });
          const { secret } = await dir.users.beginTotp(ctx, alice.id);
          addCanary(secret);
          // Confirmed with the previous step's code, so that the current one is still unused.
          await dir.users.confirmTotp(ctx, alice.id, totpCode(secret, Date.now() / 1000 - 30));
          child.stdin.write(`go ${secret}\n`);
        })();
      } else if (sp > 0) results[line.slice(0, sp)] = line.slice(sp + 1);
    });
    child.on('close', () => resolve());
  });
  clearTimeout(timer);
  const file = (n: string) => (existsSync(join(work, n)) ? readFileSync(join(work, n), 'utf8') : '');
  const context = `\nenroll: ${file('enroll.out')}\nsync: ${file('sync.out')}\nunenroll: ${file('unenroll.out')}\nstderr: ${stderr.slice(-2000)}\nsssd: ${file('sssd.log').split('\n').filter((l) => /rror|fail/i.test(l)).slice(-15).join('\n')}`;
  t.equal(results.ENROLL, '0', `enroll as root on the real paths${results.ENROLL === '0' ? '' : context}`);
  t.equal(results.STATUS, '0');
  t.match(file('status.out'), /^ldap ldaps:\/\/127\.0\.0\.1:\d+: reachable, certificate verified$/m, `status: Cairn's LDAPS answers with a certificate from Cairn's CA: ${file('status.out')}`);
  t.match(results.GETENT ?? '', /^alice:\*:\d+:\d+:Alice Liddell:\/home\/alice:\/bin\/bash$/, 'getent passwd alice through sss');
  t.match(results.ID ?? '', /developers/, 'id alice lists her groups');
  t.match(results.ID ?? '', /admins/);
  t.equal(results.KEYS, ALICE_KEY, 'sss_ssh_authorizedkeys alice: her key from the directory');
  t.equal(results.PAM_ALICE, '0', 'alice (in the login group) authenticates and passes the access filter through pam_sss');
  t.not(results.PAM_ALICE_WRONG, '0', 'a wrong password is refused');
  t.not(results.PAM_CAROL, '0', 'carol (outside the login groups) is refused');
  t.match(results.SUDO ?? '', /\(ALL : ALL\) ALL/, 'sudo -l -U alice shows the admins group\'s rights');
  t.notMatch(results.SUDO_CAROL ?? '', /\(ALL : ALL\) ALL/, 'carol has no sudo rights');
  if (haveSsh) {
    const sshContext = `\nssh: ${file('ssh.err').slice(-1500)}\nsshd: ${file('sshd.log').slice(-1500)}`;
    t.equal(results.SSH_KEY, 'alice home ', `ssh with her key from the directory logs alice in; her home is created${results.SSH_KEY === 'alice home ' ? '' : sshContext}`);
    t.equal(results.SSH_PW, 'alice', `ssh with her directory password through PAM (sshpass)${results.SSH_PW === 'alice' ? '' : sshContext}`);
    t.not(results.SSH_CAROL, '0', 'carol, outside the login groups, cannot ssh in');
    t.not(results.SSH_KEY_AFTER, '0', 'after leaving the login group, alice cannot ssh in even with her key');
    t.not(results.SSH_MFA_PW_ONLY, '0', 'with LDAP MFA required, her password alone is refused over SSH');
    t.not(results.SSH_MFA_KEY_ONLY, '0', 'and so is her key alone (sshd: AuthenticationMethods keyboard-interactive)');
    t.equal(results.SSH_MFA, 'alice', `password followed by the TOTP code (oathtool) logs her in${results.SSH_MFA === 'alice' ? '' : sshContext}`);
    const binds = (await dir.audit.list({ orgId: s.org.id, eventType: 'ldap.bind', order: 'desc', limit: 50 })).filter((e) => e.initiatedBy.username === 'alice');
    t.ok(binds.some((e) => !e.success && e.reason === 'mfa_required'), 'Cairn refused the password-only bind for want of the code');
    t.ok(binds.some((e) => e.success && e.mfaMeta?.type === 'totp'), 'and accepted the bind with the code as TOTP');
  } else t.fail('openssh-server, openssh-client and sshpass are needed for the SSH part');
  t.equal(results.SYNC, '0', `sync after the change${results.SYNC === '0' ? '' : context}`);
  t.match(file('sync.out'), /^no changes$/m, 'a membership change needs no file change: the access filter is evaluated by SSSD at login');
  t.not(results.PAM_ALICE_AFTER, '0', 'after the admin removed alice from the login group, her next login is refused');
  t.equal(results.SYNC_MFA, '0', `sync after MFA was required for LDAP${results.SYNC_MFA === '0' ? '' : context}`);
  t.match(file('sync-mfa.out'), /^updated \/etc\/ssh\/sshd_config\.d\/50-cairn\.conf$/m, 'the sshd drop-in follows the LDAP MFA policy');
  t.match(file('sync-mfa.out'), /^updated \/etc\/sssd\/sssd\.conf$/m, 'sssd.conf too (no offline credential cache under MFA)');
  t.equal(results.UNENROLL, '0', `unenroll${results.UNENROLL === '0' ? '' : context}`);
  t.equal(results.ETCDIFF, '0', `unenroll leaves /etc byte for byte as before: ${file('etc.diff').slice(0, 3000)}`);
  t.match(file('systemctl.calls'), /enable --now cairn-agent-sync\.timer/, 'the timer is enabled on a real root');
  t.match(file('systemctl.calls'), /disable --now cairn-agent-sync\.timer/, 'and disabled by unenroll');
  t.equal(results.END, "ok", "the script ran to its end");
});
