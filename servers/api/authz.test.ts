// Authorization, exhaustively: every route of the route table × every role, as a session and
// as an API key; no credential and a garbage one; a restricted (must-change-password) session;
// and object-level isolation: every route that takes an id answers 404 for another org's object.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { adminRoles, ApiKeys, createOrg, rolePermissions, systemContext, type AdminRole } from '../../core/index.js';
import { backends } from '../../test/helpers/directory.js';
import { loginWithEnrollment, startApi, type ApiHarness } from '../../test/helpers/api.js';
import { routes, type RouteDef } from './routes.js';

const P = '/api/v1';
const fill = (url: string, ids: Record<string, string> = {}) => url.replace(/:([A-Za-z]+)/g, (_m, name: string) => ids[name] ?? randomUUID());
// Logout ends the session: walk it last.
const ordered = [...routes].sort((a, b) => Number(a.url === '/auth/logout') - Number(b.url === '/auth/logout'));
const guarded = ordered.filter((r) => r.permission !== 'public');

function allowed(r: RouteDef, role: AdminRole, viaKey: boolean): boolean {
  if (r.session && viaKey) return false;
  if (r.permission === 'self') return true;
  return rolePermissions[role].has(r.permission as never);
}

async function sessions(h: ApiHarness) {
  const out: Record<string, string> = { administrator: h.admin.token };
  for (const role of adminRoles.filter((r) => r !== 'administrator')) {
    await h.s.dir.admins.create(h.s.ctx, { username: `m-${role.replace('_', '')}`, role, password: 'Role-admin-password-1' });
    out[role] = (await loginWithEnrollment(h.c, `m-${role.replace('_', '')}`, 'Role-admin-password-1')).token;
  }
  return out as Record<AdminRole, string>;
}

for (const backend of backends) {
  t.test(`role × route matrix on ${backend}`, async (t) => {
    const h = await startApi(backend, { api: { failedAuthPerMinute: 100000 } });
    t.teardown(h.stop);
    const tokens = await sessions(h);
    const keys: Record<string, string> = {};
    for (const role of adminRoles) {
      const r = await h.c.call('POST', `${P}/api-keys`, { token: h.admin.token, body: { name: `key-${role}`, role } });
      t.equal(r.status, 201);
      keys[role] = r.json.secret;
    }
    let checked = 0;
    for (const viaKey of [false, true]) {
      for (const role of adminRoles) {
        for (const r of guarded) {
          if (viaKey && r.url === '/auth/logout') continue;
          const token = viaKey ? keys[role] : tokens[role];
          const res = await h.c.call(r.method, P + fill(r.url), { token, ...(r.schema.body ? { body: {} } : {}) });
          const label = `${viaKey ? 'key' : 'session'} ${role} ${r.method} ${r.url} → ${res.status}`;
          if (allowed(r, role, viaKey)) {
            t.notOk([401, 403].includes(res.status), label);
          } else {
            t.equal(res.status, 403, label);
            t.equal(res.json?.type, 'urn:cairn:problem:forbidden', `${label} is a forbidden problem`);
          }
          checked++;
        }
      }
    }
    t.equal(checked, (guarded.length * 2 - 1) * adminRoles.length, 'every guarded route with every role, as session and as key');

    // No credential, a malformed one, a well-formed unknown key, an unknown session: 401, same body.
    const bodies = new Set<string>();
    for (const r of guarded) {
      for (const token of [undefined, 'garbage', `cairn_0123456789abcdef_${'A'.repeat(43)}`, `cairn-session-${'x'.repeat(43)}`]) {
        const res = await h.c.call(r.method, P + fill(r.url), { token, ...(r.schema.body ? { body: {} } : {}) });
        t.equal(res.status, 401, `${r.method} ${r.url} without a valid credential`);
        bodies.add(res.text.replace(/"instance":"[^"]*"/, ''));
      }
    }
    t.equal(bodies.size, 1, 'a 401 never says why');
    for (const r of guarded.filter((x) => x.method === 'GET')) {
      t.equal((await h.c.call('HEAD', P + fill(r.url))).status, 401, `HEAD ${r.url} is guarded like GET`);
    }

    // A must-change-password admin may only reach 'self' routes until the password is changed.
    await h.s.dir.admins.create(h.s.ctx, { username: 'newbie', role: 'administrator', password: 'Temporary-password-1', mustChangePassword: true });
    const nb = await loginWithEnrollment(h.c, 'newbie', 'Temporary-password-1');
    t.equal((await h.c.call('GET', `${P}/users`, { token: nb.token })).status, 403, 'restricted session cannot list users');
    t.equal((await h.c.call('GET', `${P}/auth/me`, { token: nb.token })).json.kind, 'restricted');
    const ch = await h.c.call('POST', `${P}/auth/password`, { token: nb.token, body: { currentPassword: 'Temporary-password-1', newPassword: 'Brand-new-password-2' } });
    t.equal(ch.status, 204);
    t.equal((await h.c.call('GET', `${P}/users`, { token: nb.token })).status, 200, 'after the change, the same session is a full one');
  });

  t.test(`another org's objects are 404 on ${backend}`, async (t) => {
    const h = await startApi(backend);
    t.teardown(h.stop);
    const dir = h.s.dir;
    const other = await createOrg(dir.deps, { name: 'other', domain: 'other.example' });
    const ctxB = systemContext(other.id, 'test', { type: 'cli', id: null, name: 'test' });
    const userB = await dir.users.create(ctxB, { username: 'bob', password: 'Correct-horse-9' });
    const sshB = await dir.users.addSshKey(ctxB, userB.id, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@b');
    const groupB = await dir.groups.create(ctxB, { name: 'ops' });
    await dir.groups.addMember(ctxB, groupB.id, userB.id);
    const systemB = await dir.systems.create(ctxB, { hostname: 'db1.other.example' });
    const saB = (await dir.serviceAccounts.create(ctxB, { name: 'sssd' })).account;
    const ipB = await dir.policies.createIpList(ctxB, { name: 'office', cidrs: ['10.0.0.0/8'] });
    const netB = await dir.radius.createNetwork(ctxB, { name: 'wifi-b', groupIds: [groupB.id] });
    const nasB = (await dir.radius.createClient(ctxB, { name: 'ap-b', address: '192.0.2.10', networkId: netB.id })).client;
    const appB = (await dir.sso.apps.create(ctxB, { type: 'oidc', name: 'wiki-b', groupIds: [groupB.id], settings: { redirectUris: ['https://wiki.other.example/cb'] } })).app;
    const ruleB = await dir.policies.createAccessRule(ctxB, { name: 'r', priority: 1, protocol: '*', groupId: null, ipListId: ipB.id, negateIpList: false, action: 'deny' });
    const adminB = await dir.admins.create(ctxB, { username: 'root-b', role: 'administrator', password: 'Other-org-admin-pw-1' });
    const keyB = (await new ApiKeys(dir.deps).create({ ...ctxB, actor: { type: 'admin', id: adminB.id, name: 'root-b' } }, { name: 'b', role: 'read_only' }, 'administrator')).key;
    // Org A has its own group and user, for membership routes mixing the two orgs.
    const groupA = (await h.c.call('POST', `${P}/groups`, { token: h.admin.token, body: { name: 'staff' } })).json;
    const userA = (await h.c.call('POST', `${P}/users`, { token: h.admin.token, body: { username: 'alice' } })).json;
    const seqBefore = (await dir.audit.list({ orgId: other.id, limit: 1000 })).length;

    const idFor: Record<string, string> = {
      users: userB.id, groups: groupB.id, systems: systemB.id, 'service-accounts': saB.id, 'ip-lists': ipB.id,
      'access-rules': ruleB.id, admins: adminB.id, 'api-keys': keyB.id, 'radius-networks': netB.id, 'radius-clients': nasB.id,
      'sso-apps': appB.id,
    };
    const bodies: Record<string, unknown> = {
      'PATCH /users/:id': { displayName: 'x' }, 'POST /users/:id/password': { password: 'Another-pass-99' },
      'POST /users/:id/must-change-password': { mustChangePassword: true }, 'POST /users/:id/totp/confirm': { code: '123456' },
      'POST /users/:id/ssh-keys': { publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHLhTtSsUmA7mY/Gk1xFuWqcZ7T2r7a5aEPx5Lq9V8kH x' },
      'PATCH /groups/:id': { description: 'x' }, 'PATCH /systems/:id': { os: 'x' }, 'PATCH /admins/:id': { email: 'x@example.com' },
      'POST /api-keys/:id/rotate': {}, 'PATCH /ip-lists/:id': { name: 'x' }, 'PATCH /service-accounts/:id': { state: 'disabled' },
      'PATCH /radius-networks/:id': { mfaMode: 'challenge' }, 'PATCH /radius-clients/:id': { legacy: true },
      'PATCH /sso-apps/:id': { displayName: 'x' }, 'PATCH /access-rules/:id': { priority: 5 },
    };
    let n = 0;
    for (const r of routes.filter((x) => x.url.includes(':id'))) {
      const resource = r.url.split('/')[1]!;
      const url = fill(r.url, { id: idFor[resource]!, keyId: sshB.id, userId: userB.id });
      const body = bodies[`${r.method} ${r.url}`];
      const res = await h.c.call(r.method, P + url, { token: h.admin.token, ...(body !== undefined ? { body } : {}) });
      t.equal(res.status, 404, `${r.method} ${r.url} with org B's id → ${res.status} ${res.status === 404 ? '' : res.text.slice(0, 200)}`);
      n++;
    }
    t.ok(n >= 30, `${n} id-taking routes checked`);
    // Mixed: A's group with B's user, B's group with A's user.
    t.equal((await h.c.call('PUT', `${P}/groups/${groupA.id}/members/${userB.id}`, { token: h.admin.token })).status, 404);
    t.equal((await h.c.call('PUT', `${P}/groups/${groupB.id}/members/${userA.id}`, { token: h.admin.token })).status, 404);
    // References in bodies.
    t.equal((await h.c.call('POST', `${P}/access-rules`, { token: h.admin.token, body: { name: 'x', priority: 1, protocol: '*', groupId: groupB.id, action: 'deny' } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/access-rules`, { token: h.admin.token, body: { name: 'x', priority: 1, protocol: '*', ipListId: ipB.id, action: 'deny' } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/systems`, { token: h.admin.token, body: { hostname: 'web1', loginGroupIds: [groupB.id] } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/api-keys`, { token: h.admin.token, body: { name: 'x', role: 'read_only', ownerAdminId: adminB.id } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/sso-apps`, { token: h.admin.token, body: { type: 'saml', name: 'x', groupIds: [groupB.id], settings: { entityId: 'x', acsUrls: ['https://x.example/acs'] } } })).status, 404);
    const ruleA = (await h.c.call('POST', `${P}/access-rules`, { token: h.admin.token, body: { name: 'a', priority: 1, protocol: '*', action: 'deny' } })).json;
    t.equal((await h.c.call('PATCH', `${P}/access-rules/${ruleA.id}`, { token: h.admin.token, body: { groupId: groupB.id } })).status, 404);
    t.equal((await h.c.call('PATCH', `${P}/access-rules/${ruleA.id}`, { token: h.admin.token, body: { ipListId: ipB.id } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/radius-networks`, { token: h.admin.token, body: { name: 'x', groupIds: [groupB.id] } })).status, 404);
    t.equal((await h.c.call('POST', `${P}/radius-clients`, { token: h.admin.token, body: { name: 'x', address: '192.0.2.1', networkId: netB.id } })).status, 404);
    // Lists never show B's objects; B is untouched.
    const users = await h.c.call('GET', `${P}/users`, { token: h.admin.token });
    t.same(users.json.items.map((u: { username: string }) => u.username), ['alice']);
    const events = await h.c.call('GET', `${P}/events?limit=200`, { token: h.admin.token });
    t.notOk(events.json.items.some((e: { org_id: string }) => e.org_id === other.id), 'no event of org B in A\'s trail');
    t.equal((await dir.audit.list({ orgId: other.id, limit: 1000 })).length, seqBefore, 'nothing happened in org B');
    t.equal((await dir.users.get(other.id, userB.id)).state, 'active');
    t.equal((await new ApiKeys(dir.deps).get(other.id, keyB.id)).status, 'active');
    t.same((await dir.radius.getNetwork(other.id, netB.id)).groupIds, [groupB.id]);
    t.same((await dir.sso.apps.get(other.id, appB.id)).groupIds, [groupB.id]);
  });
}
