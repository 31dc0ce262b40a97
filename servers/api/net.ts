// The client address, judged on the real peer: X-Forwarded-For is believed only when the peer
// is one of api.trustedProxies, and then walked from the right past trusted hops (the
// left-most entries are whatever the client wrote). IPv4-mapped IPv6 becomes plain IPv4.
import { ipInCidrs, normaliseIp } from '../../core/index.js';

export function clientAddress(peer: string | undefined, forwarded: string | string[] | undefined, trusted: readonly string[]): string | null {
  const p = peer ? normaliseIp(peer) : null;
  if (!p) return null;
  let addr = p.toString();
  if (!trusted.length || !forwarded || !ipInCidrs(addr, trusted)) return addr;
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normaliseIp(hops[i]!);
    if (!hop) return addr; // garbage: stop at the last address we could trust
    addr = hop.toString();
    if (!ipInCidrs(addr, trusted)) return addr;
  }
  return addr;
}

/** Fixed-window counter per key (login attempts per address), bounded in memory. */
export class RateLimiter {
  readonly #hits = new Map<string, { n: number; start: number }>();
  constructor(readonly limit: number, readonly windowMs: number, readonly maxKeys = 50_000) {}

  /** Seconds until the key may act again without counting this as an attempt; 0 = not over. */
  peek(key: string, t = Date.now()): number {
    const e = this.#hits.get(key);
    if (!e || t - e.start >= this.windowMs || e.n < this.limit) return 0;
    return Math.ceil((e.start + this.windowMs - t) / 1000);
  }

  /** Seconds to wait, or 0 when the attempt may proceed. */
  take(key: string, t = Date.now()): number {
    let e = this.#hits.get(key);
    if (!e || t - e.start >= this.windowMs) {
      if (!e && this.#hits.size >= this.maxKeys) {
        // Drop the oldest entries (Map keeps insertion order).
        for (const k of this.#hits.keys()) {
          this.#hits.delete(k);
          if (this.#hits.size < this.maxKeys * 0.9) break;
        }
      }
      e = { n: 0, start: t };
      this.#hits.delete(key);
      this.#hits.set(key, e);
    }
    e.n++;
    return e.n > this.limit ? Math.ceil((e.start + this.windowMs - t) / 1000) : 0;
  }
}

/** Runs work for one key at a time (in this process); other keys run freely. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(work, work);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
