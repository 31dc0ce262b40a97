// sshd: authorized keys from the directory through SSSD, in a drop-in (Debian's sshd_config
// includes /etc/ssh/sshd_config.d/*.conf). With MFA for SSH the password prompt goes through
// PAM (keyboard-interactive) where the user types password+code.
import type { ManagedFile, RenderInput } from './types.js';
import { HEADER } from './types.js';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/50-cairn.conf';

export function sshdFile(inp: RenderInput): ManagedFile {
  const lines = [
    HEADER.trimEnd(),
    'AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys',
    'AuthorizedKeysCommandUser nobody',
    ...(inp.config.mfaForSsh ? ['# MFA for SSH: password followed by the 6-digit code, checked by Cairn through PAM/SSSD.', 'UsePAM yes', 'KbdInteractiveAuthentication yes'] : []),
    '',
  ];
  return { path: SSHD_DROPIN, mode: 0o644, content: lines.join('\n'), reload: 'sshd' };
}
