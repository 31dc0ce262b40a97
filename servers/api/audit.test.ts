// The audit trail through the API: exactly one event per mutation with the right actor (admin
// session or API key) and client address; the chain verifies; /events filters and pages;
// /events/export streams JSON lines. (The webhook sink: webhook.test.ts.)
import t from 'tap';
import { totpCode } from '../../core/index.js';
import { backends } from '../../test/helpers/directory.js';
import { startApi } from '../../test/helpers/api.js';

const P = '/api/v1';
const SSH = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

for (const backend of backends) {
  t.test(`one event per mutation, right actor, chain verifies, on ${backend}`, async (t) => {
    const h = await startApi(backend);
    t.teardown(h.stop);
    const dir = h.s.dir;
    const A = h.admin.token;
    const keyRes = await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'automation', role: 'manager' } });
    const K = keyRes.json.secret as string;
    const keyId = keyRes.json.key.id as string;
    const head = async () => (await dir.audit.list({ limit: 1, order: 'desc' }))[0]!.seq;

    let n = 0;
    const step = async (label: string, method: string, path: string, token: string, body?: unknown, expectType?: string) => {
      const before = await head();
      const res = await h.c.call(method, P + path, { token, ...(body !== undefined ? { body } : {}) });
      t.ok(res.status < 300, `${label}: ${res.status} ${res.status < 300 ? '' : res.text}`);
      const events = await dir.audit.list({ afterSeq: before, limit: 10, order: 'asc' });
      t.equal(events.length, 1, `${label}: exactly one event`);
      const e = events[0]!;
      if (expectType) t.equal(e.eventType, expectType, `${label}: ${expectType}`);
      t.equal(e.service, 'api');
      t.equal(e.clientIp, '127.0.0.1', `${label}: client ip`);
      if (token === K) {
        t.same([e.initiatedBy.type, e.initiatedBy.id, e.changes?.apiKeyId], ['api_key', keyId, keyId], `${label}: actor is the key`);
      } else {
        t.same([e.initiatedBy.type, e.initiatedBy.id, e.initiatedBy.username], ['admin', h.admin.adminId, 'admin'], `${label}: actor is the admin`);
      }
      n++;
      return res.json;
    };

    const u = await step('create user (key)', 'POST', '/users', K, { username: 'alice', password: 'Correct-horse-9', email: 'alice@example.com' }, 'user.created');
    await step('patch user', 'PATCH', `/users/${u.id}`, K, { displayName: 'Alice A' }, 'user.updated');
    await step('reset password', 'POST', `/users/${u.id}/password`, K, { password: 'Another-horse-8' }, 'user.password_reset');
    await step('must change', 'POST', `/users/${u.id}/must-change-password`, A, { mustChangePassword: false }, 'user.updated');
    await step('unlock', 'POST', `/users/${u.id}/unlock`, K, undefined, 'user.unlocked');
    await step('suspend', 'POST', `/users/${u.id}/suspend`, A, undefined, 'user.suspended');
    await step('reactivate', 'POST', `/users/${u.id}/reactivate`, K, undefined, 'user.reactivated');
    const enrol = await step('begin user TOTP', 'POST', `/users/${u.id}/totp/enroll`, A, undefined, 'user.mfa_enrollment_started');
    const codes = await step('confirm user TOTP', 'POST', `/users/${u.id}/totp/confirm`, A, { code: totpCode(enrol.secret) }, 'user.mfa_enrolled');
    t.equal(codes.recoveryCodes.length, 10);
    await step('reset user TOTP', 'POST', `/users/${u.id}/totp/reset`, K, undefined, 'user.mfa_reset');
    const ssh = await step('add ssh key', 'POST', `/users/${u.id}/ssh-keys`, K, { publicKey: SSH }, 'user.ssh_key_added');
    await step('remove ssh key', 'DELETE', `/users/${u.id}/ssh-keys/${ssh.id}`, K, undefined, 'user.ssh_key_removed');
    // A security key is registered by its user in a browser (servers/sso/webauthn.test.ts); here one is on file already.
    const keyRow = { id: '5ecc0000-0000-4000-8000-000000000001', org_id: h.s.org.id, user_id: u.id, credential_id: 'Y3JlZC0x', public_key: 'cHVi', sign_count: 0, transports: '["usb"]', name: 'YubiKey', created_at: Date.now(), last_used_at: null };
    await h.s.dir.store('webauthn_credentials').insert(keyRow);
    t.match((await h.c.call('GET', `${P}/users/${u.id}/security-keys`, { token: K })).json, { items: [{ id: keyRow.id, name: 'YubiKey', lastUsedAt: null }] }, 'listed, without its public key');
    await step('remove security key', 'DELETE', `/users/${u.id}/security-keys/${keyRow.id}`, K, undefined, 'user.webauthn_removed');
    const g = await step('create group', 'POST', '/groups', K, { name: 'staff' }, 'group.created');
    await step('patch group', 'PATCH', `/groups/${g.id}`, A, { description: 'everyone' }, 'group.updated');
    await step('add member', 'PUT', `/groups/${g.id}/members/${u.id}`, K, undefined, 'group.member_added');
    await step('remove member', 'DELETE', `/groups/${g.id}/members/${u.id}`, K, undefined, 'group.member_removed');
    const s = await step('create system', 'POST', '/systems', K, { hostname: 'web1.example.com', loginGroupIds: [g.id] }, 'system.created');
    await step('patch system', 'PATCH', `/systems/${s.id}`, K, { os: 'debian 12' }, 'system.updated');
    await step('delete system', 'DELETE', `/systems/${s.id}`, K, undefined, 'system.deleted');
    const sa = await step('create service account', 'POST', '/service-accounts', A, { name: 'sssd' }, 'service_account.created');
    t.ok(sa.password, 'its password is shown once');
    await step('patch sa', 'PATCH', `/service-accounts/${sa.account.id}`, A, { state: 'disabled', permissions: ['read_directory'] }, 'service_account.updated');
    await step('reset sa password', 'POST', `/service-accounts/${sa.account.id}/password`, A, undefined, 'service_account.password_reset');
    await step('delete sa', 'DELETE', `/service-accounts/${sa.account.id}`, A, undefined, 'service_account.deleted');
    const ip = await step('create ip list', 'POST', '/ip-lists', A, { name: 'office', cidrs: ['192.0.2.0/24', '2001:db8::/48'] }, 'ip_list.created');
    const rule = await step('create rule', 'POST', '/access-rules', A, { name: 'mfa outside', priority: 10, protocol: 'radius', ipListId: ip.id, negateIpList: true, action: 'require_mfa' }, 'access_rule.created');
    t.equal((await h.c.call('DELETE', `${P}/ip-lists/${ip.id}`, { token: A })).status, 409, 'a list in use cannot be deleted');
    await step('patch rule', 'PATCH', `/access-rules/${rule.id}`, A, { priority: 5, action: 'deny' }, 'access_rule.updated');
    await step('patch ip list', 'PATCH', `/ip-lists/${ip.id}`, A, { cidrs: ['192.0.2.0/25'] }, 'ip_list.updated');
    await step('delete rule', 'DELETE', `/access-rules/${rule.id}`, A, undefined, 'access_rule.deleted');
    await step('delete ip list', 'DELETE', `/ip-lists/${ip.id}`, A, undefined, 'ip_list.deleted');
    const net = await step('create radius network', 'POST', '/radius-networks', A, { name: 'office-wifi', groupIds: [g.id] }, 'radius.network.created');
    await step('patch radius network', 'PATCH', `/radius-networks/${net.id}`, A, { groupReplies: [{ groupId: g.id, vlan: 10 }] }, 'radius.network.updated');
    const nas = await step('create radius client', 'POST', '/radius-clients', A, { name: 'ap-1', address: '192.0.2.1', networkId: net.id }, 'radius.client.created');
    await step('patch radius client', 'PATCH', `/radius-clients/${nas.client.id}`, A, { legacy: true }, 'radius.client.updated');
    await step('ldap access', 'PUT', '/policies/ldap-access', A, { groupIds: [] }, 'grant.updated');
    await step('radius settings', 'PATCH', '/policies/radius', A, { storeNtHash: true }, 'policy.radius.updated');
    await step('rotate radius secret', 'POST', `/radius-clients/${nas.client.id}/secret`, A, undefined, 'radius.client.secret_rotated');
    await step('delete radius client', 'DELETE', `/radius-clients/${nas.client.id}`, A, undefined, 'radius.client.deleted');
    await step('delete radius network', 'DELETE', `/radius-networks/${net.id}`, A, undefined, 'radius.network.deleted');
    const app = await step('create sso app', 'POST', '/sso-apps', A, { type: 'oidc', name: 'wiki', groupIds: [g.id], settings: { redirectUris: ['https://wiki.example.com/cb'] } }, 'sso_app.created');
    await step('patch sso app', 'PATCH', `/sso-apps/${app.app.id}`, A, { groupIds: [], settings: { thirdParty: true } }, 'sso_app.updated');
    await step('rotate sso secret', 'POST', `/sso-apps/${app.app.id}/client-secret`, A, undefined, 'sso_app.secret_rotated');
    await step('delete sso app', 'DELETE', `/sso-apps/${app.app.id}`, A, undefined, 'sso_app.deleted');
    await step('password policy', 'PATCH', '/policies/password', A, { minLength: 12 }, 'policy.password.updated');
    await step('mfa policy', 'PATCH', '/policies/mfa', A, { mode: { radius: 'required' } }, 'policy.mfa.updated');
    await step('sso session policy', 'PATCH', '/policies/sso-session', A, { idleMinutes: 30 }, 'policy.sso_session.updated');
    const ad = await step('create admin', 'POST', '/admins', A, { username: 'helper', role: 'help_desk', password: 'Helper-password-1' }, 'admin.created');
    await step('patch admin', 'PATCH', `/admins/${ad.id}`, A, { role: 'read_only' }, 'admin.updated');
    await step('admin totp reset', 'POST', `/admins/${ad.id}/totp/reset`, A, undefined, 'admin.mfa_reset');
    await step('admin unlock', 'POST', `/admins/${ad.id}/unlock`, A, undefined, 'admin.unlocked');
    const k2 = await step('create key', 'POST', '/api-keys', A, { name: 'other', role: 'read_only' }, 'api_key.created');
    await step('rotate key', 'POST', `/api-keys/${k2.key.id}/rotate`, A, {}, 'api_key.rotated');
    await step('revoke key', 'DELETE', `/api-keys/${k2.key.id}`, A, undefined, 'api_key.revoked');
    await step('delete admin', 'DELETE', `/admins/${ad.id}`, A, undefined, 'admin.deleted');
    await step('delete group', 'DELETE', `/groups/${g.id}`, K, undefined, 'group.deleted');
    await step('delete user', 'DELETE', `/users/${u.id}`, K, undefined, 'user.deleted');
    t.ok(n >= 35, `${n} mutations checked`);

    // A refused mutation writes nothing.
    const before = await head();
    t.equal((await h.c.call('POST', `${P}/users`, { token: K, body: { username: 'bob', password: 'short' } })).status, 422);
    t.equal((await h.c.call('POST', `${P}/users`, { token: K, body: { username: 'bob', uidNumber: 0 } })).status, 400);
    t.equal(await head(), before, 'no event for refused input');

    // The chain verifies; personal data of the erased user is gone from what the trail shows.
    const v = await dir.audit.verify();
    t.ok(v.ok, `chain verifies (${v.checked} events)`);
    const trail = await h.c.call('GET', `${P}/events?resource=${u.id}&limit=100`, { token: A });
    t.ok(trail.json.items.length >= 10);
    t.notOk(trail.text.includes('alice@example.com'), 'erased user\'s email not in the trail');

    // Filters and cursor pagination: walk everything two at a time, both orders.
    const all = (await h.c.call('GET', `${P}/events?limit=200&order=asc`, { token: A })).json.items as { seq: number }[];
    const seqs: number[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `${P}/events?limit=2&order=asc${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await h.c.call('GET', q, { token: A })).json;
      seqs.push(...page.items.map((e: { seq: number }) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    t.same(seqs, all.map((e) => e.seq), 'cursor pages cover every event once, in order');
    const desc = (await h.c.call('GET', `${P}/events?limit=3`, { token: A })).json;
    t.same(desc.items.map((e: { seq: number }) => e.seq), all.slice(-3).map((e) => e.seq).reverse(), 'newest first by default');
    const byKey = (await h.c.call('GET', `${P}/events?actor=${keyId}&limit=200`, { token: A })).json.items;
    t.ok(byKey.length >= 15 && byKey.every((e: { initiated_by: { id: string } }) => e.initiated_by.id === keyId), 'filter by actor');
    const failed = (await h.c.call('GET', `${P}/events?success=false`, { token: A })).json.items;
    t.ok(failed.every((e: { success: boolean }) => !e.success), 'filter by success');
    const future = (await h.c.call('GET', `${P}/events?since=${new Date(Date.now() + 60_000).toISOString()}`, { token: A })).json.items;
    t.same(future, [], 'filter by time');
    t.equal((await h.c.call('GET', `${P}/events?cursor=bogus`, { token: A })).json.field, 'cursor');
    t.equal((await h.c.call('GET', `${P}/events?limit=5000`, { token: A })).status, 400, 'page size is capped');
    const capped = (await h.c.call('GET', `${P}/events?limit=1000`, { token: A })).json.items.length;
    t.ok(capped <= 200, 'and clamped to api.pageSizeMax');
    // Export: JSON lines, oldest first, same events.
    const exp = await h.c.call('GET', `${P}/events/export`, { token: A });
    t.match(String(exp.headers['content-type']), /application\/x-ndjson/);
    const lines = exp.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; event_type: string; initiated_by: unknown; client_ip: unknown; success: unknown });
    t.ok(lines.length >= all.length, 'export has every event');
    t.ok(lines.every((l, i) => i === 0 || l.seq > lines[i - 1]!.seq), 'in order');
    t.ok(lines.every((l) => 'event_type' in l && 'initiated_by' in l && 'client_ip' in l && 'success' in l), 'SIEM field names');
    const expF = await h.c.call('GET', `${P}/events/export?event_type=user.created`, { token: A });
    t.equal(expF.text.trim().split('\n').length, 1, 'export filters');
  });
}
