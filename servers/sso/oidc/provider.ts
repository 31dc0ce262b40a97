// The OpenID Provider: oidc-provider configured for Cairn. What we change from the library's
// defaults, and why (see ../../../../shared/SECURITY.md):
// - devInteractions off: its demo login page accepts any username and password;
// - PKCE required for every client (the default only forces it for public ones), S256 only;
// - code flow only, exact redirect_uri matching, refresh tokens rotated on every use;
// - clients are Cairn SSO apps; their secrets are stored as SHA-256 (see hashClientSecret);
// - accounts are directory users, checked on every use (state, group grant of the app).
import type { IncomingMessage } from 'node:http';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import { hashToken, ssoSessionPolicyLimits, type Directory, type Org, type SsoApp, type User } from '../../../core/index.js';
import { esc, page } from '../pages/render.js';
import { stillAllowed } from '../access.js';
import type { SsoKeys } from '../keys.js';
import { adapterFactory, storeDown } from './adapter.js';

export interface ProviderOptions {
  dir: Directory;
  org: Org;
  issuer: string;
  keys: SsoKeys;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  /** The user of the browser's Cairn SSO session, or null (ended, idle, logged out). */
  cairnSessionUser: (cookieHeader: string | undefined) => Promise<string | null>;
}

async function groupsClaim(dir: Directory, org: Org, user: User, mode: 'names' | 'ids'): Promise<string[]> {
  if (mode === 'ids') return [...user.groupIds].sort();
  const groups = await Promise.all(user.groupIds.map((id) => dir.groups.get(org.id, id).catch(() => null)));
  return groups.filter((g) => g !== null).map((g) => g!.name).sort();
}

export function clientMetadata(app: SsoApp): Record<string, unknown> | undefined {
  if (app.type !== 'oidc') return undefined;
  const s = app.settings;
  const confidential = s.clientType === 'confidential';
  if (confidential && !s.clientSecretHash) return undefined;
  const native = !confidential && s.redirectUris.some((u) => !u.startsWith('https:'));
  return {
    client_id: s.clientId,
    ...(confidential ? { client_secret: s.clientSecretHash, token_endpoint_auth_method: 'client_secret_basic' } : { token_endpoint_auth_method: 'none' }),
    client_name: app.displayName,
    application_type: native ? 'native' : 'web',
    redirect_uris: s.redirectUris,
    post_logout_redirect_uris: s.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token', ...(confidential && s.clientCredentials ? ['client_credentials'] : [])],
    response_types: ['code'],
    scope: s.scopes.join(' '),
    id_token_signed_response_alg: 'RS256',
  };
}

/**
 * The token, introspection and revocation endpoints see the client secret; we store only its
 * SHA-256, so the presented secret is hashed before oidc-provider compares it (in constant
 * time) with the stored hash. A leaked database row is then no usable secret.
 */
export function hashClientSecret(raw: IncomingMessage & { body?: Record<string, unknown> }): void {
  const auth = raw.headers.authorization;
  if (auth && /^basic /i.test(auth)) {
    try {
      const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) {
        const id = decoded.slice(0, i);
        const secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
        raw.headers.authorization = `Basic ${Buffer.from(`${id}:${hashToken(secret)}`).toString('base64')}`;
      }
    } catch {
      /* malformed: oidc-provider answers invalid_client */
    }
  }
  if (raw.body && typeof raw.body.client_secret === 'string') raw.body.client_secret = hashToken(raw.body.client_secret);
}

const CLIENT_CACHE_MS = 5_000;
/** The longest SSO session the policy allows. */
const SSO_SESSION_MAX_S = ssoSessionPolicyLimits.maxAgeMinutes[1] * 60;
/** Feed subscriptions of built providers; main.ts calls releaseProvider() when it replaces one. */
const cleanupOf = new WeakMap<Provider, Array<() => void>>();
export function releaseProvider(p: Provider | null): void {
  for (const f of (p && cleanupOf.get(p)) ?? []) f();
}

export function buildProvider(opts: ProviderOptions): Provider {
  const { dir, org, keys } = opts;
  // Client rows are read on every token request: a short cache (cleared on any app change in
  // this process via the feed; other instances see a change within CLIENT_CACHE_MS).
  const clientCache = new Map<string, { app: SsoApp | null; until: number }>();
  const unsubscribe = dir.feed.subscribe((c) => {
    if (c.kind === 'resource' || c.kind === 'grant') clientCache.clear();
  });
  const clientApp = async (clientId: string | undefined): Promise<SsoApp | null> => {
    if (!clientId || clientId.length > 128) return null;
    const hit = clientCache.get(clientId);
    if (hit && hit.until > Date.now()) return hit.app;
    const app = await dir.sso.apps.findByExternalId('oidc', clientId);
    if (clientCache.size > 10_000) clientCache.clear();
    clientCache.set(clientId, { app, until: Date.now() + CLIENT_CACHE_MS });
    return app;
  };
  // Suspended, locked, deleted, or no longer in a group granted the app: the account is gone
  // for this client, so refresh, userinfo, introspection and silent authorization all fail.
  const accountFor = async (clientId: string | undefined, userId: string): Promise<{ app: SsoApp | null; user: User } | null> => {
    const app = await clientApp(clientId);
    const user = await stillAllowed(dir, org, userId, app?.id ?? '00000000-0000-0000-0000-000000000000');
    return user ? { app, user } : null;
  };
  const Adapter = adapterFactory(dir, async (id) => {
    const app = await clientApp(id);
    return app && app.orgId === org.id ? clientMetadata(app) : undefined;
  });

  // The OP session follows Cairn's SSO session: when that ends (sign-out, idle timeout, max
  // age, suspension), the next authorization request asks for a login again.
  const policy = interactionPolicy.base();
  policy.get('login').checks.add(new interactionPolicy.Check('cairn_session', 'the Cairn SSO session ended', async (ctx: { oidc: { session: { accountId?: string } }; req: { headers: { cookie?: string } } }) => {
    const accountId = ctx.oidc.session.accountId;
    if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT; // no_session asks already
    try {
      return (await opts.cairnSessionUser(ctx.req.headers.cookie)) === accountId ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    } catch (err) {
      return storeDown(err);
    }
  }));

  const provider = new Provider(opts.issuer, {
    adapter: Adapter,
    clients: [],
    jwks: { keys: keys.jwks.keys.map(({ created: _c, dropAfter: _d, ...k }) => k) },
    cookies: {
      keys: keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    async findAccount(ctx: { oidc?: { client?: { clientId: string } } }, sub: string, token?: { clientId?: string }) {
      let found: Awaited<ReturnType<typeof accountFor>>;
      try {
        found = await accountFor(token?.clientId ?? ctx.oidc?.client?.clientId, sub);
      } catch (err) {
        return storeDown(err);
      }
      if (!found) return undefined;
      const { app, user } = found;
      return {
        accountId: user.id,
        async claims(_use: string, scope: string) {
          const scopes = new Set(String(scope ?? '').split(' '));
          const out: Record<string, unknown> = { sub: user.id };
          if (scopes.has('profile')) Object.assign(out, { preferred_username: user.username, name: user.displayName || user.username });
          if (scopes.has('email') && user.email) Object.assign(out, { email: user.email, email_verified: true });
          if (scopes.has('groups') && app?.type === 'oidc') out.groups = await groupsClaim(dir, org, user, app.settings.groupsClaim);
          return out;
        },
      };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    allowOmittingSingleRegisteredRedirectUri: false,
    clientDefaults: { id_token_signed_response_alg: 'RS256', grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'], userinfoSigningAlgValues: ['RS256'], introspectionSigningAlgValues: ['RS256'] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `/sso/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect only its own tokens, and a user's token is active only while
        // the user may still use the app (as findAccount decides for userinfo and refresh):
        // checked now, not only when the change feed has revoked the token.
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string; accountId?: string }) => {
          if (token.clientId !== client.clientId) return false;
          if (!token.accountId) return true; // client credentials: no user behind the token
          try {
            return (await accountFor(token.clientId, token.accountId)) !== null;
          } catch (err) {
            return storeDown(err);
          }
        },
      },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens (RFC 7009 §2.1).
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: { body: string; host: string }, form: string) => {
          ctx.body = page('Sign out', `<h1>Sign out of Cairn?</h1>${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button> <button class="link" type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx: { body: string }) => {
          ctx.body = page('Signed out', '<h1>You are signed out</h1><p><a href="/sso/">Back to the portal</a></p>');
        },
      },
    },
    ttl: {
      AccessToken: opts.accessTokenTtl,
      ClientCredentials: opts.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: opts.refreshTokenTtl,
      Interaction: 900,
      // The OP session ends with the Cairn session (the cairn_session check), whose lifetime the
      // org's SSO session policy sets; this only bounds how long its row is kept.
      Session: SSO_SESSION_MAX_S,
      Grant: opts.refreshTokenTtl,
    },
    // Errors render (never redirect to an unverified redirect_uri): the library's own rule;
    // the page shows only the client-safe error code and description.
    async renderError(ctx: { type: string; body: string; status: number }, out: { error?: string; error_description?: string }) {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<h1>Sign-in could not continue</h1><p class="err" role="alert"><strong>${esc(out.error ?? 'error')}</strong>: ${esc(out.error_description ?? '')}</p><p>Go back to the application and try again.</p>`);
    },
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris?: string[] }) =>
      (client.redirectUris ?? []).some((u) => {
        try {
          return new URL(u).origin === origin;
        } catch {
          return false;
        }
      }),
  });
  provider.proxy = false;
  cleanupOf.set(provider, [unsubscribe]);
  return provider;
}

export { errors };
