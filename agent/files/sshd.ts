// sshd: authorized keys from the directory through SSSD, in a drop-in (Debian's sshd_config
// includes /etc/ssh/sshd_config.d/*.conf first, so these values win over its own).
//
// MFA for SSH (the server's LDAP MFA policy): the only way in is keyboard-interactive through
// PAM, where the user types the password followed by the 6-digit code; pam_sss hands that to
// SSSD, whose LDAP bind Cairn checks as password + code. A key alone no longer logs in: Cairn
// never sees a key login (no second factor, no lockout, no audit of the authentication), so
// accepting one would let the host undercut the policy the directory enforces everywhere else.
import type { ManagedFile, RenderInput } from './types.js';
import { HEADER } from './types.js';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/50-cairn.conf';

export function sshdFile(inp: RenderInput): ManagedFile {
  const lines = [
    HEADER.trimEnd(),
    'AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys',
    'AuthorizedKeysCommandUser nobody',
    ...(inp.config.mfaForSsh
      ? [
        '# MFA for SSH (Cairn\'s LDAP MFA policy): type the password followed by the 6-digit code; keys alone are refused.',
        'UsePAM yes',
        'KbdInteractiveAuthentication yes',
        'AuthenticationMethods keyboard-interactive',
      ]
      : []),
    '',
  ];
  return { path: SSHD_DROPIN, mode: 0o644, content: lines.join('\n'), reload: 'sshd' };
}
