// Domain errors as RADIUS answers. RADIUS can only accept, reject or stay silent: a reject is
// final for the NAS, so anything that is not the user's fault (store down, hash queue full,
// an internal error) gets NO answer — the NAS retries or fails over to its next server.
import type { ErrorCode } from '../../core/index.js';

export type RadiusOutcome = 'reject' | 'drop';

export const radiusErrorMap: Record<ErrorCode, RadiusOutcome> = {
  invalid_input: 'reject', // e.g. a username the directory cannot hold
  policy_violation: 'reject',
  not_found: 'reject',
  conflict: 'reject',
  unauthenticated: 'reject',
  forbidden: 'reject',
  rate_limited: 'drop', // too many hashes queued: let the NAS retry instead of rejecting a good user
  unavailable: 'drop', // store down: the NAS fails over (SECURITY.md)
  internal: 'drop',
};

export function outcomeFor(code: ErrorCode | undefined): RadiusOutcome {
  return code ? radiusErrorMap[code] : 'drop';
}
