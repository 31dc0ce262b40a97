// SSO front-end: OIDC provider (/oidc), SAML IdP (/saml), login pages and the user portal
// (/sso), mounted on the shared HTTPS fastify instance (servers/shared/http.ts).
import type { IncomingMessage } from 'node:http';
import { parse as parseQs } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { scrubError, systemContext, type Change } from '../../core/index.js';
import type { ServerContext } from './context.js';
import { loadKeys, type SsoKeys } from './keys.js';
import { buildProvider, hashClientSecret, releaseProvider } from './oidc/provider.js';
import { AUTOPOST_JS, CSP, STYLE, WEBAUTHN_JS } from './pages/render.js';
import { registerSamlRoutes, SamlIdp } from './saml/idp.js';
import { BrowserState } from './session.js';
import { failPage, registerWeb, sendHtml } from './web.js';
import { messagePage } from './pages/render.js';

export type { ServerContext } from './context.js';

/** The public base URL: sso.issuer, or https://localhost:<bound port>. */
export function baseUrl(ctx: ServerContext, port: number): string {
  return (ctx.config.sso.issuer || `https://localhost:${port}`).replace(/\/+$/, '');
}

const SECRET_ENDPOINTS = new Set(['/oidc/token', '/oidc/token/introspection', '/oidc/token/revocation']);

export async function register(app: FastifyInstance, ctx: ServerContext): Promise<{ stop(): Promise<void>; provider(): Provider; idp(): SamlIdp; baseUrl(): string }> {
  const { dir, org, log } = ctx;
  const cfg = ctx.config.sso;
  const sys = systemContext(org.id, 'sso');
  const entity = `Cairn ${org.name}`;
  let keys: SsoKeys = await loadKeys(dir, sys, entity);
  const state = new BrowserState(dir, org.id);

  // The issuer needs the bound port when sso.issuer is empty (port 0 in tests): everything
  // that depends on it is built on the first request, after listen().
  let base: string | null = null;
  const getBase = () => {
    if (!base) {
      const addr = app.server.address();
      base = baseUrl(ctx, typeof addr === 'object' && addr ? addr.port : ctx.config.api.port);
    }
    return base;
  };
  const makeProvider = () => {
    const p = buildProvider({
      dir, org, issuer: `${getBase()}/oidc`, keys,
      accessTokenTtl: cfg.accessTokenTtlSeconds,
      refreshTokenTtl: cfg.refreshTokenTtlDays * 86400,
      cairnSessionUser: async (cookie) => (await state.sessionFromCookies(cookie))?.userId ?? null,
    });
    p.on('server_error', (_ctx: unknown, err: unknown) => log.error({ err: scrubError(err) }, 'oidc server error'));
    return p;
  };
  let provider: Provider | null = null;
  let callback: ReturnType<Provider['callback']> | null = null;
  const getProvider = () => {
    if (!provider) {
      provider = makeProvider();
      callback = provider.callback();
    }
    return provider;
  };
  let samlIdp: SamlIdp | null = null;
  const getIdp = () => (samlIdp ??= new SamlIdp({ dir, org, log, state, baseUrl: getBase(), keys: () => keys.saml, assertionTtlSeconds: cfg.samlAssertionTtlSeconds }));

  // Immediate termination: a suspended, locked or deleted user loses every SSO session, grant
  // and token at once (findAccount also re-checks state on every use, for other instances).
  // So does a user whose password or second factor changed, except in the browser session the
  // user made the change from (read now: the feed is published inside that change).
  const unsubscribe = dir.feed.subscribe((c: Change) => {
    if (c.orgId !== org.id) return;
    if (c.kind === 'user' && (c.action === 'state' || c.action === 'deleted' || c.action === 'credentials')) {
      const spared = c.action === 'credentials' ? state.sparedBy(c.id) : [];
      void (async () => {
        if (c.action === 'state' && (await dir.users.get(org.id, c.id).catch(() => null))?.state === 'active') return;
        const n = await dir.sso.store.destroyByAccount(c.id, spared);
        log.info({ userId: c.id, removed: n, reason: c.action }, 'sso sessions and tokens revoked');
      })().catch((err) => log.error({ err: scrubError(err) }, 'sso revocation failed'));
    }
    // 'sso-keys' from this process; the sealed settings' own ids when followed from the audit trail.
    if (c.kind === 'resource' && (c.id === 'sso-keys' || c.id === 'sso.oidc.jwks' || c.id === 'sso.saml.signing')) void reloadKeys();
  });
  // Keys rotated here arrive by the feed; rotated by the CLI or another instance, by this poll.
  const fingerprint = (k: SsoKeys) => `${k.jwks.keys.map((x) => x.kid).join(',')}|${[k.saml.cert, k.saml.next?.cert ?? ''].map((c) => `${c.length}:${c.slice(-80)}`).join('|')}`;
  async function reloadKeys(): Promise<void> {
    try {
      const k = await loadKeys(dir, sys, entity);
      if (fingerprint(k) === fingerprint(keys)) return;
      keys = k;
      releaseProvider(provider);
      provider = null; // rebuilt with the new keys on the next request
      callback = null;
      log.info({ kids: k.jwks.keys.map((x) => x.kid) }, 'sso signing keys reloaded');
    } catch (err) {
      log.error({ err: scrubError(err) }, 'sso key reload failed');
    }
  }
  const keyPoll = setInterval(() => void reloadKeys(), 60_000);
  keyPoll.unref();
  const purge = setInterval(() => {
    dir.sso.store.purgeExpired().catch((err) => log.warn({ err: scrubError(err) }, 'sso purge failed'));
  }, 10 * 60_000);
  purge.unref();

  await app.register(async (scope) => {
    // Forms: parsed here (the shared instance may not know urlencoded bodies); oidc-provider
    // reads req.body when the stream was already consumed.
    if (!scope.hasContentTypeParser('application/x-www-form-urlencoded')) {
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
        try {
          done(null, parseQs(body as string));
        } catch (err) {
          done(err as Error, undefined);
        }
      });
    }

    // Anything a route did not answer itself: the mapped, client-safe page.
    scope.setErrorHandler((err, _req, reply) => {
      if ((err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500 && !(err as { code?: string }).code?.match?.(/^[a-z_]+$/)) {
        return sendHtml(reply, (err as { statusCode: number }).statusCode, messagePage('Request refused', 'The request was not valid.'));
      }
      return failPage({ log }, reply, err);
    });

    scope.addHook('onSend', async (req, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      const type = String(reply.getHeader('content-type') ?? '');
      if (type.startsWith('text/html')) {
        reply.header('content-security-policy', CSP);
        reply.header('x-frame-options', 'DENY');
        if (!reply.getHeader('cache-control')) reply.header('cache-control', 'no-store');
      }
      if (req.url.startsWith('/sso') || req.url.startsWith('/saml')) reply.header('strict-transport-security', 'max-age=31536000');
      return payload;
    });

    scope.get('/sso/static/cairn.css', async (_req, reply) => reply.type('text/css').header('cache-control', 'public, max-age=3600').send(STYLE));
    scope.get('/sso/static/autopost.js', async (_req, reply) => reply.type('text/javascript').header('cache-control', 'public, max-age=3600').send(AUTOPOST_JS));
    scope.get('/sso/static/webauthn.js', async (_req, reply) => reply.type('text/javascript').header('cache-control', 'public, max-age=3600').send(WEBAUTHN_JS));

    const oidc = async (req: FastifyRequest, reply: FastifyReply) => {
      const raw = req.raw as IncomingMessage & { originalUrl?: string; body?: unknown };
      const path = (raw.url ?? '/').split('?')[0]!;
      if (req.body !== undefined && req.body !== null) raw.body = req.body;
      if (SECRET_ENDPOINTS.has(path)) hashClientSecret(raw as IncomingMessage & { body?: Record<string, unknown> });
      raw.originalUrl = raw.url;
      raw.url = (raw.url ?? '/').slice('/oidc'.length) || '/';
      getProvider();
      reply.hijack();
      // oidc-provider writes its own headers; the HTML it renders (errors, logout) gets ours too.
      reply.raw.setHeader('x-content-type-options', 'nosniff');
      reply.raw.setHeader('content-security-policy', CSP);
      reply.raw.setHeader('x-frame-options', 'DENY');
      callback!(raw, reply.raw);
    };
    scope.all('/oidc', oidc);
    scope.all('/oidc/*', oidc);
    // Discovery at the origin too (some clients look there for an issuer with a path).
    scope.get('/.well-known/openid-configuration/oidc', async (_req, reply) => reply.redirect('/oidc/.well-known/openid-configuration', 301));

    registerWeb(scope, {
      dir, org, log, state,
      provider: getProvider,
      samlLaunch: async (req, reply, target, user, session) => getIdp().launch(req, reply, target, user, session),
      samlLogout: (reply, participants) => getIdp().logoutParticipants(reply, participants),
      site: () => {
        const url = new URL(getBase());
        return { rpId: url.hostname, origin: url.origin, rpName: org.name };
      },
    });
    registerSamlRoutes(scope, getIdp);
  });

  return {
    provider: getProvider,
    idp: getIdp,
    baseUrl: getBase,
    async stop() {
      unsubscribe();
      clearInterval(purge);
      clearInterval(keyPoll);
      releaseProvider(provider);
    },
  };
}
