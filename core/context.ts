// What every core service is built from. Internal to core/: front-ends see the Directory.
import type { Knex } from 'knex';
import type { Config } from '../config/load.js';
import { AuditLog, type AuditInput } from './audit/audit.js';
import type { SecretBox } from './crypto/encryption.js';
import type { PasswordHasher } from './crypto/passwords.js';
import type { Change, ChangeFeed } from './feed.js';
import type { Logger } from './log.js';
import { storeError, type Db } from './store/knex.js';
import type { ActionContext } from './types.js';

export interface Deps {
  db: Db;
  config: Readonly<Config>;
  log: Logger;
  audit: AuditLog;
  feed: ChangeFeed;
  hasher: PasswordHasher;
  box: SecretBox;
}

/**
 * Run a change and its audit event in one transaction; publish the feed and the event only
 * after commit. A committed change always has its event; a failed one has neither.
 */
export async function mutate<T>(
  deps: Deps,
  ctx: ActionContext,
  work: (trx: Knex.Transaction) => Promise<{ result: T; audit: AuditInput; changes?: Change[] }>,
): Promise<T> {
  let after: () => void = () => {};
  let changes: Change[] = [];
  let result: T;
  try {
    result = await deps.db.transaction(async (trx) => {
      const out = await work(trx);
      after = await deps.audit.append(trx, ctx, out.audit);
      changes = out.changes ?? [];
      return out.result;
    });
  } catch (err) {
    throw storeError(err);
  }
  after();
  for (const c of changes) deps.feed.publish(c);
  return result;
}

/** A read, with store failures typed. */
export async function read<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw storeError(err);
  }
}

export const now = () => Date.now();
export const toDate = (ms: number | string | null | undefined): Date | null => (ms === null || ms === undefined ? null : new Date(Number(ms)));
