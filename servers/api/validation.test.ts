// Input discipline: unknown and read-only fields rejected on every route with a body, naming
// the field; ETag / If-Match; body and page-size caps; problem+json everywhere; the OpenAPI
// document is well-formed, its schemas compile, and it covers exactly the route table.
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import t from 'tap';
import { startApi } from '../../test/helpers/api.js';
import { routes } from './routes.js';
import { openApiPath } from './openapi.js';

const P = '/api/v1';
const fill = (url: string) => url.replace(/:([A-Za-z]+)/g, () => randomUUID());

// A valid body for every route that takes one (validation runs before the handler).
const validBodies: Record<string, Record<string, unknown>> = {
  'POST /auth/login': { username: 'admin', password: 'x' },
  'POST /auth/totp/confirm': { enrollmentToken: 'x', code: '123456' },
  'POST /auth/password': { currentPassword: 'x', newPassword: 'Long-enough-password' },
  'POST /users': { username: 'val' },
  'PATCH /users/:id': { displayName: 'x' },
  'POST /users/:id/password': { password: 'x' },
  'POST /users/:id/must-change-password': { mustChangePassword: true },
  'POST /users/:id/totp/confirm': { code: '123456' },
  'POST /users/:id/ssh-keys': { publicKey: 'ssh-ed25519 AAAA' },
  'POST /groups': { name: 'g' },
  'PATCH /groups/:id': { description: 'x' },
  'POST /systems': { hostname: 'h' },
  'PATCH /systems/:id': { os: 'x' },
  'POST /service-accounts': { name: 's' },
  'POST /ip-lists': { name: 'l', cidrs: [] },
  'PATCH /ip-lists/:id': { name: 'l2' },
  'PATCH /service-accounts/:id': { state: 'disabled' },
  'POST /radius-networks': { name: 'n' },
  'PATCH /radius-networks/:id': { mfaMode: 'challenge' },
  'POST /radius-clients': { name: 'c', address: '192.0.2.1', networkId: randomUUID() },
  'PATCH /radius-clients/:id': { legacy: true },
  'POST /radius-clients/:id/secret': {},
  'POST /sso-apps': { type: 'oidc', name: 'a', settings: {} },
  'PATCH /sso-apps/:id': { displayName: 'x' },
  'PATCH /access-rules/:id': { priority: 5 },
  'POST /access-rules': { name: 'r', priority: 1, protocol: '*', action: 'deny' },
  'PATCH /policies/password': { minLength: 12 },
  'PUT /policies/ldap-access': { groupIds: [] },
  'PATCH /policies/radius': { storeNtHash: true },
  'PATCH /policies/mfa': { mode: { radius: 'required' } },
  'PATCH /policies/sso-session': { idleMinutes: 30 },
  'POST /admins': { username: 'a', role: 'read_only', password: 'Long-enough-password' },
  'PATCH /admins/:id': { email: null },
  'POST /api-keys': { name: 'k', role: 'read_only' },
  'POST /api-keys/:id/rotate': {},
  'POST /api-keys/revoke-all': { otp: '123456', confirm: 'revoke every API key' },
  // host agent (issue 7)
  'POST /agent/enrolment-tokens': { description: 'x' },
  'POST /agent/enroll': { token: 'x', publicKey: 'A'.repeat(43), hostname: 'h', os: 'x', agentVersion: '0' },
  'POST /agent/heartbeat': { agentVersion: '0', configVersion: null, changedFiles: [], ok: true },
};
const readOnly = ['id', 'orgId', 'uidNumber', 'gidNumber', 'createdAt', 'updatedAt', 'passwordHash', 'password_hash', 'hasPassword', 'totpEnrolled', 'lastUsedAt', 'secretHmac', 'isAdmin', '__proto__', 'constructor'];

t.test('mass assignment and read-only fields are refused, naming the field', async (t) => {
  const h = await startApi('sqlite', { api: { loginPerMinute: 1000, bodyLimitBytes: 4096 } });
  t.teardown(h.stop);
  const A = h.admin.token;
  const bodyRoutes = routes.filter((r) => r.schema.body);
  t.same(bodyRoutes.map((r) => `${r.method} ${r.url}`).sort(), Object.keys(validBodies).sort(), 'a valid body is known for every route with a body');
  let n = 0;
  for (const r of bodyRoutes) {
    const props = Object.keys((r.schema.body as unknown as { properties: Record<string, unknown> }).properties);
    for (const field of readOnly.filter((f) => !props.includes(f))) {
      const raw = JSON.stringify({ ...validBodies[`${r.method} ${r.url}`] }).replace(/^\{/, `{${JSON.stringify(field)}:1${Object.keys(validBodies[`${r.method} ${r.url}`]!).length ? ',' : ''}`);
      const res = await h.c.call(r.method, P + fill(r.url), { token: A, raw, headers: { 'content-type': 'application/json' } });
      t.equal(res.status, 400, `${r.method} ${r.url} + ${field}`);
      t.match(String(res.headers['content-type']), /^application\/problem\+json/);
      t.equal(res.json.type, 'urn:cairn:problem:invalid_input');
      // fastify's JSON parser refuses __proto__ keys before validation: the field is then "body".
      t.equal(res.json.field, field === '__proto__' ? 'body' : field, 'the problem names the field');
      n++;
    }
  }
  t.ok(n > 300, `${n} combinations refused`);
  // Nested unknown fields are named with their path.
  const nested = await h.c.call('PATCH', `${P}/policies/mfa`, { token: A, body: { mode: { radius: 'required', telnet: 'required' } } });
  t.equal(nested.json.field, 'mode.telnet');
  // Wrong types name the field too, and never echo the value.
  const typed = await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'ok', mustChangePassword: 'yes-canary' } });
  t.equal(typed.json.field, 'mustChangePassword');
  t.notOk(typed.text.includes('yes-canary'));
  // Core-level validation maps the same way.
  const core = await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'ok', email: 'not-an-email' } });
  t.same([core.status, core.json.field], [400, 'email']);
  const policy = await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'ok', password: 'short' } });
  t.equal(policy.status, 422);
  t.equal(policy.json.field, 'password');
  t.ok(policy.json.errors.length > 0, 'the policy reasons are listed');
  t.notOk(policy.text.includes('short"'), 'the password is never echoed');
  // Secrets are never in a response after creation.
  const sa = await h.c.call('POST', `${P}/service-accounts`, { token: A, body: { name: 'ldapbind' } });
  t.equal(sa.headers['cache-control'], 'no-store');
  const again = await h.c.call('GET', `${P}/service-accounts/${sa.json.account.id}`, { token: A });
  t.notOk(again.text.includes(sa.json.password), 'service account password shown once');
  const user = await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'carol', password: 'Correct-horse-9' } });
  t.notOk(/argon2|hash/i.test(JSON.stringify(Object.keys(user.json))), 'no hash fields in a user');

  // Caps: body size, media type, page size.
  const big = await h.c.call('POST', `${P}/users`, { token: A, raw: JSON.stringify({ username: 'x', displayName: 'y'.repeat(5000) }), headers: { 'content-type': 'application/json' } });
  t.equal(big.status, 413);
  t.equal(big.json.type, 'urn:cairn:problem:payload_too_large');
  const form = await h.c.call('POST', `${P}/users`, { token: A, raw: 'username=x', headers: { 'content-type': 'text/plain' } });
  t.equal(form.status, 415);
  const badJson = await h.c.call('POST', `${P}/users`, { token: A, raw: '{"username":', headers: { 'content-type': 'application/json' } });
  t.same([badJson.status, badJson.json.field], [400, 'body']);
  t.equal((await h.c.call('GET', `${P}/users?limit=100000`, { token: A })).json.field, 'limit');
  t.equal((await h.c.call('GET', `${P}/users?sneaky=1`, { token: A })).json.field, 'sneaky', 'unknown query parameters are refused');
  t.equal((await h.c.call('GET', `${P}/users/not a uuid!`, { token: A })).status, 400);
  const nf = await h.c.call('GET', `${P}/users/${randomUUID()}`, { token: A });
  t.same([nf.status, nf.json.type], [404, 'urn:cairn:problem:not_found']);
});

t.test('ETag and If-Match', async (t) => {
  const h = await startApi('sqlite');
  t.teardown(h.stop);
  const A = h.admin.token;
  const created = await h.c.call('POST', `${P}/users`, { token: A, body: { username: 'dave' } });
  const got = await h.c.call('GET', `${P}/users/${created.json.id}`, { token: A });
  const etag = String(got.headers.etag);
  t.match(etag, /^"[A-Za-z0-9_-]+"$/);
  t.equal(created.headers.etag, etag, 'create and get agree');
  const first = await h.c.call('PATCH', `${P}/users/${created.json.id}`, { token: A, body: { displayName: 'Dave' }, headers: { 'if-match': etag } });
  t.equal(first.status, 200);
  t.not(first.headers.etag, etag, 'a change gives a new ETag');
  const stale = await h.c.call('PATCH', `${P}/users/${created.json.id}`, { token: A, body: { displayName: 'Lost update' }, headers: { 'if-match': etag } });
  t.equal(stale.status, 412);
  t.equal(stale.json.type, 'urn:cairn:problem:precondition_failed');
  t.equal((await h.c.call('GET', `${P}/users/${created.json.id}`, { token: A })).json.displayName, 'Dave', 'the stale write did not happen');
  const star = await h.c.call('PATCH', `${P}/users/${created.json.id}`, { token: A, body: { displayName: 'Any' }, headers: { 'if-match': '*' } });
  t.equal(star.status, 200);
  // Racing conditional writers with the same ETag: exactly one wins, the others get 412.
  const cur = String((await h.c.call('GET', `${P}/users/${created.json.id}`, { token: A })).headers.etag);
  const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => h.c.call('PATCH', `${P}/users/${created.json.id}`, { token: A, body: { displayName: `Racer ${i}` }, headers: { 'if-match': cur } })));
  t.same(racers.map((r) => r.status).sort(), [200, 412, 412, 412, 412, 412, 412, 412], 'one conditional writer wins');
  // Same for groups, systems, admins, policies.
  const g = await h.c.call('POST', `${P}/groups`, { token: A, body: { name: 'eng' } });
  t.equal((await h.c.call('PATCH', `${P}/groups/${g.json.id}`, { token: A, body: { description: 'x' }, headers: { 'if-match': '"nope"' } })).status, 412);
  const rule = await h.c.call('POST', `${P}/access-rules`, { token: A, body: { name: 'r', priority: 1, protocol: '*', action: 'deny' } });
  const ruleTag = String((await h.c.call('GET', `${P}/access-rules/${rule.json.id}`, { token: A })).headers.etag);
  t.equal((await h.c.call('PATCH', `${P}/access-rules/${rule.json.id}`, { token: A, body: { action: 'allow' }, headers: { 'if-match': ruleTag } })).status, 200);
  t.equal((await h.c.call('PATCH', `${P}/access-rules/${rule.json.id}`, { token: A, body: { action: 'deny' }, headers: { 'if-match': ruleTag } })).status, 412, 'access rules too');
  const pol = await h.c.call('GET', `${P}/policies/password`, { token: A });
  t.equal((await h.c.call('PATCH', `${P}/policies/password`, { token: A, body: { minLength: 10 }, headers: { 'if-match': String(pol.headers.etag) } })).status, 200);
  t.equal((await h.c.call('PATCH', `${P}/policies/password`, { token: A, body: { minLength: 11 }, headers: { 'if-match': String(pol.headers.etag) } })).status, 412);
});

t.test('the OpenAPI document is well-formed and covers every route', async (t) => {
  const h = await startApi('sqlite');
  t.teardown(h.stop);
  const res = await h.c.call('GET', `${P}/openapi.json`);
  t.equal(res.status, 200, 'public');
  const doc = res.json as {
    openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, {
      operationId: string; responses: Record<string, { description: string; content?: Record<string, { schema: object }> }>;
      parameters: { name: string; in: string; required: boolean; schema: object }[]; requestBody?: { content: Record<string, { schema: object }> };
      security: unknown[]; 'x-cairn-permission': string;
    }>>; components: { securitySchemes: object; schemas: Record<string, object> };
  };
  t.match(doc.openapi, /^3\.1\.\d+$/);
  t.ok(doc.info.title && doc.info.version);
  const ajv = new Ajv({ strict: false });
  addFormats.default(ajv);
  const seen = new Set<string>();
  const opIds = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    t.ok(path.startsWith('/api/v1/'), `${path} under /api/v1`);
    const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(ops)) {
      t.ok(['get', 'post', 'put', 'patch', 'delete'].includes(method));
      seen.add(`${method.toUpperCase()} ${path}`);
      t.notOk(opIds.has(op.operationId), `${op.operationId} unique`);
      opIds.add(op.operationId);
      const declared = op.parameters.filter((p) => p.in === 'path').map((p) => p.name);
      t.same(declared.sort(), [...pathParams].sort(), `${method} ${path}: every path parameter declared`);
      for (const p of op.parameters) {
        t.ok(['path', 'query', 'header', 'cookie'].includes(p.in) && p.name && (p.in !== 'path' || p.required));
        ajv.compile(p.schema);
      }
      for (const [code, r] of Object.entries(op.responses)) {
        t.ok(code === 'default' || /^[1-5]\d\d$/.test(code), `${code} is a status`);
        t.ok(typeof r.description === 'string', 'response has a description');
        for (const c of Object.values(r.content ?? {})) if (!('$ref' in c.schema)) ajv.compile(c.schema);
      }
      if (op.requestBody) for (const c of Object.values(op.requestBody.content)) ajv.compile(c.schema);
      t.ok(op['x-cairn-permission'], 'the required permission is published');
    }
  }
  const expected = new Set(routes.map((r) => `${r.method} /api/v1${openApiPath(r.url)}`));
  t.same([...seen].sort(), [...expected].sort(), 'exactly the route table');
  t.ok(doc.components.schemas.Problem);
  // And every documented route exists on the server (not a 404 route_not_found).
  for (const key of expected) {
    const [method, path] = key.split(' ') as [string, string];
    const res2 = await h.c.call(method, path.replace(/\{\w+\}/g, randomUUID()), { token: h.admin.token });
    t.not(res2.json?.type, 'urn:cairn:problem:route_not_found', `${key} is served`);
  }
});
