// Org policies: password, MFA, SSO sessions, and conditional access (IP lists → allow / require MFA / deny).
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Knex } from 'knex';
import { mutate, now, read, type Deps } from './context.js';
import { CairnError, invalidInput, notFound, policyViolation } from './errors.js';
import {
  mfaModes, protocols, type AccessAction, type AccessRule, type ActionContext, type IpList, type MfaMode,
  type MfaPolicy, type PasswordPolicy, type Protocol, type SsoSessionPolicy,
} from './types.js';

export const defaultPasswordPolicy: PasswordPolicy = {
  minLength: 8,
  minClasses: 3,
  notContainUsername: true,
  historyCount: 3,
  maxAgeDays: 90,
  expiryWarningDays: 14,
  lockoutThreshold: 6,
  lockoutMinutes: 15,
};

export const defaultMfaPolicy: MfaPolicy = {
  mode: { admin: 'required', portal: 'off', sso: 'off', radius: 'off', ldap: 'off' },
};

export const defaultSsoSessionPolicy: SsoSessionPolicy = {
  maxAgeMinutes: 480,
  idleMinutes: 60,
};

export const ssoSessionPolicyLimits: Record<keyof SsoSessionPolicy, [number, number]> = {
  maxAgeMinutes: [5, 43200],
  idleMinutes: [1, 43200],
};

function integerSetting(key: string, value: unknown, [min, max]: [number, number]): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidInput(key, `must be an integer from ${min} to ${max}`);
  return value;
}

const mfaStrength: Record<MfaMode, number> = { off: 0, optional: 1, required: 2 };

/**
 * The stored MFA policy, read tolerantly: before modes existed it was `required: {ldap: true}`
 * (true reads as required, false as off); unknown services and values fall back to the default.
 */
function readMfaPolicy(stored: { mode?: Record<string, unknown>; required?: Record<string, unknown> }): MfaPolicy {
  const legacy = Object.entries(stored.required ?? {}).map(([p, v]) => [p, v === true ? 'required' : v === false ? 'off' : v] as const);
  const mode = { ...defaultMfaPolicy.mode };
  for (const [p, v] of [...legacy, ...Object.entries(stored.mode ?? {})]) {
    if (protocols.includes(p as Protocol) && mfaModes.includes(v as MfaMode)) mode[p as Protocol] = v as MfaMode;
  }
  return { mode };
}

const passwordPolicyLimits: Record<keyof PasswordPolicy, [number, number]> = {
  minLength: [8, 128],
  minClasses: [1, 4],
  notContainUsername: [0, 1],
  historyCount: [0, 24],
  maxAgeDays: [0, 3650],
  expiryWarningDays: [0, 365],
  lockoutThreshold: [0, 100],
  lockoutMinutes: [1, 7 * 24 * 60],
};

/** The reasons a password breaks the policy; empty when it is acceptable. */
export function passwordProblems(policy: PasswordPolicy, password: string, username: string): string[] {
  const problems: string[] = [];
  if ([...password].length < policy.minLength) problems.push(`at least ${policy.minLength} characters`);
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length;
  if (classes < policy.minClasses) {
    problems.push(`at least ${policy.minClasses} of: lower case, upper case, digit, special character`);
  }
  if (policy.notContainUsername && username.length >= 3 && password.toLowerCase().includes(username.toLowerCase())) {
    problems.push('must not contain the username');
  }
  return problems;
}

export function parseCidr(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  try {
    const [addr, bits] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : ([ipaddr.parse(cidr), -1] as const);
    const prefix = bits === -1 ? (addr.kind() === 'ipv4' ? 32 : 128) : bits;
    return [addr, prefix];
  } catch {
    throw invalidInput('cidrs', `not an IP address or CIDR: ${cidr.slice(0, 64)}`);
  }
}

/** Normalise an address: IPv4-mapped IPv6 (::ffff:10.0.0.1) becomes plain IPv4. */
export function normaliseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    const addr = ipaddr.parse(ip.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
    return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
  } catch {
    return null;
  }
}

export function ipInCidrs(ip: string | null, cidrs: readonly string[]): boolean {
  if (!ip) return false;
  const addr = normaliseIp(ip);
  if (!addr) return false;
  return cidrs.some((c) => {
    const [net, bits] = parseCidr(c);
    return net.kind() === addr.kind() && addr.match(net as never, bits);
  });
}

type RuleRow = {
  id: string; org_id: string; name: string; priority: number; protocol: string; group_id: string | null;
  ip_list_id: string | null; negate_ip_list: boolean | number; action: string;
};
const toRule = (r: RuleRow): AccessRule => ({
  id: r.id, orgId: r.org_id, name: r.name, priority: r.priority, protocol: r.protocol as AccessRule['protocol'],
  groupId: r.group_id, ipListId: r.ip_list_id, negateIpList: !!r.negate_ip_list, action: r.action as AccessAction,
});

function validRule(input: Omit<AccessRule, 'id' | 'orgId'>): Omit<AccessRule, 'id' | 'orgId'> {
  if (!['allow', 'require_mfa', 'deny'].includes(input.action)) throw invalidInput('action', 'allow, require_mfa or deny');
  if (input.protocol !== '*' && !protocols.includes(input.protocol)) throw invalidInput('protocol', `* or one of ${protocols.join(', ')}`);
  if (!Number.isInteger(input.priority)) throw invalidInput('priority', 'an integer');
  if (typeof input.name !== 'string' || !input.name || input.name.length > 128) throw invalidInput('name', '1 to 128 characters');
  return {
    name: input.name, priority: input.priority, protocol: input.protocol, groupId: input.groupId ?? null, ipListId: input.ipListId ?? null,
    negateIpList: !!input.negateIpList, action: input.action,
  };
}

/** A rule may only name this org's group and IP list. */
async function assertRuleRefs(trx: Knex.Transaction, orgId: string, rule: Pick<AccessRule, 'groupId' | 'ipListId'>): Promise<void> {
  if (rule.ipListId && !(await trx('ip_lists').where({ id: rule.ipListId, org_id: orgId }).first())) throw notFound('IP list');
  if (rule.groupId && !(await trx('groups').where({ id: rule.groupId, org_id: orgId }).first())) throw notFound('group');
}

// Policies are read on every authentication and change rarely: they are memoised briefly.
// A change through this process clears the memo at once; another instance's change is seen
// within POLICY_TTL_MS.
const POLICY_TTL_MS = 2000;

export class Policies {
  readonly #d: Deps;
  readonly #memo = new Map<string, { value: Promise<unknown>; expires: number }>();

  constructor(deps: Deps) {
    this.#d = deps;
    deps.feed.subscribe((c) => {
      if (c.kind === 'policy' || c.kind === 'access_rule' || c.kind === 'ip_list' || c.kind === 'group') this.#memo.clear();
    });
  }

  #memoised<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.#memo.get(key);
    if (hit && hit.expires > Date.now()) return hit.value as Promise<T>;
    const value = load();
    this.#memo.set(key, { value, expires: Date.now() + POLICY_TTL_MS });
    value.catch(() => this.#memo.delete(key));
    return value;
  }

  async #get<T extends object>(orgId: string, kind: string, fallback: T): Promise<T> {
    const row = await this.#memoised(`${orgId}:${kind}`, () => read(() => this.#d.db('policies').where({ org_id: orgId, kind }).first()));
    return row ? { ...fallback, ...(JSON.parse((row as { value: string }).value) as Partial<T>) } : { ...fallback };
  }

  async #set(ctx: ActionContext, kind: string, before: object, after: object): Promise<void> {
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(after)) {
      if (JSON.stringify((before as Record<string, unknown>)[k]) !== JSON.stringify(v)) changes[k] = { from: (before as Record<string, unknown>)[k], to: v };
    }
    await mutate(this.#d, ctx, async (trx) => {
      await trx('policies')
        .insert({ org_id: ctx.orgId, kind, value: JSON.stringify(after), updated_at: now() })
        .onConflict(['org_id', 'kind'])
        .merge(['value', 'updated_at']);
      return {
        result: undefined,
        audit: { eventType: `policy.${kind}.updated`, success: true, resource: { type: 'policy', id: kind, name: kind }, changes },
        changes: [{ kind: 'policy', action: 'updated', orgId: ctx.orgId, id: kind }],
      };
    });
  }

  passwordPolicy(orgId: string): Promise<PasswordPolicy> {
    return this.#get(orgId, 'password', defaultPasswordPolicy);
  }

  async setPasswordPolicy(ctx: ActionContext, patch: Partial<PasswordPolicy>): Promise<PasswordPolicy> {
    const before = await this.passwordPolicy(ctx.orgId);
    const after = { ...before };
    for (const [key, value] of Object.entries(patch) as [keyof PasswordPolicy, unknown][]) {
      const limits = passwordPolicyLimits[key];
      if (!limits) throw invalidInput(key, 'unknown password policy setting');
      if (key === 'notContainUsername') {
        if (typeof value !== 'boolean') throw invalidInput(key, 'must be true or false');
        after.notContainUsername = value;
        continue;
      }
      after[key] = integerSetting(key, value, limits);
    }
    await this.#set(ctx, 'password', before, after);
    return after;
  }

  ssoSessionPolicy(orgId: string): Promise<SsoSessionPolicy> {
    return this.#get(orgId, 'sso_session', defaultSsoSessionPolicy);
  }

  async setSsoSessionPolicy(ctx: ActionContext, patch: Partial<SsoSessionPolicy>): Promise<SsoSessionPolicy> {
    const before = await this.ssoSessionPolicy(ctx.orgId);
    const after = { ...before };
    for (const [key, value] of Object.entries(patch) as [keyof SsoSessionPolicy, unknown][]) {
      const limits = ssoSessionPolicyLimits[key];
      if (!limits) throw invalidInput(key, 'unknown SSO session policy setting');
      after[key] = integerSetting(key, value, limits);
    }
    await this.#set(ctx, 'sso_session', before, after);
    return after;
  }

  mfaPolicy(orgId: string): Promise<MfaPolicy> {
    return this.#get<Parameters<typeof readMfaPolicy>[0]>(orgId, 'mfa', {}).then(readMfaPolicy);
  }

  /** Set the MFA mode of some services; the others keep theirs. */
  async setMfaModes(ctx: ActionContext, modes: Partial<Record<Protocol, MfaMode>>): Promise<MfaPolicy> {
    const before = await this.mfaPolicy(ctx.orgId);
    for (const [k, v] of Object.entries(modes)) {
      if (!protocols.includes(k as Protocol)) throw invalidInput(`mode.${k}`, 'unknown protocol');
      if (!mfaModes.includes(v)) throw invalidInput(`mode.${k}`, `must be one of ${mfaModes.join(', ')}`);
    }
    const after: MfaPolicy = { mode: { ...before.mode, ...modes } };
    await this.#set(ctx, 'mfa', before, after);
    // Reported loudly: weakening MFA is what an attacker with admin rights does first.
    if (protocols.some((p) => mfaStrength[after.mode[p]] < mfaStrength[before.mode[p]])) {
      this.#d.log.warn({ orgId: ctx.orgId, actor: ctx.actor, mode: after.mode }, 'MFA requirement weakened');
    }
    return after;
  }

  // --- IP lists and conditional-access rules ---------------------------------------------

  async ipLists(orgId: string): Promise<IpList[]> {
    const rows = await this.#memoised(`${orgId}:ip_lists`, () => read(() => this.#d.db('ip_lists').where({ org_id: orgId }).orderBy('name')));
    return rows.map((r: { id: string; org_id: string; name: string; cidrs: string }) => ({ id: r.id, orgId: r.org_id, name: r.name, cidrs: JSON.parse(r.cidrs) as string[] }));
  }

  async createIpList(ctx: ActionContext, input: { name: string; cidrs: string[] }): Promise<IpList> {
    if (!input.name || input.name.length > 128) throw invalidInput('name', '1 to 128 characters');
    if (!Array.isArray(input.cidrs) || input.cidrs.length > 1000) throw invalidInput('cidrs', 'a list of at most 1000 CIDRs');
    const cidrs = input.cidrs.map((c) => { const [a, b] = parseCidr(c); return `${a.toString()}/${b}`; });
    const list: IpList = { id: randomUUID(), orgId: ctx.orgId, name: input.name, cidrs };
    return mutate(this.#d, ctx, async (trx) => {
      await trx('ip_lists').insert({ id: list.id, org_id: ctx.orgId, name: list.name, cidrs: JSON.stringify(cidrs), created_at: now(), updated_at: now() });
      return {
        result: list,
        audit: { eventType: 'ip_list.created', success: true, resource: { type: 'ip_list', id: list.id, name: list.name }, changes: { cidrs } },
        changes: [{ kind: 'ip_list', action: 'created', orgId: ctx.orgId, id: list.id }],
      };
    });
  }

  /** Rename a list or replace its CIDRs (management API). */
  async updateIpList(ctx: ActionContext, id: string, patch: { name?: string; cidrs?: string[] }): Promise<IpList> {
    const before = (await this.ipLists(ctx.orgId)).find((l) => l.id === id);
    if (!before) throw notFound('IP list');
    const after: IpList = { ...before };
    if (patch.name !== undefined) {
      if (!patch.name || patch.name.length > 128) throw invalidInput('name', '1 to 128 characters');
      after.name = patch.name;
    }
    if (patch.cidrs !== undefined) {
      if (!Array.isArray(patch.cidrs) || patch.cidrs.length > 1000) throw invalidInput('cidrs', 'a list of at most 1000 CIDRs');
      after.cidrs = patch.cidrs.map((c) => { const [a, b] = parseCidr(c); return `${a.toString()}/${b}`; });
    }
    return mutate(this.#d, ctx, async (trx) => {
      await trx('ip_lists').where({ id, org_id: ctx.orgId }).update({ name: after.name, cidrs: JSON.stringify(after.cidrs), updated_at: now() });
      return {
        result: after,
        audit: { eventType: 'ip_list.updated', success: true, resource: { type: 'ip_list', id, name: after.name }, changes: { ...(patch.name !== undefined ? { name: { from: before.name, to: after.name } } : {}), ...(patch.cidrs !== undefined ? { cidrs: { from: before.cidrs, to: after.cidrs } } : {}) } },
        changes: [{ kind: 'ip_list', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
  }

  /** Delete a list no rule uses. */
  async deleteIpList(ctx: ActionContext, id: string): Promise<void> {
    await mutate(this.#d, ctx, async (trx) => {
      const list = await trx('ip_lists').where({ id, org_id: ctx.orgId }).first();
      if (!list) throw notFound('IP list');
      if (await trx('access_rules').where({ ip_list_id: id }).first()) throw new CairnError('conflict', 'an access rule uses this IP list; delete or change the rule first');
      await trx('ip_lists').where({ id }).delete();
      return {
        result: undefined,
        audit: { eventType: 'ip_list.deleted', success: true, resource: { type: 'ip_list', id, name: list.name as string } },
        changes: [{ kind: 'ip_list', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  async accessRules(orgId: string): Promise<AccessRule[]> {
    const rows = await this.#memoised(`${orgId}:access_rules`, () => read(() => this.#d.db('access_rules').where({ org_id: orgId }).orderBy([{ column: 'priority' }, { column: 'created_at' }])));
    return (rows as RuleRow[]).map(toRule);
  }

  async createAccessRule(ctx: ActionContext, input: Omit<AccessRule, 'id' | 'orgId'>): Promise<AccessRule> {
    const rule: AccessRule = { ...validRule(input), id: randomUUID(), orgId: ctx.orgId };
    return mutate(this.#d, ctx, async (trx) => {
      await assertRuleRefs(trx, ctx.orgId, rule);
      await trx('access_rules').insert({
        id: rule.id, org_id: ctx.orgId, name: rule.name, priority: rule.priority, protocol: rule.protocol, group_id: rule.groupId,
        ip_list_id: rule.ipListId, negate_ip_list: rule.negateIpList, action: rule.action, created_at: now(), updated_at: now(),
      });
      return {
        result: rule,
        audit: { eventType: 'access_rule.created', success: true, resource: { type: 'access_rule', id: rule.id, name: rule.name }, changes: { ...input } },
        changes: [{ kind: 'access_rule', action: 'created', orgId: ctx.orgId, id: rule.id }],
      };
    });
  }

  async getAccessRule(orgId: string, id: string): Promise<AccessRule> {
    const rule = (await this.accessRules(orgId)).find((r) => r.id === id);
    if (!rule) throw notFound('access rule');
    return rule;
  }

  /** Change any of a rule's fields; its evaluation position follows its (new) priority. */
  async updateAccessRule(ctx: ActionContext, id: string, patch: Partial<Omit<AccessRule, 'id' | 'orgId'>>): Promise<AccessRule> {
    const before = await this.getAccessRule(ctx.orgId, id);
    const editable = ['name', 'priority', 'protocol', 'groupId', 'ipListId', 'negateIpList', 'action'];
    for (const k of Object.keys(patch)) if (!editable.includes(k)) throw invalidInput(k, 'unknown or read-only field');
    const after: AccessRule = { ...validRule({ ...before, ...patch }), id, orgId: ctx.orgId };
    const changes: Record<string, unknown> = {};
    for (const k of editable as (keyof AccessRule)[]) if (before[k] !== after[k]) changes[k] = { from: before[k], to: after[k] };
    return mutate(this.#d, ctx, async (trx) => {
      await assertRuleRefs(trx, ctx.orgId, after);
      await trx('access_rules').where({ id, org_id: ctx.orgId }).update({
        name: after.name, priority: after.priority, protocol: after.protocol, group_id: after.groupId, ip_list_id: after.ipListId,
        negate_ip_list: after.negateIpList, action: after.action, updated_at: now(),
      });
      return {
        result: after,
        audit: { eventType: 'access_rule.updated', success: true, resource: { type: 'access_rule', id, name: after.name }, changes },
        changes: [{ kind: 'access_rule', action: 'updated', orgId: ctx.orgId, id }],
      };
    });
  }

  async deleteAccessRule(ctx: ActionContext, id: string): Promise<void> {
    await mutate(this.#d, ctx, async (trx) => {
      const n = await trx('access_rules').where({ id, org_id: ctx.orgId }).delete();
      if (!n) throw notFound('access rule');
      return {
        result: undefined,
        audit: { eventType: 'access_rule.deleted', success: true, resource: { type: 'access_rule', id, name: null } },
        changes: [{ kind: 'access_rule', action: 'deleted', orgId: ctx.orgId, id }],
      };
    });
  }

  /** The first matching rule's action, or 'allow' when none matches. */
  async evaluateAccess(orgId: string, protocol: Protocol, groupIds: readonly string[], clientIp: string | null): Promise<{ action: AccessAction; rule: string | null }> {
    const [rules, lists] = await Promise.all([this.accessRules(orgId), this.ipLists(orgId)]);
    for (const rule of rules) {
      if (rule.protocol !== '*' && rule.protocol !== protocol) continue;
      if (rule.groupId && !groupIds.includes(rule.groupId)) continue;
      if (rule.ipListId) {
        const list = lists.find((l) => l.id === rule.ipListId);
        const inList = ipInCidrs(clientIp, list?.cidrs ?? []);
        if (inList === rule.negateIpList) continue;
      }
      return { action: rule.action, rule: rule.name };
    }
    return { action: 'allow', rule: null };
  }
}

export function assertPasswordAcceptable(policy: PasswordPolicy, password: string, username: string): void {
  const problems = passwordProblems(policy, password, username);
  if (problems.length) throw policyViolation('password does not meet the policy', problems, 'password');
}
