// Signed host requests (the host agent, issue 7). An enrolled host signs every call with its
// Ed25519 key; no bearer secret travels. The signed text binds the method, the full path with
// its query, the timestamp, the host id and the SHA-256 of the exact body bytes:
//
//   cairn-agent-v1\n<METHOD>\n<path?query>\n<timestamp ms>\n<host id>\n<sha256 hex of body>
//
// Headers: X-Cairn-Host (system id; "-" while enrolling), X-Cairn-Timestamp (epoch ms),
// X-Cairn-Signature (base64url, 64 bytes). The server refuses a timestamp outside
// agent.clockSkewSeconds and any timestamp not newer than the last one it accepted from that
// host (replay refusal). agent/client.ts builds the same text (the agent never imports servers/).
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config/load.js';
import { CairnError, HostAgents, hostPublicKey, verifyHostSignature, type ActionContext, type HostBinding } from '../../core/index.js';
import { RateLimiter } from './net.js';
import type { Call } from './route-kit.js';

export const SIGNATURE_SCHEME = 'cairn-agent-v1';

export function signedText(method: string, path: string, timestampMs: number | string, hostId: string, body: string | Buffer): string {
  const digest = createHash('sha256').update(body).digest('hex');
  return [SIGNATURE_SCHEME, method.toUpperCase(), path, String(timestampMs), hostId, digest].join('\n');
}

interface Parsed { host: string; ts: number; sig: string }

function parse(req: FastifyRequest): Parsed | null {
  const h = req.headers;
  const host = h['x-cairn-host'];
  const ts = h['x-cairn-timestamp'];
  const sig = h['x-cairn-signature'];
  if (typeof host !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return null;
  if (host.length > 64 || !/^[0-9]{1,16}$/.test(ts) || sig.length > 128) return null;
  return { host, ts: Number(ts), sig };
}

const bodyOf = (req: FastifyRequest) => (req as { rawBody?: string }).rawBody ?? '';

// One limiter per running server (per frozen config object), not one per process.
const limiters = new WeakMap<Readonly<Config>, RateLimiter>();
export function hostLimiter(config: Readonly<Config>): RateLimiter {
  let l = limiters.get(config);
  if (!l) limiters.set(config, (l = new RateLimiter(config.agent.enrolPerMinute, 60_000)));
  return l;
}

/** Refuse early when this address has failed too often (429), without counting this call. */
export function checkLimit(c: Call): void {
  const wait = hostLimiter(c.config).peek(c.ip ?? 'unknown');
  if (wait) throw new CairnError('rate_limited', 'too many failed host authentications from this address; try again later');
}

/** Count one failure for this address. */
export function countFailure(c: Call): void {
  hostLimiter(c.config).take(c.ip ?? 'unknown');
}

function denied(): CairnError {
  return new CairnError('unauthenticated', 'authentication required');
}

/** Authenticate a signed call from an enrolled host; 401 (same answer for every cause) otherwise. */
export async function authenticateHost(req: FastifyRequest, c: Call, agents: HostAgents): Promise<{ binding: HostBinding; actx: ActionContext }> {
  checkLimit(c);
  const p = parse(req);
  const fail = async (reason: string, hostId: string | null) => {
    countFailure(c);
    await c.dir.audit.record(c.actx, { eventType: 'agent.auth_failed', success: false, reason, resource: hostId ? { type: 'system', id: hostId.slice(0, 36), name: null } : null });
    return denied();
  };
  if (!p || p.host === '-') throw await fail('malformed_signature', null);
  const text = signedText(req.method, req.url, p.ts, p.host, bodyOf(req));
  const r = await agents.acceptSigned(c.orgId, p.host, p.ts, text, p.sig, c.config.agent.clockSkewSeconds * 1000);
  if (!r.ok) throw await fail(r.reason, r.reason === 'unknown_host' ? null : p.host);
  const actx: ActionContext = { ...c.actx, actor: { type: 'system', id: p.host, name: 'cairn-agent' } };
  return { binding: r.binding, actx };
}

/**
 * Enrolment: the request is signed by the key being registered (proof of possession), with
 * host id "-". The replay window is the token's single use; the timestamp must still be fresh.
 */
export function verifyEnrolmentSignature(req: FastifyRequest, c: Call, publicKey: string): boolean {
  const p = parse(req);
  if (!p || p.host !== '-') return false;
  if (Math.abs(Date.now() - p.ts) > c.config.agent.clockSkewSeconds * 1000) return false;
  let key;
  try {
    key = hostPublicKey(publicKey);
  } catch {
    return false;
  }
  return verifyHostSignature(key, signedText(req.method, req.url, p.ts, '-', bodyOf(req)), p.sig);
}
