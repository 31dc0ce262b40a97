// The codec and the crypto under RADIUS/EAP, on published vectors: RFC 2759 §9.2 (MSCHAPv2),
// RFC 1320 (MD4), FIPS 81 (DES), RFC 2865 §5.2 / RFC 2548 round trips, and FreeRADIUS's own
// radclient as the independent check of our Message-Authenticator (see pap.test.ts).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import t from 'tap';
import { errorCodes } from '../../core/index.js';
import { md4, ntHash } from '../../core/crypto/md4.js';
import {
  Attr, Code, decode, decodeUserPassword, decryptMppeKey, encodeRaw, encodeResponse, encodeUserPassword, encryptMppeKey,
  MalformedPacket, verifyAccountingRequest, verifyMessageAuthenticator, verifyResponse,
} from './codec.js';
import { desEncryptBlock } from './eap/des.js';
import { authenticatorResponse, challengeHash, generateNtResponse, verifyNtResponse } from './eap/mschapv2.js';
import { radiusErrorMap } from './errors.js';

const secret = Buffer.from('xyzzy5461');

t.test('every domain error code has a RADIUS outcome; unavailable stays silent', async (t) => {
  for (const code of errorCodes) t.ok(radiusErrorMap[code], code);
  t.same(Object.keys(radiusErrorMap).sort(), [...errorCodes].sort());
  t.equal(radiusErrorMap.unavailable, 'drop');
  t.equal(radiusErrorMap.rate_limited, 'drop');
  t.equal(radiusErrorMap.internal, 'drop');
});

t.test('MD4 (RFC 1320 test suite) and NT hash (RFC 2759 §9.2)', async (t) => {
  const vectors: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, hex] of vectors) t.equal(md4(Buffer.from(input)).toString('hex'), hex, JSON.stringify(input));
  t.equal(ntHash('clientPass').toString('hex'), '44ebba8d5312b8d611474411f56989ae');
});

t.test('DES single block (FIPS 81 / classic vectors)', async (t) => {
  t.equal(desEncryptBlock(Buffer.from('133457799BBCDFF1', 'hex'), Buffer.from('0123456789ABCDEF', 'hex')).toString('hex'), '85e813540f0ab405');
  t.equal(desEncryptBlock(Buffer.from('0123456789ABCDEF', 'hex'), Buffer.from('4E6F772069732074', 'hex')).toString('hex'), '3fa40e8a984d4815');
});

t.test('MSCHAPv2 (RFC 2759 §9.2 worked example)', async (t) => {
  const authChallenge = Buffer.from('5B5D7C7D7B3F2F3E3C2C602132262628', 'hex');
  const peerChallenge = Buffer.from('21402324255E262A28295F2B3A337C7E', 'hex');
  const hash = ntHash('clientPass');
  t.equal(challengeHash(peerChallenge, authChallenge, 'User').toString('hex'), 'd02e4386bce91226');
  const nt = generateNtResponse(authChallenge, peerChallenge, 'User', hash);
  t.equal(nt.toString('hex'), '82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df');
  t.equal(authenticatorResponse(hash, nt, peerChallenge, authChallenge, 'User'), 'S=407A5589115FD0D6209F510FE9C04566932CDA56');
  t.ok(verifyNtResponse(hash, authChallenge, peerChallenge, 'User', nt));
  t.notOk(verifyNtResponse(ntHash('clientPasS'), authChallenge, peerChallenge, 'User', nt));
  t.notOk(verifyNtResponse(hash, authChallenge, peerChallenge, 'User', nt.subarray(0, 23)));
});

t.test('User-Password hiding round trip and bounds (RFC 2865 §5.2)', async (t) => {
  const ra = randomBytes(16);
  for (const pw of ['a', 'x'.repeat(16), 'x'.repeat(17), 'pässwörd-ünïcode', 'y'.repeat(128)]) {
    const enc = encodeUserPassword(pw, secret, ra);
    t.equal(enc.length % 16, 0);
    t.equal(decodeUserPassword(enc, secret, ra), pw);
  }
  t.equal(decodeUserPassword(Buffer.alloc(15), secret, ra), null, 'shorter than 16');
  t.equal(decodeUserPassword(Buffer.alloc(17), secret, ra), null, 'not a multiple of 16');
  t.equal(decodeUserPassword(Buffer.alloc(144), secret, ra), null, 'longer than 128');
  // An embedded NUL is refused (not silently truncated).
  const p = Buffer.from('abc\0def');
  const enc = encodeUserPassword(p.toString('latin1'), secret, ra);
  t.equal(decodeUserPassword(enc, secret, ra), null);
});

t.test('MS-MPPE key encryption round trip (RFC 2548 §2.4.2)', async (t) => {
  const ra = randomBytes(16);
  const key = randomBytes(32);
  const enc = encryptMppeKey(key, secret, ra);
  t.equal(enc.length, 2 + 48);
  t.ok(enc[0]! & 0x80, 'salt high bit set');
  t.same(decryptMppeKey(enc, secret, ra), key);
});

t.test('Message-Authenticator: first, HMAC-MD5 over the raw packet with the field zeroed', async (t) => {
  const reqAuth = randomBytes(16);
  const resp = encodeResponse({ code: Code.AccessAccept, identifier: 9, requestAuthenticator: reqAuth, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('hi') }] }, secret);
  t.equal(resp[20], Attr.MessageAuthenticator, 'first attribute');
  const copy = Buffer.from(resp);
  reqAuth.copy(copy, 4);
  copy.fill(0, 22, 38);
  t.same(resp.subarray(22, 38), createHmac('md5', secret).update(copy).digest());
  const copy2 = Buffer.from(resp);
  reqAuth.copy(copy2, 4);
  t.same(resp.subarray(4, 20), createHash('md5').update(copy2).update(secret).digest(), 'Response Authenticator over the final bytes');
  t.same(verifyResponse(resp, reqAuth, secret), { authenticator: true, messageAuthenticator: true, messageAuthenticatorFirst: true });
  t.same(verifyResponse(resp, reqAuth, Buffer.from('other')), { authenticator: false, messageAuthenticator: false, messageAuthenticatorFirst: true });

  const req = encodeRaw(Code.AccessRequest, 1, randomBytes(16), [{ type: Attr.UserName, value: Buffer.from('u') }, { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }]);
  createHmac('md5', secret).update(req).digest().copy(req, req.length - 16);
  t.ok(verifyMessageAuthenticator(decode(req), secret));
  t.notOk(verifyMessageAuthenticator(decode(req), Buffer.from('xyzzy5462')));
  const flipped = Buffer.from(req);
  flipped[flipped.length - 1] ^= 0x01;
  t.notOk(verifyMessageAuthenticator(decode(flipped), secret), 'one bit off');
  const noMa = encodeRaw(Code.AccessRequest, 1, randomBytes(16), [{ type: Attr.UserName, value: Buffer.from('u') }]);
  t.notOk(verifyMessageAuthenticator(decode(noMa), secret), 'absent is not valid');
});

t.test('Accounting-Request authenticator (RFC 2866 §3)', async (t) => {
  const pkt = encodeRaw(Code.AccountingRequest, 3, Buffer.alloc(16), [{ type: Attr.AcctStatusType, value: Buffer.from([0, 0, 0, 1]) }]);
  createHash('md5').update(pkt).update(secret).digest().copy(pkt, 4);
  t.ok(verifyAccountingRequest(decode(pkt), secret));
  t.notOk(verifyAccountingRequest(decode(pkt), Buffer.from('nope')));
});

t.test('strict decoding', async (t) => {
  const good = encodeRaw(Code.AccessRequest, 1, randomBytes(16), [{ type: Attr.UserName, value: Buffer.from('alice') }]);
  t.equal(decode(good).attributes.length, 1);
  t.equal(decode(Buffer.concat([good, Buffer.alloc(10)])).raw.length, good.length, 'padding past Length ignored');
  const bad = (b: Buffer, why: RegExp) => {
    try {
      decode(b);
      t.fail(`accepted: expected ${why}`);
    } catch (e) {
      t.ok(e instanceof MalformedPacket && why.test(e.why), `${why}: ${(e as Error).message}`);
    }
  };
  bad(good.subarray(0, 19), /shorter than a header/);
  const long = Buffer.from(good);
  long.writeUInt16BE(good.length + 1, 2);
  bad(long, /longer than the datagram/);
  const tiny = Buffer.from(good);
  tiny.writeUInt16BE(19, 2);
  bad(tiny, /out of range/);
  const overrun = Buffer.from(good);
  overrun[21] = 100;
  bad(overrun, /overruns/);
  const empty = Buffer.from(good);
  empty[21] = 2;
  bad(empty, /shorter than 3/);
  bad(encodeRaw(1, 1, randomBytes(16), [{ type: Attr.NasPort, value: Buffer.from([1, 2]) }]), /wrong size/);
  bad(encodeRaw(1, 1, randomBytes(16), [{ type: Attr.UserName, value: Buffer.from('a') }, { type: Attr.UserName, value: Buffer.from('b') }]), /repeated/);
  bad(encodeRaw(1, 1, randomBytes(16), Array.from({ length: 201 }, () => ({ type: 26, value: Buffer.from([1]) }))), /too many/);
  const big = Buffer.alloc(4097);
  big.writeUInt16BE(4097, 2);
  bad(big, /out of range/);
});
