// The audit trail: append-only, hash-chained, gap-free sequence numbers, written in the same
// transaction as the change it records. Personal data of actors and of user resources lives in
// audit_subjects, outside the chain, so a person can be erased without breaking it.
import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isPostgres, storeError, type Db } from '../store/knex.js';
import type { ActionContext, AuditEvent } from '../types.js';

export interface AuditInput {
  eventType: string;
  success: boolean;
  resource?: { type: string; id: string | null; name?: string | null } | null;
  /** Names of person resources (users, admins) go to audit_subjects, not into the chain. */
  resourceIsPerson?: boolean;
  resourceEmail?: string | null;
  mfaType?: string | null;
  reason?: string | null;
  changes?: Record<string, unknown> | null;
  /** Actor's email, kept in audit_subjects. */
  actorEmail?: string | null;
}

const GENESIS = '0'.repeat(64);

type Row = {
  seq: number; id: string; org_id: string; timestamp: number; event_type: string; service: string;
  actor_type: string; actor_id: string | null; resource_type: string | null; resource_id: string | null;
  resource_name: string | null; client_ip: string | null; success: boolean | number; mfa_type: string | null;
  reason: string | null; changes: string | null; prev_hash: string; hash: string;
};

function chainHash(prev: string, r: Omit<Row, 'hash' | 'prev_hash'>): string {
  const body = JSON.stringify([
    r.seq, r.id, r.org_id, Number(r.timestamp), r.event_type, r.service, r.actor_type, r.actor_id,
    r.resource_type, r.resource_id, r.resource_name, r.client_ip, !!r.success, r.mfa_type, r.reason, r.changes,
  ]);
  return createHash('sha256').update(prev).update('\n').update(body).digest('hex');
}

async function upsertSubject(trx: Knex, id: string, type: string, username: string | null, email: string | null) {
  await trx('audit_subjects').insert({ id, type, username, email }).onConflict('id').merge(['username', 'email']);
}

export class AuditLog {
  readonly #db: Db;
  readonly #listeners = new Set<(e: AuditEvent) => void>();

  constructor(db: Db) {
    this.#db = db;
  }

  /** Called with each event after its transaction commits (webhook sink, tail -f, ...). */
  onEvent(listener: (e: AuditEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Append one event inside `trx`. Returns a function to call after commit. */
  async append(trx: Knex.Transaction, ctx: ActionContext, input: AuditInput): Promise<() => void> {
    const actor = ctx.actor;
    if (actor.id && (actor.name || input.actorEmail)) {
      await upsertSubject(trx, actor.id, actor.type, actor.name, input.actorEmail ?? null);
    }
    let resourceName = input.resource?.name ?? null;
    if (input.resource?.id && input.resourceIsPerson) {
      await upsertSubject(trx, input.resource.id, input.resource.type, resourceName, input.resourceEmail ?? null);
      resourceName = null;
    }
    // Take the chain head under a row lock: concurrent writers (several instances on one
    // PostgreSQL) get consecutive sequence numbers and a linear chain.
    const headQuery = trx('audit_head').where({ id: 1 });
    const head = (await (isPostgres(trx) ? headQuery.forUpdate() : headQuery).first()) as { seq: number; hash: string };
    const row: Omit<Row, 'hash' | 'prev_hash'> = {
      seq: Number(head.seq) + 1,
      id: randomUUID(),
      org_id: ctx.orgId,
      timestamp: Date.now(),
      event_type: input.eventType,
      service: ctx.service,
      actor_type: actor.type,
      actor_id: actor.id ?? ctx.keyId ?? null,
      resource_type: input.resource?.type ?? null,
      resource_id: input.resource?.id ?? null,
      resource_name: resourceName,
      client_ip: ctx.clientIp,
      success: input.success,
      mfa_type: input.mfaType ?? null,
      reason: input.reason ?? null,
      changes: input.changes ? JSON.stringify(ctx.keyId ? { ...input.changes, apiKeyId: ctx.keyId } : input.changes) : ctx.keyId ? JSON.stringify({ apiKeyId: ctx.keyId }) : null,
    };
    const hash = chainHash(head.hash, row);
    await trx('audit_events').insert({ ...row, prev_hash: head.hash, hash });
    await trx('audit_head').where({ id: 1 }).update({ seq: row.seq, hash });
    return () => {
      const event = toEvent({ ...row, prev_hash: head.hash, hash }, actor.name, input.actorEmail ?? null, input.resource?.name ?? null);
      for (const l of this.#listeners) {
        try {
          l(event);
        } catch {
          // a listener's failure must never undo or block the write
        }
      }
    };
  }

  /** Record an event on its own (an authentication decision, a failed login). */
  /**
   * Record an event on its own (an authentication decision). Resolves only once the event is
   * durable. Events arriving while a write is in flight are committed together in the next
   * transaction (group commit): one fsync for many concurrent authentications.
   */
  record(ctx: ActionContext, input: AuditInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ ctx, input, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  readonly #pending: Array<{ ctx: ActionContext; input: AuditInput; resolve: () => void; reject: (err: unknown) => void }> = [];
  #flushing = false;

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length) {
      const batch = this.#pending.splice(0, 500);
      try {
        const afters = await this.#db.transaction(async (trx) => {
          const out: Array<() => void> = [];
          for (const item of batch) out.push(await this.append(trx, item.ctx, item.input));
          return out;
        });
        for (const after of afters) after();
        for (const item of batch) item.resolve();
      } catch (err) {
        for (const item of batch) item.reject(storeError(err));
      }
    }
    this.#flushing = false;
  }

  async list(filter: {
    orgId?: string;
    afterSeq?: number;
    beforeSeq?: number;
    since?: Date;
    until?: Date;
    eventType?: string;
    actorId?: string;
    resourceId?: string;
    success?: boolean;
    limit: number;
    order?: 'asc' | 'desc';
  }): Promise<AuditEvent[]> {
    const q = this.#db('audit_events as e')
      .leftJoin('audit_subjects as a', 'a.id', 'e.actor_id')
      .leftJoin('audit_subjects as r', 'r.id', 'e.resource_id')
      .select('e.*', 'a.username as actor_username', 'a.email as actor_email', 'r.username as resource_username');
    if (filter.orgId) q.where('e.org_id', filter.orgId);
    if (filter.afterSeq !== undefined) q.where('e.seq', '>', filter.afterSeq);
    if (filter.beforeSeq !== undefined) q.where('e.seq', '<', filter.beforeSeq);
    if (filter.since) q.where('e.timestamp', '>=', filter.since.getTime());
    if (filter.until) q.where('e.timestamp', '<', filter.until.getTime());
    if (filter.eventType) q.where('e.event_type', filter.eventType);
    if (filter.actorId) q.where('e.actor_id', filter.actorId);
    if (filter.resourceId) q.where('e.resource_id', filter.resourceId);
    if (filter.success !== undefined) q.where('e.success', filter.success);
    const rows = await q.orderBy('e.seq', filter.order ?? 'asc').limit(filter.limit);
    return rows.map((r: Row & { actor_username: string | null; actor_email: string | null; resource_username: string | null }) =>
      toEvent(r, r.actor_username, r.actor_email, r.resource_username ?? r.resource_name),
    );
  }

  /** Walk the whole chain. Returns the first broken sequence number, or null when intact. */
  async verify(): Promise<{ ok: boolean; checked: number; brokenAt: number | null; reason: string | null }> {
    let prev = GENESIS;
    let expectedSeq = 1;
    let checked = 0;
    const pageSize = 5000;
    for (;;) {
      const rows = (await this.#db('audit_events').where('seq', '>=', expectedSeq).orderBy('seq').limit(pageSize)) as Row[];
      for (const r of rows) {
        const seq = Number(r.seq);
        if (seq !== expectedSeq) return { ok: false, checked, brokenAt: expectedSeq, reason: 'missing event (gap in sequence)' };
        if (r.prev_hash !== prev) return { ok: false, checked, brokenAt: seq, reason: 'previous hash does not match' };
        if (chainHash(prev, { ...r, seq, success: !!r.success }) !== r.hash) return { ok: false, checked, brokenAt: seq, reason: 'event content altered' };
        prev = r.hash;
        expectedSeq++;
        checked++;
      }
      if (rows.length < pageSize) break;
    }
    const head = (await this.#db('audit_head').where({ id: 1 }).first()) as { seq: number; hash: string };
    if (Number(head.seq) !== checked || head.hash !== prev) {
      return { ok: false, checked, brokenAt: checked + 1, reason: 'events after the last one were removed' };
    }
    return { ok: true, checked, brokenAt: null, reason: null };
  }

  /** GDPR erasure of a person: the events stay, pointing at a pseudonymous id. */
  async forgetSubject(trx: Knex.Transaction, id: string): Promise<void> {
    await trx('audit_subjects').where({ id }).update({ username: null, email: null });
  }
}

function toEvent(r: Row, actorName: string | null, actorEmail: string | null, resourceName: string | null): AuditEvent {
  return {
    seq: Number(r.seq),
    id: r.id,
    timestamp: new Date(Number(r.timestamp)),
    orgId: r.org_id,
    eventType: r.event_type,
    service: r.service,
    initiatedBy: { type: r.actor_type, id: r.actor_id, username: actorName, email: actorEmail },
    resource: r.resource_type ? { type: r.resource_type, id: r.resource_id, name: resourceName } : null,
    clientIp: r.client_ip,
    success: !!r.success,
    mfaMeta: r.mfa_type ? { type: r.mfa_type } : null,
    changes: r.changes ? (JSON.parse(r.changes) as Record<string, unknown>) : null,
    reason: r.reason,
  };
}

/** The event as the SIEM sees it: PRODUCT.md's field names. */
export function eventToJson(e: AuditEvent): Record<string, unknown> {
  return {
    seq: e.seq,
    id: e.id,
    timestamp: e.timestamp.toISOString(),
    event_type: e.eventType,
    service: e.service,
    org_id: e.orgId,
    initiated_by: e.initiatedBy,
    resource: e.resource,
    client_ip: e.clientIp,
    success: e.success,
    mfa_meta: e.mfaMeta,
    reason: e.reason,
    changes: e.changes,
  };
}
