// Accepting a TOTP code once: the accepted time step is kept in the row (users or admins)
// and advanced by compare-and-set, so that two instances cannot both accept one code.
import { read } from '../context.js';
import { matchTotp } from '../crypto/totp.js';
import type { Db } from '../store/knex.js';

/**
 * 'replayed' is a right code already used (or used at the same moment elsewhere): the audit
 * trail tells it apart because it suggests someone else saw the code.
 */
export type TotpUse = 'accepted' | 'invalid' | 'replayed';

export async function useTotp(db: Db, table: 'users' | 'admins', id: string, seed: string, lastStep: number | null, code: string): Promise<TotpUse> {
  const step = matchTotp(seed, code, null);
  if (step === null) return 'invalid';
  if (step === lastStep) return 'replayed';
  const won = await read(() =>
    db(table).where({ id }).andWhere((q) => q.whereNull('totp_last_step').orWhere('totp_last_step', '<', step)).update({ totp_last_step: step }),
  );
  return won === 1 ? 'accepted' : 'replayed';
}
