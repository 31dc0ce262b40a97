// Domain errors → RFC 9457 problem+json. Every ErrorCode has a status here (errors.test.ts walks
// errorCodes); a `type` is stable for a code, so clients match on it, never on the text.
// Unexposed errors (internal, unavailable) never carry their message or cause to the client.
import type { ErrorCode } from '../../core/index.js';
import { CairnError } from '../../core/index.js';

export const PROBLEM_BASE = 'urn:cairn:problem:';

export const httpStatus: Readonly<Record<ErrorCode, number>> = {
  invalid_input: 400,
  policy_violation: 422,
  not_found: 404,
  conflict: 409,
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

const titles: Readonly<Record<ErrorCode, string>> = {
  invalid_input: 'Invalid input',
  policy_violation: 'Refused by policy',
  not_found: 'Not found',
  conflict: 'Conflict',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  rate_limited: 'Too many requests',
  unavailable: 'Service unavailable',
  internal: 'Internal error',
};

/** HTTP-only problems that have no domain code (stale ETag, body too large, unknown route). */
export const httpOnlyProblems = {
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  route_not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
} as const;
export type HttpOnlyProblem = keyof typeof httpOnlyProblems;

export class HttpProblem extends Error {
  constructor(readonly kind: HttpOnlyProblem, readonly detail: string, readonly field?: string) {
    super(detail);
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** The request field at fault (invalid_input, policy_violation, conflict). */
  field?: string;
  /** Policy reasons (e.g. which password rules failed); never secret. */
  errors?: string[];
  instance?: string;
}

export function problemFromError(err: CairnError, instance?: string): Problem {
  const p: Problem = { type: PROBLEM_BASE + err.code, title: titles[err.code], status: httpStatus[err.code] };
  // 401 never says why; unexposed errors say nothing.
  if (err.expose && err.code !== 'unauthenticated') p.detail = err.message;
  if (err.expose && err.field) p.field = err.field;
  if (err.expose && err.details.length) p.errors = [...err.details];
  if (instance) p.instance = instance;
  return p;
}

export function problemFromHttp(err: HttpProblem, instance?: string): Problem {
  const k = httpOnlyProblems[err.kind];
  const p: Problem = { type: PROBLEM_BASE + err.kind, title: k.title, status: k.status, detail: err.detail };
  if (err.field) p.field = err.field;
  if (instance) p.instance = instance;
  return p;
}
