// TOTP (RFC 6238) through otplib. The caller stores the accepted time step and passes it
// back, so that a code is never accepted twice.
import { generateSecret, generateSync, generateURI, verifySync } from 'otplib';

export const TOTP_PERIOD = 30;

export function newTotpSecret(): string {
  return generateSecret(); // base32, 160 bits
}

export function totpUri(secret: string, issuer: string, label: string): string {
  return generateURI({ issuer, label, secret });
}

export function totpCode(secret: string | Uint8Array, epochSeconds = Date.now() / 1000): string {
  return generateSync({ secret, epoch: Math.floor(epochSeconds) });
}

/**
 * The time step the code belongs to, or null. Accepts the current and the previous step
 * only (a code typed just before the step turned), and only steps after `afterStep`.
 */
export function matchTotp(secret: string, code: string, afterStep: number | null, epochSeconds = Date.now() / 1000): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const result = verifySync({
    secret,
    token: code,
    epoch: Math.floor(epochSeconds),
    epochTolerance: [TOTP_PERIOD, 0],
    ...(afterStep === null ? {} : { afterTimeStep: afterStep }),
  });
  return result.valid && "timeStep" in result ? (result.timeStep as number) : null;
}
