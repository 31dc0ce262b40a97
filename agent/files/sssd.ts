// /etc/sssd/sssd.conf (0600) and the CA it trusts. One LDAP domain "cairn": LDAPS (or
// StartTLS for ldap:// URIs) with Cairn's CA and certificate checking on demand, the host's
// own service credential, an access filter that lets only members of the login groups in,
// SSH keys from sshPublicKey, offline credential caching (off under MFA: a cached password +
// code could only ever be replayed, never typed anew, so the cache would serve an attacker only).
import type { HostConfig } from '../config.js';
import { HEADER, type ManagedFile, type RenderInput } from './types.js';

export const SSSD_CONF = '/etc/sssd/sssd.conf';
export const SSSD_CA = '/etc/sssd/cairn-ca.pem';

/** Members of any login group; no login group = nobody (least privilege). */
export function accessFilter(c: HostConfig): string {
  if (!c.loginGroups.length) return '(!(objectClass=*))';
  const terms = c.loginGroups.map((g) => `(memberOf=cn=${g},${c.ldap.groupsDn})`);
  return terms.length === 1 ? terms[0]! : `(|${terms.join('')})`;
}

export function sssdFiles(inp: RenderInput): ManagedFile[] {
  const c = inp.config;
  if (/[\r\n]/.test(inp.bindPassword)) throw new Error('the stored bind password is unusable');
  const startTls = c.ldap.uris.every((u) => u.startsWith('ldap://'));
  const lines = [
    HEADER.trimEnd(),
    `# Cairn host ${c.system.hostname} (${c.system.id}), config ${c.configVersion}`,
    '[sssd]',
    'config_file_version = 2',
    'services = nss, pam, ssh',
    'domains = cairn',
    '',
    '[nss]',
    'filter_users = root',
    'filter_groups = root',
    '',
    '[pam]',
    'offline_credentials_expiration = 7',
    '',
    '[domain/cairn]',
    'id_provider = ldap',
    'auth_provider = ldap',
    'chpass_provider = ldap',
    'access_provider = ldap',
    'ldap_access_order = filter',
    `ldap_access_filter = ${accessFilter(c)}`,
    `ldap_uri = ${c.ldap.uris.join(', ')}`,
    `ldap_search_base = ${c.ldap.baseDn}`,
    `ldap_user_search_base = ${c.ldap.usersDn}`,
    `ldap_group_search_base = ${c.ldap.groupsDn}`,
    `ldap_schema = ${c.ldap.schema}`,
    ...(c.ldap.bindDn ? [`ldap_default_bind_dn = ${c.ldap.bindDn}`, 'ldap_default_authtok_type = password', `ldap_default_authtok = ${inp.bindPassword}`] : []),
    `ldap_tls_cacert = ${SSSD_CA}`,
    'ldap_tls_reqcert = demand',
    `ldap_id_use_start_tls = ${startTls ? 'true' : 'false'}`,
    'ldap_user_ssh_public_key = sshPublicKey',
    `cache_credentials = ${c.mfaForSsh ? 'false' : 'true'}`,
    'enumerate = false',
    // sudo rights come from the sudoers drop-in the agent writes, not from LDAP sudo rules.
    'sudo_provider = none',
    '',
  ];
  return [
    { path: SSSD_CA, mode: 0o644, content: c.caPem.endsWith('\n') ? c.caPem : c.caPem + '\n', reload: 'sssd' },
    { path: SSSD_CONF, mode: 0o600, content: lines.join('\n'), reload: 'sssd' },
  ];
}
