import type { HostConfig } from '../config.js';

/** One file the agent manages: its absolute path on the host, mode and full content. */
export interface ManagedFile {
  path: string;
  mode: number;
  content: string;
  /** What must be reloaded on the host when this file changes (the agent's own fixed actions). */
  reload?: 'sssd' | 'sshd' | 'pam' | 'systemd';
  /** Checked before install (sudoers: visudo -cf). */
  validate?: 'sudoers';
}

export interface RenderInput {
  config: HostConfig;
  /** The host's password for its LDAP service account. */
  bindPassword: string;
  /** The content a file had before the agent first touched it (null: absent). */
  original(path: string): string | null;
  /** Path of the cairn-agent executable for the systemd service. */
  agentCommand: string;
  /** The host's PAM and nsswitch.conf belong to authselect (agent/authselect.ts), not to these files. */
  authselect: boolean;
}

export const HEADER = '# Managed by cairn-agent: local changes are replaced at the next sync; `cairn-agent unenroll` restores the original.\n';
