// Distinguished names (RFC 4514): parse, normalise for comparison, escape for output.

export interface Rdn {
  type: string; // lower-cased
  value: string;
}

const TYPE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;
const MAX_DN = 4096;

/** Parse a DN string into RDNs (first = leftmost). Multi-valued RDNs keep their first AVA only for matching purposes. Null when invalid. */
export function parseDn(dn: string): Rdn[][] | null {
  if (dn.length > MAX_DN) return null;
  const rdns: Rdn[][] = [];
  if (dn.trim() === '') return rdns;
  let i = 0;
  const n = dn.length;
  let current: Rdn[] = [];
  while (i < n) {
    while (i < n && dn[i] === ' ') i++;
    const eq = dn.indexOf('=', i);
    if (eq < 0) return null;
    const type = dn.slice(i, eq).trim();
    if (!TYPE_RE.test(type)) return null;
    i = eq + 1;
    while (i < n && dn[i] === ' ') i++;
    let value = '';
    if (dn[i] === '#') {
      // BER-encoded value: keep the hex form as the value.
      const m = /^#[0-9A-Fa-f]*/.exec(dn.slice(i))!;
      value = m[0];
      i += m[0].length;
    } else if (dn[i] === '"') {
      // Quoted (RFC 2253 legacy form).
      i++;
      while (i < n && dn[i] !== '"') {
        if (dn[i] === '\\' && i + 1 < n) i++;
        value += dn[i];
        i++;
      }
      if (dn[i] !== '"') return null;
      i++;
    } else {
      // Plain characters are appended as they are; runs of \XX escapes are UTF-8 bytes.
      let pending: number[] = [];
      let trailingSpaces = 0;
      const flush = () => {
        if (pending.length) {
          value += Buffer.from(pending).toString('utf8');
          pending = [];
        }
      };
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const c = dn[i]!;
        if (c === '\\') {
          const h = dn.slice(i + 1, i + 3);
          if (/^[0-9A-Fa-f]{2}$/.test(h)) {
            pending.push(parseInt(h, 16));
            i += 3;
          } else if (i + 1 < n) {
            flush();
            value += dn[i + 1];
            i += 2;
          } else return null;
          trailingSpaces = 0;
          continue;
        }
        if (c === '=') return null;
        flush();
        value += c;
        trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
        i++;
      }
      flush();
      if (trailingSpaces) value = value.slice(0, value.length - trailingSpaces);
    }
    current.push({ type: type.toLowerCase(), value });
    while (i < n && dn[i] === ' ') i++;
    if (i >= n) break;
    const sep = dn[i];
    i++;
    if (sep === '+') continue;
    if (sep !== ',' && sep !== ';') return null;
    rdns.push(current);
    current = [];
    if (i >= n) return null; // trailing comma
  }
  rdns.push(current);
  if (rdns.length > 64) return null;
  return rdns;
}

const typeAliases: Record<string, string> = {
  '0.9.2342.19200300.100.1.1': 'uid', userid: 'uid', '2.5.4.3': 'cn', commonname: 'cn', '2.5.4.11': 'ou',
  organizationalunitname: 'ou', '0.9.2342.19200300.100.1.25': 'dc', domaincomponent: 'dc', '2.5.4.10': 'o',
};

export function escapeValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/\0/g, '\\00');
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

function normRdn(rdn: Rdn[]): string {
  return rdn
    .map((a) => `${typeAliases[a.type] ?? a.type}=${escapeValue(a.value.trim().replace(/\s+/g, ' ').toLowerCase())}`)
    .sort()
    .join('+');
}

// Search bases and bind names repeat (SSSD asks under the same few bases all day): remember
// the last few thousand normalisations.
const cache = new Map<string, string | null>();

/** A canonical, case-folded form for comparing DNs; null when the DN does not parse. */
export function normalizeDn(dn: string): string | null {
  const hit = cache.get(dn);
  if (hit !== undefined) return hit;
  const rdns = parseDn(dn);
  const out = rdns ? rdns.map(normRdn).join(',') : null;
  if (dn.length <= 512) {
    if (cache.size >= 4096) cache.delete(cache.keys().next().value!);
    cache.set(dn, out);
  }
  return out;
}

export function normalizedParent(ndn: string): string | null {
  if (ndn === '') return null;
  const rdns = parseDn(ndn)!;
  return rdns.slice(1).map(normRdn).join(',');
}

/** True when `ndn` is `base` or below it (both normalised). */
export function isUnder(ndn: string, base: string): boolean {
  if (base === '') return true;
  if (ndn === base) return true;
  if (!ndn.endsWith(`,${base}`)) return false;
  // The comma must be a separator, not an escaped "\," at the end of a value.
  let k = ndn.length - base.length - 2;
  let backslashes = 0;
  while (k >= 0 && ndn[k] === '\\') {
    backslashes++;
    k--;
  }
  return backslashes % 2 === 0;
}
