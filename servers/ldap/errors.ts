// Every core error code mapped to an LDAP result code (RFC 4511 appendix A). A test fails when
// a code is missing. Only exposed messages reach the client; anything else is generic.
import { toCairnError, type ErrorCode } from '../../core/index.js';
import { ResultCode } from './protocol.js';

export const resultCodeFor: Record<ErrorCode, number> = {
  invalid_input: ResultCode.constraintViolation,
  policy_violation: ResultCode.constraintViolation,
  not_found: ResultCode.noSuchObject,
  conflict: ResultCode.entryAlreadyExists,
  unauthenticated: ResultCode.invalidCredentials,
  forbidden: ResultCode.insufficientAccessRights,
  rate_limited: ResultCode.busy,
  unavailable: ResultCode.unavailable,
  internal: ResultCode.other,
};

/** The result code and a client-safe message for any thrown value. */
export function ldapError(err: unknown): { code: number; message: string; internal: boolean } {
  const e = toCairnError(err);
  const code = resultCodeFor[e.code] ?? ResultCode.other;
  if (e.code === 'unavailable') return { code, message: 'directory temporarily unavailable', internal: false };
  if (e.code === 'rate_limited') return { code, message: 'server busy, retry later', internal: false };
  if (!e.expose) return { code, message: 'internal error', internal: e.code === 'internal' };
  const details = e.details.length ? `: ${e.details.join('; ')}` : '';
  return { code, message: `${e.message}${details}`.slice(0, 512), internal: false };
}
