// Search filters (RFC 4511 §4.5.1, RFC 4515 semantics): BER decoding with depth and size
// bounds, and three-valued evaluation (TRUE / FALSE / UNDEFINED) per attribute syntax.
import { BerError, type BerReader } from './ber.js';
import { attrType, normalize, normValues, type Entry } from './schema.js';

export type Filter =
  | { t: 'and' | 'or'; list: Filter[] }
  | { t: 'not'; f: Filter }
  | { t: 'eq' | 'ge' | 'le' | 'approx'; attr: string; value: string }
  | { t: 'sub'; attr: string; initial: string | null; any: string[]; final: string | null }
  | { t: 'present'; attr: string }
  | { t: 'ext' };

export function decodeFilter(r: BerReader, limits: { maxFilterDepth: number; maxFilterNodes: number }): Filter {
  const budget = { nodes: 0 };
  return decode(r, 0, limits, budget);
}

function decode(r: BerReader, depth: number, limits: { maxFilterDepth: number; maxFilterNodes: number }, budget: { nodes: number }): Filter {
  if (depth > limits.maxFilterDepth) throw new BerError('filter nested too deeply');
  if (++budget.nodes > limits.maxFilterNodes) throw new BerError('filter too large');
  const t = r.next();
  const s = r.sub(t);
  switch (t.tag) {
    case 0xa0:
    case 0xa1: {
      const list: Filter[] = [];
      while (s.remaining > 0) list.push(decode(s, depth + 1, limits, budget));
      return { t: t.tag === 0xa0 ? 'and' : 'or', list };
    }
    case 0xa2: {
      const f = decode(s, depth + 1, limits, budget);
      if (s.remaining > 0) throw new BerError('not: trailing data');
      return { t: 'not', f };
    }
    case 0xa3:
    case 0xa5:
    case 0xa6:
    case 0xa8: {
      const attr = s.readString(0x04, 'attributeDesc');
      const value = s.readString(0x04, 'assertionValue');
      const kind = t.tag === 0xa3 ? 'eq' : t.tag === 0xa5 ? 'ge' : t.tag === 0xa6 ? 'le' : 'approx';
      return { t: kind, attr, value };
    }
    case 0xa4: {
      const attr = s.readString(0x04, 'type');
      const subs = s.sub(s.expect(0x30, 'substrings'));
      let initial: string | null = null;
      let final: string | null = null;
      const any: string[] = [];
      let count = 0;
      while (subs.remaining > 0) {
        const e = subs.next();
        if (++count > 32) throw new BerError('too many substrings');
        const v = subs.string(e);
        if (e.tag === 0x80 && count === 1) initial = v;
        else if (e.tag === 0x81 && final === null) any.push(v);
        else if (e.tag === 0x82 && final === null) final = v;
        else throw new BerError('substring filter out of order');
      }
      if (count === 0) throw new BerError('empty substring filter');
      return { t: 'sub', attr, initial, any, final };
    }
    case 0x87:
      return { t: 'present', attr: r.string(t) };
    case 0xa9:
      // Extensible match: we support no matching rules, so it evaluates to Undefined.
      return { t: 'ext' };
    default:
      throw new BerError(`unknown filter choice 0x${t.tag.toString(16)}`);
  }
}

/** true, false, or undefined (RFC 4511: Undefined behaves as FALSE at the top, but NOT keeps it Undefined). */
export type Tri = boolean | undefined;

export function evaluate(f: Filter, e: Entry): Tri {
  switch (f.t) {
    case 'and': {
      let res: Tri = true;
      for (const c of f.list) {
        const v = evaluate(c, e);
        if (v === false) return false;
        if (v === undefined) res = undefined;
      }
      return res;
    }
    case 'or': {
      let res: Tri = false;
      for (const c of f.list) {
        const v = evaluate(c, e);
        if (v === true) return true;
        if (v === undefined) res = undefined;
      }
      return res;
    }
    case 'not': {
      const v = evaluate(f.f, e);
      return v === undefined ? undefined : !v;
    }
    case 'present': {
      const key = f.attr.toLowerCase();
      if (key === 'objectclass') return true;
      const type = attrType(key);
      if (!type) return undefined;
      return e.attrs.has(type.name.toLowerCase());
    }
    case 'eq':
    case 'approx':
    case 'ge':
    case 'le': {
      const type = attrType(f.attr);
      if (!type) return undefined;
      const a = e.attrs.get(type.name.toLowerCase());
      const want = normalize(type.syntax, f.value);
      if (want === null) return undefined;
      if (!a) return false;
      const have = normValues(a, type.syntax);
      if (f.t === 'eq' || f.t === 'approx') return have.includes(want);
      if (type.syntax === 'octets' || type.syntax === 'dn') return undefined; // no ordering rule
      for (const h of have) {
        if (h === null) continue;
        const cmp = type.syntax === 'integer' ? Number(h) - Number(want) : h < want ? -1 : h > want ? 1 : 0;
        if (f.t === 'ge' ? cmp >= 0 : cmp <= 0) return true;
      }
      return false;
    }
    case 'sub': {
      const type = attrType(f.attr);
      if (!type) return undefined;
      if (type.syntax === 'integer' || type.syntax === 'dn' || type.syntax === 'time') return undefined; // no substring rule
      const a = e.attrs.get(type.name.toLowerCase());
      if (!a) return false;
      const n = (s: string) => normalize(type.syntax, s) ?? '';
      const initial = f.initial === null ? null : n(f.initial);
      const final = f.final === null ? null : n(f.final);
      const any = f.any.map(n);
      return normValues(a, type.syntax).some((v) => v !== null && substringMatch(v, initial, any, final));
    }
    case 'ext':
      return undefined;
  }
}

function substringMatch(v: string, initial: string | null, any: string[], final: string | null): boolean {
  let pos = 0;
  let end = v.length;
  if (initial !== null) {
    if (!v.startsWith(initial)) return false;
    pos = initial.length;
  }
  if (final !== null) {
    if (!v.endsWith(final) || v.length - final.length < pos) return false;
    end = v.length - final.length;
  }
  for (const s of any) {
    const i = v.indexOf(s, pos);
    if (i < 0 || i + s.length > end) return false;
    pos = i + s.length;
  }
  return true;
}

/**
 * Candidate keys an index can answer for this filter: the (attribute, normalised value) pairs of
 * which at least one must hold, or null when the filter needs a scan.
 */
export function indexTerms(f: Filter, indexed: ReadonlySet<string>): { attr: string; value: string }[] | null {
  switch (f.t) {
    case 'eq':
    case 'approx': {
      const type = attrType(f.attr);
      if (!type) return null;
      const attr = type.name.toLowerCase();
      if (!indexed.has(attr)) return null;
      const value = normalize(type.syntax, f.value);
      return value === null ? [] : [{ attr, value }];
    }
    case 'and': {
      let best: { attr: string; value: string }[] | null = null;
      for (const c of f.list) {
        const t = indexTerms(c, indexed);
        if (t && (best === null || t.length < best.length)) best = t;
      }
      return best;
    }
    case 'or': {
      const out: { attr: string; value: string }[] = [];
      for (const c of f.list) {
        const t = indexTerms(c, indexed);
        if (!t) return null;
        out.push(...t);
      }
      return out;
    }
    default:
      return null;
  }
}
