// RADIUS packets on raw bytes (RFC 2865, 2866, 2869, 3579, 5080, 2548). Our own codec: the
// `radius` npm package compares authenticators as UTF-8 strings, checks Message-Authenticator
// only when present and puts it last (SECURITY.md); nothing here relies on it. Every
// authenticator is computed over the exact bytes on the wire and compared in constant time.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const Code = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
} as const;

export const Attr = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedIpAddress: 8,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  AcctStatusType: 40,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  NasPortType: 61,
  TunnelType: 64,
  TunnelMediumType: 65,
  EapMessage: 79,
  MessageAuthenticator: 80,
  TunnelPrivateGroupId: 81,
  FramedMtu: 12,
  NasIpv6Address: 95,
} as const;

export const VENDOR_MICROSOFT = 311;
export const MsAttr = { MppeSendKey: 16, MppeRecvKey: 17 } as const;

export const MAX_PACKET = 4096;
export const MIN_PACKET = 20;
/** More attributes than any real NAS sends; a flood beyond it is dropped unparsed. */
export const MAX_ATTRIBUTES = 200;

/** Attributes whose value has a fixed size (RFC 2865 §5: integer, address). */
const fixedLength: Record<number, number> = {
  [Attr.NasIpAddress]: 4, [Attr.NasPort]: 4, [Attr.ServiceType]: 4, [Attr.FramedIpAddress]: 4, [Attr.SessionTimeout]: 4,
  [Attr.AcctStatusType]: 4, [Attr.AcctInputOctets]: 4, [Attr.AcctOutputOctets]: 4, [Attr.AcctSessionTime]: 4,
  [Attr.AcctInputPackets]: 4, [Attr.AcctOutputPackets]: 4, [Attr.AcctTerminateCause]: 4, [Attr.AcctInputGigawords]: 4,
  [Attr.AcctOutputGigawords]: 4, [Attr.EventTimestamp]: 4, [Attr.NasPortType]: 4, [Attr.FramedMtu]: 4,
  [Attr.MessageAuthenticator]: 16, [Attr.NasIpv6Address]: 16,
};
/** Attributes that may appear at most once in a request. */
const single = new Set<number>([Attr.UserName, Attr.UserPassword, Attr.ChapPassword, Attr.State, Attr.MessageAuthenticator, Attr.NasIpAddress, Attr.CallingStationId, Attr.AcctStatusType]);

export interface Attribute {
  type: number;
  value: Buffer;
}

export interface Packet {
  code: number;
  identifier: number;
  authenticator: Buffer;
  attributes: Attribute[];
  /** The packet exactly as received (length-field bytes), for authenticator checks. */
  raw: Buffer;
  /** Offset in raw of the Message-Authenticator value, or -1. */
  messageAuthenticatorOffset: number;
}

export class MalformedPacket extends Error {
  constructor(readonly why: string) {
    super(`malformed RADIUS packet: ${why}`);
    this.name = 'MalformedPacket';
  }
}

/**
 * Parse a datagram strictly: the length field must be within 20..4096 and no longer than the
 * datagram (bytes beyond it are padding and ignored, RFC 2865 §3); attributes must tile the
 * packet exactly, each at least 3 bytes (no empty values), fixed-size types at their size,
 * at most MAX_ATTRIBUTES, and single-valued attributes at most once.
 */
export function decode(datagram: Buffer): Packet {
  if (datagram.length < MIN_PACKET) throw new MalformedPacket('shorter than a header');
  const length = datagram.readUInt16BE(2);
  if (length < MIN_PACKET || length > MAX_PACKET) throw new MalformedPacket('length field out of range');
  if (length > datagram.length) throw new MalformedPacket('length field longer than the datagram');
  const raw = datagram.subarray(0, length);
  const attributes: Attribute[] = [];
  const seen = new Set<number>();
  let messageAuthenticatorOffset = -1;
  let off = MIN_PACKET;
  while (off < length) {
    if (off + 2 > length) throw new MalformedPacket('truncated attribute header');
    const type = raw[off]!;
    const len = raw[off + 1]!;
    if (len < 3) throw new MalformedPacket('attribute shorter than 3 bytes');
    if (off + len > length) throw new MalformedPacket('attribute overruns the packet');
    if (type === 0) throw new MalformedPacket('attribute type 0');
    const fixed = fixedLength[type];
    if (fixed !== undefined && len - 2 !== fixed) throw new MalformedPacket(`attribute ${type} has the wrong size`);
    if (single.has(type)) {
      if (seen.has(type)) throw new MalformedPacket(`attribute ${type} repeated`);
      seen.add(type);
    }
    if (attributes.length >= MAX_ATTRIBUTES) throw new MalformedPacket('too many attributes');
    if (type === Attr.MessageAuthenticator) messageAuthenticatorOffset = off + 2;
    attributes.push({ type, value: raw.subarray(off + 2, off + len) });
    off += len;
  }
  return { code: raw[0]!, identifier: raw[1]!, authenticator: raw.subarray(4, 20), attributes, raw, messageAuthenticatorOffset };
}

export function get(p: { attributes: Attribute[] }, type: number): Buffer | undefined {
  return p.attributes.find((a) => a.type === type)?.value;
}
export function getString(p: { attributes: Attribute[] }, type: number): string | undefined {
  const v = get(p, type);
  return v === undefined ? undefined : v.toString('utf8');
}
export function getInt(p: { attributes: Attribute[] }, type: number): number | undefined {
  const v = get(p, type);
  return v === undefined ? undefined : v.readUInt32BE(0);
}
/** EAP-Message attributes concatenated in order (RFC 3579 §3.1). */
export function getEap(p: { attributes: Attribute[] }): Buffer | undefined {
  const parts = p.attributes.filter((a) => a.type === Attr.EapMessage).map((a) => a.value);
  return parts.length ? Buffer.concat(parts) : undefined;
}

// --- attribute builders ---------------------------------------------------------------------

export const attr = (type: number, value: Buffer | string): Attribute => ({ type, value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value });
export const intAttr = (type: number, n: number): Attribute => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return { type, value: b };
};
/** Tagged integer (RFC 2868): one tag byte and a 3-byte value. */
export const taggedIntAttr = (type: number, tag: number, n: number): Attribute => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n & 0xffffff);
  b[0] = tag;
  return { type, value: b };
};
export const vendorAttr = (vendorId: number, vendorType: number, value: Buffer): Attribute => {
  const b = Buffer.alloc(6 + value.length);
  b.writeUInt32BE(vendorId, 0);
  b[4] = vendorType;
  b[5] = value.length + 2;
  value.copy(b, 6);
  return { type: Attr.VendorSpecific, value: b };
};
/** EAP packet split into EAP-Message attributes of at most 253 bytes. */
export function eapAttrs(eap: Buffer): Attribute[] {
  const out: Attribute[] = [];
  for (let i = 0; i < eap.length; i += 253) out.push({ type: Attr.EapMessage, value: eap.subarray(i, i + 253) });
  return out;
}

// --- authenticators -------------------------------------------------------------------------

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

const ZERO16 = Buffer.alloc(16);

/**
 * Message-Authenticator of a received packet (RFC 3579 §3.2): HMAC-MD5 over the packet as
 * received with the attribute's value zeroed.
 */
export function verifyMessageAuthenticator(p: Packet, secret: Buffer): boolean {
  if (p.messageAuthenticatorOffset < 0) return false;
  const copy = Buffer.from(p.raw);
  // Accounting-Request: computed with the Request Authenticator zeroed (it is itself an MD5
  // over the packet, computed afterwards), as FreeRADIUS and RFC 5080 §2.2.4 do.
  if (p.code === Code.AccountingRequest) ZERO16.copy(copy, 4);
  const got = Buffer.from(p.raw.subarray(p.messageAuthenticatorOffset, p.messageAuthenticatorOffset + 16));
  ZERO16.copy(copy, p.messageAuthenticatorOffset);
  const want = createHmac('md5', secret).update(copy).digest();
  return timingSafeEqual(got, want);
}

/** Accounting-Request authenticator (RFC 2866 §3): MD5(Code+Id+Length+16 zero+Attributes+Secret). */
export function verifyAccountingRequest(p: Packet, secret: Buffer): boolean {
  const copy = Buffer.from(p.raw);
  ZERO16.copy(copy, 4);
  // Message-Authenticator, when present, is computed with the authenticator field zeroed too
  // (RFC 3579 §3.2 for Accounting-Request); the MD5 runs over the packet as sent.
  const want = md5(copy, secret);
  return timingSafeEqual(Buffer.from(p.authenticator), want);
}

export interface ResponseSpec {
  code: number;
  identifier: number;
  /** Request Authenticator of the request being answered. */
  requestAuthenticator: Buffer;
  attributes: Attribute[];
}

/**
 * Encode a response: Message-Authenticator FIRST (Blast-RADIUS, CVE-2024-3596), computed with
 * the Request Authenticator in the header; then the Response Authenticator
 * MD5(Code+Id+Length+RequestAuth+Attributes+Secret) over the final attribute bytes.
 */
export function encodeResponse(spec: ResponseSpec, secret: Buffer): Buffer {
  const attrs = [{ type: Attr.MessageAuthenticator, value: ZERO16 }, ...spec.attributes.filter((a) => a.type !== Attr.MessageAuthenticator)];
  // Accounting-Response: computed over a zero authenticator, as FreeRADIUS signs and checks it.
  const buf = encodeRaw(spec.code, spec.identifier, spec.code === Code.AccountingResponse ? ZERO16 : spec.requestAuthenticator, attrs);
  const mac = createHmac('md5', secret).update(buf).digest();
  spec.requestAuthenticator.copy(buf, 4);
  mac.copy(buf, MIN_PACKET + 2);
  const auth = md5(buf, secret);
  auth.copy(buf, 4);
  return buf;
}

/** A packet with the given header authenticator (tests and the load generator use it for requests). */
export function encodeRaw(code: number, identifier: number, authenticator: Buffer, attributes: Attribute[]): Buffer {
  let length = MIN_PACKET;
  for (const a of attributes) {
    if (a.value.length > 253) throw new Error(`attribute ${a.type} longer than 253 bytes`);
    length += 2 + a.value.length;
  }
  if (length > MAX_PACKET) throw new Error('packet longer than 4096 bytes');
  const buf = Buffer.alloc(length);
  buf[0] = code;
  buf[1] = identifier;
  buf.writeUInt16BE(length, 2);
  authenticator.copy(buf, 4);
  let off = MIN_PACKET;
  for (const a of attributes) {
    buf[off] = a.type;
    buf[off + 1] = a.value.length + 2;
    a.value.copy(buf, off + 2);
    off += 2 + a.value.length;
  }
  return buf;
}

/** Verify a response we sent or received (tests, load generator). */
export function verifyResponse(resp: Buffer, requestAuthenticator: Buffer, secret: Buffer): { authenticator: boolean; messageAuthenticator: boolean; messageAuthenticatorFirst: boolean } {
  const p = decode(resp);
  const copy = Buffer.from(p.raw);
  requestAuthenticator.copy(copy, 4);
  const authenticator = timingSafeEqual(md5(copy, secret), Buffer.from(p.authenticator));
  let messageAuthenticator = false;
  if (p.messageAuthenticatorOffset >= 0) {
    ZERO16.copy(copy, p.messageAuthenticatorOffset);
    if (p.code === Code.AccountingResponse) ZERO16.copy(copy, 4);
    messageAuthenticator = timingSafeEqual(createHmac('md5', secret).update(copy).digest(), Buffer.from(p.raw.subarray(p.messageAuthenticatorOffset, p.messageAuthenticatorOffset + 16)));
  }
  return { authenticator, messageAuthenticator, messageAuthenticatorFirst: p.messageAuthenticatorOffset === MIN_PACKET + 2 };
}

// --- hidden attributes ----------------------------------------------------------------------

/**
 * User-Password (RFC 2865 §5.2): 16..128 bytes, a multiple of 16; c(i) = p(i) xor
 * MD5(S + c(i-1)), c(0) = Request Authenticator. Returns null when the length is invalid.
 * Trailing NULs (padding) are removed; a password with an embedded NUL is refused.
 */
export function decodeUserPassword(value: Buffer, secret: Buffer, requestAuthenticator: Buffer): string | null {
  if (value.length < 16 || value.length > 128 || value.length % 16 !== 0) return null;
  const out = Buffer.alloc(value.length);
  let prev = requestAuthenticator;
  for (let i = 0; i < value.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = value[i + j]! ^ b[j]!;
    prev = value.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  const plain = out.subarray(0, end);
  const text = plain.includes(0) ? null : plain.toString('utf8');
  out.fill(0);
  return text;
}

export function encodeUserPassword(password: string, secret: Buffer, requestAuthenticator: Buffer): Buffer {
  const p = Buffer.from(password, 'utf8');
  const padded = Buffer.alloc(Math.max(16, Math.ceil(p.length / 16) * 16));
  p.copy(padded);
  let prev = requestAuthenticator;
  const out = Buffer.alloc(padded.length);
  for (let i = 0; i < padded.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = padded[i + j]! ^ b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return out;
}

/**
 * MS-MPPE-Send-Key / MS-MPPE-Recv-Key value (RFC 2548 §2.4.2/2.4.3): 2-byte salt with the high
 * bit set, then the key length byte + key + zero padding to a multiple of 16, encrypted like
 * User-Password with MD5(S + RA + Salt) as the first block mask.
 */
export function encryptMppeKey(key: Buffer, secret: Buffer, requestAuthenticator: Buffer, salt = randomBytes(2)): Buffer {
  salt[0] = salt[0]! | 0x80;
  const plain = Buffer.alloc(Math.ceil((key.length + 1) / 16) * 16);
  plain[0] = key.length;
  key.copy(plain, 1);
  const out = Buffer.alloc(plain.length);
  let prev = Buffer.concat([requestAuthenticator, salt]);
  for (let i = 0; i < plain.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = plain[i + j]! ^ b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return Buffer.concat([salt, out]);
}

export function decryptMppeKey(value: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer {
  const salt = value.subarray(0, 2);
  const enc = value.subarray(2);
  const out = Buffer.alloc(enc.length);
  let prev: Buffer = Buffer.concat([requestAuthenticator, salt]);
  for (let i = 0; i < enc.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = enc[i + j]! ^ b[j]!;
    prev = enc.subarray(i, i + 16);
  }
  return out.subarray(1, 1 + out[0]!);
}

/** The MPPE key pair from an EAP MSK (RFC 3748/5216 usage: Recv = MSK[0..31], Send = MSK[32..63]). */
export function mppeAttrs(msk: Buffer, secret: Buffer, requestAuthenticator: Buffer): Attribute[] {
  return [
    vendorAttr(VENDOR_MICROSOFT, MsAttr.MppeRecvKey, encryptMppeKey(msk.subarray(0, 32), secret, requestAuthenticator)),
    vendorAttr(VENDOR_MICROSOFT, MsAttr.MppeSendKey, encryptMppeKey(msk.subarray(32, 64), secret, requestAuthenticator)),
  ];
}
