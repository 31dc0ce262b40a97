// MSCHAPv2 (RFC 2759) over an NT hash: the peer's NT-Response check and the
// Authenticator Response the server proves itself with. SHA-1 from Node; MD4 and DES in
// plain TypeScript (core/crypto/md4.ts, ./des.ts) because Node 20's OpenSSL 3 refuses them.
import { createHash, timingSafeEqual } from 'node:crypto';
import { md4 } from '../../../core/crypto/md4.js';
import { desEncryptBlock, expandDesKey } from './des.js';

const MAGIC1 = Buffer.from('Magic server to client signing constant');
const MAGIC2 = Buffer.from('Pad to make it do more than one iteration');

const sha1 = (...parts: Buffer[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** ChallengeHash (§8.2): SHA1(PeerChallenge + AuthenticatorChallenge + UserName)[0..7]. */
export function challengeHash(peerChallenge: Buffer, authChallenge: Buffer, userName: string): Buffer {
  return sha1(peerChallenge, authChallenge, Buffer.from(userName, 'utf8')).subarray(0, 8);
}

/** ChallengeResponse (§8.5): three DES encryptions of the challenge under the padded hash. */
export function challengeResponse(challenge: Buffer, ntHash: Buffer): Buffer {
  const z = Buffer.alloc(21);
  ntHash.copy(z);
  return Buffer.concat([0, 7, 14].map((o) => desEncryptBlock(expandDesKey(z.subarray(o, o + 7)), challenge)));
}

export function generateNtResponse(authChallenge: Buffer, peerChallenge: Buffer, userName: string, ntHash: Buffer): Buffer {
  return challengeResponse(challengeHash(peerChallenge, authChallenge, userName), ntHash);
}

/** GenerateAuthenticatorResponse (§8.7): "S=" + 40 upper-case hex digits. */
export function authenticatorResponse(ntHash: Buffer, ntResponse: Buffer, peerChallenge: Buffer, authChallenge: Buffer, userName: string): string {
  const digest = sha1(md4(ntHash), ntResponse, MAGIC1);
  const out = sha1(digest, challengeHash(peerChallenge, authChallenge, userName), MAGIC2);
  return `S=${out.toString('hex').toUpperCase()}`;
}

/** Constant-time check of the peer's NT-Response against a stored NT hash. */
export function verifyNtResponse(ntHash: Buffer, authChallenge: Buffer, peerChallenge: Buffer, userName: string, ntResponse: Buffer): boolean {
  if (ntResponse.length !== 24) return false;
  return timingSafeEqual(generateNtResponse(authChallenge, peerChallenge, userName, ntHash), ntResponse);
}
