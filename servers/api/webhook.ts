// The audit webhook sink: every audit event, in sequence order, POSTed in batches to
// api.webhook.url with an HMAC-SHA256 signature. Delivery is at-least-once: the cursor (last
// delivered seq) is stored in the database only after the receiver answered 2xx, so a restart
// resumes where it stopped and a crash mid-delivery re-sends that batch (receivers dedupe on
// `id` or `seq`). A failing receiver is retried with exponential backoff, never skipped.
//
// Signature: X-Cairn-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// (the timestamp is signed so a captured delivery cannot be replayed later unnoticed).
import { createHmac, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { eventToJson, scrubError, type Directory, type Logger } from '../../core/index.js';
import type { Config } from '../../config/load.js';

type WebhookConfig = Config['api']['webhook'];
const CURSOR = 'webhook';
const LEASE_MS = 30_000;

export function signature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function checkWebhookUrl(url: string): void {
  const u = new URL(url);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname) || u.hostname.startsWith('127.');
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new Error('api.webhook.url: must be https (http only to a loopback address)');
  }
}

export class WebhookSink {
  readonly #dir: Directory;
  readonly #cfg: WebhookConfig;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #failures = 0;
  #unsubscribe: (() => void) | null = null;
  /** Delivered batches (tests and metrics). */
  delivered = 0;
  readonly #instance = randomUUID();

  constructor(dir: Directory, cfg: WebhookConfig, log: Logger) {
    if (!cfg.secret) throw new Error('api.webhook.secret: required when api.webhook.url is set (CAIRN_API__WEBHOOK__SECRET)');
    checkWebhookUrl(cfg.url);
    this.#dir = dir;
    this.#cfg = cfg;
    this.#log = log.child({ component: 'webhook' });
  }

  async start(): Promise<void> {
    await this.#dir.store('audit_sink_cursors').insert({ name: CURSOR, last_seq: 0, updated_at: Date.now() }).onConflict('name').ignore();
    this.#unsubscribe = this.#dir.audit.onEvent(() => this.kick());
    this.kick();
  }

  /** Deliver what is pending now (called on every new event, and by the poll timer). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = null;
      if (this.#stopped) return;
      if (this.#again && this.#failures === 0) {
        this.#again = false;
        this.kick();
        return;
      }
      this.#again = false;
      const wait = this.#failures ? Math.min(this.#cfg.maxBackoffMs, 500 * 2 ** Math.min(this.#failures - 1, 20)) : this.#cfg.pollMs;
      this.#timer = setTimeout(() => this.kick(), wait);
      this.#timer.unref();
    });
  }

  /** Take or extend the delivery lease; false when another live instance holds it. */
  async #lease(): Promise<boolean> {
    const t = Date.now();
    const n = await this.#dir.store('audit_sink_cursors').where({ name: CURSOR })
      .andWhere((q) => q.whereNull('lease_owner').orWhere('lease_owner', this.#instance).orWhere('lease_until', '<', t))
      .update({ lease_owner: this.#instance, lease_until: t + LEASE_MS });
    return Number(n) === 1;
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        if (this.#stopped) return;
        if (!(await this.#lease())) return; // another instance delivers; we poll again later
        const row = (await this.#dir.store('audit_sink_cursors').where({ name: CURSOR }).first()) as { last_seq: number };
        const events = await this.#dir.audit.list({ afterSeq: Number(row.last_seq), limit: this.#cfg.batchSize, order: 'asc' });
        if (!events.length) return;
        const body = JSON.stringify({ events: events.map(eventToJson) });
        const t = Math.floor(Date.now() / 1000);
        const res = await request(this.#cfg.url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', 'x-cairn-signature': signature(this.#cfg.secret, t, body), 'user-agent': 'cairn-webhook/1' },
          headersTimeout: this.#cfg.timeoutMs,
          bodyTimeout: this.#cfg.timeoutMs,
        });
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`receiver answered ${res.statusCode}`);
        const last = events[events.length - 1]!.seq;
        // Only forward: a slower instance delivering the same batch must not move it back.
        await this.#dir.store('audit_sink_cursors').where({ name: CURSOR }).where('last_seq', '<', last).update({ last_seq: last, updated_at: Date.now() });
        this.delivered++;
        this.#failures = 0;
      }
    } catch (err) {
      this.#failures++;
      this.#log.warn({ err: scrubError(err), failures: this.#failures }, 'audit webhook delivery failed; will retry');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    // Hand the lease over at once rather than after it runs out.
    await this.#dir.store('audit_sink_cursors').where({ name: CURSOR, lease_owner: this.#instance }).update({ lease_owner: null, lease_until: null })
      .catch((err) => this.#log.warn({ err: scrubError(err) }, 'could not release the webhook lease'));
  }
}
