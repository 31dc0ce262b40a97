// The core's only door. Front-ends get a Directory; they never see SQL or knex.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { Admins } from './admins.js';
import { AuditLog } from './audit/audit.js';
import { Authenticator } from './auth/authenticate.js';
import { mutate, read, type Deps } from './context.js';
import { SecretBox } from './crypto/encryption.js';
import { loadMasterKey } from './crypto/master-key.js';
import { PasswordHasher } from './crypto/passwords.js';
import { randomToken } from './crypto/tokens.js';
import { ChangeFeed } from './feed.js';
import { followStore } from './feed-follow.js';
import { Groups } from './groups.js';
import type { Logger } from './log.js';
import { Policies } from './policies.js';
import { RadiusRepository } from './radius.js';
import { Grants, ServiceAccounts, Systems } from './resources.js';
import { SsoApps, SsoStore } from './sso.js';
import { migrate, openDb, pendingMigrations, storeError, type Db } from './store/knex.js';
import type { ActionContext, Principal } from './types.js';
import { Users } from './users.js';
import { SecurityKeys } from './webauthn.js';

export * from './errors.js';
export * from './types.js';
export type { AuthRequest, AuthResult, Credential, DenyReason, ChallengeKind, MfaType, WebAuthnAnswer } from './auth/authenticate.js';
export type { SecurityKey, WebAuthnSite } from './webauthn.js';
export { secondFactorNeeded } from './auth/authenticate.js';
export type { Change, ChangeKind, ChangeAction } from './feed.js';
export type { Admin, AdminRole } from './admins.js';
export { adminRoles } from './admins.js';
export type { SsoApp, SsoAppType, OidcAppSettings, SamlAppSettings, SamlNameIdFormat, CreateSsoAppInput, UpdateSsoAppInput, StoredEntry, OidcScope } from './sso.js';
export { oidcScopes, validateRedirectUrl } from './sso.js';
export type { RadiusNetwork, RadiusClient, RadiusMfaMode, EapMethod, GroupReply } from './radius.js';
export { eapMethods } from './radius.js';
export { eventToJson } from './audit/audit.js';
export { passwordProblems, ipInCidrs, normaliseIp, defaultPasswordPolicy, defaultMfaPolicy, defaultSsoSessionPolicy, ssoSessionPolicyLimits } from './policies.js';
export { parseSshKey } from './crypto/ssh.js';
export { totpCode } from './crypto/totp.js';
export { createLogger, redactPaths, scrubError, type Logger } from './log.js';
export { constantTimeEqual, randomToken, hashToken, hmacHex } from './crypto/tokens.js';

export interface Org {
  id: string;
  name: string;
  domain: string;
}

export interface OpenOptions {
  config: Readonly<Config>;
  log: Logger;
  /** Run pending migrations on open (serve, tests); `cairn migrate` does it explicitly. */
  migrate?: boolean;
}

export class Directory {
  readonly users: Users;
  readonly groups: Groups;
  readonly systems: Systems;
  readonly serviceAccounts: ServiceAccounts;
  readonly grants: Grants;
  readonly policies: Policies;
  readonly admins: Admins;
  readonly audit: AuditLog;
  readonly feed: ChangeFeed;
  readonly auth: Authenticator;
  readonly securityKeys: SecurityKeys;
  /** RADIUS networks and NAS clients (core/radius.ts). */
  readonly radius: RadiusRepository;
  /** SSO apps (OIDC clients, SAML SPs) and the SSO token/session store (core/sso.ts). */
  readonly sso: { apps: SsoApps; store: SsoStore };
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly #deps: Deps;

  constructor(deps: Deps) {
    this.#deps = deps;
    this.config = deps.config;
    this.log = deps.log;
    this.audit = deps.audit;
    this.feed = deps.feed;
    this.policies = new Policies(deps);
    this.users = new Users(deps, this.policies);
    this.groups = new Groups(deps);
    this.grants = new Grants(deps);
    this.systems = new Systems(deps, this.grants);
    this.serviceAccounts = new ServiceAccounts(deps);
    this.admins = new Admins(deps);
    this.securityKeys = new SecurityKeys(deps);
    this.auth = new Authenticator(deps, this.users, this.policies, this.grants, this.securityKeys);
    this.radius = new RadiusRepository(deps, this.grants);
    this.sso = { apps: new SsoApps(deps, this.grants), store: new SsoStore(deps) };
  }

  /** The one authentication decision (see core/auth/authenticate.ts). */
  authenticate(req: Parameters<Authenticator['authenticate']>[0]) {
    return this.auth.authenticate(req);
  }

  /** Seal / unseal a secret the server must read back (signing keys, RADIUS secrets, ...). */
  seal(plain: Buffer | string, aad: string): string {
    return this.#deps.box.encrypt(plain, aad);
  }
  unseal(sealed: string, aad: string): Buffer {
    return this.#deps.box.decrypt(sealed, aad);
  }

  async getSealedSetting(orgId: string, name: string): Promise<Buffer | null> {
    const row = await read(() => this.#deps.db('sealed_settings').where({ org_id: orgId, name }).first());
    return row ? this.unseal(row.value, `setting:${orgId}:${name}`) : null;
  }

  async putSealedSetting(ctx: ActionContext, name: string, value: Buffer | string): Promise<void> {
    const sealed = this.seal(value, `setting:${ctx.orgId}:${name}`);
    await mutate(this.#deps, ctx, async (trx) => {
      await trx('sealed_settings').insert({ org_id: ctx.orgId, name, value: sealed, updated_at: Date.now() }).onConflict(['org_id', 'name']).merge(['value', 'updated_at']);
      return { result: undefined, audit: { eventType: 'setting.updated', success: true, resource: { type: 'setting', id: name, name } } };
    });
  }

  async orgByName(name: string): Promise<Org | null> {
    const row = await read(() => this.#deps.db('orgs').where({ name }).first());
    return row ? { id: row.id, name: row.name, domain: row.domain } : null;
  }

  /** The org every front-end serves until several orgs are configured. */
  async defaultOrg(): Promise<Org> {
    const org = await this.orgByName(this.config.org.name);
    if (!org) throw storeError(new Error('default org missing: run cairn migrate'));
    return org;
  }

  /**
   * Publish changes that other processes make (the CLI, other instances) on this process's
   * feed too. Servers call it; one-shot commands do not need it. Returns the stop function.
   */
  followOutsideChanges(): () => void {
    return followStore(this.#deps.db, this.audit, this.feed, this.config.database.followMs, this.log);
  }

  /** Database reachable and schema current: what /readyz reports. */
  async ready(): Promise<{ ok: boolean; pending: string[]; error?: string }> {
    try {
      await this.#deps.db.raw('select 1');
      const pending = await pendingMigrations(this.#deps.db);
      return { ok: pending.length === 0, pending };
    } catch (err) {
      return { ok: false, pending: [], error: storeError(err).message };
    }
  }

  /** Front-end modules that own tables (OIDC adapter, API keys, ...) reach the store here. */
  get store(): Db {
    return this.#deps.db;
  }

  /** Internal wiring for core modules added by front-end issues (admins, API keys). */
  get deps(): Deps {
    return this.#deps;
  }

  async close(): Promise<void> {
    await this.#deps.db.destroy();
  }
}

export function systemContext(orgId: string, service: string, actor: Principal = { type: 'system', id: null, name: 'cairn' }): ActionContext {
  return { orgId, actor, clientIp: null, service };
}

export async function openDirectory(opts: OpenOptions): Promise<Directory> {
  const { config, log } = opts;
  const url = config.database.url || `${config.dataDir}/cairn.sqlite`;
  const db = openDb({ url, poolMax: config.database.poolMax, timeoutMs: config.database.timeoutMs });
  try {
    if (opts.migrate) {
      const applied = await migrate(db);
      if (applied.length) log.info({ applied }, 'database migrated');
    }
  } catch (err) {
    await db.destroy();
    throw storeError(err);
  }
  const box = new SecretBox(loadMasterKey(config, log));
  const deps: Deps = {
    db, config, log, box,
    audit: new AuditLog(db),
    feed: new ChangeFeed(),
    hasher: new PasswordHasher(config.passwords),
  };
  return new Directory(deps);
}

/**
 * First start: the default org and an initial administrator. The administrator's password is
 * returned (to be printed once) only when it was generated here.
 */
export async function bootstrap(dir: Directory): Promise<{ org: Org; admin?: { username: string; password: string | null } }> {
  const cfg = dir.config;
  let org = await dir.orgByName(cfg.org.name);
  if (!org) {
    const id = randomUUID();
    try {
      await dir.store.transaction(async (trx) => {
        await trx('orgs').insert({ id, name: cfg.org.name, domain: cfg.org.domain, created_at: Date.now() });
        const after = await dir.audit.append(trx, systemContext(id, 'core'), { eventType: 'org.created', success: true, resource: { type: 'org', id, name: cfg.org.name } });
        after();
      });
    } catch (err) {
      // Another instance created it first.
      if (storeError(err).code !== 'conflict') throw storeError(err);
    }
    org = (await dir.orgByName(cfg.org.name))!;
  }
  if ((await dir.admins.count(org.id)) > 0) return { org };
  const given = cfg.bootstrap.adminPassword;
  const password = given || randomToken(18);
  await dir.admins.create(systemContext(org.id, 'core'), {
    username: cfg.bootstrap.adminUsername, role: 'administrator', password, mustChangePassword: !given,
  });
  return { org, admin: { username: cfg.bootstrap.adminUsername, password: given ? null : password } };
}

// Management API (issue 3): admins' sessions, API keys, permissions, posture.
export { ApiKeys, type ApiKey, type KeyPrincipal, type CreateKeyInput } from './api-keys.js';
export { SESSION_PREFIX, type AdminSession, type LoginResult } from './admins.js';
export { permissions, rolePermissions, isPermission, roleCovers, type Permission } from './permissions.js';
export { postureReport, type PostureCheck, type PostureReport } from './posture.js';
export { createOrg } from './orgs.js';
export { userSortColumns } from './users.js';
export { groupSortColumns } from './groups.js';
export { systemSortColumns } from './resources.js';
export type { ListOrder } from './store/keyset.js';
// Host agent (issue 7): enrolment tokens, enrolled hosts, signed host requests.
export { HostAgents, ENROLMENT_TOKEN_PREFIX, hostPublicKey, verifyHostSignature, type EnrolmentToken, type HostBinding, type HostPolicy } from './enrolment.js';
