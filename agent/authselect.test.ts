// RHEL-like hosts (authselect) at file level: no RHEL here, so the root has a
// usr/bin/authselect and the agent's commands run against a fake `authselect` on a PATH of the
// test's own, which records its calls and keeps the selected profile in a file. The agent
// selects "sssd with-mkhomedir" (remembering what was selected before), leaves PAM and
// nsswitch.conf to it, does nothing the second time, and unenroll selects the previous
// profile again, or restores authselect's backup when there was none.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startApi } from '../test/helpers/api.js';
import { fakeRoot, io, snapshot } from '../test/helpers/agent.js';
import { addCanary } from '../test/helpers/directory.js';
import { commandsOnPath } from './host.js';
import { run } from './main.js';

// Like authselect: `current --raw` prints "profile features..." or fails when none is selected.
const FAKE_AUTHSELECT = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
profile="$(dirname "$0")/profile"
case "$1" in
  current) if [ -s "$profile" ]; then cat "$profile"; else echo "No existing configuration detected."; exit 2; fi ;;
  select) shift; words=""; for a in "$@"; do case "$a" in --*) ;; *) words="$words $a" ;; esac; done; echo "\${words# }" > "$profile" ;;
  backup-restore) rm -f "$profile" ;;
  *) exit 1 ;;
esac
`;

t.test('authselect hosts: the sssd profile instead of pam-auth-update and nsswitch edits', async (t) => {
  const h = await startApi('sqlite', { agent: { ldapUris: ['ldaps://127.0.0.1:1'] } });
  t.teardown(h.stop);
  const token = async () => {
    const res = await h.c.call('POST', '/api/v1/agent/enrolment-tokens', { token: h.admin.token, body: {} });
    addCanary(res.json.secret);
    return res.json.secret as string;
  };

  /** A RHEL-ish root, and a fake authselect (with `profile` selected, or none) on its own PATH. */
  const rhel = (profile: string | null) => {
    const root = fakeRoot();
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/authselect'), '', { mode: 0o755 });
    const bin = mkdtempSync(join(tmpdir(), 'cairn-fake-authselect-'));
    writeFileSync(join(bin, 'authselect'), FAKE_AUTHSELECT);
    chmodSync(join(bin, 'authselect'), 0o755);
    if (profile) writeFileSync(join(bin, 'profile'), profile + '\n');
    t.teardown(() => {
      rmSync(root, { recursive: true, force: true });
      rmSync(bin, { recursive: true, force: true });
    });
    // That PATH holds the fake and the few tools it needs, nothing else: no systemctl, no pam-auth-update.
    for (const tool of ['sh', 'dirname', 'cat', 'rm']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    const host = commandsOnPath(bin);
    const calls = () => (existsSync(join(bin, 'calls')) ? readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n') : []);
    const selected = () => (existsSync(join(bin, 'profile')) ? readFileSync(join(bin, 'profile'), 'utf8').trim() : null);
    return { root, host, calls, selected };
  };

  await t.test('a host with a profile gets it back at unenroll', async (t) => {
    const { root, host, calls, selected } = rhel('local with-fingerprint');
    const before = snapshot(root);
    const r = io();
    t.equal(await run(['enroll', '--server', h.s.url, '--token', await token(), '--ca-file', h.s.caFile, '--hostname', 'rhel1.example.com', '--root', root], r.io, host), 0, r.errors());
    t.same(calls(), ['current --raw', 'select sssd with-mkhomedir --force --backup=cairn-agent'], 'what was selected is read first, then sssd selected (with a backup)');
    t.equal(selected(), 'sssd with-mkhomedir');
    t.match(r.text(), /^ran authselect select sssd with-mkhomedir --force --backup=cairn-agent$/m);
    const state = JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8'));
    t.same(state.authselect, { previous: ['local', 'with-fingerprint'] }, 'the previous profile is remembered in the agent state');
    t.notOk(existsSync(join(root, 'usr/share/pam-configs/cairn-mkhomedir')), 'no pam-auth-update profile');
    t.equal(snapshot(root)['etc/nsswitch.conf'], before['etc/nsswitch.conf'], 'nsswitch.conf is left to authselect');
    t.ok(existsSync(join(root, 'etc/sssd/sssd.conf')), 'sssd.conf, sshd and sudoers drop-ins are written as on Debian');

    const again = io();
    t.equal(await run(['sync', '--root', root], again.io, host), 0, again.errors());
    t.same(calls().slice(2), ['current --raw'], 'the second time: checked, nothing selected');
    t.match(again.text(), /^no changes$/m);

    const un = io();
    t.equal(await run(['unenroll', '--root', root], un.io, host), 0, un.errors());
    t.same(calls().slice(3), ['select local with-fingerprint --force'], 'unenroll selects the previous profile');
    t.equal(selected(), 'local with-fingerprint');
    t.same(snapshot(root), before, 'and the tree is as before');
  });

  await t.test('a host without a profile gets authselect\'s backup back', async (t) => {
    const { root, host, calls, selected } = rhel(null);
    const before = snapshot(root);
    const r = io();
    t.equal(await run(['enroll', '--server', h.s.url, '--token', await token(), '--ca-file', h.s.caFile, '--hostname', 'rhel2.example.com', '--root', root], r.io, host), 0, r.errors());
    t.same(JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8')).authselect, { previous: null });
    const dry = io();
    t.equal(await run(['unenroll', '--dry-run', '--root', root], dry.io, host), 0, dry.errors());
    t.same(calls(), ['current --raw', 'select sssd with-mkhomedir --force --backup=cairn-agent'], 'dry-run runs nothing');
    const un = io();
    t.equal(await run(['unenroll', '--root', root], un.io, host), 0, un.errors());
    t.same(calls().slice(2), ['backup-restore cairn-agent'], 'unenroll restores the backup taken before the first selection');
    t.equal(selected(), null);
    t.same(snapshot(root), before);
  });

  await t.test('with --root and no host given, nothing runs: the steps are listed', async (t) => {
    const { root, calls } = rhel('sssd with-mkhomedir');
    const r = io();
    t.equal(await run(['enroll', '--server', h.s.url, '--token', await token(), '--ca-file', h.s.caFile, '--hostname', 'rhel3.example.com', '--root', root], r.io), 0, r.errors());
    t.match(r.text(), /^not run \(--root\): authselect select sssd with-mkhomedir$/m);
    t.same(calls(), [], 'the fake was never called');
    t.equal(await run(['unenroll', '--root', root], io().io), 0);
  });
});
