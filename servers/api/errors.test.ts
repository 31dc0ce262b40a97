// Every domain error code has an HTTP status and a stable problem type; unexposed errors say
// nothing; a 401 never says why.
import t from 'tap';
import { CairnError, errorCodes } from '../../core/index.js';
import { httpStatus, problemFromError, PROBLEM_BASE } from './errors.js';

t.test('every ErrorCode maps to an HTTP status', async (t) => {
  for (const code of errorCodes) {
    const status = httpStatus[code];
    t.ok(Number.isInteger(status) && status >= 400 && status < 600, `${code} → ${status}`);
    const p = problemFromError(new CairnError(code, 'secret-detail-canary', { field: 'f', details: ['d'] }));
    t.equal(p.type, PROBLEM_BASE + code, 'stable type');
    t.equal(p.status, status);
    t.ok(p.title, 'has a title');
  }
  t.same(Object.keys(httpStatus).sort(), [...errorCodes].sort(), 'no stale entries');
});

t.test('what a problem may reveal', async (t) => {
  for (const code of ['internal', 'unavailable'] as const) {
    const p = problemFromError(new CairnError(code, 'connection to 10.0.0.5 refused: password=hunter2', { field: 'x', cause: new Error('boom') }));
    t.notOk(JSON.stringify(p).includes('hunter2'), `${code}: message never sent`);
    t.equal(p.detail, undefined);
    t.equal(p.field, undefined);
  }
  const u = problemFromError(new CairnError('unauthenticated', 'key revoked'));
  t.equal(u.detail, undefined, '401 never says why');
  const v = problemFromError(new CairnError('invalid_input', 'bad', { field: 'email' }));
  t.equal(v.field, 'email', 'invalid_input names the field');
  const pv = problemFromError(new CairnError('policy_violation', 'password does not meet the policy', { field: 'password', details: ['at least 12 characters'] }));
  t.same(pv.errors, ['at least 12 characters']);
});
