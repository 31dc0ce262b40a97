// The SAML 2.0 IdP. samlify (≥ 2.13.1, with a real XSD validator) parses and verifies
// AuthnRequests and signs what we send; the checks samlify leaves to us are here:
// inflated-size cap, DOCTYPE/entity refusal before any parser runs, request id replay,
// Destination, ACS only from the SP's registration, and a Response we build ourselves with
// every user value XML-escaped (Audience, Recipient, Destination, NotOnOrAfter, InResponseTo).
import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import * as validator from '@authenio/samlify-node-xmllint';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as samlify from 'samlify';
import type { Directory, Org, SamlAppSettings, SsoApp, User } from '../../../core/index.js';
import { authorizeSession } from '../access.js';
import type { SamlSigning } from '../keys.js';
import { autoPostPage, messagePage, signedOutPage } from '../pages/render.js';
import { type BrowserState, type SamlParticipant, type SsoSession } from '../session.js';
import { failPage, sendHtml } from '../web.js';
import type { Logger } from '../../../core/index.js';

samlify.setSchemaValidator(validator);

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const MAX_INFLATED = 64 * 1024;
const MAX_ENCODED = 96 * 1024;
const NAMEID: Record<SamlAppSettings['nameIdFormat'], string> = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
};

export function xmlEscape(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // characters XML 1.0 cannot carry at all
    .replace(/[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '');
}

export class SamlError extends Error {
  constructor(readonly status: number, readonly userMessage: string, readonly reason: string) {
    super(reason);
  }
}

/** Decode an HTTP-Redirect SAMLRequest with a hard cap on the inflated size. */
export function inflateRedirect(encoded: string): string {
  if (encoded.length > MAX_ENCODED) throw new SamlError(413, 'The sign-in request is too large.', 'request_too_large');
  let out: Buffer;
  try {
    out = inflateRawSync(Buffer.from(encoded, 'base64'), { maxOutputLength: MAX_INFLATED });
  } catch {
    throw new SamlError(400, 'The sign-in request could not be read.', 'bad_encoding');
  }
  return out.toString('utf8');
}

/** Decode an HTTP-POST message: plain base64, or deflated as some SPs (node-saml) send it anyway, with the same cap. */
function decodePost(encoded: string): string {
  if (encoded.length > MAX_ENCODED) throw new SamlError(413, 'The request is too large.', 'request_too_large');
  const bytes = Buffer.from(encoded, 'base64');
  return /^\s*</.test(bytes.subarray(0, 64).toString('utf8').replace(/^\uFEFF/, '')) ? bytes.toString('utf8') : inflateRedirect(encoded);
}

/** A SAML message as it arrived: the decoded XML and what samlify's parser wants for its binding. */
interface Inbound {
  binding: 'redirect' | 'post';
  xml: string;
  relayState: string;
  envelope: Record<string, unknown>;
}

/** No DTDs, no entities, no processing instructions beyond the XML declaration. */
export function refuseDangerousXml(xml: string): void {
  if (/<!DOCTYPE|<!ENTITY|<!\[CDATA\[|<\?(?!xml\s)/i.test(xml)) throw new SamlError(400, 'The sign-in request is not allowed.', 'doctype_or_entity');
}

function issuerOf(xml: string): string | null {
  const m = /<(?:[A-Za-z_][\w.-]*:)?Issuer\b[^>]*>\s*([^<]{1,1024}?)\s*<\/(?:[A-Za-z_][\w.-]*:)?Issuer>/.exec(xml);
  return m ? m[1]!.replace(/&amp;/g, '&') : null;
}

function id(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

/** A single logout going round the session's SPs (CairnSamlLogout, keyed by the RelayState it carries). */
interface PendingLogout {
  /** The SP that asked, answered last; null when the user signed out of the portal. */
  origin: { appId: string; requestId: string; relayState: string } | null;
  remaining: SamlParticipant[];
  /** The SP whose LogoutResponse is expected next. */
  awaiting: string | null;
}
const LOGOUT_CHAIN_TTL_S = 300;

export interface SamlDeps {
  dir: Directory;
  org: Org;
  log: Logger;
  state: BrowserState;
  baseUrl: string;
  keys: () => SamlSigning;
  assertionTtlSeconds: number;
}

export class SamlIdp {
  readonly #d: SamlDeps;
  constructor(d: SamlDeps) {
    this.#d = d;
  }

  get entityId(): string {
    return `${this.#d.baseUrl}/saml/metadata`;
  }
  get ssoUrl(): string {
    return `${this.#d.baseUrl}/saml/sso`;
  }

  get sloUrl(): string {
    return `${this.#d.baseUrl}/saml/slo`;
  }

  /**
   * The IdP as samlify sees it for one SP: `wantRequestsSigned` (AuthnRequests and
   * LogoutRequests), `verifyLogoutResponses` (the SP has a certificate), `published` (the
   * certificates the metadata lists: current and, during a rotation, next), `nameIdFormat` (of
   * the LogoutRequests it sends).
   */
  #idp(o: { wantRequestsSigned?: boolean; verifyLogoutResponses?: boolean; encrypt?: boolean; published?: string[]; nameIdFormat?: string } = {}) {
    const k = this.#d.keys();
    return samlify.IdentityProvider({
      ...(o.encrypt ? { isAssertionEncrypted: true, dataEncryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm', keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p' } : {}),
      entityID: this.entityId,
      signingCert: o.published ?? k.cert,
      privateKey: k.key,
      wantAuthnRequestsSigned: !!o.wantRequestsSigned,
      wantLogoutRequestSigned: !!o.wantRequestsSigned,
      wantLogoutResponseSigned: !!o.verifyLogoutResponses,
      singleLogoutService: [
        { Binding: samlify.Constants.namespace.binding.redirect, Location: this.sloUrl },
        { Binding: samlify.Constants.namespace.binding.post, Location: this.sloUrl },
      ],
      requestSignatureAlgorithm: RSA_SHA256,
      nameIDFormat: o.nameIdFormat ? [o.nameIdFormat] : Object.values(NAMEID),
      singleSignOnService: [
        { Binding: samlify.Constants.namespace.binding.redirect, Location: this.ssoUrl },
        { Binding: samlify.Constants.namespace.binding.post, Location: this.ssoUrl },
      ],
    } as Parameters<typeof samlify.IdentityProvider>[0]);
  }

  #sp(s: SamlAppSettings, acs: string) {
    return samlify.ServiceProvider({
      entityID: s.entityId,
      assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: acs }],
      ...(s.certificate ? { signingCert: s.certificate } : {}),
      ...(s.encryptAssertion && s.certificate ? { encryptCert: s.certificate } : {}),
      authnRequestsSigned: s.wantRequestsSigned,
      wantAssertionsSigned: s.signAssertion,
      wantMessageSigned: s.signResponse,
      nameIDFormat: [NAMEID[s.nameIdFormat]],
      ...(s.sloUrl ? { singleLogoutService: [{ Binding: samlify.Constants.namespace.binding[s.sloBinding], Location: s.sloUrl }], wantLogoutResponseSigned: true, wantLogoutRequestSigned: true } : {}),
    } as Parameters<typeof samlify.ServiceProvider>[0]);
  }

  metadata(): string {
    const k = this.#d.keys();
    return this.#idp({ published: k.next ? [k.cert, k.next.cert] : [k.cert] }).getMetadata();
  }

  /** Parse, verify and record an AuthnRequest. Returns the app and what to answer to. */
  async acceptRequest(req: FastifyRequest, binding: 'redirect' | 'post'): Promise<{ app: SsoApp & { type: 'saml' }; requestId: string; acs: string; relayState: string | null }> {
    const src = (binding === 'redirect' ? req.query : req.body) as Record<string, unknown> | undefined;
    const encoded = typeof src?.SAMLRequest === 'string' ? src.SAMLRequest : null;
    if (!encoded) throw new SamlError(400, 'No sign-in request was received.', 'missing_request');
    const relayState = typeof src?.RelayState === 'string' ? src.RelayState.slice(0, 1024) : null;
    const xml = binding === 'redirect' ? inflateRedirect(encoded) : decodePost(encoded);
    refuseDangerousXml(xml);
    const issuer = issuerOf(xml);
    const app = issuer ? await this.#d.dir.sso.apps.findByExternalId('saml', issuer) : null;
    if (!app || app.type !== 'saml' || app.orgId !== this.#d.org.id) throw new SamlError(400, 'This application is not registered.', 'unknown_sp');
    const s = app.settings;
    // samlify ties the signature requirement to the IdP object: one per SP policy.
    const idp = this.#idp({ wantRequestsSigned: s.wantRequestsSigned });
    let parsed: { extract: { request?: { id?: string; destination?: string; assertionConsumerServiceUrl?: string; issueInstant?: string } } };
    try {
      if (binding === 'redirect') {
        // The signature covers the query exactly as sent: rebuild the octet string from the raw URL.
        const raw = (req.raw.url ?? '').split('?')[1] ?? '';
        const parts = Object.fromEntries(raw.split('&').map((p) => [p.split('=')[0], p]));
        const octetString = ['SAMLRequest', 'RelayState', 'SigAlg'].map((k) => parts[k!]).filter(Boolean).join('&');
        parsed = await idp.parseLoginRequest(this.#sp(s, s.acsUrls[0]!), 'redirect', { query: src, octetString } as never);
      } else {
        parsed = await idp.parseLoginRequest(this.#sp(s, s.acsUrls[0]!), 'post', { body: { ...src, SAMLRequest: Buffer.from(xml).toString('base64') } } as never);
      }
    } catch (err) {
      this.#d.log.warn({ app: app.name, err: String((err as Error)?.message ?? err).slice(0, 120) }, 'saml request refused');
      throw new SamlError(400, 'The sign-in request could not be verified.', 'invalid_request');
    }
    const r = parsed.extract.request ?? {};
    if (!r.id || !/^[A-Za-z_][\w.-]{0,255}$/.test(r.id)) throw new SamlError(400, 'The sign-in request could not be verified.', 'invalid_request_id');
    if (r.destination && r.destination !== this.ssoUrl) throw new SamlError(400, 'The sign-in request was meant for another server.', 'wrong_destination');
    if (r.issueInstant) {
      const t = Date.parse(r.issueInstant);
      if (!Number.isFinite(t) || Math.abs(Date.now() - t) > 10 * 60_000) throw new SamlError(400, 'The sign-in request has expired.', 'stale_request');
    }
    // Only ACS URLs from the registration; an unknown one is refused, not ignored.
    const acs = r.assertionConsumerServiceUrl ? r.assertionConsumerServiceUrl : s.acsUrls[0]!;
    if (!s.acsUrls.includes(acs)) throw new SamlError(400, 'The sign-in request names an address that is not registered.', 'unregistered_acs');
    if (!(await this.#d.dir.sso.store.rememberSamlRequest(app.id, r.id, Date.now() + 20 * 60_000))) {
      throw new SamlError(400, 'This sign-in request was already used.', 'replayed_request');
    }
    return { app: app as SsoApp & { type: 'saml' }, requestId: r.id, acs, relayState };
  }

  /** The signed Response, as the HTTP-POST auto-submit page. */
  async respond(reply: FastifyReply, app: SsoApp & { type: 'saml' }, user: User, session: SsoSession & { id: string }, opts: { inResponseTo: string | null; acs: string; relayState: string | null; clientIp?: string | null }): Promise<FastifyReply> {
    const s = app.settings;
    const nameId = s.nameIdFormat === 'email' ? user.email : s.nameIdFormat === 'persistent' ? user.id : user.username;
    if (!nameId) return sendHtml(reply, 400, messagePage('Cannot sign in', 'Your account has no email address, which this application needs. Ask your administrator.'));
    const groups = s.attributes && Object.values(s.attributes).includes('groups')
      ? (await Promise.all(user.groupIds.map((g) => this.#d.dir.groups.get(this.#d.org.id, g).catch(() => null)))).filter((g) => g).map((g) => g!.name).sort()
      : [];
    const [first, ...rest] = (user.displayName || '').split(' ');
    const value = (src: string): string[] => {
      switch (src) {
        case 'email': return user.email ? [user.email] : [];
        case 'name': return [user.displayName || user.username];
        case 'username': return [user.username];
        case 'id': return [user.id];
        case 'groups': return groups;
        case 'firstName': return first ? [first] : [];
        case 'lastName': return rest.length ? [rest.join(' ')] : [];
        default: return src.startsWith('custom:') && user.customAttributes[src.slice(7)] !== undefined ? [user.customAttributes[src.slice(7)]!] : [];
      }
    };
    const attrs = Object.entries(s.attributes).map(([name, src]) => [name, value(src)] as const).filter(([, v]) => v.length)
      .map(([name, vals]) => `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${vals.map((v) => `<saml:AttributeValue xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`).join('');
    const now = new Date();
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const exp = iso(new Date(now.getTime() + this.#d.assertionTtlSeconds * 1000));
    const notBefore = iso(new Date(now.getTime() - 30_000));
    const irt = opts.inResponseTo ? ` InResponseTo="${xmlEscape(opts.inResponseTo)}"` : '';
    const responseId = id();
    const assertionId = id();
    const sessionIndex = id();
    const issuer = `<saml:Issuer>${xmlEscape(this.entityId)}</saml:Issuer>`;
    const authnContext = session.mfa ? 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken' : 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
    const xml =
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${responseId}" Version="2.0" IssueInstant="${iso(now)}" Destination="${xmlEscape(opts.acs)}"${irt}>` +
      `${issuer}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${assertionId}" Version="2.0" IssueInstant="${iso(now)}">${issuer}` +
      `<saml:Subject><saml:NameID Format="${NAMEID[s.nameIdFormat]}">${xmlEscape(nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${exp}" Recipient="${xmlEscape(opts.acs)}"${irt}/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${exp}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(s.entityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${iso(new Date(session.authTime))}" SessionIndex="${sessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>${authnContext}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : '') +
      `</saml:Assertion></samlp:Response>`;
    const encrypt = !!(s.encryptAssertion && s.certificate);
    const idp = this.#idp({ encrypt });
    const sp = this.#sp(s, opts.acs);
    // With encryption: sign the assertion, encrypt it, then sign the Response around it.
    const out = await idp.createLoginResponse(sp, {} as never, 'post', {}, { customTagReplacement: () => ({ id: responseId, context: xml }), encryptThenSign: encrypt } as never);
    await this.#d.dir.audit.record(
      { orgId: this.#d.org.id, actor: { type: 'user', id: user.id, name: user.username }, clientIp: opts.clientIp ?? null, service: 'sso' },
      { eventType: 'sso.saml_assertion', success: true, resource: { type: 'sso_app', id: app.id, name: app.name }, mfaType: session.mfa, actorEmail: user.email, changes: { acs: opts.acs, inResponseTo: opts.inResponseTo } },
    );
    await this.#d.state.addSamlParticipant(session, { appId: app.id, nameId, nameIdFormat: NAMEID[s.nameIdFormat], sessionIndex });
    const fields: Record<string, string> = { SAMLResponse: out.context };
    if (opts.relayState) fields.RelayState = opts.relayState;
    return sendHtml(reply, 200, autoPostPage(opts.acs, fields));
  }

  /** IdP-initiated: from the portal, to the SP's first ACS, no InResponseTo. */
  async launch(req: FastifyRequest, reply: FastifyReply, app: SsoApp, user: User, session: SsoSession & { id: string }): Promise<void> {
    if (app.type !== 'saml') return;
    await this.respond(reply, app, user, session, { inResponseTo: null, acs: app.settings.acsUrls[0]!, relayState: null, clientIp: req.ip ?? null });
  }

  /** The octet string a Redirect-binding signature covers, rebuilt from the raw query. */
  #octetString(req: FastifyRequest, message: 'SAMLRequest' | 'SAMLResponse'): string {
    const raw = (req.raw.url ?? '').split('?')[1] ?? '';
    const parts = Object.fromEntries(raw.split('&').map((p) => [p.split('=')[0], p]));
    return [message, 'RelayState', 'SigAlg'].map((k) => parts[k!]).filter(Boolean).join('&');
  }

  /** A registered SP with single logout, named by the message's Issuer. */
  async #sloApp(xml: string): Promise<SsoApp & { type: 'saml' }> {
    const issuer = issuerOf(xml);
    const app = issuer ? await this.#d.dir.sso.apps.findByExternalId('saml', issuer) : null;
    if (!app || app.type !== 'saml' || app.orgId !== this.#d.org.id || !app.settings.sloUrl) throw new SamlError(400, 'This application is not registered for sign-out.', 'unknown_sp');
    return app as SsoApp & { type: 'saml' };
  }

  /** The SAMLRequest or SAMLResponse of a request to /saml/slo, by its binding, decoded and checked for DTDs. */
  #inbound(req: FastifyRequest, message: 'SAMLRequest' | 'SAMLResponse'): Inbound {
    const binding = req.method === 'POST' ? 'post' : 'redirect';
    const src = ((binding === 'post' ? req.body : req.query) ?? {}) as Record<string, unknown>;
    const encoded = typeof src[message] === 'string' ? (src[message] as string) : '';
    if (!encoded) throw new SamlError(400, 'No sign-out message was received.', 'missing_request');
    const xml = binding === 'redirect' ? inflateRedirect(encoded) : decodePost(encoded);
    refuseDangerousXml(xml);
    const relayState = typeof src.RelayState === 'string' ? src.RelayState.slice(0, 1024) : '';
    const envelope = binding === 'redirect'
      ? { query: src, octetString: this.#octetString(req, message) }
      : { body: { ...src, [message]: Buffer.from(xml).toString('base64') } };
    return { binding, xml, relayState, envelope };
  }

  /**
   * SP-initiated single logout, first half: verify the LogoutRequest (signature when the SP
   * signs; HTTP-Redirect or HTTP-POST) and refuse a replay. The browser's session is ended by
   * `logout`, on a request that carries its cookie.
   */
  async #acceptLogoutRequest(req: FastifyRequest): Promise<NonNullable<PendingLogout['origin']>> {
    const msg = this.#inbound(req, 'SAMLRequest');
    const app = await this.#sloApp(msg.xml);
    const s = app.settings;
    let parsed: { extract: { request?: { id?: string } } };
    try {
      parsed = await this.#idp({ wantRequestsSigned: s.wantRequestsSigned }).parseLogoutRequest(this.#sp(s, s.acsUrls[0]!), msg.binding, msg.envelope as never);
    } catch {
      throw new SamlError(400, 'The sign-out request could not be verified.', 'invalid_request');
    }
    const requestId = parsed.extract.request?.id;
    if (!requestId || !(await this.#d.dir.sso.store.rememberSamlRequest(app.id, `logout:${requestId}`, Date.now() + 20 * 60_000))) {
      throw new SamlError(400, 'This sign-out request was already used.', 'replayed_request');
    }
    return { appId: app.id, requestId, relayState: msg.relayState };
  }

  /**
   * SP-initiated single logout: end this browser's Cairn and OP sessions, tell the session's
   * other SPs that do single logout (a signed LogoutRequest to each in turn, through the
   * browser), then answer the first SP with a signed LogoutResponse. A LogoutRequest POSTed
   * from another site arrives without the SameSite=Lax session cookie: it is verified, kept,
   * and finished by a top-level GET that has the cookie.
   */
  async logout(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const origin = await this.#acceptLogoutRequest(req);
    if (req.method === 'POST') {
      const key = id();
      await this.#d.dir.sso.store.upsert('CairnSamlLogoutStart', key, origin as unknown as Record<string, unknown>, LOGOUT_CHAIN_TTL_S);
      return reply.redirect(`/saml/slo?continue=${key}`, 303);
    }
    return this.#signOutFor(req, reply, origin);
  }

  /** The top-level GET after a POSTed LogoutRequest (single use). */
  async continueLogout(req: FastifyRequest, reply: FastifyReply, key: string): Promise<FastifyReply> {
    const found = /^_[0-9a-f]{40}$/.test(key) ? await this.#d.dir.sso.store.take('CairnSamlLogoutStart', key) : undefined;
    if (!found) throw new SamlError(400, 'This sign-out has expired; go back to the application and sign out again.', 'unknown_logout');
    return this.#signOutFor(req, reply, found.payload as unknown as NonNullable<PendingLogout['origin']>);
  }

  async #signOutFor(req: FastifyRequest, reply: FastifyReply, origin: NonNullable<PendingLogout['origin']>): Promise<FastifyReply> {
    const app = await this.#d.dir.sso.apps.get(this.#d.org.id, origin.appId);
    const sess = await this.#d.state.session(req);
    await this.#d.state.signOut(req, reply, sess, { via: 'saml_slo', app });
    const pending: PendingLogout = {
      origin,
      remaining: (sess?.samlParticipants ?? []).filter((p) => p.appId !== app.id),
      awaiting: null,
    };
    return this.#nextLogout(reply, id(), pending);
  }

  /** A message to an SP's single logout URL, by the binding it registered. */
  #sendToSlo(reply: FastifyReply, app: SsoApp & { type: 'saml' }, create: (binding: 'redirect' | 'post') => unknown, type: 'SAMLRequest' | 'SAMLResponse', relayState: string): FastifyReply {
    const binding = app.settings.sloBinding;
    const out = create(binding) as { context: string; entityEndpoint?: string };
    if (binding === 'redirect') return reply.redirect(out.context, 303);
    const fields: Record<string, string> = { [type]: out.context };
    if (relayState) fields.RelayState = relayState;
    return sendHtml(reply, 200, autoPostPage(app.settings.sloUrl!, fields, 'Signing out…'));
  }

  /** Tell the next SP of the session (skipping any that no longer does single logout), or answer the first SP. */
  async #nextLogout(reply: FastifyReply, key: string, pending: PendingLogout): Promise<FastifyReply> {
    for (let p = pending.remaining.shift(); p; p = pending.remaining.shift()) {
      const app = await this.#d.dir.sso.apps.get(this.#d.org.id, p.appId).catch(() => null);
      if (!app || app.type !== 'saml' || !app.settings.sloUrl) continue;
      pending.awaiting = app.id;
      await this.#d.dir.sso.store.upsert('CairnSamlLogout', key, pending as unknown as Record<string, unknown>, LOGOUT_CHAIN_TTL_S);
      const sp = this.#sp(app.settings, app.settings.acsUrls[0]!);
      const idp = this.#idp({ nameIdFormat: p.nameIdFormat });
      return this.#sendToSlo(reply, app, (b) => idp.createLogoutRequest(sp, b, { logoutNameID: p.nameId, sessionIndex: p.sessionIndex }, key), 'SAMLRequest', key);
    }
    await this.#d.dir.sso.store.destroy('CairnSamlLogout', key);
    const origin = pending.origin && (await this.#d.dir.sso.apps.get(this.#d.org.id, pending.origin.appId).catch(() => null));
    if (!pending.origin || !origin || origin.type !== 'saml' || !origin.settings.sloUrl) return sendHtml(reply, 200, signedOutPage());
    const inResponseTo = { extract: { request: { id: pending.origin.requestId } } };
    const sp = this.#sp(origin.settings, origin.settings.acsUrls[0]!);
    const relayState = pending.origin.relayState;
    return this.#sendToSlo(reply, origin, (b) => this.#idp().createLogoutResponse(sp, inResponseTo, b, relayState), 'SAMLResponse', relayState);
  }

  /** IdP-initiated: the user signed out of the portal (the session is ended already); tell the session's SPs. */
  async logoutParticipants(reply: FastifyReply, participants: SamlParticipant[]): Promise<FastifyReply> {
    return this.#nextLogout(reply, id(), { origin: null, remaining: [...participants], awaiting: null });
  }

  /** An SP's LogoutResponse in a logout chain (either binding): verified (when the SP has a certificate), then on to the next. */
  async logoutResponse(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const msg = this.#inbound(req, 'SAMLResponse');
    const key = msg.relayState;
    const found = /^_[0-9a-f]{40}$/.test(key) ? await this.#d.dir.sso.store.find('CairnSamlLogout', key) : undefined;
    if (!found) throw new SamlError(400, 'This sign-out has expired; you are signed out of Cairn.', 'unknown_logout');
    const pending = found.payload as unknown as PendingLogout;
    const app = await this.#sloApp(msg.xml);
    if (app.id !== pending.awaiting) throw new SamlError(400, 'The sign-out answer came from another application.', 'unexpected_sp');
    try {
      await this.#idp({ verifyLogoutResponses: !!app.settings.certificate }).parseLogoutResponse(this.#sp(app.settings, app.settings.acsUrls[0]!), msg.binding, msg.envelope as never);
    } catch {
      throw new SamlError(400, 'The sign-out answer could not be verified.', 'invalid_response');
    }
    return this.#nextLogout(reply, key, pending);
  }

  get deps(): SamlDeps {
    return this.#d;
  }

  routes(app: FastifyInstance): void {
    registerSamlRoutes(app, () => this);
  }
}

export function registerSamlRoutes(app: FastifyInstance, get: () => SamlIdp): void {
  {
    app.get('/saml/metadata', async (_req, reply) => reply.type('application/samlmetadata+xml').header('cache-control', 'public, max-age=300').send(get().metadata()));

    const start = async (req: FastifyRequest, reply: FastifyReply, binding: 'redirect' | 'post') => {
      const idp = get();
      const d = idp.deps;
      try {
        const r = await idp.acceptRequest(req, binding);
        const pending = { appId: r.app.id, requestId: r.requestId, acs: r.acs, relayState: r.relayState };
        const key = id();
        await d.dir.sso.store.upsert('CairnSamlPending', key, pending, 900);
        // A cross-site POST carries no SameSite=Lax session cookie: continue with a top-level GET.
        return reply.redirect(`/saml/continue?p=${key}`, 303);
      } catch (err) {
        if (err instanceof SamlError) {
          d.log.info({ reason: err.reason }, 'saml request refused');
          return sendHtml(reply, err.status, messagePage('Sign-in request refused', err.userMessage));
        }
        return failPage(d, reply, err);
      }
    };
    app.get('/saml/sso', (req, reply) => start(req, reply, 'redirect'));
    // Single logout, HTTP-Redirect (GET) or HTTP-POST: a LogoutResponse in a chain, a
    // LogoutRequest, or the GET that finishes a POSTed LogoutRequest with the session cookie.
    const slo = async (req: FastifyRequest, reply: FastifyReply) => {
      const idp = get();
      const src = ((req.method === 'POST' ? req.body : req.query) ?? {}) as Record<string, unknown>;
      try {
        if (req.method === 'GET' && typeof src.continue === 'string') return await idp.continueLogout(req, reply, src.continue);
        return await (src.SAMLResponse ? idp.logoutResponse(req, reply) : idp.logout(req, reply));
      } catch (err) {
        if (err instanceof SamlError) return sendHtml(reply, err.status, messagePage('Sign-out request refused', err.userMessage));
        return failPage(idp.deps, reply, err);
      }
    };
    app.get('/saml/slo', slo);
    app.post('/saml/slo', { bodyLimit: 256 * 1024 }, slo);
    app.post('/saml/sso', { bodyLimit: 256 * 1024 }, (req, reply) => start(req, reply, 'post'));

    app.get('/saml/continue', async (req, reply) => {
      const idp = get();
      const d = idp.deps;
      try {
        const key = String((req.query as Record<string, unknown>).p ?? '');
        const found = /^_[0-9a-f]{40}$/.test(key) ? await d.dir.sso.store.find('CairnSamlPending', key) : undefined;
        if (!found) return sendHtml(reply, 400, messagePage('Sign-in expired', 'Go back to the application and start again.'));
        const p = found.payload as { appId: string; requestId: string; acs: string; relayState: string | null };
        const target = await d.dir.sso.apps.get(d.org.id, p.appId).catch(() => null);
        if (!target || target.type !== 'saml') return sendHtml(reply, 400, messagePage('Unknown application', 'This application is not registered.'));
        const sess = await d.state.session(req);
        if (sess) {
          const decision = await authorizeSession(d.dir, d.org, sess, target, req.ip ?? null);
          if (decision.ok) {
            // Single use: of two tabs racing on one pending request, one answers.
            if (!(await d.dir.sso.store.take('CairnSamlPending', key))) return sendHtml(reply, 400, messagePage('Sign-in expired', 'Go back to the application and start again.'));
            return idp.respond(reply, target, decision.user, sess, { inResponseTo: p.requestId, acs: p.acs, relayState: p.relayState, clientIp: req.ip ?? null });
          }
          if (decision.reason === 'not_assigned') return sendHtml(reply, 403, messagePage('Not assigned', `Your account is not assigned to “${target.displayName}”. Ask your administrator to add you to a group that has access.`));
          if (decision.reason === 'access_rule') return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'Your organisation does not allow signing in to this application from your current network.'));
        }
        // Sign in first (against this app's groups), then come back here.
        await d.state.startFlow(reply, { next: `/saml/continue?p=${key}`, appId: target.id, appName: target.displayName, uid: null });
        return reply.redirect('/sso/login', 303);
      } catch (err) {
        return failPage(d, reply, err);
      }
    });
  }
}


/** Settings from an SP's metadata XML (registration by upload). */
export function samlSettingsFromMetadata(xml: string): Partial<SamlAppSettings> {
  if (xml.length > 200_000) throw new SamlError(413, 'metadata too large', 'metadata_too_large');
  refuseDangerousXml(xml);
  const sp = samlify.ServiceProvider({ metadata: xml });
  const meta = sp.entityMeta;
  const acs = meta.getAssertionConsumerService('post');
  const acsList = (Array.isArray(acs) ? acs : [acs]).filter((u): u is string => typeof u === 'string');
  const cert = meta.getX509Certificate('signing');
  const certStr = Array.isArray(cert) ? cert[0] : cert;
  // samlify answers every SLO service when none has the binding asked for: keep strings only.
  const slo = (['redirect', 'post'] as const).map((b) => ({ b, url: meta.getSingleLogoutService(b) })).find((x) => typeof x.url === 'string');
  return {
    entityId: meta.getEntityID(),
    acsUrls: acsList,
    ...(slo ? { sloUrl: slo.url as string, sloBinding: slo.b } : {}),
    certificate: certStr ? String(certStr).replace(/\s+/g, '') : null,
    wantRequestsSigned: !!meta.isAuthnRequestSigned() && !!certStr,
    signAssertion: meta.isWantAssertionsSigned() !== false,
    metadataXml: xml,
  };
}
