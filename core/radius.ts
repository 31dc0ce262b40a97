// RADIUS networks and clients (NAS): the repository and service the RADIUS front-end and,
// later, the management API call. A network groups NAS clients and is bound to user groups
// through dir.grants (resource type 'radius_network'); a client is a source address (IP or
// CIDR) with a shared secret sealed at rest (it is needed in clear for the HMACs).
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { mutate, now, read, type Deps } from './context.js';
import { ntHash } from './crypto/md4.js';
import { conflict, invalidInput, notFound } from './errors.js';
import { parseCidr } from './policies.js';
import type { Grants } from './resources.js';
import type { ActionContext, ResourceRef } from './types.js';

export type RadiusMfaMode = 'appended' | 'challenge';
export type EapMethod = 'ttls' | 'peap' | 'tls';
export const eapMethods: readonly EapMethod[] = ['ttls', 'peap', 'tls'];

/** Reply attributes for members of one group (the first matching entry wins per attribute). */
export interface GroupReply {
  groupId: string;
  /** VLAN id: Tunnel-Type=VLAN, Tunnel-Medium-Type=IEEE-802, Tunnel-Private-Group-Id=<vlan>. */
  vlan?: number;
  sessionTimeout?: number;
  class?: string;
  replyMessage?: string;
}

export interface RadiusNetwork {
  id: string;
  orgId: string;
  name: string;
  mfaMode: RadiusMfaMode;
  groupIds: string[];
  groupReplies: GroupReply[];
  eapMethods: EapMethod[];
  createdAt: Date;
  updatedAt: Date;
}

export interface RadiusClient {
  id: string;
  orgId: string;
  networkId: string;
  name: string;
  /** IP or CIDR the NAS sends from. */
  address: string;
  legacy: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** A client with its secret in clear: only for the RADIUS server's in-memory table. */
export interface RadiusClientWithSecret extends RadiusClient {
  secret: Buffer;
}

export interface RadiusSettings {
  /** Keep a sealed NT hash (needed by PEAP-MSCHAPv2) whenever a password is set. */
  storeNtHash: boolean;
}
export const defaultRadiusSettings: RadiusSettings = { storeNtHash: false };

type NetworkRow = { id: string; org_id: string; name: string; mfa_mode: string; group_replies: string; eap_methods: string; created_at: number; updated_at: number };
type ClientRow = { id: string; org_id: string; network_id: string; name: string; address: string; secret_enc: string; legacy: boolean | number; created_at: number; updated_at: number };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;
const ref = (id: string): ResourceRef => ({ type: 'radius_network', id });
export const radiusSecretAad = (clientId: string) => `radius-client:${clientId}`;

function validateName(v: unknown): string {
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw invalidInput('name', 'letters, digits, space, _ . -; at most 64 characters');
  return v;
}
function validateMfaMode(v: unknown): RadiusMfaMode {
  if (v !== 'appended' && v !== 'challenge') throw invalidInput('mfaMode', "'appended' or 'challenge'");
  return v;
}
function validateEapMethods(v: unknown): EapMethod[] {
  if (!Array.isArray(v) || v.some((m) => !eapMethods.includes(m as EapMethod))) throw invalidInput('eapMethods', `a list of ${eapMethods.join(', ')}`);
  return [...new Set(v as EapMethod[])];
}
/** Printable text for a RADIUS string attribute (1..253 bytes). */
function validateText(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 253 || /[\0-\x1f\x7f]/.test(v)) throw invalidInput(field, 'printable text, 1..253 bytes');
  return v;
}
function validateReplies(v: unknown): GroupReply[] {
  if (!Array.isArray(v) || v.length > 100) throw invalidInput('groupReplies', 'a list of at most 100 entries');
  return v.map((e: unknown, i) => {
    if (!e || typeof e !== 'object') throw invalidInput(`groupReplies[${i}]`, 'an object');
    const r = e as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (!['groupId', 'vlan', 'sessionTimeout', 'class', 'replyMessage'].includes(k)) throw invalidInput(`groupReplies[${i}].${k}`, 'unknown field');
    }
    if (typeof r.groupId !== 'string') throw invalidInput(`groupReplies[${i}].groupId`, 'a group id');
    const out: GroupReply = { groupId: r.groupId };
    if (r.vlan !== undefined) {
      if (!Number.isInteger(r.vlan) || (r.vlan as number) < 1 || (r.vlan as number) > 4094) throw invalidInput(`groupReplies[${i}].vlan`, '1..4094');
      out.vlan = r.vlan as number;
    }
    if (r.sessionTimeout !== undefined) {
      if (!Number.isInteger(r.sessionTimeout) || (r.sessionTimeout as number) < 1 || (r.sessionTimeout as number) > 2 ** 31) throw invalidInput(`groupReplies[${i}].sessionTimeout`, 'seconds, ≥ 1');
      out.sessionTimeout = r.sessionTimeout as number;
    }
    if (r.class !== undefined) out.class = validateText(`groupReplies[${i}].class`, r.class);
    if (r.replyMessage !== undefined) out.replyMessage = validateText(`groupReplies[${i}].replyMessage`, r.replyMessage);
    return out;
  });
}
function validateAddress(v: unknown): string {
  if (typeof v !== 'string' || v.length > 64) throw invalidInput('address', 'an IP address or CIDR');
  const [addr, bits] = parseCidr(v);
  if (addr.kind() === 'ipv4' && bits < 8) throw invalidInput('address', 'an IPv4 prefix of /8 or longer');
  if (addr.kind() === 'ipv6' && bits < 32) throw invalidInput('address', 'an IPv6 prefix of /32 or longer');
  return v.includes('/') ? `${addr.toString()}/${bits}` : addr.toString();
}
/** Shared secrets: 16..128 bytes of printable ASCII (what NAS configuration screens accept). */
function validateSecret(v: unknown): string {
  if (typeof v !== 'string' || v.length < 16 || v.length > 128 || !/^[\x21-\x7e]+$/.test(v)) {
    throw invalidInput('secret', '16..128 printable ASCII characters without spaces');
  }
  return v;
}

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * 32 letters and digits (190 bits): a secret an admin pastes into a NAS's web form or a shell
 * command. base64url's '-' and '_' are refused by some NAS forms, and a leading '-' reads as an
 * option to radclient and radtest.
 */
function generateSecret(): string {
  let out = '';
  while (out.length < 32) {
    for (const b of randomBytes(40)) if (b < 248 && out.length < 32) out += SECRET_ALPHABET[b % 62]; // 248 = 4 × 62: no modulo bias
  }
  return out;
}

export class RadiusRepository {
  readonly #d: Deps;
  readonly #grants: Grants;

  constructor(deps: Deps, grants: Grants) {
    this.#d = deps;
    this.#grants = grants;
  }

  // --- settings ---------------------------------------------------------------------------

  async settings(orgId: string): Promise<RadiusSettings> {
    const row = await read(() => this.#d.db('policies').where({ org_id: orgId, kind: 'radius' }).first());
    return row ? { ...defaultRadiusSettings, ...(JSON.parse(row.value) as Partial<RadiusSettings>) } : { ...defaultRadiusSettings };
  }

  /**
   * Turning storeNtHash on only affects passwords set from then on (users must change their
   * password before PEAP-MSCHAPv2 works for them); turning it off erases every stored NT hash.
   */
  async setSettings(ctx: ActionContext, patch: Partial<RadiusSettings>): Promise<RadiusSettings> {
    const before = await this.settings(ctx.orgId);
    const after = { ...before };
    for (const [k, v] of Object.entries(patch)) {
      if (k !== 'storeNtHash' || typeof v !== 'boolean') throw invalidInput(k, 'unknown field or not a boolean');
      after.storeNtHash = v;
    }
    await mutate(this.#d, ctx, async (trx) => {
      await trx('policies').insert({ org_id: ctx.orgId, kind: 'radius', value: JSON.stringify(after), updated_at: now() }).onConflict(['org_id', 'kind']).merge(['value', 'updated_at']);
      let erased = 0;
      if (!after.storeNtHash) erased = await trx('users').where({ org_id: ctx.orgId }).whereNotNull('nt_hash_enc').update({ nt_hash_enc: null });
      return {
        result: undefined,
        audit: { eventType: 'policy.radius.updated', success: true, resource: { type: 'policy', id: 'radius', name: 'radius' }, changes: { storeNtHash: { from: before.storeNtHash, to: after.storeNtHash }, ...(erased ? { ntHashesErased: erased } : {}) } },
        changes: [{ kind: 'policy', action: 'updated', orgId: ctx.orgId, id: 'radius' }],
      };
    });
    return after;
  }

  // --- networks ---------------------------------------------------------------------------

  async #toNetwork(r: NetworkRow): Promise<RadiusNetwork> {
    return {
      id: r.id, orgId: r.org_id, name: r.name, mfaMode: r.mfa_mode as RadiusMfaMode,
      groupIds: await this.#grants.groupsOf(r.org_id, ref(r.id)),
      groupReplies: JSON.parse(r.group_replies) as GroupReply[], eapMethods: JSON.parse(r.eap_methods) as EapMethod[],
      createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    };
  }

  async listNetworks(orgId: string): Promise<RadiusNetwork[]> {
    const rows = await read(() => this.#d.db('radius_networks').where({ org_id: orgId }).orderBy('name'));
    return Promise.all((rows as NetworkRow[]).map((r) => this.#toNetwork(r)));
  }

  async getNetwork(orgId: string, id: string): Promise<RadiusNetwork> {
    const row = await read(() => this.#d.db('radius_networks').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('RADIUS network');
    return this.#toNetwork(row);
  }

  /** A reply may only name a group of the network's own org. */
  async #checkReplyGroups(trx: Knex.Transaction, orgId: string, replies: GroupReply[]): Promise<void> {
    const ids = [...new Set(replies.map((r) => r.groupId))];
    if (!ids.length) return;
    const found = new Set((await trx('groups').where({ org_id: orgId }).whereIn('id', ids).select('id')).map((g: { id: string }) => g.id));
    const i = replies.findIndex((r) => !found.has(r.groupId));
    if (i >= 0) throw invalidInput(`groupReplies[${i}].groupId`, 'a group of this organization');
  }

  async createNetwork(ctx: ActionContext, input: { name: string; mfaMode?: RadiusMfaMode; groupIds?: string[]; groupReplies?: GroupReply[]; eapMethods?: EapMethod[] }): Promise<RadiusNetwork> {
    const name = validateName(input.name);
    const mfaMode = validateMfaMode(input.mfaMode ?? 'appended');
    const replies = validateReplies(input.groupReplies ?? []);
    const methods = validateEapMethods(input.eapMethods ?? ['ttls']);
    const groupIds = input.groupIds ?? [];
    if (!Array.isArray(groupIds)) throw invalidInput('groupIds', 'a list of group ids');
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('radius_networks').where({ org_id: ctx.orgId, name }).first()) throw conflict('a RADIUS network with this name exists', 'name');
      await this.#checkReplyGroups(trx, ctx.orgId, replies);
      const t = now();
      await trx('radius_networks').insert({ id, org_id: ctx.orgId, name, mfa_mode: mfaMode, group_replies: JSON.stringify(replies), eap_methods: JSON.stringify(methods), created_at: t, updated_at: t });
      await this.#grants.replace(trx, ctx.orgId, ref(id), 'access', groupIds);
      return {
        result: undefined,
        audit: { eventType: 'radius.network.created', success: true, resource: { type: 'radius_network', id, name }, changes: { mfaMode, groupIds, groupReplies: replies, eapMethods: methods } },
        changes: [{ kind: 'resource', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return this.getNetwork(ctx.orgId, id);
  }

  async updateNetwork(ctx: ActionContext, id: string, patch: { name?: string; mfaMode?: RadiusMfaMode; groupIds?: string[]; groupReplies?: GroupReply[]; eapMethods?: EapMethod[] }): Promise<RadiusNetwork> {
    const before = await this.getNetwork(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'name') { row.name = validateName(v); changes.name = { from: before.name, to: row.name }; }
      else if (k === 'mfaMode') { row.mfa_mode = validateMfaMode(v); changes.mfaMode = { from: before.mfaMode, to: v }; }
      else if (k === 'groupReplies') { const r = validateReplies(v); row.group_replies = JSON.stringify(r); changes.groupReplies = { from: before.groupReplies, to: r }; }
      else if (k === 'eapMethods') { const m = validateEapMethods(v); row.eap_methods = JSON.stringify(m); changes.eapMethods = { from: before.eapMethods, to: m }; }
      else if (k === 'groupIds') {
        if (!Array.isArray(v)) throw invalidInput('groupIds', 'a list of group ids');
        changes.groupIds = { from: before.groupIds, to: v };
      } else throw invalidInput(k, 'unknown or read-only field');
    }
    await mutate(this.#d, ctx, async (trx) => {
      if (row.name && row.name !== before.name && (await trx('radius_networks').where({ org_id: ctx.orgId, name: row.name }).first())) {
        throw conflict('a RADIUS network with this name exists', 'name');
      }
      if (changes.groupReplies) await this.#checkReplyGroups(trx, ctx.orgId, (changes.groupReplies as { to: GroupReply[] }).to);
      await trx('radius_networks').where({ org_id: ctx.orgId, id }).update({ ...row, updated_at: now() });
      if (patch.groupIds) await this.#grants.replace(trx, ctx.orgId, ref(id), 'access', patch.groupIds);
      return {
        result: undefined,
        audit: { eventType: 'radius.network.updated', success: true, resource: { type: 'radius_network', id, name: (row.name as string) ?? before.name }, changes },
        changes: [{ kind: 'resource', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.getNetwork(ctx.orgId, id);
  }

  /** A network with clients cannot be deleted: delete or move its clients first. */
  async deleteNetwork(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.getNetwork(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('radius_clients').where({ org_id: ctx.orgId, network_id: id }).first()) throw conflict('the network still has RADIUS clients');
      await trx('resource_grants').where({ org_id: ctx.orgId, resource_type: 'radius_network', resource_id: id }).delete();
      await trx('radius_networks').where({ org_id: ctx.orgId, id }).delete();
      return {
        result: undefined,
        audit: { eventType: 'radius.network.deleted', success: true, resource: { type: 'radius_network', id, name: before.name } },
        changes: [{ kind: 'resource', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  // --- clients ----------------------------------------------------------------------------

  #toClient(r: ClientRow): RadiusClient {
    return {
      id: r.id, orgId: r.org_id, networkId: r.network_id, name: r.name, address: r.address, legacy: !!r.legacy,
      createdAt: new Date(Number(r.created_at)), updatedAt: new Date(Number(r.updated_at)),
    };
  }

  async listClients(orgId: string): Promise<RadiusClient[]> {
    const rows = await read(() => this.#d.db('radius_clients').where({ org_id: orgId }).orderBy('name'));
    return (rows as ClientRow[]).map((r) => this.#toClient(r));
  }

  async getClient(orgId: string, id: string): Promise<RadiusClient> {
    const row = await read(() => this.#d.db('radius_clients').where({ org_id: orgId, id }).first());
    if (!row) throw notFound('RADIUS client');
    return this.#toClient(row);
  }

  /** Every client of the org with its secret unsealed, for the server's in-memory table. */
  async clientsWithSecrets(orgId: string): Promise<RadiusClientWithSecret[]> {
    const rows = (await read(() => this.#d.db('radius_clients').where({ org_id: orgId }))) as ClientRow[];
    return rows.map((r) => ({ ...this.#toClient(r), secret: this.#d.box.decrypt(r.secret_enc, radiusSecretAad(r.id)) }));
  }

  /**
   * Create a client. Without `secret`, a random one is generated; either way the secret is
   * returned once here and never again (it is sealed at rest).
   */
  async createClient(ctx: ActionContext, input: { name: string; address: string; networkId: string; secret?: string; legacy?: boolean }): Promise<{ client: RadiusClient; secret: string }> {
    const name = validateName(input.name);
    const address = validateAddress(input.address);
    const secret = input.secret === undefined ? generateSecret() : validateSecret(input.secret);
    if (input.legacy !== undefined && typeof input.legacy !== 'boolean') throw invalidInput('legacy', 'true or false');
    await this.getNetwork(ctx.orgId, String(input.networkId ?? ''));
    const id = randomUUID();
    await mutate(this.#d, ctx, async (trx) => {
      if (await trx('radius_clients').where({ org_id: ctx.orgId, name }).first()) throw conflict('a RADIUS client with this name exists', 'name');
      const t = now();
      await trx('radius_clients').insert({
        id, org_id: ctx.orgId, network_id: input.networkId, name, address, secret_enc: this.#d.box.encrypt(secret, radiusSecretAad(id)),
        legacy: !!input.legacy, created_at: t, updated_at: t,
      });
      return {
        result: undefined,
        audit: { eventType: 'radius.client.created', success: true, resource: { type: 'radius_client', id, name }, changes: { address, networkId: input.networkId, legacy: !!input.legacy, secretSet: true } },
        changes: [{ kind: 'resource', action: 'created', orgId: ctx.orgId, id }],
      };
    });
    return { client: await this.getClient(ctx.orgId, id), secret };
  }

  async updateClient(ctx: ActionContext, id: string, patch: { name?: string; address?: string; networkId?: string; secret?: string; legacy?: boolean }): Promise<RadiusClient> {
    const before = await this.getClient(ctx.orgId, id);
    const row: Record<string, unknown> = {};
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'name') { row.name = validateName(v); changes.name = { from: before.name, to: row.name }; }
      else if (k === 'address') { row.address = validateAddress(v); changes.address = { from: before.address, to: row.address }; }
      else if (k === 'networkId') { await this.getNetwork(ctx.orgId, String(v)); row.network_id = v; changes.networkId = { from: before.networkId, to: v }; }
      else if (k === 'secret') { row.secret_enc = this.#d.box.encrypt(validateSecret(v), radiusSecretAad(id)); changes.secret = 'changed'; }
      else if (k === 'legacy') {
        if (typeof v !== 'boolean') throw invalidInput('legacy', 'true or false');
        row.legacy = v; changes.legacy = { from: before.legacy, to: v };
      } else throw invalidInput(k, 'unknown or read-only field');
    }
    await mutate(this.#d, ctx, async (trx) => {
      if (row.name && row.name !== before.name && (await trx('radius_clients').where({ org_id: ctx.orgId, name: row.name }).first())) {
        throw conflict('a RADIUS client with this name exists', 'name');
      }
      await trx('radius_clients').where({ org_id: ctx.orgId, id }).update({ ...row, updated_at: now() });
      return {
        result: undefined,
        // A secret change on its own gets an event of its own, as SSO client secrets do, for SIEM rules.
        audit: { eventType: Object.keys(patch).join() === 'secret' ? 'radius.client.secret_rotated' : 'radius.client.updated', success: true, resource: { type: 'radius_client', id, name: (row.name as string) ?? before.name }, changes },
        changes: [{ kind: 'resource', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
    return this.getClient(ctx.orgId, id);
  }

  /** A new shared secret (generated when not given), returned once; the old one stops working. */
  async rotateClientSecret(ctx: ActionContext, id: string, secret?: string): Promise<string> {
    const next = secret ?? generateSecret();
    await this.updateClient(ctx, id, { secret: next });
    return next;
  }

  async deleteClient(ctx: ActionContext, id: string): Promise<void> {
    const before = await this.getClient(ctx.orgId, id);
    await mutate(this.#d, ctx, async (trx) => {
      await trx('radius_clients').where({ org_id: ctx.orgId, id }).delete();
      return {
        result: undefined,
        audit: { eventType: 'radius.client.deleted', success: true, resource: { type: 'radius_client', id, name: before.name } },
        changes: [{ kind: 'resource', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  /** For `cairn posture`: clients that accept requests without Message-Authenticator. */
  async legacyClients(orgId: string): Promise<RadiusClient[]> {
    return (await this.listClients(orgId)).filter((c) => c.legacy);
  }

  /** Findings for `cairn posture` (the lead's CLI wires them in). */
  async posture(orgId: string): Promise<{ id: string; severity: 'warning' | 'info'; message: string; detail?: Record<string, unknown> }[]> {
    const out: { id: string; severity: 'warning' | 'info'; message: string; detail?: Record<string, unknown> }[] = [];
    const legacy = await this.legacyClients(orgId);
    if (legacy.length) {
      out.push({
        id: 'radius.legacy_clients', severity: 'warning',
        message: `${legacy.length} RADIUS client(s) accept Access-Requests without Message-Authenticator (Blast-RADIUS, CVE-2024-3596): update the NAS and clear the legacy flag`,
        detail: { clients: legacy.map((c) => ({ name: c.name, address: c.address })) },
      });
    }
    if ((await this.settings(orgId)).storeNtHash) {
      const row = (await read(() => this.#d.db('users').where({ org_id: orgId }).whereNotNull('nt_hash_enc').count({ n: '*' }).first())) as { n: number | string } | undefined;
      out.push({
        id: 'radius.nt_hash_stored', severity: 'warning',
        message: 'PEAP-MSCHAPv2 is on: an unsalted MD4 NT hash (password-equivalent for MSCHAP, fast to brute-force) is kept, sealed, for every password set since; prefer EAP-TTLS/PAP, PEAP-GTC or EAP-TLS',
        detail: { usersWithNtHash: Number(row?.n ?? 0) },
      });
    }
    return out;
  }

  /** The sealed NT hash of a user, or null (PEAP-MSCHAPv2 not enabled or password older). */
  async ntHash(orgId: string, userId: string): Promise<Buffer | null> {
    const row = (await read(() => this.#d.db('users').where({ org_id: orgId, id: userId }).first('nt_hash_enc'))) as { nt_hash_enc: string | null } | undefined;
    return row?.nt_hash_enc ? this.#d.box.decrypt(row.nt_hash_enc, `nthash:${userId}`) : null;
  }
}

/**
 * Core hook for Users: the sealed NT hash to store with a new password, or null when the org
 * has not turned PEAP-MSCHAPv2 on (then no NT hash is kept at all). Runs inside the
 * password change's transaction so both land together.
 */
export async function sealedNtHashFor(trx: Knex.Transaction, deps: Pick<Deps, 'box'>, orgId: string, userId: string, password: string): Promise<string | null> {
  const row = (await trx('policies').where({ org_id: orgId, kind: 'radius' }).first()) as { value: string } | undefined;
  const settings = row ? { ...defaultRadiusSettings, ...(JSON.parse(row.value) as Partial<RadiusSettings>) } : defaultRadiusSettings;
  return settings.storeNtHash ? deps.box.encrypt(ntHash(password), `nthash:${userId}`) : null;
}
