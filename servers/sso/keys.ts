// SSO key material, generated on first start and kept sealed with the master key:
// - OIDC signing keys (RS256 JWKs): the newest signs; retired keys stay published in the JWKS
//   until every ID token / JWT they signed has expired, then they are dropped.
// - SAML IdP signing key + self-signed certificate (RSA-SHA256); a rotated-in successor is
//   published in the metadata beside the current one before it starts signing.
// - cookie keys for oidc-provider's signed cookies.
import 'reflect-metadata'; // @peculiar/x509 (via tsyringe) needs it loaded first
import { createHash, generateKeyPairSync, randomBytes, webcrypto, type JsonWebKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { ActionContext, Directory } from '../../core/index.js';

x509.cryptoProvider.set(webcrypto as never);

const OIDC_KEYS = 'sso.oidc.jwks';
const SAML_KEY = 'sso.saml.signing';
const COOKIE_KEYS = 'sso.cookie.keys';

export interface StoredJwk extends JsonWebKey {
  kid: string;
  /** ms: when it was made. */
  created: number;
  /** ms: once retired (no longer signing), when it may leave the JWKS. */
  dropAfter?: number;
}

export interface SamlSigning {
  key: string;
  cert: string;
  /** The successor (rotateSamlKey): in the metadata now, signing from activateAt (ms). */
  next?: { key: string; cert: string; activateAt: number };
}

export interface SsoKeys {
  jwks: { keys: StoredJwk[] };
  saml: SamlSigning;
  cookieKeys: string[];
}

function newJwk(): StoredJwk {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(jwk.n!).digest('base64url').slice(0, 16);
  return { ...jwk, kid, alg: 'RS256', use: 'sig', created: Date.now() };
}

async function newSamlKeyPair(entity: string): Promise<{ key: string; cert: string }> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const name = `CN=${entity.replace(/[,=+<>#;"\\]/g, ' ').slice(0, 60)}, O=Cairn SAML IdP`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 5 * 365 * 86400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), cert: cert.toString('pem') };
}

/** Load, creating what is missing (first start). Retired keys past their drop time go. */
export async function loadKeys(dir: Directory, ctx: ActionContext, entity: string): Promise<SsoKeys> {
  const orgId = ctx.orgId;
  let jwksRaw = await dir.getSealedSetting(orgId, OIDC_KEYS);
  let jwks: { keys: StoredJwk[] };
  if (!jwksRaw) {
    jwks = { keys: [newJwk()] };
    await dir.putSealedSetting(ctx, OIDC_KEYS, JSON.stringify(jwks));
  } else {
    jwks = JSON.parse(jwksRaw.toString()) as { keys: StoredJwk[] };
    const kept = jwks.keys.filter((k, i) => i === 0 || !k.dropAfter || k.dropAfter > Date.now());
    if (kept.length !== jwks.keys.length) {
      jwks = { keys: kept };
      await dir.putSealedSetting(ctx, OIDC_KEYS, JSON.stringify(jwks));
    }
  }
  jwksRaw = null;
  let samlRaw = await dir.getSealedSetting(orgId, SAML_KEY);
  let saml: SamlSigning;
  if (!samlRaw) {
    saml = await newSamlKeyPair(entity);
    await dir.putSealedSetting(ctx, SAML_KEY, JSON.stringify(saml));
  } else {
    saml = JSON.parse(samlRaw.toString()) as SamlSigning;
    if (saml.next && saml.next.activateAt <= Date.now()) {
      // The overlap is over: the successor signs (the servers' key poll gets here within a minute).
      saml = { key: saml.next.key, cert: saml.next.cert };
      await dir.putSealedSetting(ctx, SAML_KEY, JSON.stringify(saml));
    }
  }
  samlRaw = null;
  const cookieRaw = await dir.getSealedSetting(orgId, COOKIE_KEYS);
  let cookieKeys: string[];
  if (!cookieRaw) {
    cookieKeys = [randomBytes(32).toString('base64url')];
    await dir.putSealedSetting(ctx, COOKIE_KEYS, JSON.stringify(cookieKeys));
  } else {
    cookieKeys = JSON.parse(cookieRaw.toString());
  }
  return { jwks, saml, cookieKeys };
}

/**
 * `cairn sso rotate-keys`: a new OIDC signing key becomes the signer; the previous ones stay in
 * the JWKS for `keepSeconds` (default: a day, longer than any ID token lives) so that tokens
 * they signed still verify. Running servers pick the new key up through the change feed.
 */
export async function rotateOidcKeys(dir: Directory, ctx: ActionContext, keepSeconds = 86_400): Promise<{ kid: string; retired: string[] }> {
  const raw = await dir.getSealedSetting(ctx.orgId, OIDC_KEYS);
  const old = raw ? (JSON.parse(raw.toString()) as { keys: StoredJwk[] }).keys : [];
  const fresh = newJwk();
  const dropAfter = Date.now() + keepSeconds * 1000;
  const keys = [fresh, ...old.map((k) => ({ ...k, dropAfter: k.dropAfter ?? dropAfter }))].filter((k) => !k.dropAfter || k.dropAfter > Date.now());
  await dir.putSealedSetting(ctx, OIDC_KEYS, JSON.stringify({ keys }));
  dir.feed.publish({ kind: 'resource', action: 'updated', orgId: ctx.orgId, id: 'sso-keys' });
  return { kid: fresh.kid, retired: old.map((k) => k.kid) };
}

/**
 * `cairn sso rotate-saml-key`: a new SAML signing key and certificate. For `overlapSeconds`
 * (default a week) the IdP metadata publishes both certificates while the current key still
 * signs, so SPs can take the new metadata before the switch; then the new key signs and the old
 * certificate leaves the metadata. 0 switches at once (a compromised key). Rotating again
 * during an overlap replaces the pending successor.
 */
export async function rotateSamlKey(dir: Directory, ctx: ActionContext, entity: string, overlapSeconds = 7 * 86_400): Promise<{ cert: string; activateAt: number }> {
  const raw = await dir.getSealedSetting(ctx.orgId, SAML_KEY);
  const current = raw ? (JSON.parse(raw.toString()) as SamlSigning) : null;
  const fresh = await newSamlKeyPair(entity);
  const activateAt = Date.now() + overlapSeconds * 1000;
  const value: SamlSigning = current && overlapSeconds > 0 ? { key: current.key, cert: current.cert, next: { ...fresh, activateAt } } : fresh;
  await dir.putSealedSetting(ctx, SAML_KEY, JSON.stringify(value));
  dir.feed.publish({ kind: 'resource', action: 'updated', orgId: ctx.orgId, id: 'sso-keys' });
  return { cert: fresh.cert, activateAt: value.next ? activateAt : Date.now() };
}
