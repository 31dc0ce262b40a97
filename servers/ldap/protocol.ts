// LDAPv3 messages (RFC 4511): decoding the requests we serve, encoding our responses.
import { BerError, BerReader, bool, enumerated, int, octets, seq, tlv, type Tlv } from './ber.js';
import { decodeFilter, type Filter } from './filter.js';

export const ResultCode = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  compareFalse: 5,
  compareTrue: 6,
  authMethodNotSupported: 7,
  unavailableCriticalExtension: 12,
  confidentialityRequired: 13,
  noSuchAttribute: 16,
  undefinedAttributeType: 17,
  constraintViolation: 19,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  entryAlreadyExists: 68,
  other: 80,
} as const;
export type ResultCodeValue = (typeof ResultCode)[keyof typeof ResultCode];

export const OID = {
  startTls: '1.3.6.1.4.1.1466.20037',
  passwordModify: '1.3.6.1.4.1.4203.1.11.1',
  whoAmI: '1.3.6.1.4.1.4203.1.11.3',
  noticeOfDisconnection: '1.3.6.1.4.1.1466.20036',
  pagedResults: '1.2.840.113556.1.4.319',
  /** Password policy (draft-behera-ldap-password-policy), as SSSD and ldap-utils (-e ppolicy) send it. */
  passwordPolicy: '1.3.6.1.4.1.42.2.27.8.5.1',
} as const;

/** Application tags of the protocol operations. */
export const Op = {
  bindRequest: 0x60,
  bindResponse: 0x61,
  unbindRequest: 0x42,
  searchRequest: 0x63,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  modifyRequest: 0x66,
  modifyResponse: 0x67,
  addRequest: 0x68,
  addResponse: 0x69,
  delRequest: 0x4a,
  delResponse: 0x6b,
  modDnRequest: 0x6c,
  modDnResponse: 0x6d,
  compareRequest: 0x6e,
  compareResponse: 0x6f,
  abandonRequest: 0x50,
  extendedRequest: 0x77,
  extendedResponse: 0x78,
} as const;

export interface Control {
  type: string;
  critical: boolean;
  value: Buffer | null;
}

export type Request =
  | { op: 'bind'; version: number; name: string; auth: { kind: 'simple'; password: Buffer } | { kind: 'sasl'; mechanism: string } }
  | { op: 'unbind' }
  | {
      op: 'search'; base: string; scope: 0 | 1 | 2; deref: number; sizeLimit: number; timeLimit: number; typesOnly: boolean;
      filter: Filter; attributes: string[]; raw: Buffer;
    }
  | { op: 'compare'; dn: string; attribute: string; value: string }
  | { op: 'abandon'; id: number }
  | { op: 'extended'; name: string; value: Buffer | null }
  | { op: 'write'; kind: 'modify' | 'add' | 'delete' | 'modDN'; responseTag: number };

export interface Message {
  id: number;
  request: Request;
  controls: Control[];
}

/** A request that decoded far enough to know its id and kind, but not further. */
export class RequestError extends Error {
  constructor(readonly id: number, readonly responseTag: number | null, message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

const responseTagOf: Record<number, number | null> = {
  [Op.bindRequest]: Op.bindResponse,
  [Op.searchRequest]: Op.searchResultDone,
  [Op.modifyRequest]: Op.modifyResponse,
  [Op.addRequest]: Op.addResponse,
  [Op.delRequest]: Op.delResponse,
  [Op.modDnRequest]: Op.modDnResponse,
  [Op.compareRequest]: Op.compareResponse,
  [Op.extendedRequest]: Op.extendedResponse,
  [Op.unbindRequest]: null,
  [Op.abandonRequest]: null,
};

export interface DecodeLimits {
  maxFilterDepth: number;
  maxFilterNodes: number;
  maxAttributes: number;
}

/**
 * Decode one complete LDAPMessage. Errors before the message id is known are BerErrors (the
 * connection must be dropped); after it, RequestErrors (answer protocolError to that id).
 */
export function decodeMessage(buf: Buffer, limits: DecodeLimits): Message {
  const outer = new BerReader(buf);
  const msg = outer.sub(outer.expect(0x30, 'LDAPMessage'));
  const id = msg.readInt(0x02, 'messageID');
  if (id < 0 || id > 2147483647) throw new BerError('messageID out of range');
  const opTlv = msg.next();
  const responseTag = responseTagOf[opTlv.tag] ?? null;
  try {
    const request = decodeOp(msg, opTlv, limits);
    const controls: Control[] = [];
    if (msg.remaining > 0) {
      const ctl = msg.sub(msg.expect(0xa0, 'controls'));
      while (ctl.remaining > 0) {
        if (controls.length >= 16) throw new BerError('too many controls');
        const c = ctl.sub(ctl.expect(0x30, 'control'));
        const type = c.readString(0x04, 'controlType');
        let critical = false;
        let value: Buffer | null = null;
        if (c.peekTag() === 0x01) critical = c.bool(c.next());
        if (c.peekTag() === 0x04) value = c.bytes(c.next());
        controls.push({ type, critical, value });
      }
    }
    return { id, request, controls };
  } catch (err) {
    if (err instanceof BerError || err instanceof RangeError) throw new RequestError(id, responseTag, err.message);
    throw err;
  }
}

function decodeOp(msg: BerReader, t: Tlv, limits: DecodeLimits): Request {
  const r = msg.sub(t);
  switch (t.tag) {
    case Op.bindRequest: {
      const version = r.readInt(0x02, 'version');
      const name = r.readString(0x04, 'name');
      const a = r.next();
      if (a.tag === 0x80) return { op: 'bind', version, name, auth: { kind: 'simple', password: Buffer.from(r.bytes(a)) } };
      if (a.tag === 0xa3) return { op: 'bind', version, name, auth: { kind: 'sasl', mechanism: r.sub(a).readString(0x04, 'mechanism') } };
      throw new BerError('unknown authentication choice');
    }
    case Op.unbindRequest:
      return { op: 'unbind' };
    case Op.searchRequest: {
      const base = r.readString(0x04, 'baseObject');
      const scope = r.readInt(0x0a, 'scope');
      if (scope !== 0 && scope !== 1 && scope !== 2) throw new BerError('scope');
      const deref = r.readInt(0x0a, 'derefAliases');
      const sizeLimit = r.readInt(0x02, 'sizeLimit');
      const timeLimit = r.readInt(0x02, 'timeLimit');
      const typesOnly = r.bool(r.expect(0x01, 'typesOnly'));
      const filterStart = r.pos;
      const filter = decodeFilter(r, limits);
      const filterEnd = r.pos;
      const attrs = r.sub(r.expect(0x30, 'attributes'));
      const attributes: string[] = [];
      while (attrs.remaining > 0) {
        if (attributes.length >= limits.maxAttributes) throw new BerError('too many attributes requested');
        attributes.push(attrs.readString(0x04, 'attribute'));
      }
      if (sizeLimit < 0 || timeLimit < 0) throw new BerError('negative limit');
      // What identifies "the same search" for paging: everything but the limits and controls.
      const raw = Buffer.concat([Buffer.from(base), Buffer.from([scope, deref, typesOnly ? 1 : 0]), r.buf.subarray(filterStart, filterEnd), Buffer.from(attributes.join('\0'))]);
      return { op: 'search', base, scope, deref, sizeLimit, timeLimit, typesOnly, filter, attributes, raw };
    }
    case Op.compareRequest: {
      const dn = r.readString(0x04, 'entry');
      const ava = r.sub(r.expect(0x30, 'ava'));
      return { op: 'compare', dn, attribute: ava.readString(0x04, 'attributeDesc'), value: ava.readString(0x04, 'assertionValue') };
    }
    case Op.abandonRequest:
      return { op: 'abandon', id: r.int({ tag: t.tag, start: t.start, end: t.end }) };
    case Op.extendedRequest: {
      const name = r.readString(0x80, 'requestName');
      const value = r.peekTag() === 0x81 ? Buffer.from(r.bytes(r.next())) : null;
      return { op: 'extended', name, value };
    }
    case Op.modifyRequest:
      return { op: 'write', kind: 'modify', responseTag: Op.modifyResponse };
    case Op.addRequest:
      return { op: 'write', kind: 'add', responseTag: Op.addResponse };
    case Op.delRequest:
      return { op: 'write', kind: 'delete', responseTag: Op.delResponse };
    case Op.modDnRequest:
      return { op: 'write', kind: 'modDN', responseTag: Op.modDnResponse };
    default:
      throw new BerError(`unknown operation 0x${t.tag.toString(16)}`);
  }
}

// --- responses ----------------------------------------------------------------------------

export function envelope(id: number, op: Buffer, controls?: readonly Buffer[]): Buffer {
  const parts = [int(id), op];
  if (controls && controls.length) parts.push(seq(controls, 0xa0));
  return seq(parts);
}

function ldapResultParts(code: number, matchedDn: string, message: string): Buffer[] {
  return [enumerated(code), octets(matchedDn), octets(message)];
}

export function result(id: number, tag: number, code: number, message = '', opts: { matchedDn?: string; controls?: Buffer[]; extra?: Buffer[] } = {}): Buffer {
  return envelope(id, tlv(tag, [...ldapResultParts(code, opts.matchedDn ?? '', message), ...(opts.extra ?? [])]), opts.controls);
}

export function extendedResponse(id: number, code: number, message: string, opts: { name?: string; value?: Buffer } = {}): Buffer {
  const extra: Buffer[] = [];
  if (opts.name) extra.push(octets(opts.name, 0x8a));
  if (opts.value) extra.push(octets(opts.value, 0x8b));
  return result(id, Op.extendedResponse, code, message, { extra });
}

/** Unsolicited notification (message id 0) that the server is closing the connection. */
export function noticeOfDisconnection(code: number, message: string): Buffer {
  return extendedResponse(0, code, message, { name: OID.noticeOfDisconnection });
}

export function pagedControl(size: number, cookie: Buffer): Buffer {
  return seq([octets(OID.pagedResults), octets(seq([int(size), octets(cookie)]))]);
}

/**
 * The password policy response saying "password expired" (error [1] passwordExpired(0)): sent
 * with invalidCredentials to a client that asked, so that SSSD asks the user for a new
 * password and changes it with Password Modify, instead of only failing the login.
 */
export function passwordExpiredControl(): Buffer {
  return seq([octets(OID.passwordPolicy), octets(seq([tlv(0x81, Buffer.from([0]))]))]);
}

/** The password policy response warning timeBeforeExpiration ([0] [0] INTEGER seconds) on a successful bind. */
export function passwordExpiringControl(seconds: number): Buffer {
  return seq([octets(OID.passwordPolicy), octets(seq([tlv(0xa0, int(seconds, 0x80))]))]);
}

export function decodePagedControl(value: Buffer | null): { size: number; cookie: Buffer } {
  if (!value) throw new BerError('paged results control without value');
  const r = new BerReader(value);
  const s = r.sub(r.expect(0x30, 'pagedResults'));
  const size = s.readInt(0x02, 'size');
  const cookie = Buffer.from(s.bytes(s.expect(0x04, 'cookie')));
  if (size < 0) throw new BerError('negative page size');
  return { size, cookie };
}

export function decodePasswordModify(value: Buffer | null): { user: string | null; oldPassword: string | null; newPassword: string | null } {
  const out = { user: null as string | null, oldPassword: null as string | null, newPassword: null as string | null };
  if (!value || value.length === 0) return out;
  const r = new BerReader(value);
  const s = r.sub(r.expect(0x30, 'PasswdModifyRequestValue'));
  while (s.remaining > 0) {
    const t = s.next();
    if (t.tag === 0x80) out.user = s.string(t);
    else if (t.tag === 0x81) out.oldPassword = s.string(t);
    else if (t.tag === 0x82) out.newPassword = s.string(t);
    else throw new BerError('unknown field in password modify request');
  }
  return out;
}

export { bool, octets, seq, tlv };
