// Carries changes made by other processes (the `cairn` CLI, other instances on one PostgreSQL)
// into this process's change feed. The audit trail already records every change in commit
// order, so following it by sequence number misses nothing and needs no extra table.
import type { AuditLog } from './audit/audit.js';
import type { Change, ChangeAction, ChangeFeed, ChangeKind } from './feed.js';
import type { Logger } from './log.js';
import { scrubError } from './log.js';
import type { Db } from './store/knex.js';

const kinds: Record<string, ChangeKind> = {
  user: 'user', group: 'group', system: 'system', service_account: 'service_account', policy: 'policy',
  access_rule: 'access_rule', ip_list: 'ip_list',
};

/** The feed entries an audit event stands for (none for pure authentication events). */
export function changesOf(e: { org_id: string; event_type: string; resource_type: string | null; resource_id: string | null; changes: string | null }): Change[] {
  if (!e.resource_type || !e.resource_id || !e.event_type.includes('.')) return [];
  const verb = e.event_type.slice(e.event_type.lastIndexOf('.') + 1);
  if (['bind', 'auth', 'login', 'challenge'].includes(verb)) return [];
  const action: ChangeAction =
    verb === 'created' ? 'created'
    : verb === 'deleted' ? 'deleted'
    : ['suspended', 'reactivated', 'staged', 'locked', 'unlocked'].includes(verb) ? 'state'
    : ['password_reset', 'password_changed', 'mfa_enrolled', 'mfa_reset'].includes(verb) ? 'credentials'
    : 'updated';
  const kind = e.event_type.startsWith('grant.') ? 'grant' : kinds[e.resource_type] ?? 'resource';
  const out: Change[] = [{ kind, action, orgId: e.org_id, id: e.resource_id }];
  if (e.event_type.startsWith('group.member_') && e.changes) {
    const userId = (JSON.parse(e.changes) as { userId?: string }).userId;
    if (userId) out.push({ kind: 'user', action: 'updated', orgId: e.org_id, id: userId });
  }
  return out;
}

export function followStore(db: Db, audit: AuditLog, feed: ChangeFeed, intervalMs: number, log: Logger): () => void {
  const local = new Set<number>();
  const unlisten = audit.onEvent((e) => local.add(e.seq));
  let last: number | null = null;
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      if (last === null) {
        last = Number(((await db('audit_head').where({ id: 1 }).first()) as { seq: number }).seq);
        return;
      }
      const rows = (await db('audit_events')
        .where('seq', '>', last)
        .orderBy('seq')
        .limit(1000)
        .select('seq', 'org_id', 'event_type', 'resource_type', 'resource_id', 'changes')) as Array<{ seq: number; org_id: string; event_type: string; resource_type: string | null; resource_id: string | null; changes: string | null }>;
      for (const row of rows) {
        const seq = Number(row.seq);
        last = seq;
        if (local.delete(seq)) continue; // published already, in the process that made it
        for (const change of changesOf(row)) feed.publish(change);
      }
      // Anything older than what we have read can no longer arrive.
      for (const seq of local) if (seq <= last) local.delete(seq);
    } catch (err) {
      log.warn({ err: scrubError(err) }, 'following the store for outside changes failed; retrying');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  void poll();
  return () => {
    clearInterval(timer);
    unlisten();
  };
}
