// Unit tests of the pieces under the protocol: BER, DNs, filters and their three-valued logic.
import t from 'tap';
import { BerError, BerReader, encodeIntBody, int, octets, readLength, seq, tlv } from './ber.js';
import { escapeValue, isUnder, normalizeDn, parseDn } from './dn.js';
import { decodeFilter, evaluate, indexTerms, type Filter } from './filter.js';
import { makeEntry } from './schema.js';
import { decodeMessage, RequestError } from './protocol.js';
import { filter, req } from './rawclient.js';

const limits = { maxFilterDepth: 32, maxFilterNodes: 2048, maxAttributes: 256 };

t.test('BER integers and lengths', async (t) => {
  for (const v of [0, 1, 127, 128, 255, 256, -1, -128, -129, 2147483647, -2147483648]) {
    const r = new BerReader(int(v));
    t.equal(r.readInt(0x02, 'int'), v, `round trip ${v}`);
  }
  t.same([...encodeIntBody(128)], [0x00, 0x80], 'minimal two\'s complement');
  for (const len of [0, 127, 128, 255, 256, 65535, 65536, 16777216]) {
    const b = octets(Buffer.alloc(len));
    const h = readLength(b, 1, b.length)!;
    t.equal(h.length, len);
    t.equal(h.offset + len, b.length);
  }
  t.throws(() => readLength(Buffer.from([0x30, 0x80]), 1, 2), BerError, 'indefinite length refused');
  t.throws(() => readLength(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), 1, 7), BerError, '5-byte length refused');
  t.equal(readLength(Buffer.from([0x30, 0x82, 0x01]), 1, 3), null, 'truncated: wait for more');
  t.throws(() => new BerReader(Buffer.from([0x04, 0x05, 0x61])).next(), BerError, 'content shorter than declared');
  t.same(tlv(0x30, [Buffer.from([1]), Buffer.from([2, 3])]), Buffer.from([0x30, 3, 1, 2, 3]));
});

t.test('messages: request errors keep the id; garbage before it does not', async (t) => {
  const bind = decodeMessage(req.bind(7, 'uid=a,dc=x', 'pw'), limits);
  t.match(bind, { id: 7, request: { op: 'bind', version: 3, name: 'uid=a,dc=x' } });
  const broken = seq([int(9), tlv(0x63, [octets('dc=x')])]);
  t.throws(() => decodeMessage(broken, limits), RequestError);
  try {
    decodeMessage(broken, limits);
  } catch (err) {
    t.equal((err as RequestError).id, 9);
    t.equal((err as RequestError).responseTag, 0x65);
  }
  t.throws(() => decodeMessage(Buffer.from([0x30, 0x01, 0x05]), limits), BerError);
});

t.test('DNs: parse, normalise, escape, containment', async (t) => {
  t.equal(normalizeDn('UID=Alice, OU=Users ,DC=Example,DC=com'), 'uid=alice,ou=users,dc=example,dc=com');
  t.equal(normalizeDn('cn=a\\,b,dc=x'), 'cn=a\\,b,dc=x');
  t.equal(normalizeDn('cn=a\\2cb,dc=x'), 'cn=a\\,b,dc=x', 'hex escapes');
  t.equal(normalizeDn('cn="a,b",dc=x'), 'cn=a\\,b,dc=x', 'quoted values');
  t.equal(normalizeDn('0.9.2342.19200300.100.1.1=bob,dc=x'), 'uid=bob,dc=x', 'OID types');
  t.equal(normalizeDn(''), '');
  for (const bad of ['uid', 'uid=a,', '=a', 'uid=a,,dc=x', 'x'.repeat(5000)]) t.equal(normalizeDn(bad), null, `invalid: ${bad.slice(0, 20)}`);
  t.equal(parseDn('cn=a+sn=b,dc=x')![0]!.length, 2, 'multi-valued RDN');
  t.equal(escapeValue(' #a,b '), '\\ #a\\,b\\ ');
  t.ok(isUnder('uid=a,ou=users,dc=x', 'dc=x'));
  t.ok(isUnder('dc=x', 'dc=x'));
  t.notOk(isUnder('cn=a\\,dc=x', 'dc=x'), 'an escaped comma is not a separator');
  t.notOk(isUnder('dc=xx', 'dc=x'));
});

t.test('filters: three-valued logic and matching rules', async (t) => {
  const e = makeEntry('user', 'uid=alice,ou=Users,dc=example,dc=com', null, {
    objectClass: ['top', 'posixAccount'], uid: 'alice', cn: 'Alice  Liddell', uidNumber: 10000, homeDirectory: '/home/Alice',
    memberOf: 'cn=admins,ou=Groups,dc=example,dc=com', createTimestamp: '20260101120000Z',
  });
  const f = (bytes: Buffer): Filter => decodeFilter(new BerReader(bytes), limits);
  const sub = (attr: string, parts: [number, string][]) => tlv(0xa4, [octets(attr), seq(parts.map(([tag, v]) => octets(v, tag)))]);
  const ge = (a: string, v: string) => tlv(0xa5, [octets(a), octets(v)]);
  const le = (a: string, v: string) => tlv(0xa6, [octets(a), octets(v)]);
  const cases: [string, Buffer, boolean | undefined][] = [
    ['eq case-insensitive', filter.eq('UID', 'ALICE'), true],
    ['eq whitespace-insensitive', filter.eq('cn', 'alice liddell'), true],
    ['caseExact', filter.eq('homeDirectory', '/home/alice'), false],
    ['integer', filter.eq('uidNumber', '010000'), true],
    ['integer ge', ge('uidNumber', '9999'), true],
    ['integer le', le('uidNumber', '9999'), false],
    ['time ge', ge('createTimestamp', '20250101000000Z'), true],
    ['dn match', filter.eq('memberOf', 'CN=Admins, OU=Groups, DC=example, DC=com'), true],
    ['substring', sub('cn', [[0x80, 'ali'], [0x81, 'lid'], [0x82, 'ell']]), true],
    ['substring miss', sub('cn', [[0x80, 'lid']]), false],
    ['presence', filter.present('uidNumber'), true],
    ['absent', filter.present('mail'), false],
    ['unknown attr eq', filter.eq('fooBar', 'x'), undefined],
    ['secret eq', filter.eq('userPassword', 'x'), undefined],
    ['secret presence', filter.present('userPassword'), undefined],
    ['not(undefined)', filter.not(filter.present('userPassword')), undefined],
    ['and with undefined and false', filter.and(filter.present('userPassword'), filter.eq('uid', 'bob')), false],
    ['and with undefined and true', filter.and(filter.present('userPassword'), filter.eq('uid', 'alice')), undefined],
    ['or with undefined and true', tlv(0xa1, [filter.present('userPassword'), filter.eq('uid', 'alice')]), true],
    ['invalid integer assertion', filter.eq('uidNumber', 'abc'), undefined],
    ['substring on integer', sub('uidNumber', [[0x80, '1']]), undefined],
  ];
  for (const [name, bytes, want] of cases) t.equal(evaluate(f(bytes), e), want, name);
  let deep = filter.eq('uid', 'a');
  for (let i = 0; i < 40; i++) deep = filter.not(deep);
  t.throws(() => f(deep), BerError, 'too deep');
  t.throws(() => f(filter.and(...Array.from({ length: 3000 }, () => filter.present('uid')))), BerError, 'too many nodes');
  const indexed = new Set(['uid', 'cn']);
  t.same(indexTerms(f(filter.and(filter.eq('objectClass', 'posixAccount'), filter.eq('uid', 'Alice'))), indexed), [{ attr: 'uid', value: 'alice' }]);
  t.same(indexTerms(f(tlv(0xa1, [filter.eq('uid', 'a'), filter.eq('cn', 'b')])), indexed), [{ attr: 'uid', value: 'a' }, { attr: 'cn', value: 'b' }]);
  t.equal(indexTerms(f(tlv(0xa1, [filter.eq('uid', 'a'), filter.present('cn')])), indexed), null, 'an OR with a scan term scans');
});
