// The UDP side of RADIUS: sockets (IPv4 and IPv6), client lookup, strict decoding, the
// Blast-RADIUS checks, the duplicate-reply cache, silent drops (logged and audited at a
// bounded rate) and dispatch to the access / accounting handlers.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Directory, Logger, Org } from '../../core/index.js';
import { isCairnError, normaliseIp, scrubError, systemContext } from '../../core/index.js';
import type { RadiusNetwork } from '../../core/radius.js';
import type { ClientEntry, ClientTable } from './clients.js';
import { Attr, Code, decode, encodeResponse, get, MalformedPacket, MAX_PACKET, verifyAccountingRequest, verifyMessageAuthenticator, type Attribute, type Packet } from './codec.js';
import { outcomeFor } from './errors.js';

export interface Request {
  packet: Packet;
  client: ClientEntry;
  network: RadiusNetwork;
  src: { address: string; port: number };
  /**
   * False only for a legacy client's Access-Request without Message-Authenticator: nothing
   * proves the shared secret, so handlers must not let garbage reach a lockout counter.
   */
  proven: boolean;
}

/** Thrown by a handler to drop a request silently (logged and audited at a bounded rate). */
export class SilentDrop extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SilentDrop';
  }
}

/** What to send back; null = stay silent. `delayMs` holds a reject back (slows guessing). */
export type Reply = { code: number; attributes: Attribute[]; delayMs?: number } | null;

export interface Handlers {
  access(req: Request): Promise<Reply>;
  accounting(req: Request): Promise<Reply>;
}

export interface ServerOptions {
  dir: Directory;
  org: Org;
  log: Logger;
  clients: ClientTable;
  handlers: Handlers;
  hosts: string[];
  authPort: number;
  acctPort: number;
  /** How long a reply is kept for duplicates (RFC 5080 §2.2.2 suggests a few seconds). */
  duplicateWindowMs: number;
  duplicateCacheMax: number;
  /** Requests processed at once; more are dropped (the NAS retries). */
  maxInFlight: number;
}

type CacheEntry = { reply: Buffer | null; expires: number };

/**
 * At most one log line and one audit event per (source, reason) per minute, and at most
 * GLOBAL_PER_MINUTE of them in all (spoofed source addresses must not flood the audit trail).
 */
const GLOBAL_PER_MINUTE = 120;
class DropReporter {
  readonly #seen = new Map<string, { at: number; suppressed: number }>();
  #window = { start: 0, count: 0, suppressed: 0 };
  constructor(readonly dir: Directory, readonly orgId: string, readonly log: Logger) {}

  report(source: string, reason: string, audit: boolean, detail: Record<string, string | number> = {}) {
    const key = `${source}|${reason}`;
    const t = Date.now();
    const cur = this.#seen.get(key);
    if (cur && t - cur.at < 60_000) {
      cur.suppressed++;
      return;
    }
    if (t - this.#window.start >= 60_000) {
      if (this.#window.suppressed) this.log.warn({ suppressed: this.#window.suppressed }, 'radius: dropped requests not reported individually in the last minute');
      this.#window = { start: t, count: 0, suppressed: 0 };
    }
    if (++this.#window.count > GLOBAL_PER_MINUTE) {
      this.#window.suppressed++;
      return;
    }
    if (this.#seen.size >= 10_000) {
      for (const [k, v] of this.#seen) if (t - v.at >= 60_000) this.#seen.delete(k);
      if (this.#seen.size >= 10_000) this.#seen.delete(this.#seen.keys().next().value!);
    }
    const suppressed = cur?.suppressed ?? 0;
    this.#seen.set(key, { at: t, suppressed: 0 });
    this.log.warn({ source, reason, suppressed, ...detail }, 'radius: request dropped');
    if (audit) {
      const ctx = { ...systemContext(this.orgId, 'radius'), clientIp: source.slice(0, 64) };
      this.dir.audit
        .record(ctx, { eventType: 'radius.request_dropped', success: false, reason, changes: { suppressedSinceLast: suppressed, ...detail } })
        .catch((err) => this.log.warn({ err: scrubError(err) }, 'radius: could not audit a dropped request'));
    }
  }
}

export class RadiusUdpServer {
  readonly #o: ServerOptions;
  readonly #sockets: dgram.Socket[] = [];
  readonly #cache = new Map<string, CacheEntry>();
  readonly #drops: DropReporter;
  #inFlight = 0;
  #stopped = false;
  #draining = false;
  #sweep: NodeJS.Timeout | null = null;
  ports = { auth: 0, acct: 0 };
  /** Counters for tests and health. */
  readonly stats = { received: 0, answered: 0, dropped: 0, duplicates: 0 };

  constructor(opts: ServerOptions) {
    this.#o = opts;
    this.#drops = new DropReporter(opts.dir, opts.org.id, opts.log);
  }

  async start(): Promise<void> {
    this.ports.auth = await this.#bindAll(this.#o.authPort, 'auth');
    this.ports.acct = await this.#bindAll(this.#o.acctPort, 'acct');
    this.#sweep = setInterval(() => this.#sweepCache(), 1000);
    this.#sweep.unref();
  }

  /** Bind every host on one port; with port 0 the first socket picks it and the others follow. */
  async #bindAll(port: number, kind: 'auth' | 'acct'): Promise<number> {
    let chosen = port;
    // '::' alone serves IPv4 too (as mapped addresses); next to an IPv4 socket on the same
    // port it must be IPv6-only or the two binds collide.
    const ipv6Only = this.#o.hosts.some((h) => isIP(h) === 4);
    for (const host of this.#o.hosts) {
      const family = isIP(host) === 6 ? 'udp6' : 'udp4';
      // (ipv6Only on an IPv4 socket makes bind fail with EINVAL.)
      const sock = dgram.createSocket({ type: family, reuseAddr: false, ...(family === 'udp6' ? { ipv6Only } : {}), recvBufferSize: 4 * 1024 * 1024 });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ port: chosen, address: host, exclusive: true }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      chosen = sock.address().port;
      sock.on('error', (err) => this.#o.log.error({ err: scrubError(err) }, 'radius: socket error'));
      sock.on('message', (msg, rinfo) => {
        this.#onMessage(sock, kind, msg, rinfo).catch((err) => {
          this.stats.dropped++;
          this.#o.log.error({ err: scrubError(err) }, 'radius: unexpected error; request dropped');
        });
      });
      this.#sockets.push(sock);
    }
    return chosen;
  }

  /** Stop taking requests, let those in flight get their real answers (up to drainMs), close. */
  async stop(drainMs = 5000): Promise<void> {
    this.#draining = true;
    const until = Date.now() + drainMs;
    while (this.#inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.#stopped = true;
    if (this.#sweep) clearInterval(this.#sweep);
    await Promise.all(this.#sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.#sockets.length = 0;
    this.#cache.clear();
  }

  #sweepCache() {
    const t = Date.now();
    for (const [k, v] of this.#cache) if (v.expires < t && v.reply !== null) this.#cache.delete(k);
  }

  #drop(source: string, reason: string, audit = false, detail: Record<string, string | number> = {}) {
    this.stats.dropped++;
    this.#drops.report(source, reason, audit, detail);
  }

  async #onMessage(sock: dgram.Socket, kind: 'auth' | 'acct', msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    this.stats.received++;
    if (this.#draining) return;
    const source = normaliseIp(rinfo.address)?.toString() ?? rinfo.address;
    if (msg.length > MAX_PACKET) return this.#drop(source, 'oversized');
    const found = await this.#o.clients.lookup(source);
    if (!found) return this.#drop(source, 'unknown_client', true);
    const { client, network } = found;

    let packet: Packet;
    try {
      packet = decode(msg);
    } catch (err) {
      if (err instanceof MalformedPacket) return this.#drop(source, 'malformed', false, { why: err.why, client: client.name });
      throw err;
    }
    const expected = kind === 'auth' ? [Code.AccessRequest, Code.StatusServer] : [Code.AccountingRequest];
    if (!(expected as number[]).includes(packet.code)) return this.#drop(source, 'unexpected_code', false, { code: packet.code });

    // Authenticity before anything else: a request we cannot prove came from the NAS is
    // never answered, never cached and never reaches a user's lockout counter.
    const hasMa = packet.messageAuthenticatorOffset >= 0;
    if (packet.code === Code.AccountingRequest) {
      if (!verifyAccountingRequest(packet, client.secret) || (hasMa && !verifyMessageAuthenticator(packet, client.secret))) {
        return this.#drop(source, 'bad_authenticator', true, { client: client.name });
      }
    } else if (hasMa) {
      if (!verifyMessageAuthenticator(packet, client.secret)) return this.#drop(source, 'bad_authenticator', true, { client: client.name });
    } else if (packet.code === Code.StatusServer || get(packet, Attr.EapMessage) || !client.legacy) {
      // RFC 3579 §3.2 requires it with EAP; Blast-RADIUS (CVE-2024-3596) requires it always.
      return this.#drop(source, 'missing_message_authenticator', true, { client: client.name });
    }

    // Duplicates (RFC 5080 §2.2.2): same source, port, Identifier and authenticator.
    const key = `${source}|${rinfo.port}|${kind}|${packet.identifier}|${packet.authenticator.toString('hex')}`;
    const cached = this.#cache.get(key);
    if (cached) {
      this.stats.duplicates++;
      if (cached.reply) sock.send(cached.reply, rinfo.port, rinfo.address);
      return; // still in progress: the first copy will be answered
    }
    if (this.#inFlight >= this.#o.maxInFlight) return this.#drop(source, 'overloaded', false);
    if (this.#cache.size >= this.#o.duplicateCacheMax) {
      this.#sweepCache();
      if (this.#cache.size >= this.#o.duplicateCacheMax) return this.#drop(source, 'reply_cache_full', false);
    }
    this.#cache.set(key, { reply: null, expires: Date.now() + this.#o.duplicateWindowMs });

    const req: Request = { packet, client, network, src: { address: source, port: rinfo.port }, proven: packet.code === Code.AccountingRequest || hasMa };
    this.#inFlight++;
    try {
      const reply = await this.#answer(req, packet.code, client.name);
      if (!reply) {
        // Not cached: a retransmission after the store comes back gets a real answer.
        this.#cache.delete(key);
        this.stats.dropped++;
        return;
      }
      const bytes = encodeResponse({ code: reply.code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, attributes: reply.attributes }, client.secret);
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      if (this.#stopped) return;
      this.#cache.set(key, { reply: bytes, expires: Date.now() + this.#o.duplicateWindowMs });
      this.stats.answered++;
      sock.send(bytes, rinfo.port, rinfo.address);
    } finally {
      this.#inFlight--;
    }
  }

  async #answer(req: Request, code: number, clientName: string): Promise<Reply> {
    try {
      if (code === Code.StatusServer) return { code: Code.AccessAccept, attributes: [] };
      return code === Code.AccountingRequest ? await this.#o.handlers.accounting(req) : await this.#o.handlers.access(req);
    } catch (err) {
      if (err instanceof SilentDrop) {
        this.#drop(req.src.address, err.reason, true, { client: clientName });
        this.stats.dropped--; // counted once, by the caller
        return null;
      }
      const errCode = isCairnError(err) ? err.code : undefined;
      // Accounting is never acknowledged unless recorded: any failure leaves the NAS retrying.
      if (code === Code.AccessRequest && outcomeFor(errCode) === 'reject') {
        this.#o.log.debug({ err: scrubError(err) }, 'radius: request refused');
        return { code: Code.AccessReject, attributes: [] };
      }
      this.#o.log.warn({ err: scrubError(err), client: clientName }, 'radius: no answer (directory unavailable or internal error)');
      return null;
    }
  }
}
