// SSO applications (OIDC clients, SAML service providers) and the SSO store (oidc-provider's
// models, login flows, portal sessions). No protocol library here: servers/sso adapts these.
import { randomUUID, X509Certificate } from 'node:crypto';
import type { Knex } from 'knex';
import { mutate, now, read, type Deps } from './context.js';
import { hashToken, randomToken } from './crypto/tokens.js';
import { conflict, invalidInput, notFound } from './errors.js';
import type { Grants } from './resources.js';
import { isPostgres, storeError } from './store/knex.js';
import type { ActionContext, ResourceRef } from './types.js';

export type SsoAppType = 'oidc' | 'saml';

export const oidcScopes = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;
export type OidcScope = (typeof oidcScopes)[number];

export interface OidcAppSettings {
  clientId: string;
  /** public: a browser or native app, no secret (PKCE only); confidential: client_secret_basic/post. */
  clientType: 'public' | 'confidential';
  /** SHA-256 (hex) of the client secret; the secret itself is shown once at creation/rotation. */
  clientSecretHash: string | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Confidential clients may use the client_credentials grant (machine to machine). */
  clientCredentials: boolean;
  /** Third-party apps get a consent page; first-party apps (the default) do not. */
  thirdParty: boolean;
  /** Scopes the app may ask for. */
  scopes: OidcScope[];
  /** The `groups` claim carries group names (default) or ids. */
  groupsClaim: 'names' | 'ids';
}

export type SamlNameIdFormat = 'email' | 'persistent' | 'unspecified';
export interface SamlAppSettings {
  entityId: string;
  /** The only places assertions are sent; the first is the default. */
  acsUrls: string[];
  /** SP single logout URL, if the SP does SLO, and the binding Cairn sends its messages there with. */
  sloUrl: string | null;
  sloBinding: 'redirect' | 'post';
  /** SP signing certificate (PEM): AuthnRequests must then be signed by it. */
  certificate: string | null;
  /** Refuse unsigned AuthnRequests (needs `certificate`). */
  wantRequestsSigned: boolean;
  nameIdFormat: SamlNameIdFormat;
  /** SAML attribute name → source: email | name | username | groups | firstName | lastName | custom:<key>. */
  attributes: Record<string, string>;
  signResponse: boolean;
  signAssertion: boolean;
  /** Encrypt the assertion to the SP's `certificate` (AES-256-GCM, RSA-OAEP). */
  encryptAssertion: boolean;
  /** The SP metadata XML the app was registered from, if any (kept for reference). */
  metadataXml: string | null;
}

export interface SsoAppBase {
  id: string;
  orgId: string;
  name: string;
  displayName: string;
  launchUrl: string;
  groupIds: string[];
  createdAt: Date;
  updatedAt: Date;
}
export type SsoApp = (SsoAppBase & { type: 'oidc'; settings: OidcAppSettings }) | (SsoAppBase & { type: 'saml'; settings: SamlAppSettings });

export interface CreateSsoAppInput {
  type: SsoAppType;
  name: string;
  displayName?: string;
  launchUrl?: string;
  groupIds?: string[];
  /** Partial settings; the rest take defaults. For OIDC, clientId is generated when absent. */
  settings: Record<string, unknown>;
}

export type UpdateSsoAppInput = Partial<Pick<CreateSsoAppInput, 'displayName' | 'launchUrl' | 'groupIds' | 'settings'>>;

type AppRow = {
  id: string; org_id: string; type: SsoAppType; name: string; display_name: string; launch_url: string;
  external_id: string; settings: string; created_at: number; updated_at: number;
};

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const CLIENT_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

function str(field: string, v: unknown, max: number, opts: { empty?: boolean } = {}): string {
  if (typeof v !== 'string' || v.length > max || /[\0-\x1f]/.test(v) || (!opts.empty && v.length === 0)) {
    throw invalidInput(field, `a string of at most ${max} characters without control characters`);
  }
  return v;
}
function bool(field: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw invalidInput(field, 'true or false');
  return v;
}
function list(field: string, v: unknown, max: number): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > max) throw invalidInput(field, `a list of at most ${max} items`);
  return v;
}

/**
 * An absolute URL the server sends users or assertions to. https only, except loopback http
 * (native apps, RFC 8252 §7.3) and private-use schemes for native apps when `native` is set.
 * No fragments, no credentials in the URL.
 */
export function validateRedirectUrl(field: string, v: unknown, opts: { native?: boolean } = {}): string {
  const s = str(field, v, 2048);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw invalidInput(field, 'an absolute URL');
  }
  if (u.hash || u.username || u.password) throw invalidInput(field, 'no fragment or credentials');
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  const ok = u.protocol === 'https:' || (u.protocol === 'http:' && loopback) || (opts.native && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol));
  if (!ok) throw invalidInput(field, 'https (http only for loopback)');
  return s;
}

function normaliseOidc(input: Record<string, unknown>, prev: OidcAppSettings | null): OidcAppSettings {
  const known = new Set(['clientId', 'clientType', 'redirectUris', 'postLogoutRedirectUris', 'clientCredentials', 'thirdParty', 'scopes', 'groupsClaim']);
  for (const k of Object.keys(input)) if (!known.has(k)) throw invalidInput(`settings.${k.slice(0, 64)}`, 'unknown or read-only setting');
  const merged = { ...(prev ?? {}), ...input } as Record<string, unknown>;
  const clientType = merged.clientType ?? 'confidential';
  if (clientType !== 'public' && clientType !== 'confidential') throw invalidInput('settings.clientType', 'public or confidential');
  if (prev && input.clientId !== undefined && input.clientId !== prev.clientId) throw invalidInput('settings.clientId', 'cannot be changed');
  const clientId = merged.clientId === undefined ? `cairn-${randomToken(12)}` : str('settings.clientId', merged.clientId, 128);
  if (!CLIENT_ID_RE.test(clientId)) throw invalidInput('settings.clientId', 'letters, digits and _ . : -');
  const redirectUris = list('settings.redirectUris', merged.redirectUris, 20).map((u, i) => validateRedirectUrl(`settings.redirectUris.${i}`, u, { native: clientType === 'public' }));
  if (!redirectUris.length) throw invalidInput('settings.redirectUris', 'at least one redirect URI');
  const postLogoutRedirectUris = list('settings.postLogoutRedirectUris', merged.postLogoutRedirectUris, 20).map((u, i) => validateRedirectUrl(`settings.postLogoutRedirectUris.${i}`, u, { native: clientType === 'public' }));
  const clientCredentials = bool('settings.clientCredentials', merged.clientCredentials, false);
  if (clientCredentials && clientType === 'public') throw invalidInput('settings.clientCredentials', 'only for confidential clients');
  const scopes = merged.scopes === undefined ? [...oidcScopes] : list('settings.scopes', merged.scopes, 10).map((s) => {
    if (!oidcScopes.includes(s as OidcScope)) throw invalidInput('settings.scopes', `each one of ${oidcScopes.join(', ')}`);
    return s as OidcScope;
  });
  if (!scopes.includes('openid')) scopes.unshift('openid');
  const groupsClaim = merged.groupsClaim ?? 'names';
  if (groupsClaim !== 'names' && groupsClaim !== 'ids') throw invalidInput('settings.groupsClaim', 'names or ids');
  return {
    clientId, clientType, clientSecretHash: clientType === 'public' ? null : (prev?.clientSecretHash ?? null),
    redirectUris, postLogoutRedirectUris, clientCredentials, thirdParty: bool('settings.thirdParty', merged.thirdParty, false),
    scopes: [...new Set(scopes)], groupsClaim,
  };
}

const ATTR_SOURCE_RE = /^(email|name|username|groups|firstName|lastName|id|custom:[a-zA-Z][a-zA-Z0-9-]{0,63})$/;

function normaliseSaml(input: Record<string, unknown>, prev: SamlAppSettings | null): SamlAppSettings {
  const known = new Set(['entityId', 'acsUrls', 'sloUrl', 'sloBinding', 'certificate', 'wantRequestsSigned', 'nameIdFormat', 'attributes', 'signResponse', 'signAssertion', 'encryptAssertion', 'metadataXml']);
  for (const k of Object.keys(input)) if (!known.has(k)) throw invalidInput(`settings.${k.slice(0, 64)}`, 'unknown or read-only setting');
  const m = { ...(prev ?? {}), ...input } as Record<string, unknown>;
  const entityId = str('settings.entityId', m.entityId, 1024);
  const acsUrls = list('settings.acsUrls', m.acsUrls, 10).map((u, i) => validateRedirectUrl(`settings.acsUrls.${i}`, u));
  if (!acsUrls.length) throw invalidInput('settings.acsUrls', 'at least one ACS URL');
  const sloUrl = m.sloUrl === undefined || m.sloUrl === null || m.sloUrl === '' ? null : validateRedirectUrl('settings.sloUrl', m.sloUrl);
  const sloBinding = (m.sloBinding ?? 'redirect') as SamlAppSettings['sloBinding'];
  if (sloBinding !== 'redirect' && sloBinding !== 'post') throw invalidInput('settings.sloBinding', 'redirect or post');
  let certificate: string | null = null;
  if (m.certificate !== undefined && m.certificate !== null && m.certificate !== '') {
    const pem = String(m.certificate).trim();
    const body = pem.includes('BEGIN CERTIFICATE') ? pem : `-----BEGIN CERTIFICATE-----\n${pem.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----`;
    try {
      new X509Certificate(body);
    } catch {
      throw invalidInput('settings.certificate', 'a PEM or base64 X.509 certificate');
    }
    certificate = body;
  }
  const wantRequestsSigned = bool('settings.wantRequestsSigned', m.wantRequestsSigned, certificate !== null);
  if (wantRequestsSigned && !certificate) throw invalidInput('settings.wantRequestsSigned', 'needs the SP certificate');
  const encryptAssertion = bool('settings.encryptAssertion', m.encryptAssertion, false);
  if (encryptAssertion && !certificate) throw invalidInput('settings.encryptAssertion', 'needs the SP certificate');
  const nameIdFormat = (m.nameIdFormat ?? 'email') as SamlNameIdFormat;
  if (!['email', 'persistent', 'unspecified'].includes(nameIdFormat)) throw invalidInput('settings.nameIdFormat', 'email, persistent or unspecified');
  const attrsIn = m.attributes ?? { email: 'email', name: 'name', groups: 'groups' };
  if (!attrsIn || typeof attrsIn !== 'object' || Array.isArray(attrsIn) || Object.keys(attrsIn).length > 30) throw invalidInput('settings.attributes', 'an object of at most 30 name → source');
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrsIn as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.:/-]{0,255}$/.test(k)) throw invalidInput('settings.attributes', 'attribute names are letters, digits and _ . : / -');
    if (typeof v !== 'string' || !ATTR_SOURCE_RE.test(v)) throw invalidInput(`settings.attributes.${k}`, 'email, name, username, groups, firstName, lastName, id or custom:<key>');
    attributes[k] = v;
  }
  if (m.metadataXml !== undefined && m.metadataXml !== null && (typeof m.metadataXml !== 'string' || m.metadataXml.length > 200_000 || /[\0-\x08\x0b\x0c\x0e-\x1f]/.test(m.metadataXml))) {
    throw invalidInput('settings.metadataXml', 'XML text of at most 200000 characters');
  }
  const metadataXml = (m.metadataXml as string | null | undefined) ?? null;
  return {
    entityId, acsUrls, sloUrl, sloBinding, certificate, wantRequestsSigned, nameIdFormat, attributes,
    signResponse: bool('settings.signResponse', m.signResponse, true), signAssertion: bool('settings.signAssertion', m.signAssertion, true),
    encryptAssertion, metadataXml,
  };
}

/** The service the management API and CLI call; the SSO server reads apps through it. */
export class SsoApps {
  readonly #d: Deps;
  readonly #grants: Grants;
  constructor(deps: Deps, grants: Grants) {
    this.#d = deps;
    this.#grants = grants;
  }

  async #to(r: AppRow): Promise<SsoApp> {
    const groupIds = await this.#grants.groupsOf(r.org_id, { type: 'sso_app', id: r.id });
    return {
      id: r.id, orgId: r.org_id, type: r.type, name: r.name, displayName: r.display_name, launchUrl: r.launch_url,
      settings: JSON.parse(r.settings), groupIds, createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    } as SsoApp;
  }

  async list(orgId: string): Promise<SsoApp[]> {
    const rows = await read(() => this.#d.db('sso_apps').where({ org_id: orgId }).orderBy('name'));
    return Promise.all(rows.map((r: AppRow) => this.#to(r)));
  }

  async get(orgId: string, id: string): Promise<SsoApp> {
    const row = await read(() => this.#d.db('sso_apps').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('app');
    return this.#to(row);
  }

  /** By OIDC client_id or SAML SP entity id. */
  async findByExternalId(type: SsoAppType, externalId: string): Promise<SsoApp | null> {
    if (typeof externalId !== 'string' || externalId.length > 1024) return null;
    const row = await read(() => this.#d.db('sso_apps').where({ type, external_id: externalId }).first());
    return row ? this.#to(row) : null;
  }

  /** Apps a user's groups are granted, for the portal. */
  async assignedTo(orgId: string, groupIds: readonly string[]): Promise<SsoApp[]> {
    if (!groupIds.length) return [];
    const ids = await read(() =>
      this.#d.db('resource_grants').where({ org_id: orgId, resource_type: 'sso_app', role: 'access' }).whereIn('group_id', [...groupIds]).distinct('resource_id'),
    );
    const rows = ids.length ? await read(() => this.#d.db('sso_apps').where({ org_id: orgId }).whereIn('id', ids.map((r: { resource_id: string }) => r.resource_id)).orderBy('display_name')) : [];
    return Promise.all(rows.map((r: AppRow) => this.#to(r)));
  }

  /** Creates the app; a confidential OIDC client's secret is returned here, once. */
  async create(ctx: ActionContext, input: CreateSsoAppInput): Promise<{ app: SsoApp; clientSecret?: string }> {
    if (input.type !== 'oidc' && input.type !== 'saml') throw invalidInput('type', 'oidc or saml');
    if (typeof input.name !== 'string' || !NAME_RE.test(input.name)) throw invalidInput('name', 'lower-case letters, digits, _ . - ; at most 64 characters');
    const displayName = str('displayName', input.displayName ?? input.name, 256);
    const launchUrl = input.launchUrl ? validateRedirectUrl('launchUrl', input.launchUrl) : '';
    if (!input.settings || typeof input.settings !== 'object') throw invalidInput('settings', 'an object');
    let settings: OidcAppSettings | SamlAppSettings;
    let clientSecret: string | undefined;
    if (input.type === 'oidc') {
      const s = normaliseOidc(input.settings, null);
      if (s.clientType === 'confidential') {
        clientSecret = randomToken(32);
        s.clientSecretHash = hashToken(clientSecret);
      }
      settings = s;
    } else {
      settings = normaliseSaml(input.settings, null);
    }
    const externalId = input.type === 'oidc' ? (settings as OidcAppSettings).clientId : (settings as SamlAppSettings).entityId;
    const id = randomUUID();
    const t = now();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('sso_apps').where({ org_id: ctx.orgId, name: input.name }).first()) throw conflict('an app with this name exists', 'name');
      if (await trx('sso_apps').where({ type: input.type, external_id: externalId }).first()) {
        throw conflict(input.type === 'oidc' ? 'client id taken' : 'an app with this entity id exists', input.type === 'oidc' ? 'settings.clientId' : 'settings.entityId');
      }
      await trx('sso_apps').insert({
        id, org_id: ctx.orgId, type: input.type, name: input.name, display_name: displayName, launch_url: launchUrl,
        external_id: externalId, settings: JSON.stringify(settings), created_at: t, updated_at: t,
      });
      await this.#grants.replace(trx, ctx.orgId, { type: 'sso_app', id }, 'access', input.groupIds ?? []);
      return {
        result: undefined,
        audit: { eventType: 'sso_app.created', success: true, resource: { type: 'sso_app', id, name: input.name }, changes: { type: input.type, externalId, groupIds: input.groupIds ?? [] } },
        changes: [{ kind: 'resource', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    const app = await this.get(ctx.orgId, id);
    return clientSecret ? { app, clientSecret } : { app };
  }

  async update(ctx: ActionContext, id: string, patch: UpdateSsoAppInput): Promise<SsoApp> {
    const before = await this.get(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      switch (key) {
        case 'displayName': row.display_name = str(key, value, 256); changes[key] = { from: before.displayName, to: value }; break;
        case 'launchUrl': row.launch_url = value ? validateRedirectUrl(key, value) : ''; changes[key] = { from: before.launchUrl, to: row.launch_url }; break;
        case 'groupIds': if (!Array.isArray(value)) throw invalidInput(key, 'a list of group ids'); changes[key] = { from: before.groupIds, to: value }; break;
        case 'settings': {
          if (!value || typeof value !== 'object') throw invalidInput('settings', 'an object');
          const next = before.type === 'oidc' ? normaliseOidc(value as Record<string, unknown>, before.settings) : normaliseSaml(value as Record<string, unknown>, before.settings);
          if (before.type === 'saml' && (next as SamlAppSettings).entityId !== before.settings.entityId) row.external_id = (next as SamlAppSettings).entityId;
          row.settings = JSON.stringify(next);
          changes.settings = Object.keys(value as object);
          break;
        }
        default: throw invalidInput(key, 'unknown or read-only field');
      }
    }
    await mutate(this.#d, ctx, async (trx) => {
      if (row.external_id && (await trx('sso_apps').where({ type: before.type, external_id: row.external_id }).whereNot({ id }).first())) {
        throw conflict('an app with this entity id exists', 'settings.entityId');
      }
      if (Object.keys(row).length) await trx('sso_apps').where({ id, org_id: ctx.orgId }).update({ ...row, updated_at: now() });
      if (patch.groupIds) await this.#grants.replace(trx, ctx.orgId, { type: 'sso_app', id }, 'access', patch.groupIds);
      return {
        result: undefined,
        audit: { eventType: 'sso_app.updated', success: true, resource: { type: 'sso_app', id, name: before.name }, changes },
        changes: [{ kind: 'resource', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.get(ctx.orgId, id);
  }

  /** New client secret for a confidential OIDC client (shown once); the old one stops working. */
  async rotateClientSecret(ctx: ActionContext, id: string): Promise<string> {
    const app = await this.get(ctx.orgId, id);
    if (app.type !== 'oidc' || app.settings.clientType !== 'confidential') throw invalidInput('type', 'only confidential OIDC clients have a secret');
    const secret = randomToken(32);
    const settings = { ...app.settings, clientSecretHash: hashToken(secret) };
    await mutate(this.#d, ctx, async (trx) => {
      await trx('sso_apps').where({ id }).update({ settings: JSON.stringify(settings), updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'sso_app.secret_rotated', success: true, resource: { type: 'sso_app', id, name: app.name } },
        changes: [{ kind: 'resource', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return secret;
  }

  /** Deletes the app, its grants and every token issued to it. */
  async delete(ctx: ActionContext, id: string): Promise<void> {
    const app = await this.get(ctx.orgId, id);
    const ref: ResourceRef = { type: 'sso_app', id };
    await mutate(this.#d, ctx, async (trx) => {
      await trx('resource_grants').where({ org_id: ctx.orgId, resource_type: ref.type, resource_id: id }).delete();
      await trx('sso_apps').where({ id, org_id: ctx.orgId }).delete();
      if (app.type === 'oidc') await trx('sso_store').where({ client_id: app.settings.clientId }).delete();
      return {
        result: undefined,
        audit: { eventType: 'sso_app.deleted', success: true, resource: { type: 'sso_app', id, name: app.name } },
        changes: [{ kind: 'resource', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }
}

export interface StoredEntry {
  payload: Record<string, unknown>;
  consumedAt: number | null;
  expiresAt: number | null;
}

/** A write waiting for the next group commit; `run` gets the batch's transaction. */
interface QueuedWrite {
  run: (db: Knex) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Storage for oidc-provider's models and Cairn's SSO flows. `consume` is a compare-and-set:
 * of N concurrent consumers exactly one gets `true`.
 *
 * On SQLite, token writes (upsert, consume) are group-committed: every token request writes,
 * each commit is an fsync (synchronous=FULL) that blocks the event loop, and the one connection
 * serialises writers anyway, so writes arriving together share one transaction. Each still
 * resolves only once durable, in arrival order, with its own result (a consume in a batch sees
 * the writes queued before it). PostgreSQL commits in parallel over its pool, off the event
 * loop: there a batch would only serialise them (measured no faster), so writes go straight.
 */
export class SsoStore {
  readonly #d: Deps;
  readonly #groupCommit: boolean;
  readonly #queue: QueuedWrite[] = [];
  #flushing = false;
  constructor(deps: Deps) {
    this.#d = deps;
    this.#groupCommit = !isPostgres(deps.db);
  }

  #write<T>(run: (db: Knex) => Promise<T>): Promise<T> {
    if (!this.#groupCommit) return read(() => run(this.#d.db));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (this.#flushing) return;
      this.#flushing = true;
      // Let the requests already received reach the queue before the first commit.
      setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.splice(0, 500);
      if (batch.length === 1) {
        await this.#settle(batch[0]!);
        continue;
      }
      try {
        const results = await this.#d.db.transaction(async (trx) => {
          const out: unknown[] = [];
          for (const w of batch) out.push(await w.run(trx));
          return out;
        });
        batch.forEach((w, i) => w.resolve(results[i]));
      } catch (err) {
        const e = storeError(err);
        // The store is down (a commit's outcome may be unknown): the batch fails as one.
        if (e.code === 'unavailable') for (const w of batch) w.reject(e);
        // Otherwise nothing was committed: each write alone, so one failure is only its own.
        else for (const w of batch) await this.#settle(w);
      }
    }
    this.#flushing = false;
  }

  /** One write on its own (autocommit). */
  async #settle(w: QueuedWrite): Promise<void> {
    try {
      w.resolve(await w.run(this.#d.db));
    } catch (err) {
      w.reject(storeError(err));
    }
  }

  async upsert(model: string, id: string, payload: Record<string, unknown>, expiresInSeconds: number | undefined, accountId?: string | null): Promise<void> {
    const row = {
      model, id, payload: JSON.stringify(payload),
      grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
      account_id: accountId ?? (typeof payload.accountId === 'string' ? payload.accountId : null),
      client_id: typeof payload.clientId === 'string' ? payload.clientId.slice(0, 128) : null,
      expires_at: expiresInSeconds ? now() + expiresInSeconds * 1000 : null,
    };
    await this.#write((db) => db('sso_store').insert({ ...row, consumed_at: null }).onConflict(['model', 'id']).merge(['payload', 'grant_id', 'uid', 'user_code', 'account_id', 'client_id', 'expires_at']));
  }

  #entry(r: { payload: string; consumed_at: number | null; expires_at: number | null } | undefined): StoredEntry | undefined {
    if (!r) return undefined;
    const expiresAt = r.expires_at === null ? null : Number(r.expires_at);
    if (expiresAt !== null && expiresAt <= now()) return undefined;
    return { payload: JSON.parse(r.payload), consumedAt: r.consumed_at === null ? null : Number(r.consumed_at), expiresAt };
  }

  async find(model: string, id: string): Promise<StoredEntry | undefined> {
    return this.#entry(await read(() => this.#d.db('sso_store').where({ model, id }).first()));
  }
  async findByUid(model: string, uid: string): Promise<StoredEntry | undefined> {
    return this.#entry(await read(() => this.#d.db('sso_store').where({ model, uid }).first()));
  }
  async findByUserCode(model: string, userCode: string): Promise<StoredEntry | undefined> {
    return this.#entry(await read(() => this.#d.db('sso_store').where({ model, user_code: userCode }).first()));
  }

  /** Mark used. True only for the one caller that flipped it. */
  async consume(model: string, id: string): Promise<boolean> {
    const consumedAt = now();
    const n = await this.#write((db) => db('sso_store').where({ model, id }).whereNull('consumed_at').update({ consumed_at: consumedAt }));
    return n === 1;
  }

  /** Read and delete in one step (single-use flow records). */
  async take(model: string, id: string): Promise<StoredEntry | undefined> {
    const found = await this.find(model, id);
    if (!found) return undefined;
    const n = await read(() => this.#d.db('sso_store').where({ model, id }).delete());
    return n === 1 ? found : undefined;
  }

  async destroy(model: string, id: string): Promise<void> {
    await read(() => this.#d.db('sso_store').where({ model, id }).delete());
  }

  /** Every token, code and the grant itself. */
  async revokeByGrantId(grantId: string): Promise<void> {
    await read(() => this.#d.db('sso_store').where({ grant_id: grantId }).orWhere((q) => q.where({ model: 'Grant', id: grantId })).delete());
  }

  /** Everything a user holds: sessions, grants, codes, tokens, Cairn portal sessions (but `except`). */
  async destroyByAccount(accountId: string, except: ReadonlyArray<{ model: string; id: string }> = []): Promise<number> {
    return read(() => {
      const q = this.#d.db('sso_store').where({ account_id: accountId });
      for (const e of except) q.whereNot((w) => w.where({ model: e.model, id: e.id }));
      return q.delete();
    });
  }

  /** Expired rows, in bounded batches. */
  async purgeExpired(limit = 1000): Promise<number> {
    const db = this.#d.db;
    const t = now();
    if (isPostgres(db)) {
      return read(() => db('sso_store').whereIn(['model', 'id'], db('sso_store').select('model', 'id').where('expires_at', '<', t).limit(limit)).delete());
    }
    return read(() => db('sso_store').whereIn(db.raw('rowid') as never, db('sso_store').select(db.raw('rowid')).where('expires_at', '<', t).limit(limit)).delete());
  }

  /** A SAML AuthnRequest id seen for the first time (true) or replayed (false). */
  async rememberSamlRequest(appId: string, requestId: string, expiresAt: number): Promise<boolean> {
    const db = this.#d.db;
    await read(() => db('saml_request_ids').where('expires_at', '<', now()).delete());
    try {
      await db('saml_request_ids').insert({ app_id: appId, request_id: requestId.slice(0, 256), expires_at: expiresAt });
      return true;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '23505' || /UNIQUE constraint failed/.test(e.message ?? '')) return false;
      throw err;
    }
  }
}
