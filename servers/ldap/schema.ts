// The attribute types we publish, their matching rules, and the entry shape.
import { normalizeDn } from './dn.js';

export type Syntax = 'caseIgnore' | 'caseExact' | 'integer' | 'dn' | 'time' | 'octets';

interface AttrType {
  name: string; // canonical spelling
  syntax: Syntax;
  /** Operational: returned only when asked for by name or with "+". */
  operational?: boolean;
}

const types: AttrType[] = [
  { name: 'objectClass', syntax: 'caseIgnore' },
  { name: 'uid', syntax: 'caseIgnore' },
  { name: 'cn', syntax: 'caseIgnore' },
  { name: 'sn', syntax: 'caseIgnore' },
  { name: 'givenName', syntax: 'caseIgnore' },
  { name: 'displayName', syntax: 'caseIgnore' },
  { name: 'mail', syntax: 'caseIgnore' },
  { name: 'uidNumber', syntax: 'integer' },
  { name: 'gidNumber', syntax: 'integer' },
  { name: 'homeDirectory', syntax: 'caseExact' },
  { name: 'loginShell', syntax: 'caseExact' },
  { name: 'gecos', syntax: 'caseIgnore' },
  { name: 'sshPublicKey', syntax: 'octets' },
  { name: 'memberOf', syntax: 'dn' },
  { name: 'shadowLastChange', syntax: 'integer' },
  { name: 'shadowMin', syntax: 'integer' },
  { name: 'shadowMax', syntax: 'integer' },
  { name: 'shadowWarning', syntax: 'integer' },
  { name: 'shadowExpire', syntax: 'integer' },
  { name: 'memberUid', syntax: 'caseExact' },
  { name: 'member', syntax: 'dn' },
  { name: 'description', syntax: 'caseIgnore' },
  { name: 'ou', syntax: 'caseIgnore' },
  { name: 'dc', syntax: 'caseIgnore' },
  { name: 'o', syntax: 'caseIgnore' },
  { name: 'entryUUID', syntax: 'caseIgnore', operational: true },
  { name: 'createTimestamp', syntax: 'time', operational: true },
  { name: 'modifyTimestamp', syntax: 'time', operational: true },
  { name: 'pwdAccountLockedTime', syntax: 'time', operational: true },
  { name: 'entryDN', syntax: 'dn', operational: true },
  { name: 'hasSubordinates', syntax: 'caseIgnore', operational: true },
  { name: 'structuralObjectClass', syntax: 'caseIgnore', operational: true },
  // Root DSE
  { name: 'namingContexts', syntax: 'dn' },
  { name: 'supportedLDAPVersion', syntax: 'integer' },
  { name: 'supportedControl', syntax: 'caseIgnore' },
  { name: 'supportedExtension', syntax: 'caseIgnore' },
  { name: 'supportedFeatures', syntax: 'caseIgnore' },
  { name: 'supportedSASLMechanisms', syntax: 'caseIgnore' },
  { name: 'vendorName', syntax: 'caseExact' },
  { name: 'vendorVersion', syntax: 'caseExact' },
];

/** Names and OIDs a client may use for a type, lower-cased, to the type. */
export const attributeTypes = new Map<string, AttrType>();
for (const t of types) attributeTypes.set(t.name.toLowerCase(), t);
for (const [alias, name] of [
  ['commonname', 'cn'], ['surname', 'sn'], ['gn', 'givenname'], ['userid', 'uid'], ['rfc822mailbox', 'mail'],
  ['2.5.4.0', 'objectclass'], ['0.9.2342.19200300.100.1.1', 'uid'], ['2.5.4.3', 'cn'], ['1.3.6.1.1.1.1.0', 'uidnumber'],
  ['1.3.6.1.1.1.1.1', 'gidnumber'], ['1.3.6.1.1.1.1.12', 'memberuid'], ['2.5.4.31', 'member'],
] as const) {
  attributeTypes.set(alias, attributeTypes.get(name)!);
}

/**
 * Secrets: never stored on an entry, never returned, never comparable; a filter naming one
 * evaluates to Undefined, so it cannot be used as an oracle.
 */
export const secretAttributes = new Set([
  'userpassword', '2.5.4.35', 'authpassword', 'sambantpassword', 'sambalmpassword', 'pwdhistory', 'unicodepwd',
  'totpsecret', 'krbprincipalkey', 'ntpassword',
]);

/** The attribute's type, or undefined for an unknown or secret one. Options (";lang-x") are not supported. */
export function attrType(desc: string): AttrType | undefined {
  const key = desc.toLowerCase();
  if (secretAttributes.has(key)) return undefined;
  return attributeTypes.get(key);
}

/** The normalised form used for equality and ordering under a syntax; null when invalid. */
export function normalize(syntax: Syntax, value: string): string | null {
  switch (syntax) {
    case 'caseIgnore':
      return value.trim().replace(/\s+/g, ' ').toLowerCase();
    case 'caseExact':
      return value.trim().replace(/\s+/g, ' ');
    case 'octets':
      return value;
    case 'integer': {
      const v = value.trim();
      if (!/^-?\d{1,18}$/.test(v)) return null;
      return String(Number(v));
    }
    case 'dn':
      return normalizeDn(value);
    case 'time': {
      // GeneralizedTime as we write it (YYYYMMDDHHMMSSZ); fractions and offsets dropped to UTC seconds.
      const m = /^(\d{14})(?:[.,]\d+)?(Z|[+-]\d{4})$/.exec(value.trim());
      if (!m) return null;
      if (m[2] === 'Z') return m[1]!;
      const d = new Date(`${m[1]!.slice(0, 4)}-${m[1]!.slice(4, 6)}-${m[1]!.slice(6, 8)}T${m[1]!.slice(8, 10)}:${m[1]!.slice(10, 12)}:${m[1]!.slice(12, 14)}${m[2]!.slice(0, 3)}:${m[2]!.slice(3)}`);
      return Number.isNaN(d.getTime()) ? null : generalizedTime(d);
    }
  }
}

export function generalizedTime(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export interface Attribute {
  name: string;
  values: string[];
  /** Normalised values, filled when first matched. */
  norm?: (string | null)[];
  /** This attribute's PartialAttribute BER encoding, filled when first sent. */
  ber?: Buffer;
}

export type EntryKind = 'root' | 'base' | 'ou' | 'user' | 'group' | 'service';

export interface Entry {
  dn: string;
  ndn: string;
  parent: string | null; // normalised DN of the parent
  kind: EntryKind;
  /** Lower-cased attribute name → attribute. */
  attrs: Map<string, Attribute>;
  /** The user or group or service account behind the entry. */
  id?: string;
  /** The DN as an encoded OCTET STRING, filled when first sent. */
  dnBer?: Buffer;
  /** Encoded attribute lists for recent attribute selections (see session.ts). */
  selections?: Map<string, Buffer>;
}

export function makeEntry(kind: EntryKind, dn: string, parent: string | null, values: Record<string, string | number | readonly (string | number)[] | null | undefined>, id?: string, ndn?: string): Entry {
  const attrs = new Map<string, Attribute>();
  for (const [name, v] of Object.entries(values)) {
    if (v === null || v === undefined) continue;
    const list = (Array.isArray(v) ? v : [v]).map(String).filter((s) => s !== '');
    if (!list.length) continue;
    attrs.set(name.toLowerCase(), { name, values: list });
  }
  const entry: Entry = { dn, ndn: ndn ?? normalizeDn(dn)!, parent, kind, attrs };
  if (id) entry.id = id;
  return entry;
}

export function normValues(a: Attribute, syntax: Syntax): (string | null)[] {
  if (!a.norm) a.norm = a.values.map((v) => normalize(syntax, v));
  return a.norm;
}

export function isOperational(nameLower: string): boolean {
  return attributeTypes.get(nameLower)?.operational === true;
}
