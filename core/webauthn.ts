// WebAuthn (security keys and passkeys) as a second factor where a browser is involved (the
// SSO login pages and the portal). @simplewebauthn/server does the ceremony checks: challenge,
// origin, RP id, signature, and the signature counter that betrays a cloned authenticator.
// The challenge lives with the caller's browser state (a login flow, a portal form) and is
// passed back here; it is single use because the caller drops it.
import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type AuthenticatorTransportFuture, type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { mutate, now, read, toDate, type Deps } from './context.js';
import { conflict, invalidInput, notFound, policyViolation } from './errors.js';
import type { ActionContext } from './types.js';

/** Where the ceremony happens: the relying party id (a host name) and the page origin. */
export interface WebAuthnSite {
  rpId: string;
  origin: string;
  rpName: string;
}

export interface SecurityKey {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface Row {
  id: string; org_id: string; user_id: string; credential_id: string; public_key: string; sign_count: number | string;
  transports: string; name: string; created_at: number | string; last_used_at: number | string | null;
}

const MAX_KEYS = 10;
const toKey = (r: Row): SecurityKey => ({ id: r.id, name: r.name, createdAt: toDate(r.created_at)!, lastUsedAt: toDate(r.last_used_at) });
const transportsOf = (r: Row) => JSON.parse(r.transports) as AuthenticatorTransportFuture[];

export class SecurityKeys {
  readonly #d: Deps;
  constructor(d: Deps) {
    this.#d = d;
  }

  async list(orgId: string, userId: string): Promise<SecurityKey[]> {
    return (await this.#rows(orgId, userId)).map(toKey);
  }

  async count(userId: string): Promise<number> {
    const r = (await read(() => this.#d.db('webauthn_credentials').where({ user_id: userId }).count({ n: '*' }).first())) as { n: number | string } | undefined;
    return Number(r?.n ?? 0);
  }

  /** Options for navigator.credentials.create(); their `challenge` must come back to `register`. */
  async registrationOptions(orgId: string, user: { id: string; username: string; displayName: string }, site: WebAuthnSite): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.#rows(orgId, user.id);
    return generateRegistrationOptions({
      rpName: site.rpName, rpID: site.rpId, userName: user.username, userDisplayName: user.displayName || user.username,
      userID: new TextEncoder().encode(user.id), attestationType: 'none',
      excludeCredentials: existing.map((r) => ({ id: r.credential_id, transports: transportsOf(r) })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
  }

  async register(ctx: ActionContext, user: { id: string; username: string }, response: unknown, expectedChallenge: string, site: WebAuthnSite, name: string): Promise<SecurityKey> {
    const label = String(name ?? '').trim().slice(0, 64) || 'Security key';
    if ((await this.count(user.id)) >= MAX_KEYS) throw policyViolation(`at most ${MAX_KEYS} security keys per user`);
    let info;
    try {
      const v = await verifyRegistrationResponse({
        response: response as RegistrationResponseJSON, expectedChallenge, expectedOrigin: site.origin, expectedRPID: site.rpId, requireUserVerification: false,
      });
      info = v.verified ? v.registrationInfo : undefined;
    } catch {
      info = undefined;
    }
    if (!info) throw invalidInput('webauthn', 'the security key response could not be verified');
    const cred = info.credential;
    const taken = await read(() => this.#d.db('webauthn_credentials').where({ credential_id: cred.id }).first('id'));
    if (taken) throw conflict('this security key is already registered', 'webauthn');
    const row = {
      id: randomUUID(), org_id: ctx.orgId, user_id: user.id, credential_id: cred.id, public_key: Buffer.from(cred.publicKey).toString('base64url'),
      sign_count: cred.counter, transports: JSON.stringify(cred.transports ?? []), name: label, created_at: now(), last_used_at: null,
    };
    return mutate(this.#d, ctx, async (trx) => {
      await trx('webauthn_credentials').insert(row);
      await trx('users').where({ id: user.id }).update({ updated_at: now() });
      return {
        result: toKey(row),
        audit: { eventType: 'user.webauthn_added', success: true, resource: { type: 'user', id: user.id, name: user.username }, resourceIsPerson: true, mfaType: 'webauthn', changes: { name: label } },
        changes: [{ kind: 'user', action: 'credentials', orgId: ctx.orgId, id: user.id }],
      };
    });
  }

  async remove(ctx: ActionContext, user: { id: string; username: string }, keyId: string): Promise<void> {
    const row = (await this.#rows(ctx.orgId, user.id)).find((r) => r.id === keyId);
    if (!row) throw notFound('security key');
    await mutate(this.#d, ctx, async (trx) => {
      await trx('webauthn_credentials').where({ id: keyId, user_id: user.id }).delete();
      await trx('users').where({ id: user.id }).update({ updated_at: now() });
      return {
        result: undefined,
        audit: { eventType: 'user.webauthn_removed', success: true, resource: { type: 'user', id: user.id, name: user.username }, resourceIsPerson: true, mfaType: 'webauthn', changes: { name: row.name } },
        changes: [{ kind: 'user', action: 'credentials', orgId: ctx.orgId, id: user.id }],
      };
    });
  }

  /** Options for navigator.credentials.get(), listing the user's keys; null when they have none. */
  async authenticationOptions(orgId: string, userId: string, site: WebAuthnSite): Promise<PublicKeyCredentialRequestOptionsJSON | null> {
    const rows = await this.#rows(orgId, userId);
    if (!rows.length) return null;
    return generateAuthenticationOptions({ rpID: site.rpId, userVerification: 'preferred', allowCredentials: rows.map((r) => ({ id: r.credential_id, transports: transportsOf(r) })) });
  }

  /** Options for a passkey sign-in: no user named, the authenticator offers its own (user verification required). */
  passkeyOptions(site: WebAuthnSite): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return generateAuthenticationOptions({ rpID: site.rpId, userVerification: 'required', allowCredentials: [] });
  }

  /** Check an assertion from one of the user's keys against the challenge issued for it (second factor). */
  async verify(userId: string, response: unknown, expectedChallenge: string, site: WebAuthnSite): Promise<boolean> {
    const row = await this.#credential(response, { user_id: userId });
    return !!row && (await this.#check(row, response, expectedChallenge, site, false));
  }

  /**
   * A passkey sign-in: the assertion names its credential, and so its user, whose id must also be
   * the user handle the authenticator returned; verified user presence and verification (PIN,
   * biometrics) make it both factors. The user's id, or null.
   */
  async verifyPasskey(orgId: string, response: unknown, expectedChallenge: string, site: WebAuthnSite): Promise<string | null> {
    const row = await this.#credential(response, { org_id: orgId });
    const handle = (response as { response?: { userHandle?: unknown } })?.response?.userHandle;
    if (!row || typeof handle !== 'string' || Buffer.from(handle, 'base64url').toString() !== row.user_id) return null;
    return (await this.#check(row, response, expectedChallenge, site, true)) ? row.user_id : null;
  }

  async #credential(response: unknown, where: { user_id: string } | { org_id: string }): Promise<Row | undefined> {
    const id = typeof (response as { id?: unknown })?.id === 'string' ? (response as { id: string }).id : '';
    if (!id || id.length > 1400) return undefined;
    return (await read(() => this.#d.db('webauthn_credentials').where({ ...where, credential_id: id }).first())) as Row | undefined;
  }

  /** The signature counter must move forward (when the authenticator keeps one), by compare-and-set. */
  async #check(row: Row, response: unknown, expectedChallenge: string, site: WebAuthnSite, requireUserVerification: boolean): Promise<boolean> {
    const counter = Number(row.sign_count);
    let newCounter: number;
    try {
      const v = await verifyAuthenticationResponse({
        response: response as AuthenticationResponseJSON, expectedChallenge, expectedOrigin: site.origin, expectedRPID: site.rpId, requireUserVerification,
        credential: { id: row.credential_id, publicKey: Buffer.from(row.public_key, 'base64url'), counter, transports: transportsOf(row) },
      });
      if (!v.verified) return false;
      newCounter = v.authenticationInfo.newCounter;
    } catch {
      return false;
    }
    const moved = await read(() => this.#d.db('webauthn_credentials').where({ id: row.id, sign_count: row.sign_count }).update({ sign_count: newCounter, last_used_at: now() }));
    return moved === 1;
  }

  #rows(orgId: string, userId: string): Promise<Row[]> {
    return read(() => this.#d.db('webauthn_credentials').where({ org_id: orgId, user_id: userId }).orderBy('created_at')) as Promise<Row[]>;
  }
}
