// The agent's only way to Cairn: HTTPS to the management API. TLS is verified against the CA
// the agent trusts (pinned by fingerprint on first contact, or given, or the system store);
// host requests are signed with the host's Ed25519 key (see servers/api/host-auth.ts for the
// server side of the same text). This file never imports core/ or servers/.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { request } from 'node:https';

export const SIGNATURE_SCHEME = 'cairn-agent-v1';

export function signedText(method: string, path: string, timestampMs: number, hostId: string, body: string): string {
  const digest = createHash('sha256').update(body, 'utf8').digest('hex');
  return [SIGNATURE_SCHEME, method.toUpperCase(), path, String(timestampMs), hostId, digest].join('\n');
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: { type?: string; title?: string; detail?: string } | null, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface HostKey {
  privateKey: KeyObject;
  /** Raw 32-byte public key, base64url (what the server stores). */
  publicRaw: string;
  pem: string;
}

export function newHostKey(): HostKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicRaw: publicKey.export({ format: 'jwk' }).x!, pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function loadHostKey(pem: string): HostKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the host key is not an Ed25519 key');
  return { privateKey, publicRaw: createPublicKey(privateKey).export({ format: 'jwk' }).x!, pem };
}

/** "AB:CD:..." or "abcd..." → "ABCD..." for comparison. */
export const normaliseFingerprint = (fp: string) => fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();

export class Client {
  #lastTs = 0;
  constructor(readonly server: string, readonly ca: string | undefined, readonly timeoutMs = 15_000) {
    const u = new URL(server);
    if (u.protocol !== 'https:') throw new Error('--server must be an https:// URL');
  }

  /**
   * Fetch the CA from the server without trusting the connection, and accept it only if its
   * SHA-256 fingerprint is the pinned one. Every later call then verifies TLS against it.
   */
  static async pinnedCa(server: string, fingerprint: string, timeoutMs = 15_000): Promise<string> {
    const res = await raw(server, 'GET', '/api/v1/agent/ca', {}, undefined, { rejectUnauthorized: false }, timeoutMs);
    if (res.status !== 200) throw new ApiError(res.status, null, `fetching the CA: HTTP ${res.status}`);
    const pem = String((JSON.parse(res.body) as { caPem?: unknown }).caPem ?? '');
    let got: string;
    try {
      got = new X509Certificate(pem).fingerprint256;
    } catch {
      throw new Error('the server sent no valid CA certificate');
    }
    if (normaliseFingerprint(got) !== normaliseFingerprint(fingerprint)) {
      throw new Error(`CA fingerprint mismatch: the server's CA is ${got}, not the pinned one; refusing to continue`);
    }
    return pem;
  }

  #ts(): number {
    this.#lastTs = Math.max(Date.now(), this.#lastTs + 1);
    return this.#lastTs;
  }

  async call<T>(method: string, path: string, opts: { body?: unknown; sign?: { hostId: string; key: HostKey } } = {}): Promise<T> {
    const body = opts.body === undefined ? '' : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.sign) {
      const ts = this.#ts();
      headers['x-cairn-host'] = opts.sign.hostId;
      headers['x-cairn-timestamp'] = String(ts);
      headers['x-cairn-signature'] = sign(null, Buffer.from(signedText(method, path, ts, opts.sign.hostId, body)), opts.sign.key.privateKey).toString('base64url');
    }
    const res = await raw(this.server, method, path, headers, body || undefined, { ca: this.ca }, this.timeoutMs);
    let json: unknown = null;
    try {
      json = res.body ? JSON.parse(res.body) : null;
    } catch {
      /* not JSON */
    }
    if (res.status >= 400) {
      const p = json as { type?: string; title?: string; detail?: string } | null;
      throw new ApiError(res.status, p, `${method} ${path}: HTTP ${res.status}${p?.detail ? ` (${p.detail})` : ''}`);
    }
    return json as T;
  }
}

function raw(
  server: string, method: string, path: string, headers: Record<string, string>, body: string | undefined,
  tls: { ca?: string | undefined; rejectUnauthorized?: boolean }, timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const u = new URL(path, server);
  return new Promise((resolve, reject) => {
    const req = request(u, {
      method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      ...(tls.ca ? { ca: tls.ca } : {}), rejectUnauthorized: tls.rejectUnauthorized ?? true, minVersion: 'TLSv1.2', timeout: timeoutMs,
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 4 * 1024 * 1024) req.destroy(new Error('response too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.origin} within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
