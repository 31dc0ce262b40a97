// Admin accounts through the API: the org always keeps an Administrator; suspending, demoting or
// deleting an admin takes effect at once on their sessions and keys; a TOTP reset forces a new
// enrolment; suspending a directory user ends their authentication everywhere.
import t from 'tap';
import { loginWithEnrollment, startApi } from '../../test/helpers/api.js';

const P = '/api/v1';

t.test('admin lifecycle', async (t) => {
  const h = await startApi('sqlite');
  t.teardown(h.stop);
  const A = h.admin.token;
  const me = h.admin.adminId;
  // The only Administrator cannot demote, suspend or delete themself out of existence.
  const demote = await h.c.call('PATCH', `${P}/admins/${me}`, { token: A, body: { role: 'manager' } });
  t.same([demote.status, demote.json.type], [422, 'urn:cairn:problem:policy_violation']);
  t.equal((await h.c.call('PATCH', `${P}/admins/${me}`, { token: A, body: { state: 'suspended' } })).status, 422);
  t.equal((await h.c.call('DELETE', `${P}/admins/${me}`, { token: A })).status, 422, 'no self-deletion');
  // A second admin: created without TOTP, enrols at first login.
  const created = await h.c.call('POST', `${P}/admins`, { token: A, body: { username: 'second', email: 'second@example.com', role: 'administrator', password: 'Second-admin-pw-1' } });
  t.equal(created.status, 201);
  t.equal(created.json.totpEnrolled, false);
  t.equal((await h.c.call('POST', `${P}/admins`, { token: A, body: { username: 'weak', role: 'manager', password: 'short' } })).json.field, 'password');
  t.equal((await h.c.call('POST', `${P}/admins`, { token: A, body: { username: 'second', role: 'manager', password: 'Another-admin-pw-1' } })).status, 409);
  // An enrolment token is not a session: it only confirms the enrolment.
  const pending = await h.c.call('POST', `${P}/auth/login`, { body: { username: 'second', password: 'Second-admin-pw-1' } });
  t.equal(pending.json.status, 'totp_enrollment_required');
  t.equal((await h.c.call('GET', `${P}/users`, { token: pending.json.enrollmentToken })).status, 401, 'enrolment token is no bearer token');
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: pending.json.enrollmentToken })).status, 401);
  const second = await loginWithEnrollment(h.c, 'second', 'Second-admin-pw-1');
  t.equal((await h.c.call('POST', `${P}/auth/totp/confirm`, { body: { enrollmentToken: pending.json.enrollmentToken, code: second.usedCode } })).status, 401, 'a superseded enrolment token is dead');
  const key = (await h.c.call('POST', `${P}/api-keys`, { token: second.token, body: { name: 'second-key', role: 'manager' } })).json;
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret })).status, 200);
  // The admin's email reaches the audit trail's initiated_by.email (from their login on).
  const ev = await h.c.call('GET', `${P}/events?actor=${second.adminId}&event_type=api_key.created`, { token: A });
  t.equal(ev.json.items[0].initiated_by.email, 'second@example.com');
  // Suspend: sessions end and keys stop, now.
  await h.c.call('PATCH', `${P}/admins/${second.adminId}`, { token: A, body: { state: 'suspended' } });
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: second.token })).status, 401, 'session ended');
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret })).status, 401, 'key stopped');
  t.equal((await h.c.call('POST', `${P}/auth/login`, { body: { username: 'second', password: 'Second-admin-pw-1', otp: '000000' } })).status, 401);
  await h.c.call('PATCH', `${P}/admins/${second.adminId}`, { token: A, body: { state: 'active' } });
  t.equal((await h.c.call('GET', `${P}/users`, { token: key.secret })).status, 200, 'reactivated owner: key works again (it was never revoked)');
  // TOTP reset: next login enrols again.
  t.equal((await h.c.call('POST', `${P}/admins/${second.adminId}/totp/reset`, { token: A })).status, 204);
  const again = await loginWithEnrollment(h.c, 'second', 'Second-admin-pw-1');
  t.ok(again.token, 'enrolled again after a reset');
  // Now that there are two Administrators, one may step down; delete revokes the keys.
  t.equal((await h.c.call('DELETE', `${P}/admins/${second.adminId}`, { token: A })).status, 204);
  t.equal((await h.c.call('GET', `${P}/admins/${second.adminId}`, { token: A })).status, 404);
  t.equal((await h.c.call('GET', `${P}/api-keys/${key.key.id}`, { token: A })).json.status, 'revoked', 'their keys are revoked, kept for the record');
  t.equal((await h.c.call('GET', `${P}/auth/me`, { token: again.token })).status, 401);
  const names = (await h.c.call('GET', `${P}/admins`, { token: A })).json.items.map((a: { username: string }) => a.username);
  t.same(names, ['admin']);
});

t.test('suspending a user through the API ends their authentication', async (t) => {
  const h = await startApi('sqlite');
  t.teardown(h.stop);
  const A = h.admin.token;
  const u = (await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'erin', password: 'Correct-horse-9' } })).json;
  const auth = () => h.s.dir.authenticate({ orgId: h.s.org.id, username: 'erin', credential: { kind: 'password', password: 'Correct-horse-9' }, protocol: 'ldap', clientIp: '192.0.2.1' });
  t.equal((await auth()).decision, 'allow');
  await h.c.call('POST', `${P}/users/${u.id}/suspend`, { token: A });
  t.same(await auth(), { decision: 'deny', reason: 'suspended' });
  await h.c.call('POST', `${P}/users/${u.id}/reactivate`, { token: A });
  t.equal((await auth()).decision, 'allow');
  // Reset password: the old one stops, must-change is set by default.
  t.equal((await h.c.call('POST', `${P}/users/${u.id}/password`, { token: A, body: { password: 'Fresh-start-77' } })).status, 204);
  t.same(await auth(), { decision: 'deny', reason: 'invalid_password' });
  t.equal((await h.c.call('GET', `${P}/users/${u.id}`, { token: A })).json.mustChangePassword, true);
  // Search and state filters.
  await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'frank', state: 'staged' } });
  const staged = await h.c.call('GET', `${P}/users?state=staged`, { token: A });
  t.same(staged.json.items.map((x: { username: string }) => x.username), ['frank']);
  const search = await h.c.call('GET', `${P}/users?search=eri`, { token: A });
  t.same(search.json.items.map((x: { username: string }) => x.username), ['erin']);
  // Pages: 3 users, 2 per page.
  await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'gina' } });
  const p1 = (await h.c.call('GET', `${P}/users?limit=2`, { token: A })).json;
  const p2 = (await h.c.call('GET', `${P}/users?limit=2&cursor=${p1.nextCursor}`, { token: A })).json;
  t.same([...p1.items, ...p2.items].map((x: { username: string }) => x.username), ['erin', 'frank', 'gina']);
  t.equal(p2.nextCursor, null);
});
