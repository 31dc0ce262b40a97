// Load generator (its own process): closed-loop clients over LDAPS. Env LOAD = JSON
// { port, ca, bindDn, bindPw, mode: 'search'|'bind', conns, seconds, users, base, userDn }.
import { readFileSync } from 'node:fs';
import { filter, RawClient, req } from '../../servers/ldap/rawclient.js';
import { BENCH_PASSWORD, userName } from './seed.js';

const o = JSON.parse(process.env.LOAD!) as {
  port: number; ca: string; bindDn: string; bindPw: string; mode: 'search' | 'bind'; conns: number; seconds: number; users: number; base: string; userDn: string;
};
const ca = readFileSync(o.ca, 'utf8');
const attrs = ['objectClass', 'uid', 'userPassword', 'uidNumber', 'gidNumber', 'gecos', 'homeDirectory', 'loginShell', 'cn', 'memberOf', 'sshPublicKey', 'shadowLastChange', 'shadowMax', 'shadowExpire'];
const lat: number[] = [];
let errors = 0;
let ops = 0;
let until = 0;
let next = Math.floor(Math.random() * o.users);

/** Connect (and, for searches, bind as the service account): not part of the measurement. */
async function setup(): Promise<RawClient> {
  const c = await RawClient.connect(o.port, { tls: true, ca });
  if (o.mode === 'search') {
    const b = await c.call(req.bind(1, o.bindDn, o.bindPw), 60_000);
    if (b.done?.code !== 0) throw new Error(`service bind failed: ${b.done?.code}`);
  }
  return c;
}

async function worker(c: RawClient): Promise<void> {
  let id = 2;
  while (Date.now() < until) {
    const i = (next = (next + 7919) % o.users);
    const t = process.hrtime.bigint();
    if (o.mode === 'search') {
      const r = await c.call(req.search(id++, o.base, filter.eq('uid', userName(i)), attrs), 30_000);
      if (r.done?.code !== 0 || r.entries.length !== 1) errors++;
    } else {
      const r = await c.call(req.bind(id++, o.userDn.replace('%s', userName(i)), BENCH_PASSWORD), 30_000);
      if (r.done?.code !== 0) errors++;
    }
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    ops++;
  }
  c.destroy();
}

const clients = await Promise.all(Array.from({ length: o.conns }, () => setup()));
const started = Date.now();
until = started + o.seconds * 1000;
await Promise.all(clients.map((c) => worker(c)));
const elapsed = (Date.now() - started) / 1000;
lat.sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))] ?? NaN;
process.stdout.write(JSON.stringify({ ops, errors, perSecond: Math.round(ops / elapsed), p50: +pct(50).toFixed(2), p99: +pct(99).toFixed(2) }) + '\n');
