// EAP over RADIUS (RFC 3579): EAP-TTLS/PAP (RFC 5281), PEAPv0 with inner EAP-MSCHAPv2 or
// EAP-GTC, EAP-TLS (RFC 5216). One conversation per RADIUS State; conversations are bounded
// in number, rounds, bytes and idle time. Every credential decision is the core's
// authenticate(); this file only carries bytes and translates results.
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import type { AuthResult, Directory, Logger, Org } from '../../../core/index.js';
import { isCairnError, scrubError } from '../../../core/index.js';
import type { EapMethod, RadiusRepository } from '../../../core/radius.js';
import type { TlsMaterial } from '../../shared/types.js';
import type { Config } from '../../../config/load.js';
import { readFileSync } from 'node:fs';
import { auditDetail, clientIpFor, replyAttributes, type PapHandler } from '../access.js';
import { Attr, Code, attr, eapAttrs, get, getEap, mppeAttrs, type Attribute } from '../codec.js';
import { outcomeFor } from '../errors.js';
import type { Reply, Request } from '../server.js';
import { authenticatorResponse, verifyNtResponse } from './mschapv2.js';
import { eapSecureContext, TlsTunnel } from './tunnel.js';

export const EapCode = { Request: 1, Response: 2, Success: 3, Failure: 4 } as const;
export const EapType = { Identity: 1, Notification: 2, Nak: 3, Gtc: 6, Tls: 13, Ttls: 21, Peap: 25, Mschapv2: 26, Tlv: 33 } as const;
const methodType: Record<EapMethod, number> = { tls: EapType.Tls, ttls: EapType.Ttls, peap: EapType.Peap };
const FLAG_L = 0x80;
const FLAG_M = 0x40;
const FLAG_S = 0x20;
const STATE_PREFIX = 'cairn-eap:';

type Phase = 'start' | 'handshake' | 'tunnel';
type Inner =
  | { stage: 'none' }
  | { stage: 'identity' }
  | { stage: 'mschapv2'; username: string; authChallenge: Buffer; msId: number }
  | { stage: 'gtc'; username: string }
  | { stage: 'mschapv2_success'; username: string; result: AuthResult & { decision: 'allow' } }
  | { stage: 'tlv'; result: AuthResult & { decision: 'allow' } }
  | { stage: 'failing' };

interface Conversation {
  key: string;
  clientId: string;
  identity: string;
  method: EapMethod | null;
  phase: Phase;
  /** Identifier of our last EAP-Request: the peer's response must carry it. */
  lastId: number;
  rounds: number;
  bytes: number;
  touched: number;
  inParts: Buffer[];
  inLen: number;
  /** Total the first fragment announced (L flag); 0 = not announced. */
  inExpected: number;
  out: Buffer | null;
  outOffset: number;
  tunnel: TlsTunnel | null;
  inner: Inner;
  innerMethods: ('mschapv2' | 'gtc')[];
  /**
   * The decrypted inner message being decided, kept until an answer goes out: if the
   * directory is unavailable we stay silent, and the NAS's retransmission of the same EAP
   * message is decided again from this (its TLS record cannot be fed to the tunnel twice).
   */
  retry: { id: number; inner: Buffer } | null;
}

export interface EapOptions {
  dir: Directory;
  org: Org;
  repo: RadiusRepository;
  log: Logger;
  tls: TlsMaterial;
  config: Readonly<Config['radius']['eap']>;
  rejectDelayMs: number;
  pap: PapHandler;
}

function eapPacket(code: number, id: number, type?: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const len = 4 + (type === undefined ? 0 : 1 + data.length);
  const b = Buffer.alloc(len);
  b[0] = code;
  b[1] = id & 0xff;
  b.writeUInt16BE(len, 2);
  if (type !== undefined) {
    b[4] = type;
    data.copy(b, 5);
  }
  return b;
}

/** Diameter AVPs inside EAP-TTLS (RFC 5281 §10). */
function parseAvps(data: Buffer): { code: number; vendor: number; mandatory: boolean; value: Buffer }[] | null {
  const out = [];
  let off = 0;
  while (off < data.length) {
    if (off + 8 > data.length || out.length > 32) return null;
    const code = data.readUInt32BE(off);
    const flags = data[off + 4]!;
    const len = data.readUIntBE(off + 5, 3);
    const hdr = flags & 0x80 ? 12 : 8;
    if (len < hdr || off + len > data.length) return null;
    out.push({ code, vendor: flags & 0x80 ? data.readUInt32BE(off + 8) : 0, mandatory: !!(flags & 0x40), value: data.subarray(off + hdr, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

export class EapHandler {
  readonly #o: EapOptions;
  readonly #conversations = new Map<string, Conversation>();
  readonly #ctx: tls.SecureContext;
  readonly #tlsCtx: tls.SecureContext | null;
  readonly #sweep: NodeJS.Timeout;

  constructor(opts: EapOptions) {
    this.#o = opts;
    this.#ctx = eapSecureContext(opts.tls.key, opts.tls.cert);
    const caFile = opts.config.tlsCaFile;
    this.#tlsCtx = caFile ? eapSecureContext(opts.tls.key, opts.tls.cert, readFileSync(caFile, 'utf8')) : null;
    this.#sweep = setInterval(() => this.#expire(), 1000);
    this.#sweep.unref();
  }

  get size(): number {
    return this.#conversations.size;
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const c of this.#conversations.values()) c.tunnel?.destroy();
    this.#conversations.clear();
  }

  #expire(): void {
    const limit = Date.now() - this.#o.config.timeoutMs;
    for (const [k, c] of this.#conversations) {
      if (c.touched >= limit) break; // insertion order = touch order
      this.#forget(k);
    }
  }

  #forget(key: string): void {
    const c = this.#conversations.get(key);
    if (!c) return;
    c.tunnel?.destroy();
    this.#conversations.delete(key);
  }

  #remember(c: Conversation): void {
    this.#conversations.delete(c.key);
    c.touched = Date.now();
    this.#conversations.set(c.key, c);
    if (this.#conversations.size <= this.#o.config.maxConversations) return;
    // Full: drop a conversation that never got past its first message, else the oldest.
    for (const [k, v] of this.#conversations) {
      if (v.phase === 'start' && k !== c.key) return this.#forget(k);
    }
    this.#forget(this.#conversations.keys().next().value!);
  }

  #methods(req: Request): EapMethod[] {
    return req.network.eapMethods.filter((m) => m !== 'tls' || this.#tlsCtx);
  }

  #reject(id: number, conv?: Conversation): Reply {
    if (conv) this.#forget(conv.key);
    return { code: Code.AccessReject, attributes: eapAttrs(eapPacket(EapCode.Failure, id)), delayMs: this.#o.rejectDelayMs };
  }

  #challenge(conv: Conversation, eap: Buffer): Reply {
    conv.lastId = eap[1]!;
    conv.retry = null;
    this.#remember(conv);
    return { code: Code.AccessChallenge, attributes: [...eapAttrs(eap), attr(Attr.State, conv.key)] };
  }

  #start(conv: Conversation, method: EapMethod): Reply {
    conv.method = method;
    conv.phase = 'start';
    return this.#challenge(conv, eapPacket(EapCode.Request, conv.lastId + 1, methodType[method], Buffer.from([FLAG_S])));
  }

  async handle(req: Request): Promise<Reply> {
    const eap = getEap(req.packet)!;
    // Strict EAP header: a Response whose length field matches the bytes carried.
    if (eap.length < 5 || eap[0] !== EapCode.Response || eap.readUInt16BE(2) !== eap.length) return this.#reject(eap.length > 1 ? eap[1]! : 0);
    const id = eap[1]!;
    const type = eap[4]!;
    const stateAttr = get(req.packet, Attr.State)?.toString('latin1');

    if (!stateAttr) {
      if (type !== EapType.Identity) return this.#reject(id);
      const methods = this.#methods(req);
      if (!methods.length) return this.#reject(id);
      const conv: Conversation = {
        key: STATE_PREFIX + randomBytes(16).toString('hex'), clientId: req.client.id,
        identity: eap.subarray(5).toString('utf8').slice(0, 253), method: null, phase: 'start', lastId: id,
        rounds: 0, bytes: 0, touched: Date.now(), inParts: [], inLen: 0, inExpected: 0, out: null, outOffset: 0, tunnel: null,
        inner: { stage: 'none' }, innerMethods: ['gtc'], retry: null,
      };
      return this.#start(conv, methods[0]!);
    }

    const conv = this.#conversations.get(stateAttr);
    // Unknown, expired, or started through another NAS: the conversation is over.
    if (!conv || conv.clientId !== req.client.id) return this.#reject(id);
    if (id !== conv.lastId) return this.#reject(id, conv);
    if (++conv.rounds > this.#o.config.maxRounds) return this.#reject(id, conv);
    conv.bytes += eap.length;
    if (conv.bytes > this.#o.config.maxBytes) return this.#reject(id, conv);

    if (type === EapType.Nak) {
      // The peer wants another method: the first of its list that this network offers.
      if (conv.phase !== 'start') return this.#reject(id, conv);
      const offered = this.#methods(req);
      const wanted = [...eap.subarray(5)];
      const pick = offered.find((m) => wanted.includes(methodType[m]) && m !== conv.method);
      return pick ? this.#start(conv, pick) : this.#reject(id, conv);
    }
    if (!conv.method || type !== methodType[conv.method]) return this.#reject(id, conv);

    try {
      if (conv.retry && conv.retry.id === id) return await this.#decide(req, conv, id, conv.retry.inner);
      return await this.#tlsMethod(req, conv, eap);
    } catch (err) {
      // Directory unavailable (or the hash queue full): no answer, so the NAS retransmits or
      // fails over. Keep the conversation when the retransmission can be decided again.
      const silent = outcomeFor(isCairnError(err) ? err.code : undefined) === 'drop';
      if (!(silent && conv.retry?.id === id)) this.#forget(conv.key);
      throw err;
    }
  }

  // --- TLS-based methods --------------------------------------------------------------------

  #sendFragment(conv: Conversation): Reply {
    const out = conv.out!;
    const size = this.#o.config.fragmentSize;
    const first = conv.outOffset === 0;
    const chunk = out.subarray(conv.outOffset, conv.outOffset + size);
    conv.outOffset += chunk.length;
    const more = conv.outOffset < out.length;
    let flags = 0;
    const head: Buffer[] = [];
    if (first && more) {
      flags |= FLAG_L;
      const l = Buffer.alloc(4);
      l.writeUInt32BE(out.length);
      head.push(l);
    }
    if (more) flags |= FLAG_M;
    else {
      conv.out = null;
      conv.outOffset = 0;
    }
    return this.#challenge(conv, eapPacket(EapCode.Request, conv.lastId + 1, methodType[conv.method!], Buffer.concat([Buffer.from([flags]), ...head, chunk])));
  }

  #sendTls(conv: Conversation, data: Buffer): Reply {
    conv.out = data;
    conv.outOffset = 0;
    return this.#sendFragment(conv);
  }

  async #tlsMethod(req: Request, conv: Conversation, eap: Buffer): Promise<Reply> {
    const id = eap[1]!;
    if (eap.length < 6) return this.#reject(id, conv);
    const flags = eap[5]!;
    let off = 6;
    if (flags & FLAG_L) {
      if (eap.length < 10) return this.#reject(id, conv);
      if (eap.readUInt32BE(6) > this.#o.config.maxBytes) return this.#reject(id, conv);
      off = 10;
    }
    const data = eap.subarray(off);

    // We are in the middle of sending a long message: the peer must only acknowledge.
    if (conv.out) {
      if (data.length) return this.#reject(id, conv);
      return this.#sendFragment(conv);
    }
    if (data.length) {
      if (flags & FLAG_L && conv.inLen === 0) conv.inExpected = eap.readUInt32BE(6);
      conv.inParts.push(Buffer.from(data));
      conv.inLen += data.length;
      // More than the first fragment announced: a lie.
      if (conv.inExpected && conv.inLen > conv.inExpected) return this.#reject(id, conv);
      if (flags & FLAG_M) return this.#challenge(conv, eapPacket(EapCode.Request, id + 1, methodType[conv.method!], Buffer.from([0])));
    }
    const message = Buffer.concat(conv.inParts);
    conv.inParts = [];
    conv.inLen = 0;
    conv.inExpected = 0;

    if (conv.phase === 'start') {
      if (!message.length) return this.#reject(id, conv);
      conv.tunnel = new TlsTunnel({ secureContext: conv.method === 'tls' ? this.#tlsCtx! : this.#ctx, requestCert: conv.method === 'tls' });
      conv.phase = 'handshake';
    }
    const t = conv.tunnel!;
    if (conv.phase === 'handshake') {
      if (!message.length) return this.#reject(id, conv);
      await t.feed(message);
      const out = t.takeOutput();
      if (t.failed) {
        this.#o.log.info({ reason: t.failed, nas: req.client.name }, 'radius: EAP TLS handshake failed');
        await this.#auditFailure(req, conv, 'tls_handshake_failed');
        return this.#reject(id, conv);
      }
      if (t.secure) conv.phase = 'tunnel';
      if (out.length) return this.#sendTls(conv, out);
      if (!t.secure) return this.#reject(id, conv);
    } else if (message.length) {
      await t.feed(message);
      if (t.failed) return this.#reject(id, conv);
    }

    // Tunnel established.
    const inner = t.takeAppData();
    conv.retry = { id, inner };
    return this.#decide(req, conv, id, inner);
  }

  async #decide(req: Request, conv: Conversation, id: number, inner: Buffer): Promise<Reply> {
    if (conv.method === 'tls') return this.#finishEapTls(req, conv, id);
    if (conv.method === 'ttls') {
      if (!inner.length) return this.#reject(id, conv);
      return this.#ttlsInner(req, conv, id, inner);
    }
    return this.#peapInner(req, conv, id, inner);
  }

  async #auditFailure(req: Request, conv: Conversation, reason: string): Promise<void> {
    await this.#o.dir.audit
      .record(
        { orgId: this.#o.org.id, actor: { type: 'anonymous', id: null, name: null }, clientIp: clientIpFor(req), service: 'radius' },
        { eventType: 'radius.auth', success: false, reason, resource: { type: 'radius_network', id: req.network.id }, changes: { ...auditDetail(req), eapMethod: conv.method ?? 'none', outerIdentity: conv.identity.slice(0, 64) } },
      )
      .catch((err) => this.#o.log.warn({ err: scrubError(err) }, 'radius: audit failed'));
  }

  #accept(req: Request, conv: Conversation, id: number, result: AuthResult & { decision: 'allow' }, label: string): Reply {
    const msk = conv.tunnel!.keyingMaterial(label);
    this.#forget(conv.key);
    const attributes: Attribute[] = [
      ...eapAttrs(eapPacket(EapCode.Success, id)),
      attr(Attr.UserName, result.user.username),
      ...mppeAttrs(msk, req.client.secret, req.packet.authenticator),
      ...replyAttributes(req.network, result.user),
    ];
    msk.fill(0);
    return { code: Code.AccessAccept, attributes };
  }

  #detail(req: Request, conv: Conversation): Record<string, string> {
    return { ...auditDetail(req), eapMethod: conv.method! };
  }

  // EAP-TLS: the certificate (verified against the configured CA during the handshake) names
  // the user; the core then applies state, grants and policy. Disabling the user revokes.
  async #finishEapTls(req: Request, conv: Conversation, id: number): Promise<Reply> {
    const t = conv.tunnel!;
    const cert = t.peerCertificate();
    if (!cert || !t.authorized) return this.#reject(id, conv);
    let username: string | undefined;
    if (this.#o.config.tlsIdentity === 'email') {
      username = /(?:^|, )email:([^@,\s]+)@/.exec(cert.subjectAltName ?? '')?.[1];
    } else {
      username = /^CN=(.+)$/m.exec(cert.subject)?.[1];
    }
    if (!username) return this.#reject(id, conv);
    const result = await this.#o.dir.authenticate({
      orgId: this.#o.org.id, username, protocol: 'radius', resource: { type: 'radius_network', id: req.network.id },
      clientIp: clientIpFor(req), detail: { ...this.#detail(req, conv), certificate: cert.fingerprint256 },
      credential: { kind: 'certificate', subject: cert.subject.replace(/\n/g, ', ') },
    });
    if (result.decision !== 'allow') return this.#reject(id, conv);
    return this.#accept(req, conv, id, result, 'client EAP encryption');
  }

  // EAP-TTLS with inner PAP: User-Name and User-Password AVPs; the code may be appended.
  async #ttlsInner(req: Request, conv: Conversation, id: number, inner: Buffer): Promise<Reply> {
    const avps = parseAvps(inner);
    if (!avps) return this.#reject(id, conv);
    let username: string | undefined;
    let password: string | undefined;
    for (const a of avps) {
      if (a.vendor === 0 && a.code === 1) username = a.value.toString('utf8');
      else if (a.vendor === 0 && a.code === 2) {
        let end = a.value.length;
        while (end > 0 && a.value[end - 1] === 0) end--;
        password = a.value.subarray(0, end).toString('utf8');
      } else if (a.mandatory) return this.#reject(id, conv); // RFC 5281 §10.1: unknown mandatory AVP
    }
    if (!username || password === undefined || username.length > 253) return this.#reject(id, conv);
    const result = await this.#o.dir.authenticate({
      orgId: this.#o.org.id, username, protocol: 'radius', resource: { type: 'radius_network', id: req.network.id },
      clientIp: clientIpFor(req), detail: this.#detail(req, conv),
      // No prompt inside a WiFi supplicant: the code rides on the password whatever the network's mode.
      credential: { kind: 'password', password, otpAppended: true },
    });
    if (result.decision !== 'allow') return this.#reject(id, conv);
    return this.#accept(req, conv, id, result, 'ttls keying material');
  }

  // PEAPv0: inner EAP packets travel without their 4-byte header (except EAP-TLV).
  async #peapSend(conv: Conversation, inner: Buffer): Promise<Reply> {
    await conv.tunnel!.send(inner);
    return this.#sendTls(conv, conv.tunnel!.takeOutput());
  }

  async #peapInner(req: Request, conv: Conversation, id: number, data: Buffer): Promise<Reply> {
    const st = conv.inner;
    // Tolerate a peer that sends inner responses with their header.
    if (data.length >= 5 && data[0] === EapCode.Response && data.readUInt16BE(2) === data.length) data = data.subarray(4);
    if (st.stage === 'none') {
      if (data.length) return this.#reject(id, conv);
      const settings = await this.#o.repo.settings(this.#o.org.id);
      conv.innerMethods = settings.storeNtHash ? ['mschapv2', 'gtc'] : ['gtc'];
      conv.inner = { stage: 'identity' };
      return this.#peapSend(conv, Buffer.from([EapType.Identity]));
    }
    if (!data.length) return this.#reject(id, conv);
    const type = data[0]!;
    const body = data.subarray(1);
    switch (st.stage) {
      case 'identity': {
        if (type !== EapType.Identity) return this.#reject(id, conv);
        const username = body.toString('utf8').replace(/^.*\\/, '').slice(0, 253);
        if (!username) return this.#reject(id, conv);
        return this.#peapOffer(conv, username, conv.innerMethods[0]!);
      }
      case 'mschapv2':
      case 'gtc': {
        if (type === EapType.Nak) {
          const next = conv.innerMethods.find((m) => m !== st.stage && [...body].includes(m === 'gtc' ? EapType.Gtc : EapType.Mschapv2));
          return next ? this.#peapOffer(conv, st.username, next) : this.#reject(id, conv);
        }
        if (st.stage === 'gtc') {
          if (type !== EapType.Gtc) return this.#reject(id, conv);
          const result = await this.#o.dir.authenticate({
            orgId: this.#o.org.id, username: st.username, protocol: 'radius', resource: { type: 'radius_network', id: req.network.id },
            clientIp: clientIpFor(req), detail: { ...this.#detail(req, conv), innerMethod: 'gtc' },
            credential: { kind: 'password', password: body.toString('utf8'), otpAppended: true },
          });
          if (result.decision !== 'allow') return this.#reject(id, conv);
          conv.inner = { stage: 'tlv', result };
          return this.#peapSend(conv, this.#tlvResult(conv, true));
        }
        // MSCHAPv2 Response: OpCode 2, MS-CHAPv2-ID, MS-Length, Value-Size 49, value, Name.
        if (type !== EapType.Mschapv2 || body.length < 4 + 1 + 49 || body[0] !== 2 || body[1] !== st.msId || body[4] !== 49) return this.#reject(id, conv);
        const peerChallenge = body.subarray(5, 21);
        const ntResponse = body.subarray(29, 53);
        const name = body.subarray(54).toString('utf8');
        let proof: string | null = null;
        const result = await this.#o.dir.authenticate({
          orgId: this.#o.org.id, username: st.username, protocol: 'radius', resource: { type: 'radius_network', id: req.network.id },
          clientIp: clientIpFor(req), detail: { ...this.#detail(req, conv), innerMethod: 'mschapv2' },
          credential: {
            kind: 'nthash',
            verify: (hash) => {
              const ok = verifyNtResponse(hash, st.authChallenge, peerChallenge, name, ntResponse);
              if (ok) proof = authenticatorResponse(hash, ntResponse, peerChallenge, st.authChallenge, name);
              return ok;
            },
          },
        });
        if (result.decision !== 'allow' || !proof) {
          // RFC 2759 §5 failure packet inside the tunnel, so that the peer (Windows above all)
          // reports a wrong password rather than a broken network; then a failure Result TLV.
          const msg = Buffer.from(`E=691 R=0 C=${randomBytes(16).toString('hex').toUpperCase()} V=3 M=Authentication failed`);
          const pkt = Buffer.alloc(5 + msg.length);
          pkt[0] = EapType.Mschapv2;
          pkt[1] = 4; // Failure
          pkt[2] = st.msId;
          pkt.writeUInt16BE(4 + msg.length, 3);
          msg.copy(pkt, 5);
          conv.inner = { stage: 'failing' };
          return this.#peapSend(conv, pkt);
        }
        const msg = Buffer.from(`${proof} M=OK`);
        const pkt = Buffer.alloc(5 + msg.length);
        pkt[0] = EapType.Mschapv2;
        pkt[1] = 3; // Success
        pkt[2] = st.msId;
        pkt.writeUInt16BE(4 + msg.length, 3);
        msg.copy(pkt, 5);
        conv.inner = { stage: 'mschapv2_success', username: st.username, result };
        return this.#peapSend(conv, pkt);
      }
      case 'mschapv2_success': {
        if (type !== EapType.Mschapv2 || body[0] !== 3) return this.#reject(id, conv);
        conv.inner = { stage: 'tlv', result: st.result };
        return this.#peapSend(conv, this.#tlvResult(conv, true));
      }
      case 'failing': {
        // The peer acknowledged the MSCHAPv2 failure: close the tunnel with a failure TLV;
        // its answer to that (or anything else) ends the conversation with EAP-Failure.
        if (type === EapType.Mschapv2 && body[0] === 4) return this.#peapSend(conv, this.#tlvResult(conv, false));
        return this.#reject(id, conv);
      }
      case 'tlv': {
        // The peer's Result TLV must say success (type 33 arrives with its full header).
        if (type !== EapType.Tlv || body.length < 6 || (body.readUInt16BE(0) & 0x3fff) !== 3 || body.readUInt16BE(4) !== 1) return this.#reject(id, conv);
        return this.#accept(req, conv, id, st.result, 'client EAP encryption');
      }
    }
  }

  #peapOffer(conv: Conversation, username: string, method: 'mschapv2' | 'gtc'): Promise<Reply> {
    if (method === 'gtc') {
      conv.inner = { stage: 'gtc', username };
      return this.#peapSend(conv, Buffer.concat([Buffer.from([EapType.Gtc]), Buffer.from('Password')]));
    }
    const authChallenge = randomBytes(16);
    const msId = randomBytes(1)[0]!;
    const name = Buffer.from('cairn');
    const pkt = Buffer.alloc(5 + 1 + 16 + name.length);
    pkt[0] = EapType.Mschapv2;
    pkt[1] = 1; // Challenge
    pkt[2] = msId;
    pkt.writeUInt16BE(pkt.length - 1, 3);
    pkt[5] = 16;
    authChallenge.copy(pkt, 6);
    name.copy(pkt, 22);
    conv.inner = { stage: 'mschapv2', username, authChallenge, msId };
    return this.#peapSend(conv, pkt);
  }

  /** EAP-TLV Result (PEAPv0 extensions): a full EAP-Request header, unlike other inner packets. */
  #tlvResult(conv: Conversation, success: boolean): Buffer {
    return eapPacket(EapCode.Request, conv.lastId + 2, EapType.Tlv, Buffer.from([0x80, 0x03, 0x00, 0x02, 0x00, success ? 1 : 2]));
  }
}
