// cairn-agent in tests: a fake host root for --root, a snapshot of a tree (to prove that
// unenroll restores it byte for byte), and an Io that keeps the agent's output.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An Io for run() that keeps what the agent printed. */
export function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err, text: () => out.join('\n'), errors: () => err.join('\n') };
}

/** Every file and directory under root: path → mode and content hash. */
export function snapshot(root: string): Record<string, string> {
  const snap: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = statSync(p);
    if (st.isDirectory()) {
      snap[rel + '/'] = (st.mode & 0o7777).toString(8);
      for (const e of readdirSync(p).sort()) walk(rel ? `${rel}/${e}` : e);
    } else {
      snap[rel] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk('');
  return snap;
}

export const NSSWITCH = `# /etc/nsswitch.conf
passwd:         files systemd
group:          files systemd
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files
`;

/** A temporary tree shaped like a Debian host's, for cairn-agent --root. */
export function fakeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'cairn-agent-root-'));
  for (const d of ['etc/ssh/sshd_config.d', 'etc/sudoers.d', 'etc/systemd/system', 'usr/share/pam-configs', 'var/lib']) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  writeFileSync(join(root, 'etc/nsswitch.conf'), NSSWITCH, { mode: 0o644 });
  writeFileSync(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', { mode: 0o644 });
  writeFileSync(join(root, 'etc/sudoers.d/README'), '# local notes\n', { mode: 0o440 });
  return root;
}
