// The host configuration the server sends, checked before anything is rendered from it. The
// agent applies declarative data only: every value that ends up in a file is validated here
// (no newlines, no characters that would change the meaning of an INI line, a filter or a
// sudoers rule); nothing the server sends is ever executed.
export interface HostConfig {
  configVersion: string;
  system: { id: string; hostname: string; state: string };
  ldap: { uris: string[]; baseDn: string; usersDn: string; groupsDn: string; bindDn: string | null; schema: string };
  caPem: string;
  loginGroups: string[];
  sudoGroups: string[];
  syncIntervalSeconds: number;
  mfaForSsh: boolean;
  /** Fetch a new LDAP bind password at this sync (an admin asked, or the last rotation is unconfirmed). */
  rotateCredential: boolean;
}

/** Group names the agent writes into filters and sudoers: no escaping is ever needed for these. */
export const SAFE_GROUP = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const URI = /^ldaps?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?\/?$/;
// A DN as Cairn issues it: attr=value pairs of safe characters (no escapes needed in sssd.conf).
const DN = /^[A-Za-z]+=[A-Za-z0-9 _.@-]+(,[A-Za-z]+=[A-Za-z0-9 _.@-]+)*$/;

export interface Checked { config: HostConfig; warnings: string[] }

export function checkConfig(c: HostConfig): Checked {
  const warnings: string[] = [];
  const fail = (what: string) => {
    throw new Error(`the server sent an unusable host configuration: ${what}`);
  };
  if (!c || typeof c !== 'object') fail('not an object');
  if (!Array.isArray(c.ldap?.uris) || !c.ldap.uris.length || c.ldap.uris.some((u) => typeof u !== 'string' || !URI.test(u))) fail('ldap.uris');
  for (const k of ['baseDn', 'usersDn', 'groupsDn'] as const) if (typeof c.ldap[k] !== 'string' || !DN.test(c.ldap[k])) fail(`ldap.${k}`);
  if (c.ldap.bindDn !== null && (typeof c.ldap.bindDn !== 'string' || !DN.test(c.ldap.bindDn))) fail('ldap.bindDn');
  if (!['rfc2307', 'rfc2307bis'].includes(c.ldap.schema)) fail('ldap.schema');
  if (typeof c.caPem !== 'string' || !/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n*$/.test(c.caPem)) fail('caPem');
  if (!Number.isInteger(c.syncIntervalSeconds) || c.syncIntervalSeconds < 30 || c.syncIntervalSeconds > 86400) fail('syncIntervalSeconds');
  if (typeof c.mfaForSsh !== 'boolean') fail('mfaForSsh');
  if (typeof c.rotateCredential !== 'boolean') fail('rotateCredential');
  if (typeof c.configVersion !== 'string' || !/^[0-9a-f]{1,64}$/.test(c.configVersion)) fail('configVersion');
  const groups = (list: unknown, what: string) => {
    if (!Array.isArray(list)) fail(what);
    const ok: string[] = [];
    for (const g of list as unknown[]) {
      if (typeof g === 'string' && SAFE_GROUP.test(g)) ok.push(g);
      else warnings.push(`${what}: group ${JSON.stringify(String(g).slice(0, 80))} has characters the agent does not write into host files; it is left out (fewer rights, never more)`);
    }
    return [...new Set(ok)].sort();
  };
  return { config: { ...c, loginGroups: groups(c.loginGroups, 'loginGroups'), sudoGroups: groups(c.sudoGroups, 'sudoGroups') }, warnings };
}
