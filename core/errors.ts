// Typed domain errors. Each has a stable code that every front-end maps to its protocol
// (servers/*/errors.ts; a test keeps those maps complete). `expose` says whether the
// message is safe to show a client; anything else becomes a generic server error.

export const errorCodes = [
  'invalid_input', // a field is missing, malformed or not allowed (field names it)
  'policy_violation', // valid input that the org's policy refuses (e.g. weak password)
  'not_found',
  'conflict', // unique name taken, stale ETag
  'unauthenticated',
  'forbidden',
  'rate_limited', // too many concurrent password hashes queued
  'unavailable', // the store is down or timed out
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly expose: boolean;
  readonly field: string | undefined;
  readonly details: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    opts: { field?: string; details?: string[]; expose?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CairnError';
    this.code = code;
    this.field = opts.field;
    this.details = opts.details ?? [];
    this.expose = opts.expose ?? !['internal', 'unavailable'].includes(code);
  }
}

export const invalidInput = (field: string, message: string) =>
  new CairnError('invalid_input', message, { field });
export const notFound = (what: string) => new CairnError('not_found', `${what} not found`);
export const conflict = (message: string, field?: string) =>
  new CairnError('conflict', message, field === undefined ? {} : { field });
export const policyViolation = (message: string, details: string[] = [], field?: string) =>
  new CairnError('policy_violation', message, field === undefined ? { details } : { details, field });

export function isCairnError(err: unknown): err is CairnError {
  return err instanceof CairnError;
}

/** Any thrown value as a CairnError; unknown errors become a non-exposed internal error. */
export function toCairnError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new CairnError('internal', 'internal error', { cause: err, expose: false });
}
