// PAM on Debian: a pam-auth-update profile that creates home directories at first login.
// pam_sss itself comes from the libpam-sss package's own profile ("sss"). On a real root the
// agent runs `pam-auth-update --package --enable cairn-mkhomedir` (a fixed command, never one
// sent by the server); with --root it only writes the profile.
import { HEADER, type ManagedFile } from './types.js';

export const PAM_PROFILE = '/usr/share/pam-configs/cairn-mkhomedir';

export function pamFile(): ManagedFile {
  return {
    path: PAM_PROFILE,
    mode: 0o644,
    reload: 'pam',
    content: [
      HEADER.trimEnd(),
      'Name: Create home directories for Cairn users at first login',
      'Default: yes',
      'Priority: 0',
      'Session-Type: Additional',
      'Session-Final:',
      '\toptional\t\t\tpam_mkhomedir.so umask=0077',
      '',
    ].join('\n'),
  };
}
