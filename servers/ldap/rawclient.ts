// A raw LDAP client for tests that must send what no well-behaved client sends (hostile
// input, pipelining after StartTLS) and for the benchmark. Builds requests with our encoder.
import net from 'node:net';
import tls from 'node:tls';
import { BerReader, bool, enumerated, int, octets, readLength, seq, tlv } from './ber.js';

export const req = {
  bind: (id: number, dn: string, password: string) => seq([int(id), tlv(0x60, [int(3), octets(dn), octets(password, 0x80)])]),
  search: (id: number, base: string, filter: Buffer, attrs: string[] = [], opts: { scope?: number; sizeLimit?: number; timeLimit?: number; paged?: { size: number; cookie: Buffer } } = {}) =>
    seq([
      int(id),
      tlv(0x63, [octets(base), enumerated(opts.scope ?? 2), enumerated(0), int(opts.sizeLimit ?? 0), int(opts.timeLimit ?? 0), bool(false), filter, seq(attrs.map((a) => octets(a)))]),
      ...(opts.paged ? [seq([seq([octets('1.2.840.113556.1.4.319'), octets(seq([int(opts.paged.size), octets(opts.paged.cookie)]))])], 0xa0)] : []),
    ]),
  startTls: (id: number) => seq([int(id), tlv(0x77, [octets('1.3.6.1.4.1.1466.20037', 0x80)])]),
  whoami: (id: number) => seq([int(id), tlv(0x77, [octets('1.3.6.1.4.1.4203.1.11.3', 0x80)])]),
  abandon: (id: number, target: number) => seq([int(id), int(target, 0x50)]),
  unbind: (id: number) => seq([int(id), Buffer.from([0x42, 0x00])]),
};

export const filter = {
  eq: (attr: string, value: string) => tlv(0xa3, [octets(attr), octets(value)]),
  present: (attr: string) => octets(attr, 0x87),
  and: (...fs: Buffer[]) => tlv(0xa0, fs),
  not: (f: Buffer) => tlv(0xa2, [f]),
};

/** The paged-results cookie in a SearchResultDone's controls (empty when the search is complete). */
export function pagedCookie(done: Response): Buffer | null {
  const r = new BerReader(done.body);
  const m = r.sub(r.expect(0x30, 'msg'));
  m.next(); // id
  m.next(); // op
  if (m.peekTag() !== 0xa0) return null;
  const ctls = m.sub(m.next());
  while (ctls.remaining > 0) {
    const c = ctls.sub(ctls.expect(0x30, 'control'));
    const type = c.readString(0x04, 'type');
    if (c.peekTag() === 0x01) c.next();
    if (type !== '1.2.840.113556.1.4.319') continue;
    const v = new BerReader(c.bytes(c.expect(0x04, 'value')));
    const sq = v.sub(v.expect(0x30, 'paged'));
    sq.next();
    return Buffer.from(sq.bytes(sq.expect(0x04, 'cookie')));
  }
  return null;
}

export interface Response {
  id: number;
  tag: number;
  code: number | null; // resultCode for LDAPResult-shaped responses
  body: Buffer;
}

export class RawClient {
  socket: net.Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<(r: Response) => void> = [];
  #queue: Response[] = [];
  closed: Promise<void>;
  isClosed = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.isClosed = true;
      resolve();
    }));
    socket.on('error', () => {});
    socket.on('data', (d) => this.#onData(d));
  }

  static async connect(port: number, opts: { tls?: boolean; ca?: string; localAddress?: string } = {}): Promise<RawClient> {
    const socket = opts.tls
      ? tls.connect({ host: '127.0.0.1', port, ca: opts.ca, servername: 'localhost', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) })
      : net.connect({ host: '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Upgrade this (plain) connection after a successful StartTLS response. */
  async startTls(ca: string): Promise<void> {
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    secure.on('data', (d) => this.#onData(d));
    secure.on('error', () => {});
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const hdr = readLength(this.#buf, 1, this.#buf.length);
      if (!hdr || this.#buf.length < hdr.offset + hdr.length) return;
      const frame = this.#buf.subarray(0, hdr.offset + hdr.length);
      this.#buf = this.#buf.subarray(hdr.offset + hdr.length);
      const r = new BerReader(frame);
      const m = r.sub(r.expect(0x30, 'msg'));
      const id = m.readInt(0x02, 'id');
      const op = m.next();
      let code: number | null = null;
      if (op.tag !== 0x64 && op.end > op.start) {
        const inner = m.sub(op);
        if (inner.peekTag() === 0x0a) code = inner.readInt(0x0a, 'resultCode');
      }
      const resp = { id, tag: op.tag, code, body: Buffer.from(frame) };
      const w = this.#waiters.shift();
      if (w) w(resp);
      else this.#queue.push(resp);
    }
  }

  next(timeoutMs = 5000): Promise<Response | null> {
    const q = this.#queue.shift();
    if (q) return Promise.resolve(q);
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(null);
      }, timeoutMs);
      const done = (r: Response) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.#waiters.push(done);
      void this.closed.then(() => {
        if (this.#waiters.includes(done)) {
          this.#waiters = this.#waiters.filter((w) => w !== done);
          clearTimeout(timer);
          resolve(null);
        }
      });
    });
  }

  send(buf: Buffer): void {
    this.socket.write(buf);
  }

  /** Send a request and collect responses until the one with a result (search: entries + done). */
  async call(buf: Buffer, timeoutMs = 5000): Promise<{ entries: Response[]; done: Response | null }> {
    this.send(buf);
    const entries: Response[] = [];
    for (;;) {
      const r = await this.next(timeoutMs);
      if (!r) return { entries, done: null };
      if (r.tag === 0x64) entries.push(r);
      else return { entries, done: r };
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
