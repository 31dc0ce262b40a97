// LDAP listeners: plain (StartTLS) and LDAPS. Our own framing on top of net/tls sockets, so
// that every limit is ours: message size, connections per address, idle and handshake
// timers, outstanding operations, output backpressure. BER errors drop one connection only.
import net from 'node:net';
import tls from 'node:tls';
import { BerError, readLength } from './ber.js';
import { decodeMessage, noticeOfDisconnection, ResultCode, RequestError, result, OID, extendedResponse, type Message } from './protocol.js';
import type { Logger } from '../../core/index.js';
import { normaliseIp } from '../../core/index.js';

export interface ListenerLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxMessageBytes: number;
  maxOutstandingPerConnection: number;
  /** Output queued for a client that does not read it; beyond it the connection is closed. */
  maxOutputBufferBytes: number;
  idleTimeoutSeconds: number;
  unboundIdleSeconds: number;
  tlsHandshakeSeconds: number;
}

/** What the protocol layer sees of a connection. */
export interface Connection {
  readonly id: number;
  readonly clientIp: string;
  readonly tls: boolean;
  /** Queue bytes; resolves when the socket can take more (backpressure). */
  write(buf: Buffer): Promise<void>;
  /** Has any bound identity (set by the session, read by the idle sweeper). */
  bound: boolean;
  readonly closed: boolean;
  close(): void;
}

export interface Handler {
  /** A decoded request. May run concurrently with others on the same connection. */
  handle(conn: Connection, msg: Message): Promise<void>;
  opened(conn: Connection): void;
  closed(conn: Connection): void;
}

const decodeLimits = { maxFilterDepth: 32, maxFilterNodes: 2048, maxAttributes: 256 };

let nextId = 1;

class Conn implements Connection {
  readonly id = nextId++;
  readonly clientIp: string;
  socket: net.Socket;
  readonly raw: net.Socket;
  tls = false;
  bound = false;
  closed = false;
  upgrading = false;
  handshakeUntil = 0;
  readonly openedAt = Date.now();
  /** The client's last sign of life: a request received, or our output read (a drain). */
  lastActivity = Date.now();
  /** Output is queued that the client has not read yet. */
  awaitingDrain = false;
  outstanding = 0;
  #pending: Buffer = Buffer.alloc(0);
  readonly #srv: LdapListener;

  constructor(srv: LdapListener, raw: net.Socket, clientIp: string) {
    this.#srv = srv;
    this.raw = raw;
    this.socket = raw;
    this.clientIp = clientIp;
  }

  write(buf: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.socket.writableLength > this.#srv.limits.maxOutputBufferBytes) {
      // A client that does not read its results does not get to hold our memory.
      this.close();
      return Promise.resolve();
    }
    if (this.socket.write(buf)) return Promise.resolve();
    this.awaitingDrain = true;
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.awaitingDrain = false;
        this.lastActivity = Date.now();
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    if (this.socket !== this.raw) this.raw.destroy();
  }

  /** Protocol violation: tell the client why (Notice of Disconnection), then drop it. */
  fail(reason: string): void {
    if (this.closed) return;
    this.#srv.log.debug({ conn: this.id, clientIp: this.clientIp, reason }, 'ldap connection dropped');
    this.socket.write(noticeOfDisconnection(ResultCode.protocolError, 'protocol error'));
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  onData = (chunk: Buffer): void => {
    if (this.closed || this.upgrading) return;
    this.lastActivity = Date.now();
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const max = this.#srv.limits.maxMessageBytes;
    while (this.#pending.length && !this.closed && !this.upgrading) {
      if (this.#pending[0] !== 0x30) return this.fail('not an LDAPMessage');
      let hdr: { length: number; offset: number } | null;
      try {
        hdr = readLength(this.#pending, 1, this.#pending.length);
      } catch (err) {
        return this.fail((err as Error).message);
      }
      if (!hdr) {
        if (this.#pending.length > 6) return this.fail('bad length');
        return;
      }
      if (hdr.length > max) return this.fail('message too large');
      const total = hdr.offset + hdr.length;
      if (this.#pending.length < total) return;
      const frame = this.#pending.subarray(0, total);
      this.#pending = this.#pending.subarray(total);
      this.#dispatch(frame);
    }
    if (this.upgrading) this.#pending = Buffer.alloc(0); // cleartext pipelined after StartTLS is discarded
  };

  #dispatch(frame: Buffer): void {
    let msg: Message;
    try {
      msg = decodeMessage(Buffer.from(frame), decodeLimits);
    } catch (err) {
      if (err instanceof RequestError && err.responseTag !== null) {
        // Known id and operation: answer protocolError, then drop (RFC 4511 §4.1.1 lets us).
        void this.write(result(err.id, err.responseTag, ResultCode.protocolError, 'malformed request'));
        return this.fail(err.message);
      }
      if (err instanceof BerError || err instanceof RequestError || err instanceof RangeError) return this.fail((err as Error).message);
      this.#srv.log.error({ err: (err as Error).message }, 'ldap decode failed');
      return this.fail('decode failure');
    }
    const req = msg.request;
    if (req.op === 'unbind') return this.close();
    if (req.op === 'extended' && req.name === OID.startTls) return this.#startTls(msg.id);
    if (req.op !== 'abandon' && this.outstanding >= this.#srv.limits.maxOutstandingPerConnection) {
      const tag = req.op === 'bind' ? 0x61 : req.op === 'search' ? 0x65 : req.op === 'compare' ? 0x6f : req.op === 'extended' ? 0x78 : req.op === 'write' ? req.responseTag : null;
      if (tag !== null) void this.write(result(msg.id, tag, ResultCode.busy, 'too many operations in progress'));
      return;
    }
    this.outstanding++;
    this.#srv.handler
      .handle(this, msg)
      .catch((err) => {
        this.#srv.log.error({ err: (err as Error).message, conn: this.id }, 'ldap operation failed');
        this.close();
      })
      .finally(() => {
        this.outstanding--;
        this.lastActivity = Date.now();
      });
  }

  #startTls(id: number): void {
    if (this.tls) {
      void this.write(extendedResponse(id, ResultCode.operationsError, 'TLS already established'));
      return;
    }
    if (this.outstanding > 0) {
      void this.write(extendedResponse(id, ResultCode.operationsError, 'operations in progress'));
      return;
    }
    this.upgrading = true;
    this.raw.off('data', this.onData);
    this.raw.pause();
    this.raw.write(extendedResponse(id, ResultCode.success, '', { name: OID.startTls }), () => {
      if (this.closed) return;
      this.#srv.secure(this);
    });
  }

  /** Switch reading to the TLS socket once its handshake completes. */
  attachTls(secure: tls.TLSSocket): void {
    this.socket = secure;
    this.handshakeUntil = Date.now() + this.#srv.limits.tlsHandshakeSeconds * 1000;
    secure.on('secure', () => {
      this.handshakeUntil = 0;
      this.tls = true;
      this.upgrading = false;
      this.lastActivity = Date.now();
    });
    secure.on('data', this.onData);
    secure.on('error', () => this.close());
    secure.on('close', () => this.close());
  }
}

export class LdapListener {
  readonly log: Logger;
  readonly limits: ListenerLimits;
  readonly handler: Handler;
  readonly #context: tls.SecureContext;
  readonly #servers: net.Server[] = [];
  readonly #conns = new Set<Conn>();
  readonly #perIp = new Map<string, number>();
  #sweeper: NodeJS.Timeout | null = null;
  #stopping = false;

  constructor(opts: { log: Logger; limits: ListenerLimits; handler: Handler; key: string; cert: string }) {
    this.log = opts.log;
    this.limits = opts.limits;
    this.handler = opts.handler;
    this.#context = tls.createSecureContext({ key: opts.key, cert: opts.cert, minVersion: 'TLSv1.2' });
  }

  get connections(): number {
    return this.#conns.size;
  }

  get operationsInFlight(): number {
    let n = 0;
    for (const c of this.#conns) n += c.outstanding;
    return n;
  }

  async listen(host: string, port: number, mode: 'plain' | 'ldaps'): Promise<number> {
    const server = net.createServer({ pauseOnConnect: false, noDelay: true }, (socket) => this.#accept(socket, mode));
    server.on('error', (err) => this.log.error({ err: err.message }, 'ldap listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#servers.push(server);
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), 1000);
      this.#sweeper.unref();
    }
    return (server.address() as net.AddressInfo).port;
  }

  #accept(socket: net.Socket, mode: 'plain' | 'ldaps'): void {
    const ip = normaliseIp(socket.remoteAddress ?? '')?.toString() ?? 'unknown';
    socket.on('error', () => {});
    const count = this.#perIp.get(ip) ?? 0;
    if (this.#stopping || this.#conns.size >= this.limits.maxConnections || count >= this.limits.maxConnectionsPerIp) {
      socket.destroy();
      return;
    }
    this.#perIp.set(ip, count + 1);
    socket.setNoDelay(true);
    const conn = new Conn(this, socket, ip);
    this.#conns.add(conn);
    socket.on('close', () => {
      conn.close();
      if (this.#conns.delete(conn)) {
        const n = (this.#perIp.get(ip) ?? 1) - 1;
        if (n <= 0) this.#perIp.delete(ip);
        else this.#perIp.set(ip, n);
        this.handler.closed(conn);
      }
    });
    this.handler.opened(conn);
    if (mode === 'ldaps') {
      conn.upgrading = true;
      this.secure(conn);
    } else {
      socket.on('data', conn.onData);
    }
  }

  secure(conn: Conn): void {
    const secure = new tls.TLSSocket(conn.raw, { isServer: true, secureContext: this.#context, requestCert: false });
    conn.attachTls(secure);
    conn.raw.resume();
  }

  #sweep(): void {
    const t = Date.now();
    for (const c of this.#conns) {
      if (c.closed) continue;
      if (c.handshakeUntil && t > c.handshakeUntil) c.close();
      // An operation stuck on output the client does not read is no sign of life: a client
      // that sends a big search and stops reading is idle too, not kept forever.
      else if ((c.outstanding === 0 || c.awaitingDrain) && t - c.lastActivity > this.limits.idleTimeoutSeconds * 1000) c.close();
      else if (!c.bound && c.outstanding === 0 && t - c.openedAt > this.limits.unboundIdleSeconds * 1000) c.close();
    }
  }

  /** Stop accepting, tell every client (Notice of Disconnection), wait for in-flight work, close. */
  async stop(deadlineMs = 5000): Promise<void> {
    this.#stopping = true;
    for (const s of this.#servers) s.close();
    const until = Date.now() + deadlineMs;
    while (this.operationsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.#conns) {
      if (!c.closed && !c.upgrading) c.socket.write(noticeOfDisconnection(ResultCode.unavailable, 'server shutting down'));
      c.socket.end();
    }
    await new Promise((r) => setTimeout(r, 50));
    for (const c of this.#conns) c.close();
    if (this.#sweeper) clearInterval(this.#sweeper);
    await Promise.all(this.#servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
  }
}
