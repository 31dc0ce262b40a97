// Host agent (issue 7): enrolment tokens, enrolled hosts and their signed requests.
// A token is single use, short lived, stored only as SHA-256, bound to an org and optionally to
// the groups that may log in to (and sudo on) the host. Enrolment registers the system, gives
// it a per-host LDAP service account (read_directory only) and records the host's Ed25519
// public key; later requests are signed with that key and accepted once each.
import { createPublicKey, randomUUID, verify as verifySignature, type KeyObject } from 'node:crypto';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { hashToken, randomToken } from './crypto/tokens.js';
import { CairnError, conflict, invalidInput, notFound, toCairnError } from './errors.js';
import type { Groups } from './groups.js';
import type { Policies } from './policies.js';
import type { ServiceAccounts, Systems } from './resources.js';
import type { ActionContext, MfaPolicy, System } from './types.js';

export const ENROLMENT_TOKEN_PREFIX = 'cairn-enrol-';

export interface EnrolmentToken {
  id: string;
  orgId: string;
  description: string;
  loginGroupIds: string[];
  sudoGroupIds: string[];
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  usedBySystemId: string | null;
  revokedAt: Date | null;
}

export interface HostBinding {
  systemId: string;
  orgId: string;
  publicKey: string;
  serviceAccountId: string | null;
  enrolledAt: Date;
  lastSyncAt: Date | null;
  configVersion: string | null;
  /** When an admin asked this host to rotate its LDAP bind password (cleared when it does). */
  rotateRequestedAt: Date | null;
}

/** What the host is told, apart from transport details the API adds (URIs, CA, base DN). */
export interface HostPolicy {
  system: System;
  serviceAccountName: string | null;
  loginGroups: string[];
  sudoGroups: string[];
  mfaForSsh: boolean;
  /** The host must fetch a new bind password: an admin asked, or its last rotation is unconfirmed. */
  rotateCredential: boolean;
}

type TokenRow = {
  id: string; org_id: string; token_hash: string; description: string; login_group_ids: string; sudo_group_ids: string;
  created_by: string | null; created_at: number; expires_at: number; used_at: number | null; used_by_system_id: string | null; revoked_at: number | null;
};
type HostRow = {
  system_id: string; org_id: string; public_key: string; service_account_id: string | null; enrolled_at: number;
  last_request_ts: number; last_sync_at: number | null; config_version: string | null; rotate_requested_at: number | null;
};

const toToken = (r: TokenRow): EnrolmentToken => ({
  id: r.id, orgId: r.org_id, description: r.description, loginGroupIds: JSON.parse(r.login_group_ids) as string[],
  sudoGroupIds: JSON.parse(r.sudo_group_ids) as string[], createdBy: r.created_by, createdAt: new Date(Number(r.created_at)),
  expiresAt: new Date(Number(r.expires_at)), usedAt: toDate(r.used_at), usedBySystemId: r.used_by_system_id, revokedAt: toDate(r.revoked_at),
});
const toHost = (r: HostRow): HostBinding => ({
  systemId: r.system_id, orgId: r.org_id, publicKey: r.public_key, serviceAccountId: r.service_account_id,
  enrolledAt: new Date(Number(r.enrolled_at)), lastSyncAt: toDate(r.last_sync_at), configVersion: r.config_version, rotateRequestedAt: toDate(r.rotate_requested_at),
});

/** An Ed25519 public key given as its raw 32 bytes in base64url; throws invalid_input otherwise. */
export function hostPublicKey(b64url: string): KeyObject {
  if (typeof b64url !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(b64url) || Buffer.from(b64url, 'base64url').length !== 32) {
    throw invalidInput('publicKey', 'an Ed25519 public key: 32 bytes, base64url');
  }
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url }, format: 'jwk' });
  } catch {
    throw invalidInput('publicKey', 'an Ed25519 public key: 32 bytes, base64url');
  }
}

/** Verify an Ed25519 signature (algorithm pinned by the key type; never taken from the request). */
export function verifyHostSignature(key: KeyObject, message: string, signatureB64url: string): boolean {
  if (!/^[A-Za-z0-9_-]{86}$/.test(signatureB64url)) return false;
  const sig = Buffer.from(signatureB64url, 'base64url');
  if (sig.length !== 64 || key.asymmetricKeyType !== 'ed25519') return false;
  try {
    return verifySignature(null, Buffer.from(message, 'utf8'), key, sig);
  } catch {
    return false;
  }
}

/**
 * Whether hosts must ask for password + code at SSH login. Hosts check passwords with LDAP
 * binds, and a bind under an LDAP MFA requirement only succeeds with the code appended, so
 * this reads the LDAP setting and nothing else: host and LDAP policy cannot disagree. The
 * one place the agent's MFA reads the MFA policy. Under `optional` the bind decides per user
 * (enrolled users append their code), so keys keep working and sshd's prompt is unchanged.
 */
export const sshRequiresMfa = (policy: MfaPolicy): boolean => policy.mode.ldap === 'required';

/** The per-host LDAP service account's name, derived from the system id. */
export const hostAccountName = (systemId: string) => `host-${systemId.replace(/-/g, '').slice(0, 20)}`;

const badToken = () => new CairnError('unauthenticated', 'invalid, used or expired enrolment token');

export class HostAgents {
  readonly #d: Deps;
  readonly #systems: Systems;
  readonly #accounts: ServiceAccounts;
  readonly #groups: Groups;
  readonly #policies: Policies;
  readonly #keys = new Map<string, { raw: string; key: KeyObject }>();

  constructor(deps: Deps, parts: { systems: Systems; serviceAccounts: ServiceAccounts; groups: Groups; policies: Policies }) {
    this.#d = deps;
    this.#systems = parts.systems;
    this.#accounts = parts.serviceAccounts;
    this.#groups = parts.groups;
    this.#policies = parts.policies;
  }

  // --- enrolment tokens ---------------------------------------------------------------------

  async createToken(
    ctx: ActionContext,
    input: { description?: string; loginGroupIds?: string[]; sudoGroupIds?: string[]; ttlMinutes?: number },
    limits: { defaultMinutes: number; maxMinutes: number },
  ): Promise<{ token: EnrolmentToken; secret: string }> {
    const ttl = input.ttlMinutes ?? limits.defaultMinutes;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > limits.maxMinutes) throw invalidInput('ttlMinutes', `whole minutes from 1 to ${limits.maxMinutes}`);
    const description = String(input.description ?? '');
    if (description.length > 256) throw invalidInput('description', 'at most 256 characters');
    const login = [...new Set(input.loginGroupIds ?? [])];
    const sudo = [...new Set(input.sudoGroupIds ?? [])];
    const secret = ENROLMENT_TOKEN_PREFIX + randomToken(32);
    const id = randomUUID();
    const t = now();
    await mutate(this.#d, ctx, async (trx) => {
      const wanted = [...new Set([...login, ...sudo])];
      if (wanted.length) {
        const found = await trx('groups').where({ org_id: ctx.orgId }).whereIn('id', wanted).select('id');
        if (found.length !== wanted.length) throw notFound('group');
      }
      await trx('agent_enrolment_tokens').insert({
        id, org_id: ctx.orgId, token_hash: hashToken(secret), description, login_group_ids: JSON.stringify(login), sudo_group_ids: JSON.stringify(sudo),
        created_by: ctx.actor.name ?? ctx.actor.id, created_at: t, expires_at: t + ttl * 60_000,
      });
      return {
        result: undefined,
        audit: { eventType: 'agent.enrolment_token_created', success: true, resource: { type: 'enrolment_token', id, name: description || null }, changes: { loginGroupIds: login, sudoGroupIds: sudo, ttlMinutes: ttl } },
      };
    });
    return { token: await this.getToken(ctx.orgId, id), secret };
  }

  async getToken(orgId: string, id: string): Promise<EnrolmentToken> {
    const row = await read(() => this.#d.db('agent_enrolment_tokens').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('enrolment token');
    return toToken(row);
  }

  async listTokens(orgId: string): Promise<EnrolmentToken[]> {
    const rows = await read(() => this.#d.db('agent_enrolment_tokens').where({ org_id: orgId }).orderBy('created_at', 'desc').limit(1000));
    return rows.map((r: TokenRow) => toToken(r));
  }

  async revokeToken(ctx: ActionContext, id: string): Promise<void> {
    const tok = await this.getToken(ctx.orgId, id);
    if (tok.revokedAt || tok.usedAt) return;
    await mutate(this.#d, ctx, async (trx) => {
      await trx('agent_enrolment_tokens').where({ org_id: ctx.orgId, id }).whereNull('revoked_at').update({ revoked_at: now() });
      return { result: undefined, audit: { eventType: 'agent.enrolment_token_revoked', success: true, resource: { type: 'enrolment_token', id, name: tok.description || null } } };
    });
  }

  // --- enrolment ----------------------------------------------------------------------------

  /**
   * Enrol a host. The caller has verified that the request is signed with `publicKey`
   * (proof of possession). The token is consumed first (atomically: of two racing enrolments
   * one wins); when a later step fails, what was created is removed and the token re-armed.
   */
  async enroll(
    ctx: ActionContext,
    input: { token: string; publicKey: string; hostname: string; os: string; agentVersion: string },
  ): Promise<{ system: System; binding: HostBinding; serviceAccountName: string; password: string }> {
    hostPublicKey(input.publicKey);
    const fail = async (reason: string, err: CairnError = badToken()) => {
      await this.#d.audit.record(ctx, { eventType: 'agent.enrolled', success: false, reason, resource: { type: 'system', id: null, name: String(input.hostname ?? '').slice(0, 253) } });
      return err;
    };
    if (typeof input.token !== 'string' || !input.token.startsWith(ENROLMENT_TOKEN_PREFIX) || input.token.length > 128) throw await fail('malformed_token');
    const row = (await read(() => this.#d.db('agent_enrolment_tokens').where({ token_hash: hashToken(input.token) }).first())) as TokenRow | undefined;
    const t = now();
    if (!row || row.org_id !== ctx.orgId) throw await fail('unknown_token');
    if (row.revoked_at !== null) throw await fail('revoked_token');
    if (row.used_at !== null) throw await fail('used_token');
    if (Number(row.expires_at) <= t) throw await fail('expired_token');
    const hostname = String(input.hostname ?? '').toLowerCase();
    const existing = await read(() => this.#d.db('systems').where({ org_id: ctx.orgId, hostname }).first());
    if (existing) {
      const bound = await read(() => this.#d.db('agent_hosts').where({ system_id: existing.id }).first());
      if (bound || existing.state !== 'pending') throw await fail('hostname_taken', conflict('a system with this hostname is already enrolled; unenroll it or delete it first', 'hostname'));
    }
    const consumed = await read(() =>
      this.#d.db('agent_enrolment_tokens').where({ id: row.id, used_at: null, revoked_at: null }).where('expires_at', '>', t).update({ used_at: t }),
    );
    if (consumed !== 1) throw await fail('used_token');

    const tok = toToken(row);
    const actx: ActionContext = { ...ctx, actor: { type: 'system', id: null, name: `agent:${hostname}` } };
    let created: System | null = null;
    let adopted: System | null = null;
    let accountId: string | null = null;
    try {
      const groups = { ...(tok.loginGroupIds.length ? { loginGroupIds: tok.loginGroupIds } : {}), ...(tok.sudoGroupIds.length ? { sudoGroupIds: tok.sudoGroupIds } : {}) };
      let system: System;
      if (existing) {
        adopted = await this.#systems.get(ctx.orgId, existing.id);
        system = await this.#systems.update(actx, existing.id, { os: input.os, state: 'enrolled', ...groups });
      } else {
        system = created = await this.#systems.create(actx, { hostname, os: input.os, state: 'enrolled', ...groups });
      }
      const name = hostAccountName(system.id);
      const sa = await this.#accounts.create(actx, { name, description: `LDAP credential of host ${hostname} (cairn-agent)`, permissions: ['read_directory'] });
      accountId = sa.account.id;
      await mutate(this.#d, actx, async (trx) => {
        await trx('agent_hosts').insert({
          system_id: system.id, org_id: ctx.orgId, public_key: input.publicKey, service_account_id: sa.account.id, enrolled_at: t, last_request_ts: 0,
        });
        await trx('agent_enrolment_tokens').where({ id: row.id }).update({ used_by_system_id: system.id });
        return {
          result: undefined,
          audit: {
            eventType: 'agent.enrolled', success: true, resource: { type: 'system', id: system.id, name: hostname },
            changes: { tokenId: row.id, serviceAccount: name, os: String(input.os).slice(0, 128), agentVersion: String(input.agentVersion).slice(0, 64), adopted: !!existing },
          },
        };
      });
      await this.#systems.touch(ctx.orgId, system.id, String(input.agentVersion).slice(0, 64));
      return { system: await this.#systems.get(ctx.orgId, system.id), binding: (await this.binding(ctx.orgId, system.id))!, serviceAccountName: name, password: sa.password };
    } catch (err) {
      // Undo in reverse; each undo is itself audited by the service that performs it.
      const undo = async (what: () => Promise<unknown>) => {
        try {
          await what();
        } catch (e) {
          this.#d.log.error({ err: toCairnError(e).message }, 'enrolment rollback step failed');
        }
      };
      if (accountId) await undo(() => this.#accounts.delete(actx, accountId!));
      if (created) await undo(() => this.#systems.delete(actx, created!.id));
      if (adopted) await undo(() => this.#systems.update(actx, adopted!.id, { state: adopted!.state, loginGroupIds: adopted!.loginGroupIds, sudoGroupIds: adopted!.sudoGroupIds }));
      await undo(() => this.#d.db('agent_enrolment_tokens').where({ id: row.id }).update({ used_at: null, used_by_system_id: null }));
      const e = toCairnError(err);
      await this.#d.audit.record(ctx, { eventType: 'agent.enrolled', success: false, reason: e.code, resource: { type: 'system', id: null, name: hostname.slice(0, 253) } });
      throw e;
    }
  }

  // --- enrolled hosts -----------------------------------------------------------------------

  async binding(orgId: string, systemId: string): Promise<HostBinding | null> {
    const row = await read(() => this.#d.db('agent_hosts').where({ org_id: orgId, system_id: systemId }).first());
    return row ? toHost(row) : null;
  }

  /**
   * Authenticate a signed host request: the timestamp within `skewMs` of now, the signature
   * made by the host's key, and the timestamp newer than every one accepted before from this
   * host (a captured request cannot be played again; one conditional UPDATE decides, so this
   * holds across instances sharing the database). Returns the binding, or a reason.
   */
  async acceptSigned(
    orgId: string, systemId: string, timestampMs: number, message: string, signature: string, skewMs: number,
  ): Promise<{ ok: true; binding: HostBinding } | { ok: false; reason: string }> {
    const t = now();
    if (!Number.isSafeInteger(timestampMs) || Math.abs(t - timestampMs) > skewMs) return { ok: false, reason: 'clock_skew' };
    if (!/^[0-9a-f-]{36}$/.test(systemId)) return { ok: false, reason: 'unknown_host' };
    const binding = await this.binding(orgId, systemId);
    if (!binding) return { ok: false, reason: 'unknown_host' };
    let cached = this.#keys.get(systemId);
    if (!cached || cached.raw !== binding.publicKey) {
      cached = { raw: binding.publicKey, key: hostPublicKey(binding.publicKey) };
      if (this.#keys.size > 10_000) this.#keys.clear();
      this.#keys.set(systemId, cached);
    }
    if (!verifyHostSignature(cached.key, message, signature)) return { ok: false, reason: 'bad_signature' };
    const n = await read(() => this.#d.db('agent_hosts').where({ system_id: systemId }).where('last_request_ts', '<', timestampMs).update({ last_request_ts: timestampMs }));
    if (n !== 1) return { ok: false, reason: 'replayed' };
    return { ok: true, binding };
  }

  /** What the host must apply: its groups by name, its service account, MFA for SSH. */
  async policy(orgId: string, systemId: string): Promise<HostPolicy> {
    const system = await this.#systems.get(orgId, systemId);
    const binding = await this.binding(orgId, systemId);
    const names = async (ids: string[]) => (await Promise.all(ids.map((id) => this.#groups.get(orgId, id).then((g) => g.name, () => null)))).filter((n): n is string => !!n).sort();
    const account = binding?.serviceAccountId
      ? ((await read(() => this.#d.db('service_accounts').where({ org_id: orgId, id: binding.serviceAccountId }).first('name', 'state', 'previous_password_hash'))) as
        { name: string; state: string; previous_password_hash: string | null } | undefined)
      : undefined;
    const mfa = await this.#policies.mfaPolicy(orgId);
    return {
      system, serviceAccountName: account?.state === 'active' ? account.name : null,
      loginGroups: await names(system.loginGroupIds), sudoGroups: await names(system.sudoGroupIds), mfaForSsh: sshRequiresMfa(mfa),
      // A disabled host cannot rotate (its account is disabled); it is asked again once enabled.
      rotateCredential: account?.state === 'active' && (binding!.rotateRequestedAt !== null || account.previous_password_hash !== null),
    };
  }

  // --- bind-password rotation ---------------------------------------------------------------
  //
  // An admin asks (requestRotation); the host sees rotateCredential in its config and fetches a
  // new password over its signed channel (rotateCredential); until the host reports in a
  // heartbeat that sssd.conf holds the new one (recordSync), or overlapMs passes, the previous
  // password still binds, so the host never loses LDAP mid-rotation. A host that fetched a
  // password and lost it (crash before saving) is still told to rotate, and fetches another:
  // the previous password kept is always the last one the host confirmed.

  async requestRotation(ctx: ActionContext, systemId: string): Promise<void> {
    const binding = await this.binding(ctx.orgId, systemId);
    if (!binding?.serviceAccountId) throw notFound('enrolled host');
    const system = await this.#systems.get(ctx.orgId, systemId);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('agent_hosts').where({ system_id: systemId }).update({ rotate_requested_at: now() });
      return { result: undefined, audit: { eventType: 'agent.credential_rotation_requested', success: true, resource: { type: 'system', id: systemId, name: system.hostname } } };
    });
  }

  /** A new bind password for the host's service account, returned once (to the host only). */
  async rotateCredential(ctx: ActionContext, systemId: string, overlapMs: number): Promise<string> {
    const binding = await this.binding(ctx.orgId, systemId);
    if (!binding?.serviceAccountId) throw notFound('enrolled host');
    const system = await this.#systems.get(ctx.orgId, systemId);
    const password = randomToken(24);
    const hash = await this.#d.hasher.hash(password);
    return mutate(this.#d, ctx, async (trx) => {
      const account = (await trx('service_accounts').where({ org_id: ctx.orgId, id: binding.serviceAccountId }).first()) as
        { id: string; name: string; state: string; password_hash: string; previous_password_hash: string | null } | undefined;
      if (!account) throw notFound('service account');
      if (account.state !== 'active') throw new CairnError('conflict', 'the host is disabled; enable it before rotating its credential');
      // An unconfirmed earlier rotation keeps the password the host last confirmed.
      const confirmed = account.previous_password_hash ?? account.password_hash;
      await trx('service_accounts').where({ id: account.id }).update({ password_hash: hash, previous_password_hash: confirmed, previous_expires_at: now() + overlapMs, updated_at: now() });
      await trx('agent_hosts').where({ system_id: systemId }).update({ rotate_requested_at: null });
      return {
        result: password,
        audit: {
          eventType: 'agent.credential_rotated', success: true, resource: { type: 'system', id: systemId, name: system.hostname },
          changes: { serviceAccount: account.name, previousValidSeconds: Math.round(overlapMs / 1000), requested: binding.rotateRequestedAt !== null },
        },
        changes: [{ kind: 'service_account', action: 'updated', orgId: ctx.orgId, id: account.id }],
      };
    });
  }

  /**
   * A sync report (heartbeat): contact time, agent version, applied config; audited. With
   * `credentialApplied` the host confirms that SSSD now uses its newest bind password: the
   * previous one stops binding (SSSD was restarted, so none of the host's sessions uses it).
   */
  async recordSync(
    ctx: ActionContext, systemId: string,
    report: { agentVersion: string; configVersion: string | null; changedFiles: string[]; ok: boolean; error?: string | null; credentialApplied?: boolean },
  ): Promise<void> {
    const system = await this.#systems.get(ctx.orgId, systemId);
    const binding = await this.binding(ctx.orgId, systemId);
    await this.#systems.touch(ctx.orgId, systemId, report.agentVersion.slice(0, 64));
    const confirm = report.ok && report.credentialApplied === true && !!binding?.serviceAccountId;
    await mutate(this.#d, ctx, async (trx) => {
      await trx('agent_hosts').where({ system_id: systemId }).update({ last_sync_at: now(), config_version: report.configVersion });
      const confirmed = confirm
        ? await trx('service_accounts').where({ id: binding!.serviceAccountId }).whereNotNull('previous_password_hash').update({ previous_password_hash: null, previous_expires_at: null, updated_at: now() })
        : 0;
      const changes = {
        ...(report.changedFiles.length ? { changedFiles: report.changedFiles.slice(0, 50), configVersion: report.configVersion } : {}),
        ...(confirmed ? { credentialConfirmed: true } : {}),
      };
      return {
        result: undefined,
        audit: {
          eventType: 'agent.synced', success: report.ok, reason: report.ok ? null : String(report.error ?? 'apply_failed').slice(0, 200),
          resource: { type: 'system', id: systemId, name: system.hostname },
          changes: Object.keys(changes).length ? changes : null,
        },
        // 'updated', not 'credentials': the latter would also end the sessions SSSD just bound with the new password.
        changes: confirmed ? [{ kind: 'service_account', action: 'updated', orgId: ctx.orgId, id: binding!.serviceAccountId! }] : [],
      };
    });
  }

  /** Deregistration: the host's LDAP credential is deleted, its key forgotten, the system removed. */
  async deregister(ctx: ActionContext, systemId: string): Promise<void> {
    const binding = await this.binding(ctx.orgId, systemId);
    if (!binding) throw notFound('host');
    const system = await this.#systems.get(ctx.orgId, systemId);
    if (binding.serviceAccountId) {
      await this.#accounts.delete(ctx, binding.serviceAccountId).catch((e: unknown) => {
        if (toCairnError(e).code !== 'not_found') throw e;
      });
    }
    await mutate(this.#d, ctx, async (trx) => {
      await trx('agent_hosts').where({ system_id: systemId }).delete();
      return { result: undefined, audit: { eventType: 'agent.deregistered', success: true, resource: { type: 'system', id: systemId, name: system.hostname } } };
    });
    await this.#systems.delete(ctx, systemId);
  }
}
