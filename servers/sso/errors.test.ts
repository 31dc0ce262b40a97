// Every core error code has an SSO answer (status, OAuth error, page text).
import t from 'tap';
import { errorCodes } from '../../core/index.js';
import { ssoErrors } from './errors.js';

t.test('the map covers every core error code and nothing else', async (t) => {
  t.same(Object.keys(ssoErrors).sort(), [...errorCodes].sort());
  for (const code of errorCodes) {
    const m = ssoErrors[code];
    t.ok(m.status >= 400 && m.status < 600, code);
    t.match(m.oauth, /^[a-z_]+$/, code);
    t.ok(m.page.length > 0, code);
  }
  t.equal(ssoErrors.unavailable.status, 503);
  t.equal(ssoErrors.unavailable.oauth, 'temporarily_unavailable');
});
