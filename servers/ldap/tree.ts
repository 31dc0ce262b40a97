// The LDAP view of one org: entries built from the core's users, groups and service accounts,
// held in memory with equality indexes so that a search never runs a query per entry. The
// change feed marks what changed; the next operation refreshes exactly that before it reads,
// so a suspension or a membership change is visible to the very next search.
import type { Directory, Group, Org, PasswordPolicy, ServiceAccount, User } from '../../core/index.js';
import { escapeValue, isUnder, normalizeDn } from './dn.js';
import { generalizedTime, makeEntry, normValues, attrType, type Attribute, type Entry } from './schema.js';

export const VENDOR = { name: 'Cairn', version: '0.1.0' };

/** Attributes with an equality index. */
export const INDEXED = new Set(['uid', 'cn', 'uidnumber', 'gidnumber', 'memberuid', 'member', 'mail', 'entryuuid']);

export interface TreeOptions {
  baseDn: string;
  /** Synthesise a group per user (cn=<username>, gidNumber = the user's gidNumber). */
  userPrivateGroups: boolean;
  /** Full reload interval: picks up changes made by other instances. */
  refreshSeconds: number;
}

const days = (d: Date) => Math.floor(d.getTime() / 86400_000);

export class DirectoryTree {
  readonly baseDn: string;
  readonly baseNdn: string;
  readonly usersNdn: string;
  readonly groupsNdn: string;
  readonly servicesNdn: string;
  readonly rootDse: Entry;

  readonly #dir: Directory;
  readonly #org: Org;
  readonly #opts: TreeOptions;
  readonly #entries = new Map<string, Entry>(); // ndn → entry
  readonly #children = new Map<string, Set<Entry>>(); // parent ndn → entries
  // attr → value → the entry, or a set when several share the value (most values are unique:
  // one Set per uid would cost more than the entries at 100,000 users).
  readonly #index = new Map<string, Map<string, Entry | Set<Entry>>>();
  readonly #users = new Map<string, User>();
  readonly #groups = new Map<string, Group>();
  readonly #userEntry = new Map<string, Entry>(); // user id → entry (visible users only)
  readonly #groupEntry = new Map<string, Entry>();
  readonly #privateGroupEntry = new Map<string, Entry>();
  readonly #serviceEntry = new Map<string, Entry>();
  #policy: PasswordPolicy | null = null;
  #dirtyUsers = new Set<string>();
  #dirtyGroups = new Set<string>();
  #dirtyAll = true;
  #dirtyServices = false;
  #dirtyPolicy = false;
  #loadedAt = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Told about background reload failures (the view keeps serving what it has). */
  onError: (err: unknown) => void = () => {};
  #refreshing: Promise<void> | null = null;
  readonly #unsubscribe: () => void;
  /** Called with a user or service account id when its bound sessions must end. */
  onRevoke: (kind: 'user' | 'service_account', id: string) => void = () => {};

  constructor(dir: Directory, org: Org, opts: TreeOptions) {
    this.#dir = dir;
    this.#org = org;
    this.#opts = opts;
    this.baseDn = opts.baseDn;
    this.baseNdn = normalizeDn(opts.baseDn)!;
    this.usersNdn = normalizeDn(`ou=Users,${opts.baseDn}`)!;
    this.groupsNdn = normalizeDn(`ou=Groups,${opts.baseDn}`)!;
    this.servicesNdn = normalizeDn(`ou=Services,${opts.baseDn}`)!;
    this.rootDse = makeEntry('root', '', null, {
      objectClass: ['top', 'cairnRootDSE'],
      namingContexts: opts.baseDn,
      supportedLDAPVersion: '3',
      supportedControl: ['1.2.840.113556.1.4.319', '1.3.6.1.4.1.42.2.27.8.5.1'], // paged results, password policy (bind)
      supportedExtension: ['1.3.6.1.4.1.1466.20037', '1.3.6.1.4.1.4203.1.11.1', '1.3.6.1.4.1.4203.1.11.3'],
      supportedFeatures: ['1.3.6.1.1.14', '1.3.6.1.4.1.4203.1.5.1'], // modify-increment not; all-op-attrs (+) yes
      vendorName: VENDOR.name,
      vendorVersion: VENDOR.version,
    });
    this.#unsubscribe = dir.feed.subscribe((c) => {
      if (c.orgId !== org.id) return;
      if (c.kind === 'user') {
        this.#dirtyUsers.add(c.id);
        if (c.action === 'state' || c.action === 'deleted') this.onRevoke('user', c.id);
      } else if (c.kind === 'group') this.#dirtyGroups.add(c.id);
      else if (c.kind === 'service_account') {
        this.#dirtyServices = true;
        if (c.action !== 'created' && c.action !== 'updated') this.onRevoke('service_account', c.id);
      } else if (c.kind === 'policy') this.#dirtyPolicy = true;
    });
  }

  close(): void {
    this.#unsubscribe();
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * Reload everything every refreshSeconds, in the background: searches keep using the current
   * view meanwhile (a full load of 100,000 users takes seconds). This is what picks up changes
   * made through other instances; changes announced on this instance's feed never wait for it.
   */
  startBackgroundRefresh(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#refreshing) return;
      this.#refreshing = this.#loadAll()
        .catch((err) => this.onError(err))
        .finally(() => {
          this.#refreshing = null;
        });
    }, this.#opts.refreshSeconds * 1000);
    this.#timer.unref();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Nothing announced since the last refresh (the common case: no promise, no timer). */
  get isFresh(): boolean {
    return !this.#dirtyAll && !this.#dirtyServices && !this.#dirtyPolicy && !this.#dirtyUsers.size && !this.#dirtyGroups.size;
  }

  /** When the last full load started (ms since epoch). */
  get loadedAt(): number {
    return this.#loadedAt;
  }

  /** Bring the view up to date with everything the feed announced. Concurrent callers share one refresh. */
  async fresh(): Promise<void> {
    if (this.isFresh) return;
    while (this.#refreshing) await this.#refreshing;
    if (this.isFresh) return;
    this.#refreshing = (this.#dirtyAll ? this.#loadAll() : this.#loadDirty()).finally(() => {
      this.#refreshing = null;
    });
    await this.#refreshing;
  }

  async #loadAll(): Promise<void> {
    this.#dirtyAll = false;
    this.#dirtyServices = false;
    this.#dirtyPolicy = false;
    this.#dirtyUsers.clear();
    this.#dirtyGroups.clear();
    const started = Date.now();
    try {
      const orgId = this.#org.id;
      const policy = await this.#dir.policies.passwordPolicy(orgId);
      const users: User[] = [];
      for (let after: string | undefined; ; ) {
        const page = await this.#dir.users.list(orgId, { limit: 100_000, ...(after ? { after } : {}) });
        users.push(...page);
        if (page.length < 100_000) break;
        after = page[page.length - 1]!.username;
      }
      const groups: Group[] = [];
      for (let after: string | undefined; ; ) {
        const page = await this.#dir.groups.list(orgId, { limit: 100_000, ...(after ? { after } : {}) });
        groups.push(...page);
        if (page.length < 100_000) break;
        after = page[page.length - 1]!.name;
      }
      const services = await this.#dir.serviceAccounts.list(orgId);
      this.#rebuild(policy, users, groups, services);
      this.#loadedAt = started;
    } catch (err) {
      // Never loaded: nothing to serve. A failed background reload keeps the current view.
      if (this.#loadedAt === 0) this.#dirtyAll = true;
      throw err;
    }
  }

  async #loadDirty(): Promise<void> {
    const userIds = [...this.#dirtyUsers];
    const groupIds = [...this.#dirtyGroups];
    const services = this.#dirtyServices;
    const policy = this.#dirtyPolicy;
    this.#dirtyUsers.clear();
    this.#dirtyGroups.clear();
    this.#dirtyServices = false;
    this.#dirtyPolicy = false;
    const orgId = this.#org.id;
    try {
      if (services) this.#putServices(await this.#dir.serviceAccounts.list(orgId));
      if (policy) {
        // shadowMax and lock times come from the policy: rebuild user entries from what we hold.
        this.#policy = await this.#dir.policies.passwordPolicy(orgId);
        for (const id of this.#users.keys()) this.#putUser(id);
      }
      // Fetch first, build after: a user's memberOf needs its groups, a group's members need
      // its users' visibility.
      const touchedGroups = new Set(groupIds);
      for (const id of userIds) {
        const before = this.#users.get(id);
        const after = await this.#dir.users.get(orgId, id).catch((err: { code?: string }) => {
          if (err.code === 'not_found') return null;
          throw err;
        });
        for (const g of before?.groupIds ?? []) touchedGroups.add(g);
        for (const g of after?.groupIds ?? []) touchedGroups.add(g);
        if (after) this.#users.set(id, after);
        else this.#users.delete(id);
      }
      for (const id of touchedGroups) {
        const g = await this.#dir.groups.get(orgId, id).catch((err: { code?: string }) => {
          if (err.code === 'not_found') return null;
          throw err;
        });
        if (g) this.#groups.set(id, g);
        else this.#groups.delete(id);
      }
      const rebuildUsers = new Set(userIds);
      for (const id of groupIds) for (const uid of this.#groups.get(id)?.memberIds ?? []) rebuildUsers.add(uid);
      for (const id of rebuildUsers) this.#putUser(id);
      for (const id of touchedGroups) this.#putGroup(id);
    } catch (err) {
      for (const id of userIds) this.#dirtyUsers.add(id);
      for (const id of groupIds) this.#dirtyGroups.add(id);
      if (services) this.#dirtyServices = true;
      if (policy) this.#dirtyPolicy = true;
      throw err;
    }
  }

  #rebuild(policy: PasswordPolicy, users: User[], groups: Group[], services: ServiceAccount[]): void {
    this.#policy = policy;
    this.#entries.clear();
    this.#children.clear();
    this.#index.clear();
    this.#users.clear();
    this.#groups.clear();
    this.#userEntry.clear();
    this.#groupEntry.clear();
    this.#privateGroupEntry.clear();
    this.#serviceEntry.clear();
    const base = this.baseDn;
    const dc = /^\s*dc=([^,]+)/i.exec(base)?.[1] ?? this.#org.name;
    this.#add(makeEntry('base', base, null, { objectClass: ['top', 'dcObject', 'organization'], dc, o: this.#org.name }));
    for (const ou of ['Users', 'Groups', 'Services']) {
      this.#add(makeEntry('ou', `ou=${ou},${base}`, this.baseNdn, { objectClass: ['top', 'organizationalUnit'], ou }));
    }
    for (const u of users) this.#users.set(u.id, u);
    for (const g of groups) this.#groups.set(g.id, g);
    for (const u of users) this.#putUser(u.id);
    for (const g of groups) this.#putGroup(g.id);
    this.#putServices(services);
  }

  #putServices(services: ServiceAccount[]): void {
    for (const e of this.#serviceEntry.values()) this.#remove(e);
    this.#serviceEntry.clear();
    for (const s of services) {
      const e = makeEntry('service', `cn=${escapeValue(s.name)},ou=Services,${this.baseDn}`, this.servicesNdn, {
        objectClass: ['top', 'applicationProcess'], cn: s.name, description: s.description || null,
        entryUUID: s.id, createTimestamp: generalizedTime(s.createdAt), modifyTimestamp: generalizedTime(s.updatedAt),
      }, s.id);
      this.#serviceEntry.set(s.id, e);
      this.#add(e);
    }
  }

  /** Users who may appear at all: suspended and staged users vanish, so SSSD cannot resolve them. */
  #visible(u: User | undefined): u is User {
    return !!u && (u.state === 'active' || u.state === 'locked');
  }

  // Names are [a-z0-9_.-] (core USERNAME_RE), so the normalised DN is built, not parsed;
  // escapeValue keeps this exact for anything else.
  #userNdn(username: string): string {
    return `uid=${escapeValue(username.toLowerCase())},${this.usersNdn}`;
  }

  #groupNdn(name: string): string {
    return `cn=${escapeValue(name.toLowerCase())},${this.groupsNdn}`;
  }

  userDn(username: string): string {
    return `uid=${escapeValue(username)},ou=Users,${this.baseDn}`;
  }

  groupDn(name: string): string {
    return `cn=${escapeValue(name)},ou=Groups,${this.baseDn}`;
  }

  #putUser(id: string): void {
    const old = this.#userEntry.get(id);
    if (old) this.#remove(old);
    this.#userEntry.delete(id);
    const oldPg = this.#privateGroupEntry.get(id);
    if (oldPg) this.#remove(oldPg);
    this.#privateGroupEntry.delete(id);
    const u = this.#users.get(id);
    if (!this.#visible(u)) return;
    const policy = this.#policy!;
    const first = u.displayName.trim().split(/\s+/);
    const sn = first.length > 1 ? first[first.length - 1]! : u.displayName || u.username;
    const givenName = first.length > 1 ? first.slice(0, -1).join(' ') : null;
    const userGroups = u.groupIds.map((g) => this.#groups.get(g)).filter((g): g is Group => !!g);
    const memberOf = userGroups.map((g) => this.groupDn(g.name));
    const locked = u.state === 'locked' && u.lockedUntil !== null && u.lockedUntil.getTime() > Date.now();
    if (locked) {
      // The core lifts a lock lazily (at the next attempt), with no change event: look again
      // when it runs out, so pwdAccountLockedTime and shadowExpire go with it.
      const wait = Math.min(u.lockedUntil!.getTime() - Date.now() + 100, 2 ** 31 - 1);
      setTimeout(() => this.#dirtyUsers.add(id), wait).unref();
    }
    const e = makeEntry('user', this.userDn(u.username), this.usersNdn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'posixAccount', 'shadowAccount', 'ldapPublicKey'],
      uid: u.username,
      cn: u.displayName || u.username,
      sn,
      givenName,
      displayName: u.displayName || u.username,
      mail: u.email,
      uidNumber: u.uidNumber,
      gidNumber: u.gidNumber,
      homeDirectory: u.homeDirectory,
      loginShell: u.loginShell,
      gecos: u.displayName || u.username,
      sshPublicKey: u.sshKeys.map((k) => k.publicKey),
      memberOf,
      // shadowLastChange 0 = "must change at next login" to shadow-aware clients.
      shadowLastChange: u.mustChangePassword ? 0 : u.passwordChangedAt ? days(u.passwordChangedAt) : null,
      shadowMax: policy.maxAgeDays > 0 ? policy.maxAgeDays : null,
      shadowWarning: policy.maxAgeDays > 0 && policy.expiryWarningDays > 0 ? policy.expiryWarningDays : null,
      shadowExpire: locked ? 1 : null,
      entryUUID: u.id,
      createTimestamp: generalizedTime(u.createdAt),
      modifyTimestamp: generalizedTime(u.updatedAt),
      pwdAccountLockedTime: locked ? generalizedTime(new Date(u.lockedUntil!.getTime() - policy.lockoutMinutes * 60_000)) : null,
    }, u.id, this.#userNdn(u.username));
    // DN-valued attributes we built ourselves: their normalised forms are known, not parsed.
    const mo = e.attrs.get('memberof');
    if (mo) mo.norm = userGroups.map((g) => this.#groupNdn(g.name));
    this.#userEntry.set(id, e);
    this.#add(e);
    if (this.#opts.userPrivateGroups && u.gidNumber === u.uidNumber && !this.#groupNameTaken(u.username)) {
      const pg = makeEntry('group', this.groupDn(u.username), this.groupsNdn, {
        objectClass: ['top', 'posixGroup', 'groupOfNames'], cn: u.username, gidNumber: u.gidNumber,
        member: this.userDn(u.username), description: `Private group of ${u.username}`,
        entryUUID: null, createTimestamp: generalizedTime(u.createdAt), modifyTimestamp: generalizedTime(u.createdAt),
      }, undefined, this.#groupNdn(u.username));
      pg.attrs.get('member')!.norm = [this.#userNdn(u.username)];
      this.#privateGroupEntry.set(id, pg);
      this.#add(pg);
    }
  }

  #groupNameTaken(name: string): boolean {
    for (const g of this.#groups.values()) if (g.name === name) return true;
    return false;
  }

  #putGroup(id: string): void {
    const old = this.#groupEntry.get(id);
    if (old) this.#remove(old);
    this.#groupEntry.delete(id);
    const g = this.#groups.get(id);
    if (!g) return;
    const members = g.memberIds.map((m) => this.#users.get(m)).filter((u) => this.#visible(u)) as User[];
    const e = makeEntry('group', this.groupDn(g.name), this.groupsNdn, {
      objectClass: ['top', 'posixGroup', 'groupOfNames'],
      cn: g.name,
      gidNumber: g.gidNumber,
      description: g.description || null,
      memberUid: members.map((u) => u.username),
      member: members.map((u) => this.userDn(u.username)),
      entryUUID: g.id,
      createTimestamp: generalizedTime(g.createdAt),
      modifyTimestamp: generalizedTime(g.updatedAt),
    }, g.id, this.#groupNdn(g.name));
    const member = e.attrs.get('member');
    if (member) member.norm = members.map((u) => this.#userNdn(u.username));
    this.#groupEntry.set(id, e);
    this.#add(e);
  }

  #add(e: Entry): void {
    if (e.kind !== 'root') {
      e.attrs.set('entrydn', { name: 'entryDN', values: [e.dn] });
      // Attributes whose values are the same on every entry of a kind are one shared object
      // (with its normalised values and encoding), not one copy per entry.
      e.attrs.set('structuralobjectclass', shared('structuralObjectClass', [structural(e)]));
      for (const key of ['objectclass', 'loginshell', 'shadowmax', 'shadowwarning', 'shadowlastchange']) {
        const a = e.attrs.get(key);
        if (a) e.attrs.set(key, shared(a.name, a.values));
      }
    }
    const prev = this.#entries.get(e.ndn);
    if (prev) this.#remove(prev);
    this.#entries.set(e.ndn, e);
    if (e.parent !== null) {
      let set = this.#children.get(e.parent);
      if (!set) this.#children.set(e.parent, (set = new Set()));
      set.add(e);
    }
    for (const attr of INDEXED) {
      const a = e.attrs.get(attr);
      if (!a) continue;
      let byValue = this.#index.get(attr);
      if (!byValue) this.#index.set(attr, (byValue = new Map()));
      for (const v of normValues(a, attrType(attr)!.syntax)) {
        if (v === null) continue;
        const cur = byValue.get(v);
        if (!cur) byValue.set(v, e);
        else if (cur instanceof Set) cur.add(e);
        else if (cur !== e) byValue.set(v, new Set([cur, e]));
      }
    }
  }

  #remove(e: Entry): void {
    if (this.#entries.get(e.ndn) !== e) return;
    this.#entries.delete(e.ndn);
    if (e.parent !== null) this.#children.get(e.parent)?.delete(e);
    for (const attr of INDEXED) {
      const a = e.attrs.get(attr);
      if (!a) continue;
      const byValue = this.#index.get(attr);
      if (!byValue) continue;
      for (const v of normValues(a, attrType(attr)!.syntax)) {
        if (v === null) continue;
        const cur = byValue.get(v);
        if (cur === e) byValue.delete(v);
        else if (cur instanceof Set) {
          cur.delete(e);
          if (cur.size === 1) byValue.set(v, cur.values().next().value!);
        }
      }
    }
  }

  get(ndn: string): Entry | undefined {
    return ndn === '' ? this.rootDse : this.#entries.get(ndn);
  }

  hasChildren(e: Entry): boolean {
    return (this.#children.get(e.ndn)?.size ?? 0) > 0;
  }

  /** The nearest existing ancestor's DN (for matchedDN in noSuchObject). */
  matched(ndn: string): string {
    let cur: string | null = ndn;
    while (cur !== null && cur !== '') {
      const e = this.#entries.get(cur);
      if (e) return e.dn;
      const i = cur.indexOf(',');
      cur = i < 0 ? null : cur.slice(i + 1);
    }
    return '';
  }

  /** Entries in scope of `base` (base entry must exist). */
  *scope(base: Entry, scope: 0 | 1 | 2): Iterable<Entry> {
    if (scope === 0) {
      yield base;
      return;
    }
    if (scope === 2) yield base;
    const stack: Entry[] = [base];
    while (stack.length) {
      const cur = stack.pop()!;
      const kids = this.#children.get(cur.ndn);
      if (!kids) continue;
      for (const k of kids) {
        yield k;
        if (scope === 2) stack.push(k);
      }
    }
  }

  /** Entries with one of these indexed values, restricted to those under base in scope. */
  lookup(terms: { attr: string; value: string }[], base: Entry, scope: 0 | 1 | 2): Entry[] {
    const out = new Set<Entry>();
    for (const t of terms) {
      const hit = this.#index.get(t.attr)?.get(t.value);
      for (const e of hit === undefined ? [] : hit instanceof Set ? hit : [hit]) {
        if (scope === 0 ? e === base : scope === 1 ? e.parent === base.ndn : isUnder(e.ndn, base.ndn)) out.add(e);
      }
    }
    return [...out];
  }

  userEntry(id: string): Entry | undefined {
    return this.#userEntry.get(id);
  }

  serviceEntry(id: string): Entry | undefined {
    return this.#serviceEntry.get(id);
  }

  /** Distinguish the kinds of a DN we might be asked to bind with. */
  classify(ndn: string): { kind: 'user'; name: string } | { kind: 'service'; name: string } | null {
    if (ndn.endsWith(`,${this.usersNdn}`)) {
      const m = /^uid=([^,+]+)$/.exec(ndn.slice(0, -this.usersNdn.length - 1));
      if (m) return { kind: 'user', name: unescape(m[1]!) };
    }
    if (ndn.endsWith(`,${this.servicesNdn}`)) {
      const m = /^cn=([^,+]+)$/.exec(ndn.slice(0, -this.servicesNdn.length - 1));
      if (m) return { kind: 'service', name: unescape(m[1]!) };
    }
    return null;
  }
}

const sharedAttrs = new Map<string, Attribute>();

function shared(name: string, values: string[]): Attribute {
  const key = `${name}\0${values.join('\0')}`;
  let a = sharedAttrs.get(key);
  if (!a) sharedAttrs.set(key, (a = { name, values }));
  return a;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

function structural(e: Entry): string {
  switch (e.kind) {
    case 'user': return 'inetOrgPerson';
    case 'group': return 'posixGroup';
    case 'ou': return 'organizationalUnit';
    case 'service': return 'applicationProcess';
    case 'base': return 'organization';
    default: return 'top';
  }
}
