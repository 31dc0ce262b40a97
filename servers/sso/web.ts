// The login pages (username → password → TOTP / enrolment / password change), the OIDC
// interaction endpoint and the user portal. All decisions go through the core: authenticate()
// for sign-in, users.* for self-service. Messages never say whether a username exists.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import {
  constantTimeEqual, isCairnError, randomToken, scrubError, toCairnError, type ActionContext, type MfaType, type AuthResult, type Directory, type Org, type SsoApp, type User,
  type WebAuthnSite,
} from '../../core/index.js';
import { authorizeSession } from './access.js';
import { ssoErrors } from './errors.js';
import type Provider from 'oidc-provider';
import { errorBox, esc, field, hidden, messagePage, noticeBox, page, signedOutPage } from './pages/render.js';
import { type BrowserState, type Flow, type SamlParticipant, type SsoSession } from './session.js';
import type { Logger } from '../../core/index.js';

export interface WebDeps {
  dir: Directory;
  org: Org;
  log: Logger;
  state: BrowserState;
  provider: () => Provider;
  /** IdP-initiated SAML from the portal. */
  samlLaunch: (req: FastifyRequest, reply: FastifyReply, app: SsoApp, user: User, session: SsoSession & { id: string }) => Promise<void>;
  /** Single logout of the SAML SPs a session signed in to, after the session ended. */
  samlLogout: (reply: FastifyReply, participants: SamlParticipant[]) => Promise<FastifyReply>;
  /** Where WebAuthn ceremonies run: the issuer's host (RP id) and origin. */
  site: () => WebAuthnSite;
}

type Body = Record<string, string | undefined>;
const GENERIC_FAIL = 'The username or password is incorrect, or this account cannot sign in right now.';
const utc = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (!b || typeof b !== 'object') return {};
  const out: Body = {};
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) if (typeof v === 'string') out[k] = v.slice(0, 4096);
  return out;
}

export function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

const userCtx = (org: Org, user: { id: string; username: string }, ip: string | null): ActionContext => ({
  orgId: org.id, actor: { type: 'user', id: user.id, name: user.username }, clientIp: ip, service: 'sso',
});

/** RFC 8176 authentication methods of a sign-in, for the ID token's `amr`. */
export const amrOf = (mfa: MfaType | null | undefined): string[] => (mfa === 'webauthn' ? ['pwd', 'hwk'] : mfa ? ['pwd', 'otp'] : ['pwd']);
const mfaOfAmr = (amr: string[]): MfaType | null => (amr.includes('hwk') ? 'webauthn' : amr.includes('otp') ? 'totp' : null);

/** A form a security key answers (webauthn.js runs the ceremony, fills `webauthn`, then submits). */
function securityKeyForm(action: string, ceremony: 'get' | 'create', options: unknown, fields: string, button: string): string {
  return `<form method="post" action="${esc(action)}" data-webauthn="${ceremony}" data-options="${esc(JSON.stringify(options))}">${fields}${hidden('webauthn', '')}` +
    `<p class="err webauthn-error" role="alert" hidden></p><button type="submit">${esc(button)}</button></form>`;
}

/** A security key's JSON answer from a form, or null. */
function webauthnAnswer(body: Body): unknown {
  try {
    const v = JSON.parse(body.webauthn ?? '');
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function notAssignedPage(appName: string | null): string {
  return messagePage('Not assigned', `Your account is not assigned to ${appName ? `“${appName}”` : 'this application'}. Ask your administrator to add you to a group that has access.`, { href: '/sso/', text: 'Go to your apps' });
}

export function registerWeb(app: FastifyInstance, d: WebDeps): void {
  const { dir, org, state } = d;
  // Interactions whose sign-in the core just audited: their consent step does not log a
  // second sso.login (bounded; entries live a minute).
  const freshLogins = new Map<string, number>();

  // ---- login flow -----------------------------------------------------------------------------

  async function renderStep(reply: FastifyReply, flow: Flow & { id: string }, msg: { error?: string; notice?: string } = {}, status = 200): Promise<FastifyReply> {
    const heading = flow.appName ? `Sign in to ${esc(flow.appName)}` : 'Sign in to Cairn';
    const csrf = hidden('csrf', flow.csrf);
    let inner = '';
    switch (flow.step) {
      case 'username': {
        // Or a passkey: the authenticator offers the user's own, no username typed.
        const options = await dir.securityKeys.passkeyOptions(d.site());
        flow.webauthnChallenge = options.challenge;
        await state.saveFlow(flow);
        inner = `<form method="post" action="/sso/login">${csrf}${hidden('step', 'username')}${field('username', 'Username', 'text', { autocomplete: 'username', autofocus: true })}<button type="submit">Next</button></form>` +
          `<p>Or, if you registered a passkey:</p>${securityKeyForm('/sso/login', 'get', options, csrf + hidden('step', 'username'), 'Sign in with a passkey')}`;
        return sendHtml(reply, status, page('Sign in', `<h1>${heading}</h1>${errorBox(msg.error)}${noticeBox(msg.notice)}${inner}`, { script: 'webauthn' }));
      }
      case 'password':
        inner = `<p>Signing in as <strong>${esc(flow.username)}</strong>. <a href="/sso/login/restart">Not you?</a></p><form method="post" action="/sso/login">${csrf}${hidden('step', 'password')}` +
          `<input type="text" name="username" value="${esc(flow.username)}" autocomplete="username" hidden>${field('password', 'Password', 'password', { autocomplete: 'current-password', autofocus: true })}<button type="submit">Sign in</button></form>`;
        break;
      case 'totp': {
        // The second factor: a security key (where the user has one) and/or the authenticator app.
        const info = await dir.auth.challengeUser(org.id, flow.challenge ?? '');
        if (!info) return restart(reply, flow, 'Your sign-in expired. Please start again.');
        const user = await dir.users.get(org.id, info.userId);
        const options = await dir.securityKeys.authenticationOptions(org.id, user.id, d.site());
        if (options) {
          flow.webauthnChallenge = options.challenge;
          await state.saveFlow(flow);
          inner += securityKeyForm('/sso/login', 'get', options, csrf + hidden('step', 'totp'), 'Use your security key or passkey');
        }
        if (user.totpEnrolled) {
          inner += `${options ? '<p>Or use your authenticator app.</p>' : ''}<form method="post" action="/sso/login">${csrf}${hidden('step', 'totp')}${field('otp', 'Code from your authenticator app', 'text', { autocomplete: 'one-time-code', inputmode: 'numeric', autofocus: !options })}` +
            `<p class="muted">Lost your device? Enter one of your recovery codes instead.</p><button type="submit">Verify</button></form>`;
        }
        return sendHtml(reply, status, page('Sign in', `<h1>${heading}</h1>${errorBox(msg.error)}${noticeBox(msg.notice)}${inner}`, { script: options ? 'webauthn' : undefined }));
      }
      case 'enroll': {
        const info = await dir.auth.challengeUser(org.id, flow.challenge ?? '');
        if (!info || info.kind !== 'totp_enroll') return restart(reply, flow, 'Your sign-in expired. Please start again.');
        const user = await dir.users.get(org.id, info.userId);
        const { secret, uri } = await dir.users.beginTotp(userCtx(org, user, null), user.id, 'Cairn');
        const qr = await QRCode.toDataURL(uri, { margin: 1, width: 220 });
        inner = `<p>Your organisation requires a second factor. Scan this code with an authenticator app (or type the key), then enter the 6-digit code it shows.</p>` +
          `<p><img src="${esc(qr)}" alt="QR code for your authenticator app" width="220" height="220"></p><p>Key: <code>${esc(secret.replace(/(.{4})/g, '$1 ').trim())}</code></p>` +
          `<form method="post" action="/sso/login">${csrf}${hidden('step', 'enroll')}${field('otp', '6-digit code', 'text', { autocomplete: 'one-time-code', inputmode: 'numeric', autofocus: true })}<button type="submit">Turn on</button></form>`;
        break;
      }
      case 'recovery_codes':
        inner = `<p>Two-step sign-in is on. Keep these recovery codes somewhere safe: each works once if you lose your device. They will not be shown again.</p>` +
          `<ul>${(flow.recoveryCodes ?? []).map((c) => `<li><code>${esc(c)}</code></li>`).join('')}</ul>` +
          `<form method="post" action="/sso/login">${csrf}${hidden('step', 'recovery_codes')}<button type="submit" autofocus>I have saved them — continue</button></form>`;
        break;
      case 'password_change':
        inner = `<p>Your password must be changed before you continue.</p><form method="post" action="/sso/login">${csrf}${hidden('step', 'password_change')}` +
          `${field('newPassword', 'New password', 'password', { autocomplete: 'new-password', autofocus: true })}${field('confirm', 'Repeat the new password', 'password', { autocomplete: 'new-password' })}<button type="submit">Change password</button></form>`;
        break;
      default:
        return reply.redirect(flow.next, 303);
    }
    return sendHtml(reply, status, page('Sign in', `<h1>${heading}</h1>${errorBox(msg.error)}${noticeBox(msg.notice)}${inner}`));
  }

  async function restart(reply: FastifyReply, flow: Flow & { id: string }, error: string): Promise<FastifyReply> {
    flow.step = 'username';
    delete flow.username;
    delete flow.challenge;
    await state.saveFlow(flow);
    return renderStep(reply, flow, { error }, 400);
  }

  /** Signed in: a session for the browser, then on to where the flow was going. */
  async function complete(req: FastifyRequest, reply: FastifyReply, flow: Flow & { id: string }, user: User, mfa: MfaType | null): Promise<FastifyReply> {
    await state.endSession(req, reply); // a new session id at every sign-in (no fixation)
    const authTime = Date.now();
    await state.startSession(reply, user.id, mfa, authTime);
    if (flow.uid) {
      // The OIDC interaction picks the flow up (its cookie is scoped to the interaction path).
      Object.assign(flow, { step: 'done', userId: user.id, mfa, authTime });
      delete flow.recoveryCodes;
      await state.saveFlow(flow);
    } else {
      await state.endFlow(reply, flow);
    }
    return reply.redirect(flow.next, 303);
  }

  app.get('/sso/login', async (req, reply) => {
    let flow = await state.flow(req);
    if (!flow) flow = await state.startFlow(reply, { next: '/sso/', appId: null, appName: null, uid: null });
    return renderStep(reply, flow);
  });

  app.get('/sso/login/restart', async (req, reply) => {
    const flow = await state.flow(req);
    if (!flow) return reply.redirect('/sso/login', 303);
    flow.step = 'username';
    delete flow.username;
    delete flow.challenge;
    await state.saveFlow(flow);
    return reply.redirect('/sso/login', 303);
  });

  app.post('/sso/login', async (req, reply) => {
    const body = bodyOf(req);
    const flow = await state.flow(req);
    if (!flow) return sendHtml(reply, 400, messagePage('Sign-in expired', 'This sign-in page has expired. Go back to the application and start again.', { href: '/sso/', text: 'Sign in to the portal' }));
    if (!body.csrf || !constantTimeEqual(body.csrf, flow.csrf)) return sendHtml(reply, 403, messagePage('Request refused', 'The form could not be verified. Reload the page and try again.'));
    if (body.step !== flow.step) return renderStep(reply, flow, {}, 409);
    const ip = req.ip ?? null;
    const resource = flow.appId ? { type: 'sso_app' as const, id: flow.appId } : undefined;
    const protocol = flow.appId ? 'sso' as const : 'portal' as const;

    const onResult = async (r: AuthResult): Promise<FastifyReply> => {
      if (r.decision === 'allow') return complete(req, reply, flow, r.user, r.mfa);
      if (r.decision === 'challenge') {
        flow.challenge = r.token;
        flow.step = r.kind === 'totp' ? 'totp' : r.kind === 'totp_enroll' ? 'enroll' : 'password_change';
        await state.saveFlow(flow);
        return reply.redirect('/sso/login', 303);
      }
      switch (r.reason) {
        case 'not_assigned':
          await state.endFlow(reply, flow);
          return sendHtml(reply, 403, notAssignedPage(flow.appName));
        case 'access_rule':
          await state.endFlow(reply, flow);
          return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'Your organisation does not allow signing in to this application from your current network.'));
        case 'mfa_invalid':
        case 'mfa_replayed':
        case 'challenge_invalid':
          // The challenge is single-use: a wrong code means proving the password again.
          flow.step = 'password';
          delete flow.challenge;
          await state.saveFlow(flow);
          return renderStep(reply, flow, { error: 'That code is not valid. Enter your password and try again.' }, 401);
        default:
          flow.step = 'password';
          await state.saveFlow(flow);
          return renderStep(reply, flow, { error: GENERIC_FAIL }, 401);
      }
    };

    try {
      switch (flow.step) {
        case 'username': {
          const answer = webauthnAnswer(body);
          if (answer) {
            const expectedChallenge = flow.webauthnChallenge ?? randomToken(32);
            delete flow.webauthnChallenge;
            const r = await dir.authenticate({
              orgId: org.id, username: '', credential: { kind: 'passkey', webauthn: { response: answer, expectedChallenge, site: d.site() } },
              protocol, clientIp: ip, challengeSupported: true, ...(resource ? { resource } : {}),
            });
            if (r.decision === 'deny' && r.reason !== 'not_assigned' && r.reason !== 'access_rule') {
              await state.saveFlow(flow);
              return renderStep(reply, flow, { error: 'That passkey could not sign you in. Sign in with your username and password.' }, 401);
            }
            // A later step (a password change, a refusal page) names the user the passkey proved.
            if (r.decision === 'challenge') flow.username = (await dir.users.get(org.id, (await dir.auth.challengeUser(org.id, r.token))!.userId)).username;
            return onResult(r);
          }
          const username = String(body.username ?? '').trim().toLowerCase().slice(0, 64);
          if (!username) return renderStep(reply, flow, { error: 'Enter your username.' }, 400);
          flow.username = username;
          flow.step = 'password';
          await state.saveFlow(flow);
          return reply.redirect('/sso/login', 303);
        }
        case 'password': {
          const r = await dir.authenticate({
            orgId: org.id, username: flow.username ?? '', credential: { kind: 'password', password: body.password ?? '' },
            protocol, clientIp: ip, challengeSupported: true, ...(resource ? { resource } : {}),
          });
          return onResult(r);
        }
        case 'totp': {
          const answer = webauthnAnswer(body);
          // A security key's challenge is good for one answer, right or wrong.
          const expectedChallenge = flow.webauthnChallenge;
          delete flow.webauthnChallenge;
          const second = answer
            ? { webauthn: { response: answer, expectedChallenge: expectedChallenge ?? randomToken(32), site: d.site() } }
            : { otp: String(body.otp ?? '').slice(0, 64) };
          const r = await dir.authenticate({
            orgId: org.id, username: flow.username ?? '', credential: { kind: 'challenge', token: flow.challenge ?? '', ...second },
            protocol, clientIp: ip, ...(resource ? { resource } : {}),
          });
          return onResult(r);
        }
        case 'enroll': {
          const info = await dir.auth.challengeUser(org.id, flow.challenge ?? '');
          if (!info || info.kind !== 'totp_enroll') return restart(reply, flow, 'Your sign-in expired. Please start again.');
          const user = await dir.users.get(org.id, info.userId);
          let codes: string[];
          try {
            ({ recoveryCodes: codes } = await state.changingCredentials(user.id, { flow }, () =>
              dir.users.confirmTotp(userCtx(org, user, ip), user.id, String(body.otp ?? '').replace(/\s/g, '').slice(0, 16))));
          } catch (err) {
            if (isCairnError(err) && err.code === 'invalid_input') return renderStep(reply, flow, { error: 'That code does not match. Check the time on your device and scan the new code.' }, 400);
            throw err;
          }
          await dir.auth.consumeChallenge(org.id, flow.challenge ?? '');
          // Password proven (the challenge is only issued after it), every check before MFA
          // passed, and the code just proved the new factor: the sign-in is complete.
          await dir.audit.record(userCtx(org, user, ip), {
            eventType: `${protocol === 'sso' ? 'sso.login' : 'portal.login'}`, success: true, mfaType: 'totp', actorEmail: user.email,
            resource: resource ? { type: resource.type, id: resource.id } : null, changes: { via: 'totp_enrolment' },
          });
          Object.assign(flow, { step: 'recovery_codes', recoveryCodes: codes, userId: user.id, mfa: 'totp' });
          delete flow.challenge;
          await state.saveFlow(flow);
          return reply.redirect('/sso/login', 303);
        }
        case 'recovery_codes': {
          if (!flow.userId) return restart(reply, flow, 'Your sign-in expired. Please start again.');
          const user = await dir.users.get(org.id, flow.userId);
          if (user.state !== 'active') return restart(reply, flow, GENERIC_FAIL);
          return complete(req, reply, flow, user, 'totp');
        }
        case 'password_change': {
          const info = await dir.auth.challengeUser(org.id, flow.challenge ?? '');
          if (!info || info.kind !== 'password_change') return restart(reply, flow, 'Your sign-in expired. Please start again.');
          if ((body.newPassword ?? '') !== (body.confirm ?? '')) return renderStep(reply, flow, { error: 'The two passwords differ.' }, 400);
          const user = await dir.users.get(org.id, info.userId);
          try {
            await dir.users.setPassword(userCtx(org, user, ip), user.id, body.newPassword ?? '');
          } catch (err) {
            if (isCairnError(err) && (err.code === 'policy_violation' || err.code === 'invalid_input')) {
              return renderStep(reply, flow, { error: [err.message, ...err.details].join(': ') }, 400);
            }
            throw err;
          }
          await dir.auth.consumeChallenge(org.id, flow.challenge ?? '');
          flow.step = 'password';
          delete flow.challenge;
          await state.saveFlow(flow);
          return renderStep(reply, flow, { notice: 'Password changed. Sign in with your new password.' });
        }
        default:
          return reply.redirect(flow.next, 303);
      }
    } catch (err) {
      return failPage(d, reply, err);
    }
  });

  // ---- OIDC interactions ----------------------------------------------------------------------

  app.get('/sso/interaction/:uid', async (req, reply) => {
    try {
      const provider = d.provider();
      let details: { uid: string; prompt: { name: string; reasons: string[]; details: Record<string, unknown> }; params: Record<string, string>; session?: { accountId?: string }; grantId?: string };
      try {
        details = await provider.interactionDetails(req.raw, reply.raw);
      } catch {
        return sendHtml(reply, 400, messagePage('Sign-in expired', 'This sign-in request has expired or was already used. Go back to the application and start again.'));
      }
      const { uid, prompt, params } = details;
      const app = await dir.sso.apps.findByExternalId('oidc', params.client_id ?? '');
      if (!app || app.type !== 'oidc') return sendHtml(reply, 400, messagePage('Unknown application', 'This application is not registered.'));
      const ip = req.ip ?? null;
      const finish = async (result: Record<string, unknown>) => {
        const to = await provider.interactionResult(req.raw, reply.raw, result, { mergeWithLastSubmission: false });
        return reply.redirect(to, 303);
      };

      // A sign-in done for this interaction (login, or a fresh MFA before consent).
      const done = await state.flow(req);
      if (done && done.uid === uid && done.step === 'done' && done.userId) {
        await state.endFlow(reply, done);
        for (const [k, until] of freshLogins) if (until < Date.now() || freshLogins.size > 10_000) freshLogins.delete(k);
        freshLogins.set(`${done.userId}:${params.client_id}`, Date.now() + 60_000);
        return finish({ login: { accountId: done.userId, amr: amrOf(done.mfa), ts: Math.floor((done.authTime ?? Date.now()) / 1000) } });
      }

      if (prompt.name === 'login') {
        const forced = prompt.reasons.some((r) => ['login_prompt', 'max_age', 'id_token_hint', 'claims_id_token_sub_value'].includes(r));
        const sess = forced ? null : await state.session(req);
        if (sess) {
          const decision = await authorizeSession(dir, org, sess, app, ip);
          if (decision.ok) return finish({ login: { accountId: sess.userId, amr: amrOf(sess.mfa), ts: Math.floor(sess.authTime / 1000) } });
          if (decision.reason === 'not_assigned') return sendHtml(reply, 403, notAssignedPage(app.displayName));
          if (decision.reason === 'access_rule') return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'Your organisation does not allow signing in to this application from your current network.'));
        }
        await state.startFlow(reply, { next: `/sso/interaction/${uid}`, appId: app.id, appName: app.displayName, uid });
        return reply.redirect('/sso/login', 303);
      }

      if (prompt.name === 'consent') {
        const accountId = details.session?.accountId;
        if (!accountId) return sendHtml(reply, 400, messagePage('Sign-in expired', 'Go back to the application and start again.'));
        // An OP session made for another app does not carry this app's assignment, nor
        // necessarily the second factor this sign-in needs.
        const amr = (details.session as { amr?: string[] } | undefined)?.amr ?? [];
        const key = `${accountId}:${params.client_id}`;
        const fresh = (freshLogins.get(key) ?? 0) > Date.now();
        freshLogins.delete(key);
        const decision = await authorizeSession(dir, org, { userId: accountId, mfa: mfaOfAmr(amr) }, app, ip, { auditSuccess: !fresh });
        if (!decision.ok) {
          if (decision.reason === 'not_assigned') return sendHtml(reply, 403, notAssignedPage(app.displayName));
          if (decision.reason === 'reauth') {
            await state.startFlow(reply, { next: `/sso/interaction/${uid}`, appId: app.id, appName: app.displayName, uid });
            return reply.redirect('/sso/login', 303);
          }
          return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'This account cannot sign in to this application.'));
        }
        if (app.settings.thirdParty) {
          const scopes = String((prompt.details.missingOIDCScope as string[] | undefined)?.join(' ') ?? params.scope ?? '');
          return sendHtml(reply, 200, page('Allow access', `<h1>Allow ${esc(app.displayName)}?</h1><p>${esc(app.displayName)} asks to see: <strong>${esc(scopes)}</strong>.</p>` +
            `<form method="post" action="/sso/interaction/${esc(uid)}/consent"><button type="submit" name="decision" value="allow" autofocus>Allow</button> <button type="submit" name="decision" value="deny" class="link">Deny</button></form>`));
        }
        return finish({ consent: { grantId: await grantAll(provider, details, accountId) } });
      }
      return sendHtml(reply, 400, messagePage('Unsupported request', 'This sign-in request cannot be completed.'));
    } catch (err) {
      return failPage(d, reply, err);
    }
  });

  // Third-party consent. The _interaction cookie (SameSite=Lax, path-scoped to this uid) is the
  // CSRF defence: a cross-site POST does not carry it, so interactionDetails fails.
  app.post('/sso/interaction/:uid/consent', async (req, reply) => {
    try {
      const provider = d.provider();
      let details: Parameters<typeof grantAll>[1] & { session?: { accountId?: string }; prompt: { name: string } };
      try {
        details = await provider.interactionDetails(req.raw, reply.raw);
      } catch {
        return sendHtml(reply, 400, messagePage('Sign-in expired', 'Go back to the application and start again.'));
      }
      if (details.prompt.name !== 'consent' || !details.session?.accountId) return sendHtml(reply, 400, messagePage('Unsupported request', 'This request cannot be completed.'));
      const result = bodyOf(req).decision === 'allow'
        ? { consent: { grantId: await grantAll(provider, details, details.session.accountId) } }
        : { error: 'access_denied', error_description: 'the user denied access' };
      const to = await provider.interactionResult(req.raw, reply.raw, result, { mergeWithLastSubmission: true });
      return reply.redirect(to, 303);
    } catch (err) {
      return failPage(d, reply, err);
    }
  });

  // ---- portal ---------------------------------------------------------------------------------

  async function portalUser(req: FastifyRequest, reply: FastifyReply): Promise<{ user: User; sess: NonNullable<Awaited<ReturnType<BrowserState['session']>>> } | null> {
    const sess = await state.session(req);
    if (!sess) {
      await state.startFlow(reply, { next: '/sso/', appId: null, appName: null, uid: null });
      reply.redirect('/sso/login', 303);
      return null;
    }
    const user = await dir.users.get(org.id, sess.userId).catch(() => null);
    if (!user || user.state !== 'active') {
      await state.endSession(req, reply);
      reply.redirect('/sso/login', 303);
      return null;
    }
    return { user, sess };
  }

  const checkCsrf = (req: FastifyRequest, sess: { csrf: string }) => {
    const c = bodyOf(req).csrf;
    return !!c && constantTimeEqual(c, sess.csrf);
  };

  async function renderPortal(reply: FastifyReply, user: User, sess: { csrf: string }, msg: { error?: string; notice?: string; extra?: string; script?: 'webauthn' } = {}, status = 200) {
    const apps = await dir.sso.apps.assignedTo(org.id, user.groupIds);
    const csrf = hidden('csrf', sess.csrf);
    const appList = apps.length
      ? `<ul class="apps">${apps.map((a) => (a.type === 'saml'
        ? `<li><form method="post" action="/sso/portal/launch/${esc(a.id)}">${csrf}<button type="submit" class="link">${esc(a.displayName)}</button></form></li>`
        : `<li>${a.launchUrl ? `<a href="${esc(a.launchUrl)}">${esc(a.displayName)}</a>` : esc(a.displayName)}</li>`)).join('')}</ul>`
      : '<p class="muted">No applications are assigned to you yet.</p>';
    const events = (await dir.audit.list({ orgId: org.id, actorId: user.id, limit: 50, order: 'desc' }))
      .filter((e) => /\.login$|\.bind$|\.auth$/.test(e.eventType)).slice(0, 10);
    const securityKeys = await dir.securityKeys.list(org.id, user.id);
    // Within the policy's warning window, say how long the password has left (as SSSD does at login).
    const daysLeft = user.passwordExpiresAt ? Math.floor((user.passwordExpiresAt.getTime() - Date.now()) / 86400_000) : null;
    const expiring = daysLeft !== null && daysLeft >= 0 && daysLeft < (await dir.policies.passwordPolicy(org.id)).expiryWarningDays
      ? `<p class="err" role="status">Your password expires ${daysLeft === 0 ? 'today' : `in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`}: change it below.</p>` : '';
    const keys = user.sshKeys.map((k) => `<tr><td><code>${esc(k.type)}</code></td><td><code>${esc(k.fingerprint)}</code></td><td>${esc(k.comment)}</td>` +
      `<td><form method="post" action="/sso/portal/ssh-keys/delete">${csrf}${hidden('id', k.id)}<button type="submit" class="link">Remove</button></form></td></tr>`).join('');
    const body = `<h1>Hello, ${esc(user.displayName || user.username)}</h1>${errorBox(msg.error)}${noticeBox(msg.notice)}${expiring}${msg.extra ?? ''}
<section><h2>Your applications</h2>${appList}</section>
<section><h2>Change password</h2><form method="post" action="/sso/portal/password">${csrf}<input type="text" name="username" value="${esc(user.username)}" autocomplete="username" hidden>
${field('current', 'Current password', 'password', { autocomplete: 'current-password' })}${field('newPassword', 'New password', 'password', { autocomplete: 'new-password' })}${field('confirm', 'Repeat the new password', 'password', { autocomplete: 'new-password' })}<button type="submit">Change password</button></form></section>
<section><h2>Two-step sign-in</h2>${user.totpEnrolled
      ? `<p>An authenticator app is set up. To replace or remove it, confirm your password.</p><form method="post" action="/sso/portal/totp/begin">${csrf}${field('totpPassword', 'Current password', 'password', { autocomplete: 'current-password' })}` +
        '<button type="submit">Replace authenticator</button> <button type="submit" formaction="/sso/portal/totp/reset" class="link">Remove the authenticator and recovery codes</button></form>'
      : `<p>No authenticator app is set up.</p><form method="post" action="/sso/portal/totp/begin">${csrf}<button type="submit">Set up an authenticator app</button></form>`}</section>
<section><h2>Security keys and passkeys</h2>${securityKeys.length
      ? `<table><thead><tr><th>Name</th><th>Added (UTC)</th><th>Last used (UTC)</th></tr></thead><tbody>${securityKeys.map((k) => `<tr><td>${esc(k.name)}</td><td>${esc(utc(k.createdAt))}</td><td>${k.lastUsedAt ? esc(utc(k.lastUsedAt)) : 'never'}</td></tr>`).join('')}</tbody></table>` +
        `<form method="post" action="/sso/portal/webauthn/remove">${csrf}<label for="keyId">Remove a key</label><select id="keyId" name="id">${securityKeys.map((k) => `<option value="${esc(k.id)}">${esc(k.name)}</option>`).join('')}</select>` +
        `${field('keyRemovePassword', 'Current password', 'password', { autocomplete: 'current-password' })}<button type="submit">Remove key</button></form>`
      : '<p class="muted">No security key or passkey. With one, signing in needs a touch instead of a code.</p>'}
<form method="post" action="/sso/portal/webauthn/begin">${csrf}${field('keyName', 'Name for the new key', 'text', { value: 'Security key' })}${field('keyPassword', 'Current password', 'password', { autocomplete: 'current-password' })}<button type="submit">Add a security key or passkey</button></form></section>
<section><h2>SSH keys</h2>${keys ? `<table><thead><tr><th>Type</th><th>Fingerprint</th><th>Comment</th><th></th></tr></thead><tbody>${keys}</tbody></table>` : '<p class="muted">No SSH keys.</p>'}
<form method="post" action="/sso/portal/ssh-keys">${csrf}<label for="publicKey">Add a public key (one line from id_ed25519.pub)</label><textarea id="publicKey" name="publicKey" rows="3" required></textarea><button type="submit">Add key</button></form></section>
<section><h2>Recent sign-ins</h2>${events.length ? `<table><thead><tr><th>When (UTC)</th><th>What</th><th>From</th><th>Result</th></tr></thead><tbody>${events.map((e) => `<tr><td>${esc(utc(e.timestamp))}</td><td>${esc(e.eventType)}</td><td>${esc(e.clientIp ?? '')}</td><td>${e.success ? 'ok' : `refused${e.reason ? ` (${esc(e.reason)})` : ''}`}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">None yet.</p>'}</section>
<section><form method="post" action="/sso/logout">${csrf}<button type="submit">Sign out</button></form>
<form method="post" action="/sso/portal/sessions/revoke">${csrf}<p class="muted">Lost a device, or signed in somewhere you should not have? This ends every other Cairn session and makes every application sign you in again.</p><button type="submit">Sign out everywhere else</button></form></section>`;
    return sendHtml(reply, status, page('Your account', body, { wide: true, script: msg.script }));
  }

  app.get('/sso/', async (req, reply) => {
    try {
      const p = await portalUser(req, reply);
      if (!p) return reply;
      return renderPortal(reply, p.user, p.sess);
    } catch (err) {
      return failPage(d, reply, err);
    }
  });
  app.get('/sso', async (_req, reply) => reply.redirect('/sso/', 301));

  const portalPost = (path: string, handler: (req: FastifyRequest, reply: FastifyReply, user: User, sess: SsoSession & { id: string }) => Promise<FastifyReply>) =>
    app.post(path, async (req, reply) => {
      try {
        const p = await portalUser(req, reply);
        if (!p) return reply;
        if (!checkCsrf(req, p.sess)) return sendHtml(reply, 403, messagePage('Request refused', 'The form could not be verified. Reload the page and try again.'));
        return await handler(req, reply, p.user, p.sess);
      } catch (err) {
        if (isCairnError(err) && ['invalid_input', 'policy_violation', 'conflict'].includes(err.code)) {
          const p = await portalUser(req, reply);
          if (p) return renderPortal(reply, p.user, p.sess, { error: [err.message, ...err.details].join(': ') }, 400);
        }
        return failPage(d, reply, err);
      }
    });

  /**
   * Step-up before a credential change: the current password, through the one decision
   * (lockout, audit with the purpose). A challenge answer also proves it (challenges are only
   * issued after the password); its token is dropped unused.
   */
  async function currentPasswordProven(req: FastifyRequest, user: User, password: string | undefined, purpose: string): Promise<boolean> {
    const r = await dir.authenticate({ orgId: org.id, username: user.username, credential: { kind: 'password', password: password ?? '' }, protocol: 'portal', clientIp: req.ip ?? null, challengeSupported: true, detail: { purpose } });
    if (r.decision === 'challenge') await dir.auth.consumeChallenge(org.id, r.token);
    return r.decision !== 'deny';
  }
  const WRONG_CURRENT = 'The current password is not correct.';

  portalPost('/sso/portal/password', async (req, reply, user, sess) => {
    const b = bodyOf(req);
    if ((b.newPassword ?? '') !== (b.confirm ?? '')) return renderPortal(reply, user, sess, { error: 'The two passwords differ.' }, 400);
    if (!(await currentPasswordProven(req, user, b.current, 'password_change'))) return renderPortal(reply, user, sess, { error: WRONG_CURRENT }, 401);
    await state.changingCredentials(user.id, { session: sess }, () => dir.users.setPassword(userCtx(org, user, req.ip ?? null), user.id, b.newPassword ?? ''));
    return renderPortal(reply, await dir.users.get(org.id, user.id), sess, { notice: 'Your password was changed.' });
  });

  portalPost('/sso/portal/totp/begin', async (req, reply, user, sess) => {
    // Replacing a second factor needs the password too: a borrowed session alone must not do it.
    if (user.totpEnrolled && !(await currentPasswordProven(req, user, bodyOf(req).totpPassword, 'totp_replace'))) return renderPortal(reply, user, sess, { error: WRONG_CURRENT }, 401);
    const { secret, uri } = await dir.users.beginTotp(userCtx(org, user, req.ip ?? null), user.id, 'Cairn');
    const qr = await QRCode.toDataURL(uri, { margin: 1, width: 220 });
    const extra = `<section><h2>Set up your authenticator</h2><p><img src="${esc(qr)}" alt="QR code for your authenticator app" width="220" height="220"></p><p>Key: <code>${esc(secret.replace(/(.{4})/g, '$1 ').trim())}</code></p>` +
      `<form method="post" action="/sso/portal/totp/confirm">${hidden('csrf', sess.csrf)}${field('otp', '6-digit code', 'text', { autocomplete: 'one-time-code', inputmode: 'numeric', autofocus: true })}<button type="submit">Turn on</button></form></section>`;
    return renderPortal(reply, user, sess, { extra });
  });

  portalPost('/sso/portal/totp/confirm', async (req, reply, user, sess) => {
    const { recoveryCodes } = await state.changingCredentials(user.id, { session: sess }, () =>
      dir.users.confirmTotp(userCtx(org, user, req.ip ?? null), user.id, String(bodyOf(req).otp ?? '').replace(/\s/g, '')));
    const extra = `<section><h2>Recovery codes</h2><p>Each works once. They will not be shown again.</p><ul>${recoveryCodes.map((c) => `<li><code>${esc(c)}</code></li>`).join('')}</ul></section>`;
    return renderPortal(reply, await dir.users.get(org.id, user.id), sess, { notice: 'Your authenticator app is set up.', extra });
  });

  portalPost('/sso/portal/totp/reset', async (req, reply, user, sess) => {
    if (!(await currentPasswordProven(req, user, bodyOf(req).totpPassword, 'totp_remove'))) return renderPortal(reply, user, sess, { error: WRONG_CURRENT }, 401);
    await state.changingCredentials(user.id, { session: sess }, () => dir.users.resetTotp(userCtx(org, user, req.ip ?? null), user.id));
    return renderPortal(reply, await dir.users.get(org.id, user.id), sess, { notice: 'The authenticator was removed.' });
  });

  // Security keys: adding or removing one needs the current password (as for the authenticator
  // app). The registration challenge waits server-side, single use, bound to this user.
  portalPost('/sso/portal/webauthn/begin', async (req, reply, user, sess) => {
    const b = bodyOf(req);
    if (!(await currentPasswordProven(req, user, b.keyPassword, 'webauthn_add'))) return renderPortal(reply, user, sess, { error: WRONG_CURRENT }, 401);
    const options = await dir.securityKeys.registrationOptions(org.id, user, d.site());
    const key = randomToken(24);
    await dir.sso.store.upsert('CairnWebAuthnRegistration', key, { userId: user.id, challenge: options.challenge, name: String(b.keyName ?? '').slice(0, 64) }, 300);
    const extra = `<section><h2>Add a security key or passkey</h2><p>Press the button, then touch your key or confirm on your device.</p>` +
      `${securityKeyForm('/sso/portal/webauthn/register', 'create', options, hidden('csrf', sess.csrf) + hidden('registration', key), 'Register the key')}</section>`;
    return renderPortal(reply, user, sess, { extra, script: 'webauthn' });
  });

  portalPost('/sso/portal/webauthn/register', async (req, reply, user, sess) => {
    const b = bodyOf(req);
    const pending = await dir.sso.store.take('CairnWebAuthnRegistration', String(b.registration ?? ''));
    const p = pending?.payload as { userId?: string; challenge?: string; name?: string } | undefined;
    const answer = webauthnAnswer(b);
    if (!p || p.userId !== user.id || !p.challenge || !answer) return renderPortal(reply, user, sess, { error: 'The key was not registered: start again.' }, 400);
    await state.changingCredentials(user.id, { session: sess }, () =>
      dir.securityKeys.register(userCtx(org, user, req.ip ?? null), user, answer, p.challenge!, d.site(), p.name ?? ''));
    return renderPortal(reply, user, sess, { notice: 'Your security key is registered.' });
  });

  portalPost('/sso/portal/webauthn/remove', async (req, reply, user, sess) => {
    const b = bodyOf(req);
    if (!(await currentPasswordProven(req, user, b.keyRemovePassword, 'webauthn_remove'))) return renderPortal(reply, user, sess, { error: WRONG_CURRENT }, 401);
    await state.changingCredentials(user.id, { session: sess }, () => dir.securityKeys.remove(userCtx(org, user, req.ip ?? null), user, String(b.id ?? '')));
    return renderPortal(reply, user, sess, { notice: 'The security key was removed.' });
  });

  portalPost('/sso/portal/sessions/revoke', async (req, reply, user, sess) => {
    // Every other portal/SSO session, OP session, grant and token of the user; this one stays.
    const removed = await dir.sso.store.destroyByAccount(user.id, state.sessionRows(sess));
    await dir.audit.record(userCtx(org, user, req.ip ?? null), { eventType: 'sso.sessions_revoked', success: true, actorEmail: user.email, changes: { removed } });
    return renderPortal(reply, user, sess, { notice: 'You are signed out everywhere else. Applications will ask you to sign in again.' });
  });

  portalPost('/sso/portal/ssh-keys', async (req, reply, user, sess) => {
    await dir.users.addSshKey(userCtx(org, user, req.ip ?? null), user.id, String(bodyOf(req).publicKey ?? '').trim());
    return renderPortal(reply, await dir.users.get(org.id, user.id), sess, { notice: 'SSH key added.' });
  });

  portalPost('/sso/portal/ssh-keys/delete', async (req, reply, user, sess) => {
    await dir.users.removeSshKey(userCtx(org, user, req.ip ?? null), user.id, String(bodyOf(req).id ?? ''));
    return renderPortal(reply, await dir.users.get(org.id, user.id), sess, { notice: 'SSH key removed.' });
  });

  portalPost('/sso/portal/launch/:appId', async (req, reply, user, sess) => {
    const appId = (req.params as { appId: string }).appId;
    const target = await dir.sso.apps.get(org.id, appId).catch(() => null);
    if (!target || target.type !== 'saml') return sendHtml(reply, 404, messagePage('Unknown application', 'This application does not exist.'));
    const decision = await authorizeSession(dir, org, sess, target, req.ip ?? null);
    if (!decision.ok) {
      switch (decision.reason) {
        case 'reauth':
          // The app needs the second factor this portal session was opened without: sign in
          // for the app, then back to the portal, whose session then carries the code.
          await state.startFlow(reply, { next: '/sso/', appId: target.id, appName: target.displayName, uid: null });
          return reply.redirect('/sso/login', 303);
        case 'access_rule':
          return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'Your organisation does not allow signing in to this application from your current network.'));
        case 'not_assigned':
          return sendHtml(reply, 403, notAssignedPage(target.displayName));
        default:
          return sendHtml(reply, 403, messagePage('Sign-in not allowed', 'This account cannot sign in to this application.'));
      }
    }
    await d.samlLaunch(req, reply, target, decision.user, sess);
    return reply;
  });

  app.post('/sso/logout', async (req, reply) => {
    const sess = await state.session(req);
    if (sess && !checkCsrf(req, sess)) return sendHtml(reply, 403, messagePage('Request refused', 'The form could not be verified.'));
    await state.signOut(req, reply, sess, { via: 'portal' });
    if (sess?.samlParticipants?.length) return d.samlLogout(reply, sess.samlParticipants);
    return sendHtml(reply, 200, signedOutPage());
  });
}

/** Grant what the client asked for: first-party apps (no consent page) and accepted consent. */
async function grantAll(provider: Provider, details: { grantId?: string; params: Record<string, string>; prompt: { details: Record<string, unknown> } }, accountId: string): Promise<string> {
  const Grant = provider.Grant;
  const grant = details.grantId ? await Grant.find(details.grantId) : new Grant({ accountId, clientId: details.params.client_id });
  const pd = details.prompt.details;
  if (Array.isArray(pd.missingOIDCScope)) grant.addOIDCScope((pd.missingOIDCScope as string[]).join(' '));
  if (Array.isArray(pd.missingOIDCClaims)) grant.addOIDCClaims(pd.missingOIDCClaims);
  if (pd.missingResourceScopes && typeof pd.missingResourceScopes === 'object') {
    for (const [indicator, scopes] of Object.entries(pd.missingResourceScopes as Record<string, string[]>)) grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

export function failPage(d: { log: Logger }, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toCairnError(err);
  const mapped = ssoErrors[e.code];
  if (!e.expose || e.code === 'internal') d.log.error({ err: scrubError(err) }, 'sso page failed');
  // Only the mapped, client-safe wording reaches the browser, never the error's own message.
  return sendHtml(reply, mapped.status, messagePage(mapped.status >= 500 ? 'Temporarily unavailable' : 'Request refused', mapped.page));
}
