// In-process cost of one (uid=X) search (decode, lookup, encode; no network, no TLS), and the
// heap the view takes. MICRO_USERS=100000 for the large directory; MICRO_PROFILE=file for a CPU profile.
//   node --expose-gc --import tsx bench/ldap/micro.mts
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
import { ldapFixture } from '../../test/helpers/ldap.js';
import { LdapSession } from '../../servers/ldap/session.js';
import { decodeMessage } from '../../servers/ldap/protocol.js';
import { req, filter } from '../../servers/ldap/rawclient.js';
import { seed } from './seed.js';
const fx = await ldapFixture();
const USERS = Number(process.env.MICRO_USERS ?? 10000);
await seed(fx.t.dir, fx.t.org, USERS, Math.max(1, Math.round(USERS / 20)), 'x');
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heap0 = process.memoryUsage().heapUsed;
const s = new LdapSession(fx.t.dir, fx.t.org, fx.t.config.ldap, 'dc=example,dc=com', fx.t.dir.log);
const tl = Date.now();
await s.tree.fresh();
const loadMs = Date.now() - tl;
gc?.();
console.log(`view of ${s.tree.size} entries: loaded in ${loadMs} ms, heap +${Math.round((process.memoryUsage().heapUsed - heap0) / 1048576)} MiB${gc ? '' : ' (run with --expose-gc for a clean figure)'}`);
let bytes = 0;
const conn: any = { id: 1, clientIp: '127.0.0.1', tls: true, bound: false, closed: false, write: (b: Buffer) => { bytes += b.length; return Promise.resolve(); }, close() {} };
s.opened(conn);
await s.handle(conn, decodeMessage(req.bind(1, fx.sssd.dn, fx.sssd.password), { maxFilterDepth: 32, maxFilterNodes: 2048, maxAttributes: 256 }));
const attrs = ['objectClass', 'uid', 'userPassword', 'uidNumber', 'gidNumber', 'gecos', 'homeDirectory', 'loginShell', 'cn', 'memberOf', 'sshPublicKey', 'shadowLastChange', 'shadowMax', 'shadowExpire'];
const inspector = await import('node:inspector');
const session = new inspector.Session();
session.connect();
await new Promise((r) => session.post('Profiler.enable', () => session.post('Profiler.start', r)));
const N = 20000;
const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const raw = req.search(i + 2, 'dc=example,dc=com', filter.eq('uid', `u${String(i % USERS).padStart(5, '0')}`), attrs);
  await s.handle(conn, decodeMessage(raw, { maxFilterDepth: 32, maxFilterNodes: 2048, maxAttributes: 256 }));
}
await new Promise<void>((r) => session.post('Profiler.stop', (_e, res) => { if (process.env.MICRO_PROFILE) (require('node:fs') as typeof import('node:fs')).writeFileSync(process.env.MICRO_PROFILE, JSON.stringify(res.profile)); r(); }));
const us = Number(process.hrtime.bigint() - t) / 1000 / N;
console.log('per search µs (incl. request encode):', us.toFixed(1), 'bytes', bytes / N);
await fx.stop();
