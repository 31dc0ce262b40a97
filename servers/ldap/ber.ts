// A minimal BER codec for the LDAPv3 messages we serve (RFC 4511 §5.1: definite lengths only).
// Every read is bounds-checked against the enclosing element: a lying length is an error,
// never a read past the end, never an allocation larger than the bytes actually received.

export class BerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BerError';
  }
}

/** One TLV element inside a buffer: tag, and content bounds. */
export interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
}

export class BerReader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  peekTag(): number | null {
    return this.pos < this.end ? this.buf[this.pos]! : null;
  }

  /** Read the next element's header; the reader moves past the whole element. */
  next(): Tlv {
    if (this.pos >= this.end) throw new BerError('unexpected end of element');
    const tag = this.buf[this.pos]!;
    if ((tag & 0x1f) === 0x1f) throw new BerError('multi-byte tags are not used by LDAP');
    const hdr = readLength(this.buf, this.pos + 1, this.end);
    if (hdr === null) throw new BerError('truncated length');
    const start = hdr.offset;
    const end = start + hdr.length;
    if (end > this.end) throw new BerError('length exceeds enclosing element');
    this.pos = end;
    return { tag, start, end };
  }

  /** The next element, which must carry `tag`. */
  expect(tag: number, what: string): Tlv {
    const t = this.next();
    if (t.tag !== tag) throw new BerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
    return t;
  }

  sub(t: Tlv): BerReader {
    return new BerReader(this.buf, t.start, t.end);
  }

  bytes(t: Tlv): Buffer {
    return this.buf.subarray(t.start, t.end);
  }

  string(t: Tlv): string {
    return this.buf.toString('utf8', t.start, t.end);
  }

  int(t: Tlv): number {
    return decodeInt(this.buf, t.start, t.end);
  }

  bool(t: Tlv): boolean {
    if (t.end - t.start !== 1) throw new BerError('BOOLEAN must be one byte');
    return this.buf[t.start] !== 0;
  }

  readString(tag: number, what: string): string {
    return this.string(this.expect(tag, what));
  }

  readInt(tag: number, what: string): number {
    return this.int(this.expect(tag, what));
  }
}

/** Decode a definite length at `off`; null when more bytes are needed. */
export function readLength(buf: Buffer, off: number, end: number): { length: number; offset: number } | null {
  if (off >= end) return null;
  const first = buf[off]!;
  if (first < 0x80) return { length: first, offset: off + 1 };
  const n = first & 0x7f;
  if (n === 0) throw new BerError('indefinite lengths are not allowed in LDAP');
  if (n > 4) throw new BerError('length field too large');
  if (off + 1 + n > end) return null;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[off + 1 + i]!;
  return { length: len, offset: off + 1 + n };
}

function decodeInt(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 6) throw new BerError('INTEGER out of range');
  let u = 0;
  for (let i = start; i < end; i++) u = u * 256 + buf[i]!;
  return buf[start]! & 0x80 ? u - 2 ** (8 * n) : u;
}

// --- encoding -----------------------------------------------------------------------------

function lengthSize(len: number): number {
  return len < 0x80 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : len < 0x1000000 ? 4 : 5;
}

function writeHeader(out: Buffer, tag: number, len: number): number {
  out[0] = tag;
  if (len < 0x80) {
    out[1] = len;
    return 2;
  }
  const n = lengthSize(len) - 1;
  out[1] = 0x80 | n;
  for (let i = 0; i < n; i++) out[2 + i] = (len >>> (8 * (n - 1 - i))) & 0xff;
  return 2 + n;
}

export function encodeLength(len: number): Buffer {
  const b = Buffer.allocUnsafe(1 + lengthSize(len));
  writeHeader(b, 0, len);
  return b.subarray(1);
}

/** One TLV around already-encoded content, in a single allocation. */
export function tlv(tag: number, content: Buffer | readonly Buffer[]): Buffer {
  const parts = Buffer.isBuffer(content) ? [content] : (content as Buffer[]);
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(1 + lengthSize(len) + len);
  let off = writeHeader(out, tag, len);
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return out;
}

/** An OCTET STRING (or any primitive string tag) written straight from a JS string. */
function stringTlv(tag: number, v: string): Buffer {
  const len = Buffer.byteLength(v, 'utf8');
  const out = Buffer.allocUnsafe(1 + lengthSize(len) + len);
  const off = writeHeader(out, tag, len);
  out.write(v, off, 'utf8');
  return out;
}

export function encodeIntBody(v: number): Buffer {
  const bytes: number[] = [];
  let x = v;
  // Two's complement, minimal length.
  for (;;) {
    const b = ((x % 256) + 256) % 256;
    bytes.unshift(b);
    x = Math.floor(x / 256);
    if ((x === 0 && !(b & 0x80)) || (x === -1 && b & 0x80)) break;
  }
  return Buffer.from(bytes);
}

export const int = (v: number, tag = 0x02) => tlv(tag, encodeIntBody(v));
export const enumerated = (v: number) => tlv(0x0a, encodeIntBody(v));
export const octets = (v: string | Buffer, tag = 0x04) => (typeof v === 'string' ? stringTlv(tag, v) : tlv(tag, v));
export const bool = (v: boolean) => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const seq = (items: readonly Buffer[], tag = 0x30) => tlv(tag, items);
