// A systemd timer that runs `cairn-agent sync` at the interval the server asks for.
import { HEADER, type ManagedFile, type RenderInput } from './types.js';

export const SYNC_SERVICE = '/etc/systemd/system/cairn-agent-sync.service';
export const SYNC_TIMER = '/etc/systemd/system/cairn-agent-sync.timer';

export function systemdFiles(inp: RenderInput): ManagedFile[] {
  if (!/^\/[A-Za-z0-9_./-]+$/.test(inp.agentCommand)) throw new Error('--agent-command must be an absolute path of safe characters');
  const interval = inp.config.syncIntervalSeconds;
  return [
    {
      path: SYNC_SERVICE, mode: 0o644, reload: 'systemd',
      content: [
        HEADER.trimEnd(), '[Unit]', 'Description=Cairn host agent: apply access rules from Cairn', 'Wants=network-online.target', 'After=network-online.target', '',
        '[Service]', 'Type=oneshot', `ExecStart=${inp.agentCommand} sync`, 'PrivateTmp=yes', '',
      ].join('\n'),
    },
    {
      path: SYNC_TIMER, mode: 0o644, reload: 'systemd',
      content: [
        HEADER.trimEnd(), '[Unit]', 'Description=Run cairn-agent sync periodically', '',
        '[Timer]', 'OnBootSec=60s', `OnUnitActiveSec=${interval}s`, `RandomizedDelaySec=${Math.min(60, Math.floor(interval / 5))}s`, 'Persistent=true', '',
        '[Install]', 'WantedBy=timers.target', '',
      ].join('\n'),
    },
  ];
}
