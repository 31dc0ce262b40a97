import t from 'tap';
import { generateSync } from 'otplib';
import { matchTotp, newTotpSecret, totpCode } from './totp.js';

// RFC 6238 Appendix B: 8-digit codes for the ASCII seeds of each hash length.
const seeds = {
  sha1: '12345678901234567890',
  sha256: '12345678901234567890123456789012',
  sha512: '1234567890123456789012345678901234567890123456789012345678901234',
} as const;
const vectors: Array<[number, string, string, string]> = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

t.test('RFC 6238 test vectors', async (t) => {
  for (const [time, sha1, sha256, sha512] of vectors) {
    for (const [algorithm, expected] of [['sha1', sha1], ['sha256', sha256], ['sha512', sha512]] as const) {
      const secret = new TextEncoder().encode(seeds[algorithm]);
      t.equal(generateSync({ secret, epoch: time, digits: 8, algorithm }), expected, `${algorithm} at ${time}`);
    }
  }
});

t.test('accepts the current and the previous step only, never an old one again', async (t) => {
  const secret = newTotpSecret();
  const now = 1_800_000_000;
  const step = Math.floor(now / 30);
  t.equal(matchTotp(secret, totpCode(secret, now), null, now), step, 'current step');
  t.equal(matchTotp(secret, totpCode(secret, now - 30), null, now), step - 1, 'previous step');
  t.equal(matchTotp(secret, totpCode(secret, now - 60), null, now), null, 'two steps back refused');
  t.equal(matchTotp(secret, totpCode(secret, now + 30), null, now), null, 'a future step refused');
  t.equal(matchTotp(secret, totpCode(secret, now), step, now), null, 'the step already used is refused');
  t.equal(matchTotp(secret, totpCode(secret, now - 30), step - 1, now), null);
  t.equal(matchTotp(secret, '12345', null, now), null, 'five digits refused');
  t.equal(matchTotp(secret, 'abcdef', null, now), null, 'non-digits refused');
});
