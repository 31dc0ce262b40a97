// The store goes away: the API answers 503 problem+json with nothing internal in it, never a
// 401 or a 500, and recovers by itself when the database returns. PostgreSQL is reached through
// a TCP relay in this test, so that "the database host is down" can be staged for real
// (connections reset, then refused). Needs CAIRN_TEST_PG_URL.
import { createServer, type Server, type Socket, connect } from 'node:net';
import t from 'tap';
import { createPgDatabase } from '../../test/helpers/directory.js';
import { startApi } from '../../test/helpers/api.js';

const P = '/api/v1';
const base = process.env.CAIRN_TEST_PG_URL;

function relay(target: URL, port = 0) {
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = connect(Number(target.port || 5432), target.hostname);
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    const drop = () => { c.destroy(); up.destroy(); sockets.delete(c); sockets.delete(up); };
    c.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  return {
    listen: () => new Promise<number>((r) => server.listen(port, '127.0.0.1', () => r((server.address() as { port: number }).port))),
    cut: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

t.test('database unavailable → 503, then recovery', { skip: base ? false : 'needs CAIRN_TEST_PG_URL (PostgreSQL)' }, async (t) => {
  const db = await createPgDatabase();
  t.teardown(() => db.drop());
  const target = new URL(db.url);
  let r = relay(target);
  const port = await r.listen();
  const viaRelay = new URL(db.url);
  viaRelay.hostname = '127.0.0.1';
  viaRelay.port = String(port);
  const h = await startApi('sqlite', { database: { url: viaRelay.toString(), timeoutMs: 1000 } });
  t.teardown(h.stop);
  const A = h.admin.token;
  const key = (await h.c.call('POST', `${P}/api-keys`, { token: A, body: { name: 'k', role: 'read_only' } })).json.secret as string;
  t.equal((await h.c.call('GET', `${P}/users`, { token: key })).status, 200);
  await r.cut();
  for (const [method, path, token] of [['GET', '/users', key], ['GET', '/users', A], ['POST', '/users', A], ['POST', '/auth/login', undefined]] as const) {
    const body = method === 'POST' ? (path === '/users' ? { username: 'during-outage' } : { username: 'admin', password: 'x' }) : undefined;
    const res = await h.c.call(method, P + path, { token, ...(body ? { body } : {}) });
    t.equal(res.status, 503, `${method} ${path} → 503 (${res.status})`);
    t.equal(res.json?.type, 'urn:cairn:problem:unavailable');
    t.equal(res.json?.detail, undefined, 'no internal detail');
  }
  t.equal((await h.c.call('GET', '/readyz')).status, 503, '/readyz says not ready');
  r = relay(target, port);
  await r.listen();
  t.teardown(() => r.cut());
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    status = (await h.c.call('GET', `${P}/users`, { token: key })).status;
    if (status !== 200) await new Promise((res) => setTimeout(res, 250));
  }
  t.equal(status, 200, 'recovers by itself');
  t.equal((await h.c.call('GET', '/readyz')).status, 200);
  t.notOk((await h.c.call('GET', `${P}/users`, { token: A })).json.items.some((u: { username: string }) => u.username === 'during-outage'), 'nothing half-written');
});
