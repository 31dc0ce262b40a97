// THE route table: every route of /api/v1 with the permission it requires. Authorization is
// decided from this table alone (main.ts onRequest hook), before any body is parsed; the
// role × route test walks it exhaustively. 'public' routes need no credential; 'self' routes
// need any valid credential; `session: true` routes refuse API keys (keys cannot mint keys,
// create admins, or change their own credentials).
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { CairnError, eventToJson, groupSortColumns, postureReport, rolePermissions, systemSortColumns, userSortColumns, type Directory } from '../../core/index.js';
import {
  decodeCursor, encodeCursor, createRoute, itemRoutes, listRoute, ok204, settingRoutes, pageLimit, pageOf, pageStored, R, sortedListQuery, type Call, type RouteDef, type Who,
} from './route-kit.js';
import * as S from './schemas.js';
import { agentRoutes } from './routes/agent.js';
import { radiusRoutes } from './routes/radius.js';
import { ssoRoutes } from './routes/sso.js';

export type { Call, RouteDef, Who } from './route-kit.js';

/** The resource ldap.requireGrant checks user binds against: the org's LDAP directory. */
const ldapResource = (c: Call) => ({ type: 'ldap' as const, id: c.orgId });

async function ipListOf(c: Call, id: string) {
  const list = (await c.dir.policies.ipLists(c.orgId)).find((x) => x.id === id);
  if (!list) throw new CairnError('not_found', 'IP list not found');
  return list;
}

// What each list may be sorted by (the first is its default order).
const userSort = Object.keys(userSortColumns) as (keyof typeof userSortColumns)[];
const groupSort = Object.keys(groupSortColumns) as (keyof typeof groupSortColumns)[];
const systemSort = Object.keys(systemSortColumns) as (keyof typeof systemSortColumns)[];
const serviceAccountSort = ['name', 'createdAt', 'updatedAt'] as const;
const adminSort = ['username', 'role', 'state', 'createdAt', 'updatedAt'] as const;
const apiKeySort = ['createdAt', 'expiresAt', 'name'] as const;
const ipListSort = ['name'] as const;

function myRole(c: Call) {
  return c.who!.admin.role;
}

const sessionResponse = (r: Awaited<ReturnType<Directory['admins']['login']>>) =>
  r.status === 'ok'
    ? { status: r.status, token: r.token, expiresAt: r.expiresAt.toISOString(), admin: S.presentAdmin(r.admin), mustChangePassword: r.mustChangePassword }
    : { status: r.status, enrollmentToken: r.enrollmentToken, expiresAt: r.expiresAt.toISOString(), totpSecret: r.totpSecret, otpauthUri: r.otpauthUri };

function eventFilter(q: Record<string, unknown>) {
  return {
    ...(q.since ? { since: new Date(String(q.since)) } : {}),
    ...(q.until ? { until: new Date(String(q.until)) } : {}),
    ...(q.event_type ? { eventType: String(q.event_type) } : {}),
    ...(q.actor ? { actorId: String(q.actor) } : {}),
    ...(q.resource ? { resourceId: String(q.resource) } : {}),
    ...(q.success !== undefined ? { success: q.success as boolean } : {}),
  };
}

// --- the table -----------------------------------------------------------------------------

export const routes: RouteDef[] = [
  // auth
  {
    method: 'POST', url: '/auth/login', permission: 'public', tag: 'auth',
    summary: 'Admin login: username, password and TOTP code; returns a short-lived session token (or a TOTP enrolment on first login).',
    schema: { body: S.LoginBody, response: R(200, S.LoginResponse) },
    handler: async (req, _reply, c) => sessionResponse(await c.dir.admins.login(c.defaultOrgId, req.body, c.ip)),
  },
  {
    method: 'POST', url: '/auth/totp/confirm', permission: 'public', tag: 'auth',
    summary: 'Confirm the TOTP enrolment begun at first login with a code from the app; returns a session.',
    schema: { body: S.EnrollConfirmBody, response: R(200, S.SessionResponse) },
    handler: async (req, _reply, c) => sessionResponse(await c.dir.admins.confirmEnrollment(c.defaultOrgId, req.body.enrollmentToken, req.body.code, c.ip)),
  },
  {
    method: 'GET', url: '/auth/me', permission: 'self', tag: 'auth', summary: 'Who the presented credential is, and what it may do.',
    schema: { response: R(200, S.MeResponse) },
    handler: async (_req, _reply, c) => {
      const w = c.who!;
      const perms = w.kind === 'session' ? [...rolePermissions[w.admin.role]] : [...w.key.permissions];
      return {
        kind: w.kind === 'session' ? (w.session.kind === 'restricted' ? 'restricted' : 'session') : 'api_key', admin: S.presentAdmin(w.admin),
        apiKeyId: w.kind === 'api_key' ? w.key.key.id : null, permissions: perms,
        expiresAt: (w.kind === 'session' ? w.session.expiresAt : w.key.key.expiresAt).toISOString(),
      };
    },
  },
  {
    method: 'POST', url: '/auth/logout', permission: 'self', session: true, tag: 'auth', summary: 'End this session.',
    schema: { response: R(204, S.NoContent) },
    handler: async (_req, reply, c) => {
      if (c.who?.kind === 'session') await c.dir.admins.logout(c.actx, c.who.session.tokenHash);
      return ok204(reply);
    },
  },
  {
    method: 'POST', url: '/auth/password', permission: 'self', session: true, tag: 'auth', summary: 'Change your own password (ends your other sessions).',
    schema: { body: S.PasswordChangeBody, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      const w = c.who as Extract<Who, { kind: 'session' }>;
      await c.dir.admins.changeOwnPassword(c.actx, w.admin.id, req.body.currentPassword, req.body.newPassword, w.session.tokenHash);
      return ok204(reply);
    },
  },

  // users
  {
    method: 'GET', url: '/users', permission: 'users.read', tag: 'users', summary: 'List users by username; filters: state, search.',
    schema: { querystring: sortedListQuery(userSort, S.UserFilters), response: R(200, S.Page(S.UserSchema)) },
    handler: async (req, _reply, c) => {
      const p = await pageStored((order, limit) => c.dir.users.list(c.orgId, { order, limit, state: req.query.state, search: req.query.search }), userSort, req.query, pageLimit(c, req.query.limit));
      return { items: p.items.map(S.presentUser), nextCursor: p.nextCursor };
    },
  },
  createRoute({
    path: 'users', tag: 'users', write: 'users.write', summary: 'Create a user.',
    body: S.UserCreate, schema: S.UserSchema, present: S.presentUser, create: (c, body) => c.dir.users.create(c.actx, body),
  }),
  ...itemRoutes({
    path: 'users', tag: 'users', read: 'users.read', write: 'users.write', schema: S.UserSchema, present: S.presentUser,
    summary: 'One user (ETag for If-Match).',
    get: (c, id) => c.dir.users.get(c.orgId, id),
    patch: { summary: 'Change a user\'s attributes (If-Match honoured).', body: S.UserPatch, update: (c, id, body) => c.dir.users.update(c.actx, id, body) },
    remove: { summary: 'Delete and erase a user (the audit trail keeps a pseudonymous id).', run: (c, id) => c.dir.users.delete(c.actx, id) },
  }),
  {
    method: 'POST', url: '/users/:id/password', permission: 'users.credentials', tag: 'users', summary: 'Reset a user\'s password (policy and history apply).',
    schema: { params: S.IdParams, body: S.PasswordReset, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.users.setPassword(c.actx, req.params.id, req.body.password, { mustChange: req.body.mustChangePassword ?? true });
      return ok204(reply);
    },
  },
  {
    method: 'POST', url: '/users/:id/unlock', permission: 'users.credentials', tag: 'users', summary: 'Clear every lockout of a user.',
    schema: { params: S.IdParams, response: R(200, S.UserSchema) },
    handler: async (req, _reply, c) => S.presentUser(await c.dir.users.unlock(c.actx, req.params.id)),
  },
  {
    method: 'POST', url: '/users/:id/must-change-password', permission: 'users.credentials', tag: 'users', summary: 'Require (or stop requiring) a password change at next login.',
    schema: { params: S.IdParams, body: S.MustChange, response: R(200, S.UserSchema) },
    handler: async (req, _reply, c) => S.presentUser(await c.dir.users.update(c.actx, req.params.id, { mustChangePassword: req.body.mustChangePassword })),
  },
  {
    method: 'POST', url: '/users/:id/suspend', permission: 'users.write', tag: 'users', summary: 'Suspend: access ends everywhere at once.',
    schema: { params: S.IdParams, response: R(200, S.UserSchema) },
    handler: async (req, _reply, c) => S.presentUser(await c.dir.users.setState(c.actx, req.params.id, 'suspended')),
  },
  {
    method: 'POST', url: '/users/:id/reactivate', permission: 'users.write', tag: 'users', summary: 'Reactivate a suspended or staged user.',
    schema: { params: S.IdParams, response: R(200, S.UserSchema) },
    handler: async (req, _reply, c) => S.presentUser(await c.dir.users.setState(c.actx, req.params.id, 'active')),
  },
  {
    method: 'POST', url: '/users/:id/totp/reset', permission: 'users.credentials', tag: 'users', summary: 'Reset a user\'s MFA: remove their TOTP, recovery codes and security keys (they enrol again).',
    schema: { params: S.IdParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.users.resetTotp(c.actx, req.params.id, { securityKeys: true });
      return ok204(reply);
    },
  },
  {
    method: 'POST', url: '/users/:id/totp/enroll', permission: 'users.write', tag: 'users', summary: 'Begin a TOTP enrolment for a user; the seed is shown once.',
    schema: { params: S.IdParams, response: R(200, S.TotpBegin) },
    handler: async (req, reply, c) => {
      reply.header('cache-control', 'no-store');
      const r = await c.dir.users.beginTotp(c.actx, req.params.id);
      // The core stores the pending seed without an event; the API records who started it.
      await c.dir.audit.record(c.actx, { eventType: 'user.mfa_enrollment_started', success: true, resource: { type: 'user', id: req.params.id, name: null }, mfaType: 'totp' });
      return { secret: r.secret, otpauthUri: r.uri };
    },
  },
  {
    method: 'POST', url: '/users/:id/totp/confirm', permission: 'users.write', tag: 'users', summary: 'Confirm a user\'s TOTP enrolment; returns recovery codes once.',
    schema: { params: S.IdParams, body: S.TotpConfirm, response: R(200, S.RecoveryCodes) },
    handler: async (req, reply, c) => {
      reply.header('cache-control', 'no-store');
      return c.dir.users.confirmTotp(c.actx, req.params.id, req.body.code);
    },
  },
  {
    method: 'GET', url: '/users/:id/ssh-keys', permission: 'users.read', tag: 'users', summary: 'A user\'s SSH public keys.',
    schema: { params: S.IdParams, response: R(200, Type.Object({ items: Type.Array(S.SshKeySchema) }, { additionalProperties: false })) },
    handler: async (req, _reply, c) => ({ items: S.presentUser(await c.dir.users.get(c.orgId, req.params.id)).sshKeys }),
  },
  {
    method: 'POST', url: '/users/:id/ssh-keys', permission: 'users.write', tag: 'users', summary: 'Add an SSH public key (authorized_keys line).',
    schema: { params: S.IdParams, body: S.SshKeyCreate, response: R(201, S.SshKeySchema) },
    handler: async (req, reply, c) => {
      const k = await c.dir.users.addSshKey(c.actx, req.params.id, req.body.publicKey);
      reply.code(201);
      return { ...k, createdAt: k.createdAt.toISOString() };
    },
  },
  {
    method: 'DELETE', url: '/users/:id/ssh-keys/:keyId', permission: 'users.write', tag: 'users', summary: 'Remove an SSH key.',
    schema: { params: S.SshKeyParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.users.removeSshKey(c.actx, req.params.id, req.params.keyId);
      return ok204(reply);
    },
  },
  {
    method: 'GET', url: '/users/:id/security-keys', permission: 'users.read', tag: 'users', summary: 'A user\'s WebAuthn security keys and passkeys (registered by the user in the portal).',
    schema: { params: S.IdParams, response: R(200, Type.Object({ items: Type.Array(S.SecurityKeySchema) }, { additionalProperties: false })) },
    handler: async (req, _reply, c) => {
      const user = await c.dir.users.get(c.orgId, req.params.id);
      const keys = await c.dir.securityKeys.list(c.orgId, user.id);
      return { items: keys.map((k) => ({ ...k, createdAt: k.createdAt.toISOString(), lastUsedAt: k.lastUsedAt?.toISOString() ?? null })) };
    },
  },
  {
    method: 'DELETE', url: '/users/:id/security-keys/:keyId', permission: 'users.credentials', tag: 'users', summary: 'Remove one security key (a lost one); POST .../totp/reset removes every second factor.',
    schema: { params: S.SshKeyParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.securityKeys.remove(c.actx, await c.dir.users.get(c.orgId, req.params.id), req.params.keyId);
      return ok204(reply);
    },
  },

  // groups
  {
    method: 'GET', url: '/groups', permission: 'groups.read', tag: 'groups', summary: 'List groups by name.',
    schema: { querystring: sortedListQuery(groupSort), response: R(200, S.Page(S.GroupSchema)) },
    handler: async (req, _reply, c) => {
      const p = await pageStored((order, limit) => c.dir.groups.list(c.orgId, { order, limit }), groupSort, req.query, pageLimit(c, req.query.limit));
      return { items: p.items.map(S.presentGroup), nextCursor: p.nextCursor };
    },
  },
  createRoute({
    path: 'groups', tag: 'groups', write: 'groups.write', summary: 'Create a group.',
    body: S.GroupCreate, schema: S.GroupSchema, present: S.presentGroup, create: (c, body) => c.dir.groups.create(c.actx, body),
  }),
  ...itemRoutes({
    path: 'groups', tag: 'groups', read: 'groups.read', write: 'groups.write', schema: S.GroupSchema, present: S.presentGroup,
    summary: 'One group with its member ids.',
    get: (c, id) => c.dir.groups.get(c.orgId, id),
    patch: { summary: 'Change a group\'s description (If-Match honoured).', body: S.GroupPatch, update: (c, id, body) => c.dir.groups.update(c.actx, id, body) },
    remove: { summary: 'Delete a group.', run: (c, id) => c.dir.groups.delete(c.actx, id) },
  }),
  {
    method: 'PUT', url: '/groups/:id/members/:userId', permission: 'groups.write', tag: 'groups', summary: 'Add a user to a group (idempotent).',
    schema: { params: S.MemberParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.groups.addMember(c.actx, req.params.id, req.params.userId);
      return ok204(reply);
    },
  },
  {
    method: 'DELETE', url: '/groups/:id/members/:userId', permission: 'groups.write', tag: 'groups', summary: 'Remove a user from a group.',
    schema: { params: S.MemberParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.groups.removeMember(c.actx, req.params.id, req.params.userId);
      return ok204(reply);
    },
  },

  // systems
  {
    method: 'GET', url: '/systems', permission: 'systems.read', tag: 'systems', summary: 'List systems (hosts) by hostname.',
    schema: { querystring: sortedListQuery(systemSort), response: R(200, S.Page(S.SystemSchema)) },
    handler: async (req, _reply, c) => {
      const p = await pageStored((order, limit) => c.dir.systems.list(c.orgId, { order, limit }), systemSort, req.query, pageLimit(c, req.query.limit));
      return { items: p.items.map(S.presentSystem), nextCursor: p.nextCursor };
    },
  },
  createRoute({
    path: 'systems', tag: 'systems', write: 'systems.write', summary: 'Register a system with its login and sudo groups.',
    body: S.SystemCreate, schema: S.SystemSchema, present: S.presentSystem, create: (c, body) => c.dir.systems.create(c.actx, body),
  }),
  ...itemRoutes({
    path: 'systems', tag: 'systems', read: 'systems.read', write: 'systems.write', schema: S.SystemSchema, present: S.presentSystem,
    summary: 'One system.',
    get: (c, id) => c.dir.systems.get(c.orgId, id),
    patch: { summary: 'Change a system (If-Match honoured).', body: S.SystemPatch, update: (c, id, body) => c.dir.systems.update(c.actx, id, body) },
    remove: { summary: 'Delete a system.', run: (c, id) => c.dir.systems.delete(c.actx, id) },
  }),

  // LDAP service accounts
  listRoute({
    path: 'service-accounts', tag: 'service-accounts', read: 'service_accounts.read', summary: 'List LDAP service accounts.',
    schema: S.ServiceAccountSchema, sort: serviceAccountSort, present: S.presentServiceAccount, list: (c) => c.dir.serviceAccounts.list(c.orgId),
  }),
  {
    method: 'POST', url: '/service-accounts', permission: 'service_accounts.write', tag: 'service-accounts', summary: 'Create a service account; its generated password is shown once.',
    schema: { body: S.ServiceAccountCreate, response: R(201, S.ServiceAccountWithPassword) },
    handler: async (req, reply, c) => {
      const r = await c.dir.serviceAccounts.create(c.actx, req.body);
      reply.code(201).header('cache-control', 'no-store');
      return { account: S.presentServiceAccount(r.account), password: r.password };
    },
  },
  ...itemRoutes({
    path: 'service-accounts', tag: 'service-accounts', read: 'service_accounts.read', write: 'service_accounts.write', schema: S.ServiceAccountSchema, present: S.presentServiceAccount,
    summary: 'One service account.',
    get: (c, id) => c.dir.serviceAccounts.get(c.orgId, id),
    patch: { summary: 'Change a service account\'s description, permissions or state (If-Match honoured).', body: S.ServiceAccountPatch, update: (c, id, body) => c.dir.serviceAccounts.update(c.actx, id, body) },
    remove: { summary: 'Delete a service account.', run: (c, id) => c.dir.serviceAccounts.delete(c.actx, id) },
  }),
  {
    method: 'POST', url: '/service-accounts/:id/password', permission: 'service_accounts.write', tag: 'service-accounts', summary: 'Generate a new password (shown once).',
    schema: { params: S.IdParams, response: R(200, S.GeneratedPassword) },
    handler: async (req, reply, c) => {
      reply.header('cache-control', 'no-store');
      return { password: await c.dir.serviceAccounts.resetPassword(c.actx, req.params.id) };
    },
  },

  ...radiusRoutes, // servers/api/routes/radius.ts
  ...ssoRoutes, // servers/api/routes/sso.ts

  // IP lists and conditional access
  listRoute({
    path: 'ip-lists', tag: 'policies', read: 'policies.read', summary: 'List IP lists.',
    schema: S.IpListSchema, sort: ipListSort, present: S.presentIpList, list: (c) => c.dir.policies.ipLists(c.orgId),
  }),
  createRoute({
    path: 'ip-lists', tag: 'policies', write: 'policies.write', summary: 'Create an IP list (IPv4/IPv6 CIDRs).',
    body: S.IpListCreate, schema: S.IpListSchema, present: S.presentIpList, create: (c, body) => c.dir.policies.createIpList(c.actx, body),
  }),
  ...itemRoutes({
    path: 'ip-lists', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.IpListSchema, present: S.presentIpList,
    summary: 'One IP list.',
    get: (c, id) => ipListOf(c, id),
    patch: { summary: 'Rename an IP list or replace its CIDRs (If-Match honoured).', body: S.IpListPatch, update: (c, id, body) => c.dir.policies.updateIpList(c.actx, id, body) },
    remove: { summary: 'Delete an IP list that no access rule uses.', run: (c, id) => c.dir.policies.deleteIpList(c.actx, id) },
  }),
  {
    method: 'GET', url: '/access-rules', permission: 'policies.read', tag: 'policies', summary: 'Conditional-access rules in evaluation order.',
    schema: { querystring: Type.Object(S.PageQuery, { additionalProperties: false }), response: R(200, S.Page(S.AccessRuleSchema)) },
    handler: async (req, _reply, c) => {
      const rules = await c.dir.policies.accessRules(c.orgId);
      const indexed = rules.map((r, i) => ({ r, k: String(i).padStart(8, '0') }));
      const p = pageOf(indexed, (x) => x.k, req.query.cursor, pageLimit(c, req.query.limit));
      return { items: p.items.map((x) => S.presentRule(x.r)), nextCursor: p.nextCursor };
    },
  },
  {
    method: 'POST', url: '/access-rules', permission: 'policies.write', tag: 'policies', summary: 'Add a conditional-access rule.',
    schema: { body: S.AccessRuleCreate, response: R(201, S.AccessRuleSchema) },
    handler: async (req, reply, c) => {
      const b = req.body;
      reply.code(201);
      return S.presentRule(await c.dir.policies.createAccessRule(c.actx, { name: b.name, priority: b.priority, protocol: b.protocol, groupId: b.groupId ?? null, ipListId: b.ipListId ?? null, negateIpList: !!b.negateIpList, action: b.action }));
    },
  },
  ...itemRoutes({
    path: 'access-rules', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.AccessRuleSchema, present: S.presentRule,
    summary: 'One conditional-access rule (ETag for If-Match).',
    get: (c, id) => c.dir.policies.getAccessRule(c.orgId, id),
    patch: { summary: 'Change a conditional-access rule; a new priority moves it in evaluation order (If-Match honoured).', body: S.AccessRulePatch, update: (c, id, body) => c.dir.policies.updateAccessRule(c.actx, id, body) },
    remove: { summary: 'Delete a conditional-access rule.', run: (c, id) => c.dir.policies.deleteAccessRule(c.actx, id) },
  }),

  // policies
  ...settingRoutes({
    name: 'password', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.PasswordPolicySchema,
    summary: 'The password and lockout policy.',
    get: (c) => c.dir.policies.passwordPolicy(c.orgId),
    change: { method: 'PATCH', summary: 'Change the password and lockout policy (If-Match honoured).', body: S.PasswordPolicyPatch, apply: (c, body) => c.dir.policies.setPasswordPolicy(c.actx, body) },
  }),
  ...settingRoutes({
    name: 'mfa', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.MfaPolicySchema,
    summary: 'How each service asks for a second factor (required / optional / off).',
    get: (c) => c.dir.policies.mfaPolicy(c.orgId),
    change: { method: 'PATCH', summary: 'Change the MFA mode of services (weakening one is audited and logged at warn).', body: S.MfaPolicyPatch, apply: (c, body) => c.dir.policies.setMfaModes(c.actx, body.mode) },
  }),
  ...settingRoutes({
    name: 'ldap-access', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.LdapAccessSchema,
    summary: 'The groups whose members may bind over LDAP as users (enforced when ldap.requireGrant is on).',
    get: async (c) => ({ groupIds: await c.dir.grants.groupsOf(c.orgId, ldapResource(c)) }),
    change: {
      method: 'PUT', summary: 'Replace the groups allowed to bind over LDAP as users (If-Match honoured).', body: S.LdapAccessPut,
      apply: async (c, body) => {
        await c.dir.grants.set(c.actx, ldapResource(c), 'access', body.groupIds);
        return { groupIds: await c.dir.grants.groupsOf(c.orgId, ldapResource(c)) };
      },
    },
  }),
  ...settingRoutes({
    name: 'sso-session', tag: 'policies', read: 'policies.read', write: 'policies.write', schema: S.SsoSessionPolicySchema,
    summary: 'How long an SSO browser session lives, and its idle timeout.',
    get: (c) => c.dir.policies.ssoSessionPolicy(c.orgId),
    change: { method: 'PATCH', summary: 'Change the SSO session lifetime and idle timeout (applies to live sessions at their next use; If-Match honoured).', body: S.SsoSessionPolicyPatch, apply: (c, body) => c.dir.policies.setSsoSessionPolicy(c.actx, body) },
  }),

  // admins
  listRoute({
    path: 'admins', tag: 'admins', read: 'admins.read', summary: 'List administrators.',
    schema: S.AdminSchema, sort: adminSort, present: S.presentAdmin, list: (c) => c.dir.admins.list(c.orgId),
  }),
  createRoute({
    path: 'admins', tag: 'admins', write: 'admins.write', session: true, summary: 'Create an administrator account (they enrol TOTP at first login).',
    body: S.AdminCreate, schema: S.AdminSchema, present: S.presentAdmin, create: (c, body) => c.dir.admins.create(c.actx, body),
  }),
  ...itemRoutes({
    path: 'admins', tag: 'admins', read: 'admins.read', write: 'admins.write', session: true, schema: S.AdminSchema, present: S.presentAdmin,
    summary: 'One administrator.',
    get: (c, id) => c.dir.admins.get(c.orgId, id),
    patch: { summary: 'Change an administrator\'s email, role or state (If-Match honoured).', body: S.AdminPatch, update: (c, id, body) => c.dir.admins.update(c.actx, id, body) },
    remove: { summary: 'Delete an administrator; their API keys are revoked.', run: (c, id) => c.dir.admins.delete(c.actx, id) },
  }),
  {
    method: 'POST', url: '/admins/:id/totp/reset', permission: 'admins.write', session: true, tag: 'admins', summary: 'Remove an administrator\'s TOTP (they enrol again at next login).',
    schema: { params: S.IdParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.admins.resetTotp(c.actx, req.params.id);
      return ok204(reply);
    },
  },
  {
    method: 'POST', url: '/admins/:id/unlock', permission: 'admins.write', session: true, tag: 'admins', summary: 'Clear an administrator\'s login lockout.',
    schema: { params: S.IdParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.admins.unlock(c.actx, req.params.id);
      return ok204(reply);
    },
  },

  // API keys
  listRoute({
    path: 'api-keys', tag: 'api-keys', read: 'api_keys.read', summary: 'List API keys (never their secrets).',
    schema: S.ApiKeySchema, sort: apiKeySort, present: S.presentKey, list: (c) => c.keys.list(c.orgId),
  }),
  {
    method: 'POST', url: '/api-keys', permission: 'api_keys.write', session: true, tag: 'api-keys', summary: 'Create an API key; the full key is in this response only.',
    schema: { body: S.ApiKeyCreate, response: R(201, S.ApiKeyWithSecret) },
    handler: async (req, reply, c) => {
      const r = await c.keys.create(c.actx, req.body, myRole(c));
      reply.code(201).header('cache-control', 'no-store');
      return { key: S.presentKey(r.key), secret: r.secret };
    },
  },
  {
    method: 'POST', url: '/api-keys/revoke-all', permission: 'api_keys.write', session: true, tag: 'api-keys',
    summary: 'Emergency: revoke every API key of the organization. Administrator session and a fresh TOTP code required.',
    schema: { body: S.RevokeAllBody, response: R(200, S.RevokeAllResponse) },
    handler: async (req, _reply, c) => {
      const w = c.who!;
      if (w.kind !== 'session' || w.admin.role !== 'administrator') throw new CairnError('forbidden', 'an Administrator session is required');
      if (!(await c.dir.admins.verifyStepUp(c.orgId, w.admin.id, req.body.otp))) {
        await c.dir.audit.record(c.actx, { eventType: 'api_key.revoked_all', success: false, reason: 'mfa_invalid' });
        throw new CairnError('forbidden', 'a valid, unused TOTP code is required', { field: 'otp' });
      }
      return { revoked: await c.keys.revokeAll(c.actx) };
    },
  },
  {
    method: 'GET', url: '/api-keys/:id', permission: 'api_keys.read', tag: 'api-keys', summary: 'One API key (never its secret).',
    schema: { params: S.IdParams, response: R(200, S.ApiKeySchema) },
    handler: async (req, _reply, c) => S.presentKey(await c.keys.get(c.orgId, req.params.id)),
  },
  {
    method: 'POST', url: '/api-keys/:id/rotate', permission: 'api_keys.write', session: true, tag: 'api-keys',
    summary: 'Issue a successor; the old key keeps working for overlapHours (default api.keyRotateOverlapHours).',
    schema: { params: S.IdParams, body: Type.Optional(S.ApiKeyRotate), response: R(200, S.ApiKeyRotated) },
    handler: async (req, reply, c) => {
      const r = await c.keys.rotate(c.actx, req.params.id, req.body ?? {});
      reply.header('cache-control', 'no-store');
      return { key: S.presentKey(r.key), secret: r.secret, previous: S.presentKey(r.previous) };
    },
  },
  {
    method: 'DELETE', url: '/api-keys/:id', permission: 'api_keys.write', session: true, tag: 'api-keys', summary: 'Revoke an API key now (kept for the record).',
    schema: { params: S.IdParams, response: R(200, S.ApiKeySchema) },
    handler: async (req, _reply, c) => S.presentKey(await c.keys.revoke(c.actx, req.params.id)),
  },

  // audit trail
  {
    method: 'GET', url: '/events', permission: 'events.read', tag: 'events',
    summary: 'Audit events; filters: since, until, event_type, actor (id), resource (id), success; cursor pagination.',
    schema: { querystring: S.EventQuery, response: R(200, S.Page(S.EventSchema)) },
    handler: async (req, _reply, c) => {
      const q = req.query;
      const order = q.order ?? 'desc';
      const after = decodeCursor(q.cursor);
      if (after !== undefined && typeof after !== 'number') throw new CairnError('invalid_input', 'not a cursor this API issued', { field: 'cursor' });
      const limit = pageLimit(c, q.limit);
      const rows = await c.dir.audit.list({
        orgId: c.orgId, ...eventFilter(q), limit: limit + 1, order,
        ...(after === undefined ? {} : order === 'asc' ? { afterSeq: after } : { beforeSeq: after }),
      });
      const page = rows.slice(0, limit);
      return { items: page.map(eventToJson), nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.seq) : null };
    },
  },
  {
    method: 'GET', url: '/events/export', permission: 'events.read', tag: 'events', summary: 'Stream matching audit events as JSON lines, oldest first (filters as /events, plus after_seq).',
    schema: { querystring: S.ExportQuery, response: R(200, Type.String({ description: 'application/x-ndjson: one event per line' })) },
    handler: async (req, reply, c) => {
      const filter = eventFilter(req.query);
      const { dir, orgId } = c;
      let afterSeq = req.query.after_seq ?? 0;
      async function* lines() {
        for (;;) {
          const rows = await dir.audit.list({ orgId, ...filter, afterSeq, limit: 500, order: 'asc' });
          for (const e of rows) yield JSON.stringify(eventToJson(e)) + '\n';
          if (rows.length < 500) return;
          afterSeq = rows[rows.length - 1]!.seq;
        }
      }
      reply.type('application/x-ndjson').header('cache-control', 'no-store');
      return reply.send(Readable.from(lines()));
    },
  },

  // posture
  {
    method: 'GET', url: '/posture', permission: 'posture.read', tag: 'posture', summary: 'The deployment\'s settings checked against CIS, NIST 800-53, HIPAA and GDPR Art. 32 controls.',
    schema: { response: R(200, S.PostureSchema) },
    handler: async (_req, _reply, c) => {
      const r = await postureReport(c.dir, c.orgId);
      return { ...r, generatedAt: r.generatedAt.toISOString() };
    },
  },
  ...agentRoutes, // host agent (issue 7): servers/api/routes/agent.ts
];

