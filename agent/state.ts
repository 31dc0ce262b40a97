// The agent's own state under <root>/var/lib/cairn-agent (0700): the host's private key
// (0600), the server it is enrolled with and the CA it trusts, its LDAP bind password, the
// last configuration applied, and the backups of every file it changed.
import { existsSync, mkdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite, stateDir } from './apply.js';
import type { AuthselectMemo } from './authselect.js';
import type { HostConfig } from './config.js';

export interface AgentState {
  server: string;
  /** PEM of the CA the agent verifies the server with; null = the system trust store. */
  caPem: string | null;
  systemId: string;
  hostname: string;
  bindPassword: string;
  enrolledAt: string;
  agentCommand: string;
  lastConfig: HostConfig | null;
  lastSync: { at: string; ok: boolean; configVersion: string | null; changed: string[]; error: string | null } | null;
  /** On authselect hosts: what was selected before the agent's first change (restored by unenroll). */
  authselect?: AuthselectMemo;
}

export function ensureStateDir(root: string): string {
  const dir = stateDir(root);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

export function loadState(root: string): AgentState | null {
  const file = join(stateDir(root), 'state.json');
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as AgentState;
}

export function saveState(root: string, s: AgentState): void {
  atomicWrite(join(ensureStateDir(root), 'state.json'), JSON.stringify(s, null, 1) + '\n', 0o600);
}

export function saveKey(root: string, pem: string): void {
  atomicWrite(join(ensureStateDir(root), 'host.key'), pem, 0o600);
}

export function loadKey(root: string): string {
  return readFileSync(join(stateDir(root), 'host.key'), 'utf8');
}

export function removeState(root: string): void {
  rmSync(stateDir(root), { recursive: true, force: true });
}
