// Cairn's own browser state, kept in the SSO store (so it survives restarts and is shared by
// instances) under the SHA-256 of the cookie value (a database reader cannot replay cookies):
// - a login flow: username → password → TOTP / enrolment / password change, then `next`;
// - an SSO session: who signed in, when, with which factor; max lifetime + idle timeout from the
//   org's SSO session policy (core/policies.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashToken, randomToken, type Directory, type MfaType } from '../../core/index.js';

export const FLOW_COOKIE = '__Host-cairn_flow';
export const SESSION_COOKIE = '__Host-cairn_sso';
const FLOW_TTL_S = 15 * 60;

export type FlowStep = 'username' | 'password' | 'totp' | 'enroll' | 'recovery_codes' | 'password_change' | 'done';

export interface Flow {
  csrf: string;
  step: FlowStep;
  /** Where to go once signed in (an OIDC interaction, a pending SAML request, the portal). */
  next: string;
  /** The app being signed in to: its groups decide (core authenticate, resource sso_app). */
  appId: string | null;
  appName: string | null;
  /** OIDC interaction uid this flow serves. */
  uid: string | null;
  username?: string;
  challenge?: string;
  /** The WebAuthn challenge the login page (passkey, or second factor) gave the browser: one answer. */
  webauthnChallenge?: string;
  /** Set when done: the user and how they proved it. */
  userId?: string;
  mfa?: MfaType | null;
  authTime?: number;
  recoveryCodes?: string[];
}

export interface SsoSession {
  userId: string;
  authTime: number;
  lastSeen: number;
  mfa: MfaType | null;
  csrf: string;
  /** SAML SPs this session sent assertions to: single logout tells each of them. */
  samlParticipants?: SamlParticipant[];
}

export interface SamlParticipant {
  appId: string;
  nameId: string;
  nameIdFormat: string;
  sessionIndex: string;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!k || k in out) continue;
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      /* a malformed cookie is ignored */
    }
  }
  return out;
}

/** __Host- cookies: Secure, Path=/, no Domain; HttpOnly and SameSite=Lax (top-level POSTs from SPs are not needed here). */
export function setCookie(reply: FastifyReply, name: string, value: string, maxAgeSeconds: number): void {
  reply.header('set-cookie', `${name}=${encodeURIComponent(value)}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`);
}
export function clearCookie(reply: FastifyReply, name: string): void {
  reply.header('set-cookie', `${name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`);
}

export class BrowserState {
  readonly #dir: Directory;
  readonly #orgId: string;
  /** User id → the store rows a credential change in progress here must not end (see changingCredentials). */
  readonly #spared = new Map<string, Array<{ model: string; id: string }>>();

  constructor(dir: Directory, orgId: string) {
    this.#dir = dir;
    this.#orgId = orgId;
  }

  /** Session lifetime and idle timeout, in seconds, from the org's SSO session policy (read on every use). */
  async #limits(): Promise<{ maxAgeS: number; idleS: number }> {
    const p = await this.#dir.policies.ssoSessionPolicy(this.#orgId);
    return { maxAgeS: p.maxAgeMinutes * 60, idleS: p.idleMinutes * 60 };
  }

  // --- credential changes ----------------------------------------------------------------------

  /** The store rows that are this browser session (for revocations that must spare it). */
  sessionRows(session: { id: string }): Array<{ model: string; id: string }> {
    return [{ model: 'CairnSession', id: hashToken(session.id) }];
  }

  /**
   * Run a credential change the user makes from this browser. The change ends the user's other
   * SSO sessions and tokens (main.ts, on the change feed, which the core publishes before
   * `change` returns); the session or login flow it is made from carries on.
   */
  async changingCredentials<T>(userId: string, from: { session?: { id: string }; flow?: { id: string } }, change: () => Promise<T>): Promise<T> {
    const spared = [
      ...(from.session ? this.sessionRows(from.session) : []),
      ...(from.flow ? [{ model: 'CairnFlow', id: hashToken(from.flow.id) }] : []),
    ];
    this.#spared.set(userId, spared);
    try {
      return await change();
    } finally {
      this.#spared.delete(userId);
    }
  }

  /** What a credential change of this user, made here and now, leaves alive. */
  sparedBy(userId: string): Array<{ model: string; id: string }> {
    return this.#spared.get(userId) ?? [];
  }

  // --- flows ---------------------------------------------------------------------------------

  async startFlow(reply: FastifyReply, init: Pick<Flow, 'next' | 'appId' | 'appName' | 'uid'>): Promise<Flow & { id: string }> {
    const id = randomToken(32);
    const flow: Flow = { ...init, csrf: randomToken(24), step: 'username' };
    await this.#dir.sso.store.upsert('CairnFlow', hashToken(id), flow as unknown as Record<string, unknown>, FLOW_TTL_S);
    setCookie(reply, FLOW_COOKIE, id, FLOW_TTL_S);
    return { ...flow, id };
  }

  async flow(req: FastifyRequest): Promise<(Flow & { id: string }) | null> {
    const id = parseCookies(req.headers.cookie)[FLOW_COOKIE];
    if (!id || id.length > 100) return null;
    const e = await this.#dir.sso.store.find('CairnFlow', hashToken(id));
    return e ? { ...(e.payload as unknown as Flow), id } : null;
  }

  async saveFlow(flow: Flow & { id: string }): Promise<void> {
    const { id, ...rest } = flow;
    await this.#dir.sso.store.upsert('CairnFlow', hashToken(id), rest as unknown as Record<string, unknown>, FLOW_TTL_S, rest.userId ?? null);
  }

  async endFlow(reply: FastifyReply, flow: { id: string }): Promise<boolean> {
    clearCookie(reply, FLOW_COOKIE);
    return !!(await this.#dir.sso.store.take('CairnFlow', hashToken(flow.id)));
  }

  // --- sessions ------------------------------------------------------------------------------

  async startSession(reply: FastifyReply, userId: string, mfa: MfaType | null, authTime = Date.now()): Promise<SsoSession> {
    const id = randomToken(32);
    const s: SsoSession = { userId, authTime, lastSeen: Date.now(), mfa, csrf: randomToken(24) };
    const { maxAgeS } = await this.#limits();
    await this.#dir.sso.store.upsert('CairnSession', hashToken(id), s as unknown as Record<string, unknown>, maxAgeS, userId);
    setCookie(reply, SESSION_COOKIE, id, maxAgeS);
    return s;
  }

  /** The live session, or null (expired, idle too long, user no longer active). */
  async session(req: FastifyRequest): Promise<(SsoSession & { id: string }) | null> {
    return this.sessionFromCookies(req.headers.cookie);
  }

  async sessionFromCookies(cookieHeader: string | undefined): Promise<(SsoSession & { id: string }) | null> {
    const id = parseCookies(cookieHeader)[SESSION_COOKIE];
    if (!id || id.length > 100) return null;
    const key = hashToken(id);
    const e = await this.#dir.sso.store.find('CairnSession', key);
    if (!e) return null;
    const s = e.payload as unknown as SsoSession;
    const t = Date.now();
    // The policy as it is now: shortening it ends longer sessions at their next use.
    const { maxAgeS, idleS } = await this.#limits();
    if (t - s.lastSeen > idleS * 1000 || t - s.authTime > maxAgeS * 1000) {
      await this.#dir.sso.store.destroy('CairnSession', key);
      return null;
    }
    // lastSeen is written at most once a minute (or sooner under a shorter idle timeout).
    if (t - s.lastSeen > Math.min(60, idleS / 2) * 1000) {
      s.lastSeen = t;
      await this.#dir.sso.store.upsert('CairnSession', key, s as unknown as Record<string, unknown>, Math.ceil((s.authTime + maxAgeS * 1000 - t) / 1000), s.userId);
    }
    return { ...s, id };
  }

  /** Remember an SP the session signed in to (the latest assertion per SP). */
  async addSamlParticipant(sess: { id: string }, p: SamlParticipant): Promise<void> {
    const key = hashToken(sess.id);
    const e = await this.#dir.sso.store.find('CairnSession', key);
    if (!e || e.expiresAt === null) return;
    const s = e.payload as unknown as SsoSession;
    s.samlParticipants = [...(s.samlParticipants ?? []).filter((x) => x.appId !== p.appId), p];
    await this.#dir.sso.store.upsert('CairnSession', key, s as unknown as Record<string, unknown>, Math.max(1, Math.ceil((e.expiresAt - Date.now()) / 1000)), s.userId);
  }

  async endSession(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (id && id.length <= 100) await this.#dir.sso.store.destroy('CairnSession', hashToken(id));
    clearCookie(reply, SESSION_COOKIE);
  }

  /**
   * The user signs out (portal button or a SAML SP's logout request): this browser's Cairn
   * session and its OIDC provider session end, so apps ask again; audited as `sso.logout`.
   */
  async signOut(req: FastifyRequest, reply: FastifyReply, sess: SsoSession | null, how: { via: 'portal' | 'saml_slo'; app?: { id: string; name: string } }): Promise<void> {
    await this.endSession(req, reply);
    const opSession = parseCookies(req.headers.cookie)._session;
    if (opSession && opSession.length < 100) await this.#dir.sso.store.destroy('Session', opSession);
    await this.#dir.audit.record(
      { orgId: this.#orgId, actor: { type: 'user', id: sess?.userId ?? null, name: null }, clientIp: req.ip ?? null, service: 'sso' },
      { eventType: 'sso.logout', success: true, resource: how.app ? { type: 'sso_app', id: how.app.id, name: how.app.name } : null, changes: { via: how.via } },
    );
  }
}
