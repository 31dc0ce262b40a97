// Every file the agent manages, rendered from the host configuration.
import { nsswitchFile } from './nsswitch.js';
import { pamFile } from './pam.js';
import { sshdFile } from './sshd.js';
import { sssdFiles } from './sssd.js';
import { sudoersFile } from './sudoers.js';
import { systemdFiles } from './systemd.js';
import type { ManagedFile, RenderInput } from './types.js';

export type { ManagedFile, RenderInput } from './types.js';

export function renderAll(inp: RenderInput): ManagedFile[] {
  // With authselect, its sssd profile writes PAM and nsswitch.conf (a symlink into /etc/authselect).
  const pamAndNss = inp.authselect ? [] : [nsswitchFile(inp), pamFile()];
  return [...sssdFiles(inp), ...pamAndNss, sshdFile(inp), sudoersFile(inp), ...systemdFiles(inp)];
}
