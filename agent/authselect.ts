// RHEL, Fedora and their kin: PAM and nsswitch.conf belong to authselect there, so instead of
// writing a pam-auth-update profile and editing nsswitch.conf the agent selects authselect's
// own "sssd" profile with home directories created at first login. What was selected before
// (`authselect current --raw`) is remembered in the agent state before anything changes, and
// unenroll selects it again; a host that had no profile gets authselect's backup back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HostCommands } from './host.js';

export const AUTHSELECT = '/usr/bin/authselect';
export const WANTED = ['sssd', 'with-mkhomedir'];
/** The name of the backup authselect takes before the agent's first selection. */
export const BACKUP = 'cairn-agent';

/** What was selected before the agent's first change: profile and features, or null (none). */
export interface AuthselectMemo { previous: string[] | null }

export const usesAuthselect = (root: string) => existsSync(join(root, AUTHSELECT));

/** The selected profile and its features, or null when none is (or authselect refuses). */
export function currentProfile(host: HostCommands): string[] | null {
  const r = host.run(['authselect', 'current', '--raw']);
  if (r.status !== 0) return null;
  const words = r.stdout.trim().split(/\s+/).filter(Boolean);
  if (!words.length || words.some((w) => !/^[A-Za-z0-9_./-]{1,128}$/.test(w))) return null;
  return words;
}

/** Whether sssd with-mkhomedir (and maybe more features) is what is selected. */
export const isSelected = (current: string[] | null) => !!current && current[0] === WANTED[0] && WANTED.slice(1).every((f) => current.includes(f));

/**
 * Select sssd with-mkhomedir unless it is selected already. `remember` is called with what was
 * selected before, once (first run), before anything is changed.
 */
export function selectSssd(host: HostCommands, first: boolean, remember: (memo: AuthselectMemo) => void): string | null {
  const current = currentProfile(host);
  if (first) remember({ previous: current });
  if (isSelected(current)) return null;
  const argv = ['authselect', 'select', ...WANTED, '--force', ...(first ? [`--backup=${BACKUP}`] : [])];
  const r = host.run(argv);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim().slice(0, 300)}`);
  return argv.join(' ');
}

/** The command that puts back what was there before the agent. */
export const restoreArgv = (memo: AuthselectMemo) =>
  memo.previous ? ['authselect', 'select', ...memo.previous, '--force'] : ['authselect', 'backup-restore', BACKUP];
