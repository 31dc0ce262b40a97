// The management API: /api/v1 on the shared HTTPS listener (servers/shared/http.ts creates it;
// /healthz and /readyz live there). Everything about who may do what is decided in one
// onRequest hook from the route table (routes.ts), before a body is even parsed.
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiKeys, CairnError, rolePermissions, scrubError, SESSION_PREFIX, toCairnError,
  type ActionContext, type Directory, type Logger, type Org,
} from '../../core/index.js';
import type { Config } from '../../config/load.js';
import { HttpProblem, problemFromError, problemFromHttp, type Problem } from './errors.js';
import { clientAddress, KeyedMutex, RateLimiter } from './net.js';
import { openApiDocument } from './openapi.js';
import { routes, type Call, type RouteDef, type Who } from './routes.js';
import { WebhookSink } from './webhook.js';

export const API_PREFIX = '/api/v1';
export const API_VERSION = '1.0.0';

/** What register() needs (the lead's ServerContext satisfies it). */
export interface ApiContext {
  dir: Directory;
  config: Readonly<Config>;
  log: Logger;
  org: Org;
}

const OPTIONAL = Symbol.for('TypeBox.Optional');

function fieldOf(e: ErrorObject, part: string): string {
  const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const join = (extra: string) => (base ? `${base}.${extra}` : extra);
  if (e.keyword === 'additionalProperties') return join((e.params as { additionalProperty: string }).additionalProperty);
  if (e.keyword === 'required') return join((e.params as { missingProperty: string }).missingProperty);
  return base || part;
}

function sendProblem(reply: FastifyReply, p: Problem, extraHeaders: Record<string, string> = {}) {
  reply.code(p.status).headers({ 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...extraHeaders });
  return reply.send(JSON.stringify(p));
}

export async function register(app: FastifyInstance, ctx: ApiContext): Promise<{ stop(): Promise<void> }> {
  const { dir, config, log } = ctx;
  const keys = new ApiKeys(dir.deps);
  const loginLimiter = new RateLimiter(config.api.loginPerMinute, 60_000);
  // Failed bearer credentials per address: past the limit, further tries are refused before
  // any lookup (guessing keys or sessions, or flooding the audit trail with failures).
  const badAuthLimiter = new RateLimiter(config.api.failedAuthPerMinute, 60_000);
  const calls = new WeakMap<FastifyRequest, Call>();
  // A conditional PATCH compares the ETag and writes as one step, per resource, in this process
  // (instances sharing a database can still interleave within milliseconds: see the doc).
  const patchLocks = new KeyedMutex();
  const trusted = config.api.trustedProxies;
  const doc = openApiDocument(routes, API_PREFIX, API_VERSION);

  // Our own validators: no coercion and no stripping of unknown fields in bodies (fastify's
  // default ajv removes additional properties silently, which would hide mass assignment).
  const bodyAjv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: false, coerceTypes: false, strict: false });
  const queryAjv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: false, coerceTypes: true, strict: false });
  addFormats.default(bodyAjv);
  addFormats.default(queryAjv);

  await app.register(async (api) => {
    // JSON only: no text/plain bodies reaching a handler as strings.
    api.removeContentTypeParser(['text/plain']);
    // An empty body sent as JSON (curl -H 'content-type: application/json' -X POST) is no body;
    // routes that need one then fail validation naming "body". __proto__ keys stay refused.
    const json = api.getDefaultJsonParser('error', 'error');
    api.removeContentTypeParser('application/json');
    api.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      (req as { rawBody?: string }).rawBody = text; // signed host requests hash the exact bytes (host-auth.ts)
      if (text.trim() === '') return done(null, undefined);
      return json(req, text, done);
    });
    api.setValidatorCompiler(({ schema, httpPart }) => {
      const v = (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema);
      const optional = (schema as Record<symbol, unknown>)[OPTIONAL] === 'Optional';
      const fn = ((data: unknown) => (optional && (data === undefined || data === null) ? true : v(data))) as unknown as typeof v;
      Object.defineProperty(fn, 'errors', { get: () => v.errors });
      return fn;
    });

    api.setErrorHandler((err: FastifyError & { validation?: ErrorObject[]; validationContext?: string }, req, reply) => {
      const instance = req.url.split('?')[0];
      if (err.validation?.length) {
        const e = err.validation[0]!;
        const field = fieldOf(e, err.validationContext ?? 'body');
        const detail = e.keyword === 'additionalProperties' ? 'unknown or read-only field' : `${field}: ${e.message ?? 'invalid'}`;
        return sendProblem(reply, problemFromError(new CairnError('invalid_input', detail, { field }), instance));
      }
      if (err instanceof HttpProblem) return sendProblem(reply, problemFromHttp(err, instance));
      if (err instanceof CairnError) {
        const p = problemFromError(err, instance);
        if (err.code === 'internal' || err.code === 'unavailable') log.error({ err: scrubError(err.cause ?? err), route: instance }, 'api request failed');
        return sendProblem(reply, p, err.code === 'unauthenticated' ? { 'www-authenticate': 'Bearer realm="cairn"' } : {});
      }
      switch (err.code) {
        case 'FST_ERR_CTP_BODY_TOO_LARGE':
          return sendProblem(reply, problemFromHttp(new HttpProblem('payload_too_large', `at most ${config.api.bodyLimitBytes} bytes`), instance));
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
          return sendProblem(reply, problemFromHttp(new HttpProblem('unsupported_media_type', 'send application/json'), instance));
        case 'FST_ERR_CTP_INVALID_JSON_BODY': // also __proto__ keys (secure-json-parse)
          return sendProblem(reply, problemFromError(new CairnError('invalid_input', 'the body is not valid JSON or holds a forbidden __proto__ key', { field: 'body' }), instance));
        case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
          return sendProblem(reply, problemFromError(new CairnError('invalid_input', 'a JSON body is required', { field: 'body' }), instance));
      }
      if (err.statusCode === 400 || err instanceof SyntaxError) {
        return sendProblem(reply, problemFromError(new CairnError('invalid_input', 'the body is not valid JSON', { field: 'body' }), instance));
      }
      log.error({ err: scrubError(err), route: instance }, 'api request failed');
      return sendProblem(reply, problemFromError(toCairnError(err), instance));
    });

    api.setNotFoundHandler((req, reply) => sendProblem(reply, problemFromHttp(new HttpProblem('route_not_found', 'no such route'), req.url.split('?')[0])));

    api.addHook('onSend', async (_req, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    // Authentication and authorization, from the route table, before the body is read.
    api.addHook('onRequest', async (req, reply) => {
      const def = (req.routeOptions.config as { cairn?: RouteDef }).cairn;
      if (!def) return; // openapi.json, not-found
      const ip = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted);
      const base: ActionContext = { orgId: ctx.org.id, actor: { type: 'anonymous', id: null, name: null }, clientIp: ip, service: 'api' };
      const call: Call = { dir, keys, config, orgId: ctx.org.id, defaultOrgId: ctx.org.id, ip, who: null, actx: base };
      calls.set(req, call);
      if (def.permission === 'public') {
        if (def.url.startsWith('/auth/')) {
          const wait = loginLimiter.take(ip ?? 'unknown');
          if (wait) {
            reply.header('retry-after', String(wait));
            throw new CairnError('rate_limited', 'too many login attempts; try again later');
          }
        }
        return;
      }
      // Failed credentials per address: past the limit a valid credential still works, but
      // failures answer 429 and are no longer written to the audit trail one by one (a flood of
      // bad keys must not flood the trail); one warning is logged per address and window.
      const ipKey = ip ?? 'unknown';
      const blocked = badAuthLimiter.peek(ipKey);
      const denied = () => {
        if (blocked) {
          reply.header('retry-after', String(blocked));
          return new CairnError('rate_limited', 'too many failed authentications from this address; try again later');
        }
        badAuthLimiter.take(ipKey);
        if (badAuthLimiter.peek(ipKey)) log.warn({ clientIp: ip }, 'too many failed API authentications from one address; further failures are not audited individually');
        return new CairnError('unauthenticated', 'authentication required');
      };
      const auth = req.headers.authorization;
      const m = typeof auth === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/.exec(auth) : null;
      if (!m) throw denied();
      const token = m[1]!;
      let who: Who;
      let perms: ReadonlySet<string>;
      if (token.startsWith(SESSION_PREFIX)) {
        const s = await dir.admins.session(token);
        if (!s || s.kind === 'enroll') throw denied();
        who = { kind: 'session', admin: s.admin, session: s };
        perms = s.kind === 'restricted' ? new Set() : rolePermissions[s.admin.role];
        call.actx = { orgId: s.admin.orgId, actor: { type: 'admin', id: s.admin.id, name: s.admin.username }, clientIp: ip, service: 'api' };
      } else {
        const k = await keys.authenticate(token, ip, { auditFailures: !blocked });
        if (!k) throw denied();
        who = { kind: 'api_key', admin: k.owner, key: k };
        perms = k.permissions;
        call.actx = { orgId: k.key.orgId, actor: { type: 'api_key', id: k.key.id, name: k.key.name }, clientIp: ip, service: 'api', keyId: k.key.id };
      }
      call.who = who;
      call.orgId = call.actx.orgId;
      if (def.session && who.kind !== 'session') throw new CairnError('forbidden', 'this route needs an admin session, not an API key');
      if (def.permission === 'self') return;
      if (who.kind === 'session' && who.session.kind === 'restricted') throw new CairnError('forbidden', 'change your password first (POST /api/v1/auth/password)');
      if (!perms.has(def.permission)) throw new CairnError('forbidden', `requires ${def.permission}`);
    });

    api.get('/openapi.json', async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return doc;
    });

    for (const def of routes) {
      api.route({
        method: def.method,
        url: def.url,
        bodyLimit: config.api.bodyLimitBytes,
        schema: def.schema,
        config: { cairn: def },
        handler: async (req, reply) => {
          const call = calls.get(req)!;
          if (def.method === 'PATCH' && req.headers['if-match'] !== undefined) {
            return patchLocks.run(`${call.orgId} ${req.url.split('?')[0]}`, () => def.handler(req as never, reply, call));
          }
          return def.handler(req as never, reply, call);
        },
      });
    }
  }, { prefix: API_PREFIX });

  const sink = config.api.webhook.url ? new WebhookSink(dir, config.api.webhook, log) : null;
  await sink?.start();
  return {
    async stop() {
      await sink?.stop();
    },
  };
}
