// Node's TLS over a stream of EAP fragments: a TLSSocket (server side) sits on a Duplex whose
// readable side we push reassembled EAP-TLS data into and whose writable side collects the
// TLS records to send back. TLS is pinned to 1.2: the EAP-TLS 1.3 derivations (RFC 9190,
// RFC 9427) are not implemented.
import { constants as cryptoConstants, type X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface TunnelOptions {
  secureContext: tls.SecureContext;
  /** EAP-TLS: ask for and verify a client certificate against the context's CA. */
  requestCert: boolean;
}

export function eapSecureContext(key: string, cert: string, clientCa?: string): tls.SecureContext {
  return tls.createSecureContext({
    key,
    cert,
    ...(clientCa ? { ca: clientCa } : {}),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    // No resumption: a resumed TTLS/PEAP session must not skip inner authentication, and
    // we keep no session cache to resume from anyway.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  });
}

export class TlsTunnel {
  readonly socket: tls.TLSSocket;
  readonly #duplex: Duplex;
  #out: Buffer[] = [];
  #outLen = 0;
  #appData: Buffer[] = [];
  #appLen = 0;
  secure = false;
  failed: string | null = null;
  closed = false;

  constructor(opts: TunnelOptions) {
    this.#duplex = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        this.#out.push(chunk);
        this.#outLen += chunk.length;
        cb();
      },
    });
    this.socket = new tls.TLSSocket(this.#duplex as never, {
      isServer: true,
      secureContext: opts.secureContext,
      requestCert: opts.requestCert,
      rejectUnauthorized: opts.requestCert,
    });
    this.socket.on('secure', () => (this.secure = true));
    this.socket.on('error', (err: Error) => (this.failed ??= (err as { code?: string }).code ?? err.message.slice(0, 100)));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (d: Buffer) => {
      // Inner messages are small; a peer flooding the tunnel is cut off.
      if (this.#appLen + d.length > 65536) {
        this.failed ??= 'inner data too large';
        this.socket.destroy();
        return;
      }
      this.#appData.push(d);
      this.#appLen += d.length;
    });
  }

  /** Let OpenSSL process what was pushed: run the event loop until output stops growing. */
  async settle(): Promise<void> {
    let last = -1;
    let quiet = 0;
    for (let i = 0; i < 500 && quiet < 4; i++) {
      await new Promise((r) => setImmediate(r));
      const mark = this.#outLen + this.#appLen * 7 + (this.secure ? 1 : 0) + (this.failed ? 3 : 0);
      if (mark === last) quiet++;
      else {
        quiet = 0;
        last = mark;
      }
    }
  }

  /** TLS records from the peer (one reassembled EAP-TLS message). */
  async feed(data: Buffer): Promise<void> {
    if (data.length) this.#duplex.push(data);
    await this.settle();
  }

  /** Application data into the tunnel (inner EAP / AVPs). */
  async send(data: Buffer): Promise<void> {
    this.socket.write(data);
    await this.settle();
  }

  takeOutput(): Buffer {
    const b = Buffer.concat(this.#out);
    this.#out = [];
    this.#outLen = 0;
    return b;
  }

  takeAppData(): Buffer {
    const b = Buffer.concat(this.#appData);
    this.#appData = [];
    this.#appLen = 0;
    return b;
  }

  /** MSK (64 bytes) + EMSK-less: RFC 5216 / RFC 5281 / PEAPv0 labels. */
  keyingMaterial(label: string): Buffer {
    // No context argument: RFC 5705 with an (even empty) context derives different keys, and
    // EAP-TLS/TTLS/PEAP use none. @types/node marks it required; Node does not.
    const s = this.socket as unknown as { exportKeyingMaterial(length: number, label: string): Buffer };
    return s.exportKeyingMaterial(64, label);
  }

  peerCertificate(): X509Certificate | null {
    const c = this.socket.getPeerX509Certificate();
    return c ?? null;
  }

  /**
   * The client certificate chains to the context's CA. A TLSSocket made outside tls.Server
   * never computes `authorized` (tls.Server does it in JS after the handshake), so ask the
   * handle for OpenSSL's verification result, as tls.Server does; fail closed without it.
   */
  get authorized(): boolean {
    const handle = (this.socket as unknown as { ssl?: { verifyError?: () => Error | null } }).ssl;
    if (!handle || typeof handle.verifyError !== 'function') return false;
    return handle.verifyError() === null && this.peerCertificate() !== null;
  }

  destroy(): void {
    this.socket.destroy();
    this.#duplex.destroy();
  }
}
