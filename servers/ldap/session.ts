// LDAP operations over the core: bind (through authenticate()), search over the in-memory
// tree with access control, paging and limits, compare, and the extended operations.
import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/load.js';
import { ipInCidrs, isCairnError, type Directory, type Logger, type Org } from '../../core/index.js';
import { octets, seq, tlv } from './ber.js';
import { normalizeDn, isUnder } from './dn.js';
import { ldapError } from './errors.js';
import { evaluate, indexTerms } from './filter.js';
import {
  decodePagedControl, decodePasswordModify, envelope, extendedResponse, Op, OID, pagedControl, passwordExpiredControl, passwordExpiringControl, result, ResultCode,
  type Message, type Request,
} from './protocol.js';
import { attrType, isOperational, type Attribute, type Entry } from './schema.js';
import type { Connection, Handler } from './server.js';
import { DirectoryTree, INDEXED } from './tree.js';

type LdapConfig = Config['ldap'];

type Identity =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: string; username: string; dn: string }
  | { kind: 'service'; id: string; name: string; dn: string; permissions: string[] };

interface PagedState {
  key: Buffer;
  ndns: string[];
  offset: number;
  expires: number;
  sizeLimit: number;
}

interface SessionState {
  identity: Identity;
  paged: Map<string, PagedState>;
  abandoned: Set<number>;
  /** Bumped by each bind: a bind that finishes after a newer one started changes nothing. */
  bindSeq: number;
}

type SearchReq = Extract<Request, { op: 'search' }>;

export class LdapSession implements Handler {
  readonly #dir: Directory;
  readonly #org: Org;
  readonly #cfg: LdapConfig;
  readonly #log: Logger;
  readonly tree: DirectoryTree;
  readonly #state = new Map<Connection, SessionState>();

  constructor(dir: Directory, org: Org, cfg: LdapConfig, baseDn: string, log: Logger) {
    this.#dir = dir;
    this.#org = org;
    this.#cfg = cfg;
    this.#log = log;
    this.tree = new DirectoryTree(dir, org, { baseDn, userPrivateGroups: cfg.userPrivateGroups, refreshSeconds: cfg.refreshSeconds });
    // Suspension, deletion, or a service account's reset ends its bound sessions at once.
    this.tree.onRevoke = (kind, id) => {
      for (const [conn, s] of this.#state) {
        const who = s.identity;
        if ((kind === 'user' && who.kind === 'user' && who.id === id) || (kind === 'service_account' && who.kind === 'service' && who.id === id)) {
          s.identity = { kind: 'anonymous' };
          s.paged.clear();
          conn.bound = false;
        }
      }
    };
  }

  opened(conn: Connection): void {
    this.#state.set(conn, { identity: { kind: 'anonymous' }, paged: new Map(), abandoned: new Set(), bindSeq: 0 });
  }

  closed(conn: Connection): void {
    this.#state.delete(conn);
  }

  #secureEnough(conn: Connection): boolean {
    return conn.tls || (this.#cfg.allowCleartextCidrs.length > 0 && ipInCidrs(conn.clientIp, this.#cfg.allowCleartextCidrs));
  }

  async handle(conn: Connection, msg: Message): Promise<void> {
    const s = this.#state.get(conn);
    if (!s) return;
    const req = msg.request;
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ conn: conn.id, msgId: msg.id, op: req.op, ...(req.op === 'search' ? { base: req.base, scope: req.scope, attrs: req.attributes.length } : {}), controls: msg.controls.map((c) => c.type) }, 'ldap request');
    }
    // Critical controls we do not implement refuse the operation (RFC 4511 §4.1.11).
    const unknownCritical = msg.controls.find((c) => c.critical && !(req.op === 'search' && c.type === OID.pagedResults) && !(req.op === 'bind' && c.type === OID.passwordPolicy));
    const responseTag = req.op === 'bind' ? Op.bindResponse : req.op === 'search' ? Op.searchResultDone : req.op === 'compare' ? Op.compareResponse
      : req.op === 'extended' ? Op.extendedResponse : req.op === 'write' ? req.responseTag : null;
    if (unknownCritical && responseTag !== null) {
      await conn.write(result(msg.id, responseTag, ResultCode.unavailableCriticalExtension, 'unsupported critical control'));
      return;
    }
    switch (req.op) {
      case 'bind':
        return this.#bind(conn, s, msg, req);
      case 'search':
        return this.#search(conn, s, msg, req);
      case 'compare':
        return this.#compare(conn, s, msg.id, req);
      case 'abandon':
        s.abandoned.add(req.id);
        if (s.abandoned.size > 1000) s.abandoned.clear();
        return;
      case 'extended':
        return this.#extended(conn, s, msg.id, req);
      case 'write':
        await conn.write(result(msg.id, req.responseTag, ResultCode.unwillingToPerform, 'this directory is read-only over LDAP: change entries through the Cairn management API'));
        return;
      default:
        return;
    }
  }

  // --- bind -------------------------------------------------------------------------------

  async #bind(conn: Connection, s: SessionState, msg: Message, req: Extract<Request, { op: 'bind' }>): Promise<void> {
    const reply = (code: number, message = '', controls?: Buffer[]) => conn.write(result(msg.id, Op.bindResponse, code, message, { controls }));
    // A bind (even a failing one) resets the connection to anonymous first.
    const seq = ++s.bindSeq;
    s.identity = { kind: 'anonymous' };
    s.paged.clear();
    conn.bound = false;
    if (req.version !== 3) return reply(ResultCode.protocolError, 'only LDAPv3 is supported');
    if (req.auth.kind !== 'simple') return reply(ResultCode.authMethodNotSupported, 'only simple bind is supported');
    if (!this.#secureEnough(conn)) return reply(ResultCode.confidentialityRequired, 'use LDAPS or StartTLS before binding');
    const password = req.auth.password;
    if (req.name === '' && password.length === 0) return reply(ResultCode.success); // anonymous: root DSE only
    if (password.length === 0) return reply(ResultCode.unwillingToPerform, 'unauthenticated bind (DN with no password) disallowed');

    let identity: Identity | 'password_expired' | null = null;
    let expiresInSeconds: number | null = null;
    let code: number = ResultCode.invalidCredentials;
    let message = 'invalid credentials';
    try {
      const r = await this.#withTimeout(this.#authenticate(conn, req.name, password.toString('utf8')));
      if (r && r !== 'password_expired') ({ identity, expiresInSeconds } = r);
      else identity = r;
    } catch (err) {
      const e = ldapError(err);
      if (err instanceof OperationTimeout) {
        code = ResultCode.busy;
        message = 'server busy, retry later';
      } else if (e.code === ResultCode.unavailable || e.code === ResultCode.busy) {
        code = e.code;
        message = e.message;
      } else {
        this.#log.error({ err: isCairnError(err) ? err.code : (err as Error).message }, 'ldap bind failed');
        code = ResultCode.other;
        message = 'internal error';
      }
    }
    if (conn.closed) return;
    // A right but temporary or expired password is still a failed bind; a client that speaks the
    // password policy control (SSSD) learns why and can change it with Password Modify.
    const askedPolicy = msg.controls.some((c) => c.type === OID.passwordPolicy);
    if (identity === 'password_expired') {
      if (askedPolicy) {
        return reply(ResultCode.invalidCredentials, 'password expired: set a new one with the Password Modify operation', [passwordExpiredControl()]);
      }
      identity = null;
    }
    // Every bind is answered; only the latest one decides who the connection is bound as.
    if (identity) {
      if (seq === s.bindSeq) {
        s.identity = identity;
        conn.bound = true;
      }
      // Inside the policy's warning window, SSSD tells the user how long the password has left.
      return reply(ResultCode.success, '', askedPolicy && expiresInSeconds !== null ? [passwordExpiringControl(expiresInSeconds)] : undefined);
    }
    return reply(code, message);
  }

  /** The user name in a bind DN or login name ("alice", "uid=alice", "alice@<org domain>", a user DN), or a service account's. */
  #bindName(name: string): { username: string | null; service: string | null } {
    let username: string | null = null;
    let service: string | null = null;
    if (name.includes('=')) {
      const ndn = normalizeDn(name);
      const kind = ndn === null ? null : this.tree.classify(ndn);
      if (kind?.kind === 'user') username = kind.name;
      else if (kind?.kind === 'service') service = kind.name;
      else if (ndn !== null && /^uid=[^,+]+$/.test(ndn)) username = ndn.slice(4).replace(/\\(.)/g, '$1');
    } else {
      // "alice" or "alice@example.com" (the org's own domain only).
      const at = name.lastIndexOf('@');
      if (at < 0) username = name;
      else if (name.slice(at + 1).toLowerCase() === this.#org.domain.toLowerCase()) username = name.slice(0, at);
    }
    return { username, service };
  }

  /**
   * Resolve the bind name and check the password: null for every credential failure, and
   * 'password_expired' for a right password that must be changed before it can be used.
   */
  async #authenticate(conn: Connection, name: string, password: string): Promise<{ identity: Identity; expiresInSeconds: number | null } | 'password_expired' | null> {
    const orgId = this.#org.id;
    const { username, service } = this.#bindName(name);
    if (service !== null) {
      const account = await this.#dir.serviceAccounts.verify(orgId, service, password, conn.clientIp, 'ldap');
      if (!account) return null;
      return { identity: { kind: 'service', id: account.id, name: account.name, dn: `cn=${account.name},ou=Services,${this.tree.baseDn}`, permissions: account.permissions }, expiresInSeconds: null };
    }
    // Unknown DN forms still go through authenticate(): same cost, and the attempt is audited.
    const res = await this.#dir.authenticate({
      orgId,
      username: username ?? name.slice(0, 64),
      credential: { kind: 'password', password, otpAppended: true },
      protocol: 'ldap',
      clientIp: conn.clientIp,
      ...(this.#cfg.requireGrant ? { resource: { type: 'ldap' as const, id: orgId } } : {}),
    });
    if (res.decision === 'deny' && (res.reason === 'password_change_required' || res.reason === 'password_expired')) return 'password_expired';
    if (res.decision !== 'allow') return null;
    const left = res.user.passwordExpiresAt ? Math.floor((res.user.passwordExpiresAt.getTime() - Date.now()) / 1000) : null;
    const warnDays = left === null ? 0 : (await this.#dir.policies.passwordPolicy(orgId)).expiryWarningDays;
    return {
      identity: { kind: 'user', id: res.user.id, username: res.user.username, dn: this.tree.userDn(res.user.username) },
      expiresInSeconds: left !== null && left > 0 && left <= warnDays * 86400 ? left : null,
    };
  }

  #withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = this.#cfg.operationTimeoutSeconds * 1000;
    let timer: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new OperationTimeout()), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  // --- access control ---------------------------------------------------------------------

  /** May this identity see this entry at all? */
  #visible(who: Identity, e: Entry): boolean {
    if (e.kind === 'root') return true;
    switch (who.kind) {
      case 'anonymous':
        return false;
      case 'service':
        if (who.permissions.includes('read_directory')) return true;
        return e.kind === 'service' && e.id === who.id;
      case 'user':
        if (this.#cfg.userAccess === 'none') return false;
        if (e.kind === 'user' && e.id === who.id) return true;
        if (this.#cfg.userAccess === 'self') return false;
        return e.kind !== 'service' && e.ndn !== this.tree.servicesNdn;
    }
  }

  // --- search -----------------------------------------------------------------------------

  async #search(conn: Connection, s: SessionState, msg: Message, req: SearchReq): Promise<void> {
    const id = msg.id;
    const done = (code: number, message = '', opts: { matchedDn?: string; controls?: Buffer[] } = {}) =>
      conn.write(result(id, Op.searchResultDone, code, message, opts));
    if (!this.#secureEnough(conn)) return done(ResultCode.confidentialityRequired, 'use LDAPS or StartTLS first');

    const pagedCtl = msg.controls.find((c) => c.type === OID.pagedResults);
    let paged: { size: number; cookie: Buffer } | null = null;
    if (pagedCtl) {
      try {
        paged = decodePagedControl(pagedCtl.value);
      } catch {
        return done(ResultCode.protocolError, 'malformed paged results control');
      }
    }
    const baseNdn = normalizeDn(req.base);
    if (baseNdn === null) return done(ResultCode.invalidDNSyntax, 'invalid base DN');

    // The root DSE: readable by anyone (after TLS), base scope only.
    if (baseNdn === '' && req.scope === 0) {
      return conn.write(Buffer.concat([this.#entry(id, this.tree.rootDse, req, true), result(id, Op.searchResultDone, ResultCode.success, '')]));
    }
    const who = s.identity;
    if (who.kind === 'anonymous') return done(ResultCode.insufficientAccessRights, 'bind first: anonymous clients may read the root DSE only');

    if (!this.tree.isFresh) {
      try {
        await this.#withTimeout(this.tree.fresh());
      } catch (err) {
        const e = err instanceof OperationTimeout ? { code: ResultCode.busy, message: 'server busy, retry later' } : ldapError(err);
        return done(e.code, e.message);
      }
    }
    // A subtree/one-level search from "" covers our naming context.
    const base = baseNdn === '' ? this.tree.get(this.tree.baseNdn) : this.tree.get(baseNdn);
    // A container the client may not see (the base, an ou) is searched anyway, returning only
    // visible entries; a user, group or service entry it may not see does not exist for it.
    const hidden = base && !this.#visible(who, base) && (base.kind === 'user' || base.kind === 'group' || base.kind === 'service');
    if (!base || hidden) return done(ResultCode.noSuchObject, 'no such object', { matchedDn: baseNdn === '' ? '' : this.#visibleMatched(who, baseNdn) });
    const scope = baseNdn === '' ? (req.scope === 1 ? 0 : 2) : req.scope;

    const sizeLimit = req.sizeLimit > 0 ? Math.min(req.sizeLimit, this.#cfg.maxSizeLimit) : this.#cfg.maxSizeLimit;
    const timeLimitMs = (req.timeLimit > 0 ? Math.min(req.timeLimit, this.#cfg.maxTimeLimitSeconds) : this.#cfg.maxTimeLimitSeconds) * 1000;
    const deadline = Date.now() + timeLimitMs;

    if (paged) return this.#pagedSearch(conn, s, id, req, paged, base, scope as 0 | 1 | 2, deadline);

    // Entries are batched into few writes (one TLS record for a typical lookup and its result).
    const out = new OutputBatch(conn);
    let sent = 0;
    let checked = 0;
    for (const e of this.#candidates(req, base, scope as 0 | 1 | 2)) {
      if (++checked % 512 === 0) {
        // A long scan yields to the event loop so that other clients are served meanwhile.
        await yieldToLoop();
        if (s.abandoned.has(id) || conn.closed) return;
        if (Date.now() > deadline) return out.end(result(id, Op.searchResultDone, ResultCode.timeLimitExceeded, 'time limit exceeded'));
      }
      if (!this.#visible(who, e) || evaluate(req.filter, e) !== true) continue;
      if (sent >= sizeLimit) return out.end(result(id, Op.searchResultDone, ResultCode.sizeLimitExceeded, 'size limit exceeded'));
      await out.push(this.#entry(id, e, req, false));
      sent++;
    }
    if (s.abandoned.delete(id)) return;
    return out.end(result(id, Op.searchResultDone, ResultCode.success, ''));
  }

  #visibleMatched(who: Identity, ndn: string): string {
    const m = this.tree.matched(ndn);
    const e = m ? this.tree.get(normalizeDn(m)!) : undefined;
    return e && this.#visible(who, e) ? m : '';
  }

  *#candidates(req: SearchReq, base: Entry, scope: 0 | 1 | 2): Iterable<Entry> {
    const terms = indexTerms(req.filter, INDEXED);
    if (terms) yield* this.tree.lookup(terms, base, scope);
    else yield* this.tree.scope(base, scope);
  }

  async #pagedSearch(conn: Connection, s: SessionState, id: number, req: SearchReq, ctl: { size: number; cookie: Buffer }, base: Entry, scope: 0 | 1 | 2, deadline: number): Promise<void> {
    const now = Date.now();
    for (const [k, p] of s.paged) if (p.expires < now) s.paged.delete(k);
    const done = (code: number, message: string, cookie: Buffer) =>
      conn.write(result(id, Op.searchResultDone, code, message, { controls: [pagedControl(0, cookie)] }));
    let state: PagedState;
    const cookieKey = ctl.cookie.toString('hex');
    if (ctl.cookie.length > 0) {
      const found = s.paged.get(cookieKey);
      // Cookies are bound to this connection and to this exact search.
      if (!found || !found.key.equals(req.raw)) return done(ResultCode.unwillingToPerform, 'paged results cookie is invalid', Buffer.alloc(0));
      s.paged.delete(cookieKey);
      state = found;
      if (ctl.size === 0) return done(ResultCode.success, '', Buffer.alloc(0)); // client abandons the paged search
    } else {
      if (ctl.size === 0) return done(ResultCode.success, '', Buffer.alloc(0));
      const ndns: string[] = [];
      let checked = 0;
      for (const e of this.#candidates(req, base, scope)) {
        if (++checked % 512 === 0) {
          await yieldToLoop();
          if (conn.closed) return;
          if (Date.now() > deadline) return done(ResultCode.timeLimitExceeded, 'time limit exceeded', Buffer.alloc(0));
        }
        if (this.#visible(s.identity, e) && evaluate(req.filter, e) === true) ndns.push(e.ndn);
      }
      state = { key: req.raw, ndns, offset: 0, expires: now + this.#cfg.pagedSearchSeconds * 1000, sizeLimit: req.sizeLimit > 0 ? req.sizeLimit : Infinity };
    }
    const pageSize = Math.min(ctl.size, this.#cfg.maxPageSize);
    let sent = 0;
    while (sent < pageSize && state.offset < state.ndns.length) {
      if (state.offset >= state.sizeLimit) return done(ResultCode.sizeLimitExceeded, 'size limit exceeded', Buffer.alloc(0));
      const e = this.tree.get(state.ndns[state.offset++]!);
      // Entries removed or hidden since the first page are skipped, not resurrected.
      if (!e || !this.#visible(s.identity, e) || evaluate(req.filter, e) !== true) continue;
      await conn.write(this.#entry(id, e, req, false));
      sent++;
      if (s.abandoned.delete(id) || conn.closed) return;
    }
    if (state.offset < state.ndns.length) {
      const cookie = randomBytes(16);
      if (s.paged.size >= this.#cfg.maxPagedSearchesPerConnection) s.paged.delete(s.paged.keys().next().value!);
      state.expires = Date.now() + this.#cfg.pagedSearchSeconds * 1000;
      s.paged.set(cookie.toString('hex'), state);
      return done(ResultCode.success, '', cookie);
    }
    return done(ResultCode.success, '', Buffer.alloc(0));
  }

  /** Encode the requested attributes of an entry as a SearchResultEntry message. */
  #entry(id: number, e: Entry, req: SearchReq, rootDse: boolean): Buffer {
    const sel = selectionOf(req);
    // The attribute list for one selection is the same every time until the entry is rebuilt:
    // keep a few per entry (SSSD asks with the same lists all day).
    let attrs = sel.cacheable ? e.selections?.get(sel.key) : undefined;
    if (!attrs) {
      const parts: Buffer[] = [];
      if (!sel.noAttrs) {
        const allUser = sel.allUser || (rootDse && sel.onlyPlus);
        for (const [key, a] of e.attrs) {
          const oper = isOperational(key);
          if ((oper ? sel.allOper : allUser) || sel.named.has(key)) parts.push(req.typesOnly ? encodeTypeOnly(a) : encodeAttr(a));
        }
        if ((sel.allOper || sel.named.has('hassubordinates')) && e.kind !== 'root') {
          parts.push(encodeAttr({ name: 'hasSubordinates', values: [this.tree.hasChildren(e) ? 'TRUE' : 'FALSE'] }));
        }
      }
      attrs = seq(parts);
      if (sel.cacheable && e.kind !== 'root') {
        e.selections ??= new Map();
        if (e.selections.size >= 4) e.selections.delete(e.selections.keys().next().value!);
        e.selections.set(sel.key, attrs);
      }
    }
    return envelope(id, tlv(Op.searchResultEntry, [(e.dnBer ??= octets(e.dn)), attrs]));
  }

  // --- compare ----------------------------------------------------------------------------

  async #compare(conn: Connection, s: SessionState, id: number, req: Extract<Request, { op: 'compare' }>): Promise<void> {
    const reply = (code: number, message = '') => conn.write(result(id, Op.compareResponse, code, message));
    if (!this.#secureEnough(conn)) return reply(ResultCode.confidentialityRequired, 'use LDAPS or StartTLS first');
    if (s.identity.kind === 'anonymous') return reply(ResultCode.insufficientAccessRights, 'bind first');
    const ndn = normalizeDn(req.dn);
    if (ndn === null) return reply(ResultCode.invalidDNSyntax, 'invalid DN');
    try {
      await this.#withTimeout(this.tree.fresh());
    } catch (err) {
      const e = ldapError(err);
      return reply(e.code, e.message);
    }
    const e = this.tree.get(ndn);
    if (!e || !this.#visible(s.identity, e)) return reply(ResultCode.noSuchObject, 'no such object');
    const v = evaluate({ t: 'eq', attr: req.attribute, value: req.value }, e);
    if (v === undefined) return reply(ResultCode.undefinedAttributeType, 'attribute not comparable');
    if (v === false && !e.attrs.has(attrType(req.attribute)!.name.toLowerCase())) return reply(ResultCode.noSuchAttribute, 'no such attribute');
    return reply(v ? ResultCode.compareTrue : ResultCode.compareFalse);
  }

  // --- extended operations ----------------------------------------------------------------

  async #extended(conn: Connection, s: SessionState, id: number, req: Extract<Request, { op: 'extended' }>): Promise<void> {
    switch (req.name) {
      case OID.whoAmI: {
        if (!this.#secureEnough(conn)) return conn.write(extendedResponse(id, ResultCode.confidentialityRequired, 'use LDAPS or StartTLS first'));
        const who = s.identity;
        const authz = who.kind === 'anonymous' ? '' : `dn:${who.dn}`;
        return conn.write(extendedResponse(id, ResultCode.success, '', { value: Buffer.from(authz) }));
      }
      case OID.passwordModify:
        return this.#passwordModify(conn, s, id, req.value);
      default:
        return conn.write(extendedResponse(id, ResultCode.protocolError, 'unsupported extended operation'));
    }
  }

  async #passwordModify(conn: Connection, s: SessionState, id: number, value: Buffer | null): Promise<void> {
    const reply = (code: number, message = '') => conn.write(extendedResponse(id, code, message));
    if (!this.#secureEnough(conn)) return reply(ResultCode.confidentialityRequired, 'use LDAPS or StartTLS first');
    let body: ReturnType<typeof decodePasswordModify>;
    try {
      body = decodePasswordModify(value);
    } catch {
      return reply(ResultCode.protocolError, 'malformed password modify request');
    }
    const who = s.identity;
    // Unbound, a user may still change their own password by proving the old one (RFC 3062
    // with userIdentity and oldPasswd): this is how SSSD replaces an expired password, on the
    // connection whose bind was refused for it.
    if (who.kind === 'anonymous' && (body.user === null || body.oldPassword === null)) return reply(ResultCode.insufficientAccessRights, 'bind first, or name the user and give the current password');
    if (body.newPassword === null || body.newPassword === '') return reply(ResultCode.unwillingToPerform, 'a new password is required (the server does not generate passwords)');
    const orgId = this.#org.id;
    try {
      await this.#withTimeout((async () => {
        await this.tree.fresh();
        if (who.kind !== 'service') {
          const ndn = body.user === null ? null : this.#userNdnFromIdentity(body.user);
          const named = ndn === null ? null : this.tree.classify(ndn)?.name ?? null;
          if (who.kind === 'user' && body.user !== null && named !== who.username) throw new Refusal(ResultCode.insufficientAccessRights, 'users may change only their own password');
          if (body.oldPassword === null || body.oldPassword === '') throw new Refusal(ResultCode.unwillingToPerform, 'the current password is required');
          // Unbound and naming no user DN: authenticate() answers it like a wrong password, after the same work.
          const username = who.kind === 'user' ? who.username : named ?? body.user!.slice(0, 64);
          // The old password is checked by the one authentication path (lockout, MFA, audit).
          const res = await this.#dir.authenticate({
            orgId, username, credential: { kind: 'password', password: body.oldPassword, otpAppended: true },
            protocol: 'ldap', clientIp: conn.clientIp, detail: { operation: 'password_modify' }, changingPassword: true,
          });
          if (res.decision !== 'allow') throw new Refusal(ResultCode.invalidCredentials, 'invalid credentials');
          await this.#dir.users.setPassword(
            { orgId, actor: { type: 'user', id: res.user.id, name: res.user.username }, clientIp: conn.clientIp, service: 'ldap' },
            res.user.id, body.newPassword!, { eventType: 'user.password_changed' },
          );
          return;
        }
        if (!who.permissions.includes('password_modify')) throw new Refusal(ResultCode.insufficientAccessRights, 'this service account may not change passwords');
        if (body.user === null) throw new Refusal(ResultCode.unwillingToPerform, 'name the user whose password to change');
        const ndn = this.#userNdnFromIdentity(body.user);
        const target = ndn === null ? null : this.tree.get(ndn)?.id ?? null;
        if (!target) throw new Refusal(ResultCode.noSuchObject, 'no such user');
        await this.#dir.users.setPassword(
          { orgId, actor: { type: 'service_account', id: who.id, name: who.name }, clientIp: conn.clientIp, service: 'ldap' },
          target, body.newPassword!, { eventType: 'user.password_reset' },
        );
      })());
    } catch (err) {
      if (err instanceof Refusal) return reply(err.code, err.message);
      if (err instanceof OperationTimeout) return reply(ResultCode.busy, 'server busy, retry later');
      const e = ldapError(err);
      if (e.internal) this.#log.error({ err: (err as Error).message }, 'ldap password modify failed');
      return reply(e.code, e.message);
    }
    return reply(ResultCode.success);
  }

  /** The normalised user DN a password-modify userIdentity names: a user DN, "dn:<DN>", "u:<name>" or a bare name. */
  #userNdnFromIdentity(identity: string): string | null {
    let v = identity.trim();
    if (v.startsWith('dn:')) v = v.slice(3);
    else if (v.startsWith('u:')) v = `uid=${v.slice(2)},ou=Users,${this.tree.baseDn}`;
    else if (!v.includes('=')) v = `uid=${v},ou=Users,${this.tree.baseDn}`;
    const ndn = normalizeDn(v);
    return ndn !== null && isUnder(ndn, this.tree.usersNdn) ? ndn : null;
  }
}

class OperationTimeout extends Error {}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Collects response messages and writes them in chunks of about 64 KiB, honouring backpressure. */
class OutputBatch {
  #parts: Buffer[] = [];
  #size = 0;
  constructor(readonly conn: Connection) {}

  async push(buf: Buffer): Promise<void> {
    this.#parts.push(buf);
    this.#size += buf.length;
    if (this.#size >= 65536) {
      const chunk = Buffer.concat(this.#parts);
      this.#parts = [];
      this.#size = 0;
      await this.conn.write(chunk);
    }
  }

  end(last: Buffer): Promise<void> {
    this.#parts.push(last);
    const chunk = this.#parts.length === 1 ? last : Buffer.concat(this.#parts);
    this.#parts = [];
    return this.conn.write(chunk);
  }
}
class Refusal extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

interface Selection {
  key: string;
  noAttrs: boolean;
  allUser: boolean;
  allOper: boolean;
  onlyPlus: boolean;
  named: Set<string>;
  /** hasSubordinates changes without the entry being rebuilt: never cached. */
  cacheable: boolean;
}

const selections = new WeakMap<SearchReq, Selection>();

/** What a search asks for (RFC 4511 §4.5.1.8), computed once per request. */
function selectionOf(req: SearchReq): Selection {
  let sel = selections.get(req);
  if (sel) return sel;
  const wanted = req.attributes.map((a) => a.toLowerCase());
  const noAttrs = wanted.length === 1 && wanted[0] === '1.1';
  const named = new Set<string>();
  for (const w of wanted) {
    const t = attrType(w);
    if (t) named.add(t.name.toLowerCase());
  }
  const allOper = wanted.includes('+');
  sel = {
    key: `${req.typesOnly ? 1 : 0}${wanted.join('\0')}`,
    noAttrs,
    allUser: !noAttrs && (wanted.length === 0 || wanted.includes('*')),
    allOper,
    onlyPlus: wanted.length > 0 && wanted.every((w) => w === '+'),
    named,
    cacheable: !allOper && !named.has('hassubordinates') && wanted.length <= 64,
  };
  selections.set(req, sel);
  return sel;
}

function encodeAttr(a: Attribute): Buffer {
  if (!a.ber) a.ber = seq([octets(a.name), tlv(0x31, a.values.map((v) => octets(v)))]);
  return a.ber;
}

function encodeTypeOnly(a: Attribute): Buffer {
  return seq([octets(a.name), tlv(0x31, [])]);
}
