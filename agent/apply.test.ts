// The file engine on its own: atomic writes with modes, backups recorded before the first
// change, a failed step rolling back the whole run and naming the file, restore byte for byte;
// and the rendered files accepted by the real tools (sssctl config-check, visudo -c).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { apply, restoreAll } from './apply.js';
import { checkConfig, type HostConfig } from './config.js';
import { renderAll } from './files/index.js';
import { withSss } from './files/nsswitch.js';
import { accessFilter } from './files/sssd.js';

const mode = (p: string) => statSync(p).mode & 0o7777;
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

const CA = `-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUQ2Fpcm4tdGVzdC1jYS0wMDAwMDAwMDAwCgYIKoZIzj0E\n-----END CERTIFICATE-----\n`;
const config = (over: Partial<HostConfig> = {}): HostConfig => ({
  configVersion: 'abc123', system: { id: '2b7c0a7e-0000-4000-8000-000000000001', hostname: 'web1.example.com', state: 'enrolled' },
  ldap: { uris: ['ldaps://cairn.example.com:6636'], baseDn: 'dc=example,dc=com', usersDn: 'ou=Users,dc=example,dc=com', groupsDn: 'ou=Groups,dc=example,dc=com', bindDn: 'cn=host-2b7c0a7e00004000,ou=Services,dc=example,dc=com', schema: 'rfc2307' },
  caPem: CA, loginGroups: ['ops', 'devs'], sudoGroups: ['admins'], syncIntervalSeconds: 300, mfaForSsh: false, rotateCredential: false, ...over,
});
const render = (c: HostConfig) => renderAll({ config: c, bindPassword: 'bind-pw-123', original: () => null, agentCommand: '/usr/local/bin/cairn-agent', authselect: false });

t.test('a failed step rolls the run back and names the file', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-apply-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/a.conf'), 'original a\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/b'), 'a file where a directory must be: the third write fails\n');
  const files = [
    { path: '/etc/a.conf', mode: 0o644, content: 'new a\n' },
    { path: '/etc/new/c.conf', mode: 0o600, content: 'new c\n' },
    { path: '/etc/b/target.conf', mode: 0o644, content: 'x\n' },
  ];
  t.throws(() => apply(root, files, { dryRun: false }), { message: /^applying \/etc\/b\/target\.conf failed: .*2 earlier change\(s\) of this run were rolled back$/ });
  t.equal(readFileSync(join(root, 'etc/a.conf'), 'utf8'), 'original a\n', 'the earlier change was rolled back');
  t.equal(mode(join(root, 'etc/a.conf')), 0o640, 'with its mode');
  t.throws(() => statSync(join(root, 'etc/new/c.conf')), 'a file created in the run is removed again');
  // Unenroll after a failed run still restores what the manifest recorded.
  rmSync(join(root, 'etc/b'));
  mkdirSync(join(root, 'etc/b'));
  const ok = apply(root, files, { dryRun: false });
  t.equal(ok.changed.length, 3);
  t.equal(mode(join(root, 'etc/new/c.conf')), 0o600);
  t.equal(apply(root, files, { dryRun: false }).changed.length, 0, 'idempotent');
  restoreAll(root, { dryRun: false });
  t.equal(readFileSync(join(root, 'etc/a.conf'), 'utf8'), 'original a\n');
  t.equal(mode(join(root, 'etc/a.conf')), 0o640);
  t.throws(() => statSync(join(root, 'etc/new')), 'the directory the agent created is gone');
  t.throws(() => statSync(join(root, 'etc/b/target.conf')));
  // A directory where the agent must write a file is refused before anything is touched.
  mkdirSync(join(root, 'etc/b/target.conf'));
  t.throws(() => apply(root, files, { dryRun: false }), { message: /target\.conf is not a regular file/ });
  t.equal(readFileSync(join(root, 'etc/a.conf'), 'utf8'), 'original a\n');
});

t.test('what the server sends is validated before anything is rendered', async (t) => {
  t.throws(() => checkConfig(config({ ldap: { ...config().ldap, uris: ['ldaps://x\nevil = 1'] } })), /ldap\.uris/);
  t.throws(() => checkConfig(config({ ldap: { ...config().ldap, bindDn: 'cn=a\nldap_tls_reqcert = never' } })), /bindDn/);
  t.throws(() => checkConfig(config({ caPem: 'not a cert\n[domain/evil]' })), /caPem/);
  const c = checkConfig(config({ loginGroups: ['ops', 'x)(uid=*', 'a\nb'], sudoGroups: ['admins', 'ALL ALL=(ALL) NOPASSWD: ALL #'] }));
  t.same(c.config.loginGroups, ['ops'], 'unsafe login group names are left out');
  t.same(c.config.sudoGroups, ['admins'], 'unsafe sudo group names are left out');
  t.equal(c.warnings.length, 3);
  t.equal(accessFilter(config({ loginGroups: [] })), '(!(objectClass=*))', 'no login group: nobody');
  t.equal(withSss('passwd: compat sss\n'), 'passwd: compat sss\ngroup: files sss\nshadow: files sss\nsudoers: files sss\n', 'sss is never added twice');
  t.equal(withSss(withSss('passwd: files\n')), withSss('passwd: files\n'));
});

t.test('MFA for SSH: password + code through PAM only, no offline credential cache', async (t) => {
  const file = (c: HostConfig, path: string) => render(c).find((f) => f.path === path)!.content;
  const sshd = file(config({ mfaForSsh: true }), '/etc/ssh/sshd_config.d/50-cairn.conf');
  t.match(sshd, /^KbdInteractiveAuthentication yes$/m);
  t.match(sshd, /^AuthenticationMethods keyboard-interactive$/m, 'a key alone does not log in');
  t.match(file(config({ mfaForSsh: true }), '/etc/sssd/sssd.conf'), /^cache_credentials = false$/m, 'a cached password + code could only be replayed');
  t.notMatch(file(config(), '/etc/ssh/sshd_config.d/50-cairn.conf'), /AuthenticationMethods|KbdInteractive/, 'without MFA sshd keeps its own methods');
  t.match(file(config(), '/etc/sssd/sssd.conf'), /^cache_credentials = true$/m);
});

t.test('the real tools accept the rendered files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of [config(), config({ mfaForSsh: true, loginGroups: [], sudoGroups: [] }), config({ ldap: { ...config().ldap, uris: ['ldap://a.example.com:3389', 'ldap://b.example.com:3389'] } })]) {
    const files = render(c);
    const sssd = files.find((f) => f.path === '/etc/sssd/sssd.conf')!;
    const sudo = files.find((f) => f.path === '/etc/sudoers.d/cairn')!;
    if (have('sssctl') && process.getuid?.() === 0) {
      mkdirSync(join(dir, 'conf.d'), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'sssd.conf'), sssd.content, { mode: 0o600 });
      const r = spawnSync('sssctl', ['config-check', '-c', join(dir, 'sssd.conf'), '-s', join(dir, 'conf.d')], { encoding: 'utf8' });
      t.equal(r.status, 0, `sssctl config-check: ${r.stdout}${r.stderr}`);
      t.match(r.stdout, /Issues identified by validators: 0/);
    } else t.fail('sssctl (sssd-tools) is needed, as root, to check sssd.conf');
    if (have('visudo')) {
      writeFileSync(join(dir, 'sudoers'), sudo.content, { mode: 0o440 });
      const r = spawnSync('visudo', ['-c', '-f', join(dir, 'sudoers')], { encoding: 'utf8' });
      t.equal(r.status, 0, `visudo -c: ${r.stdout}${r.stderr}`);
    } else t.fail('visudo (sudo) is needed to check the sudoers drop-in');
  }
});
