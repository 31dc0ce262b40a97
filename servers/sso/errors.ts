// Every core error code → what the SSO front-end answers: an HTTP status for pages and the
// OAuth error code for protocol endpoints. A test keeps this map complete.
import type { ErrorCode } from '../../core/index.js';

export const ssoErrors: Record<ErrorCode, { status: number; oauth: string; page: string }> = {
  invalid_input: { status: 400, oauth: 'invalid_request', page: 'The request was not valid.' },
  policy_violation: { status: 400, oauth: 'invalid_request', page: 'The request does not meet the organisation policy.' },
  not_found: { status: 404, oauth: 'invalid_request', page: 'Not found.' },
  conflict: { status: 409, oauth: 'invalid_request', page: 'That conflicts with something that exists.' },
  unauthenticated: { status: 401, oauth: 'login_required', page: 'Please sign in.' },
  forbidden: { status: 403, oauth: 'access_denied', page: 'You are not allowed to do this.' },
  rate_limited: { status: 429, oauth: 'temporarily_unavailable', page: 'Too many requests at once. Try again in a moment.' },
  unavailable: { status: 503, oauth: 'temporarily_unavailable', page: 'Sign-in is temporarily unavailable. Try again in a moment.' },
  internal: { status: 500, oauth: 'server_error', page: 'Something went wrong.' },
};
