// Lifecycle around the RADIUS server: the store really going away (closed; PostgreSQL
// refusing connections and coming back), reject delay, legacy NAS, changes made by another
// process, a dual-stack socket. Real radclient throughout.
import t from 'tap';
import { backends, logLines } from '../../test/helpers/directory.js';
import { accessRequest, PASSWORD, radclient, radiusFixture, udpExchange } from '../../test/helpers/radius.js';
import { Attr, decode, get } from './codec.js';

if (backends.includes('pg')) {
  t.test('PostgreSQL refusing connections: no answer; answers again by itself when it is back', async (t) => {
    const fx = await radiusFixture({ backend: 'pg' });
    t.teardown(() => fx.stop());
    const dbName = new URL(fx.srv.config.database.url).pathname.slice(1);
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: process.env.CAIRN_TEST_PG_URL });
    await admin.connect();
    t.teardown(() => admin.end());
    t.equal((await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` })).reply, 'Access-Accept');
    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
    const down = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { timeout: 2 });
    t.equal(down.reply, null, 'silent while the store is down');
    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    const up = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { timeout: 3 });
    t.equal(up.reply, 'Access-Accept', 'recovered without a restart');
  });
}

t.test('store really closed: no answer at all', async (t) => {
  const fx = await radiusFixture();
  t.teardown(async () => {
    await fx.srv.stop().catch(() => {});
  });
  await fx.srv.dir.store.destroy();
  const r = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
  t.equal(r.reply, null);
});

t.test('reject delay holds the Access-Reject back; legacy client without Message-Authenticator is served', async (t) => {
  const fx = await radiusFixture({ radius: { rejectDelayMs: 400 }, legacy: true });
  t.teardown(() => fx.stop());
  const t0 = Date.now();
  const r = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': '"Wrong-password-1"' }, { timeout: 3 });
  t.equal(r.reply, 'Access-Reject');
  t.ok(Date.now() - t0 >= 400, 'delayed');
  const legacy = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { ma: false });
  t.equal(legacy.reply, 'Access-Accept');
  const resp = await udpExchange(fx.authPort, accessRequest({ user: 'alice', password: PASSWORD, ma: false }));
  t.ok(resp && get(decode(resp), Attr.MessageAuthenticator), 'the reply still carries Message-Authenticator');
  t.same((await fx.repo.legacyClients(fx.srv.org.id)).map((c) => c.name), ['ap-1'], 'posture can list it');
  // Legacy and a wrong secret: the decoded password is garbage; dropped, never a failed login.
  for (let i = 0; i < 3; i++) {
    const wrong = await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { ma: false, secret: `Wrong-shared-secret-${i}-xx` });
    t.equal(wrong.reply, null, 'no answer');
  }
  const ev = (await fx.srv.dir.audit.list({ orgId: fx.srv.org.id, eventType: 'radius.request_dropped', limit: 1, order: 'desc' }))[0]!;
  t.equal(ev.reason, 'bad_authenticator_suspected');
  t.equal((await fx.srv.dir.store('auth_failures').where({ user_id: fx.alice.id })).length, 0, 'lockout untouched');
});


t.test('a NAS secret changed by another process (the CLI) is used within database.followMs', async (t) => {
  const fx = await radiusFixture();
  t.teardown(() => fx.stop());
  const { openDirectory } = await import('../../core/index.js');
  const { testLogger } = await import('../../test/helpers/directory.js');
  const other = await openDirectory({ config: fx.srv.config, log: testLogger() });
  t.teardown(() => other.close());
  const repo = other.radius;
  const ap = (await repo.listClients(fx.srv.org.id)).find((c) => c.name === 'ap-1')!;
  const rotated = 'Rotated-shared-secret-987654';
  await repo.updateClient(fx.srv.ctx, ap.id, { secret: rotated });
  await new Promise((r) => setTimeout(r, fx.srv.config.database.followMs + 500));
  t.equal((await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { secret: rotated })).reply, 'Access-Accept', 'new secret works');
  t.equal((await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` })).reply, null, 'old secret: silence');
});

t.test('one dual-stack "::" socket serves IPv4 NAS (mapped addresses) and IPv6 NAS', async (t) => {
  const fx = await radiusFixture({ radius: { listenHosts: ['::'] } });
  t.teardown(() => fx.stop());
  t.equal((await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` })).reply, 'Access-Accept', 'IPv4 client matched as 127.0.0.1');
  t.equal((await radclient(fx.authPort, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { host: '::1' })).reply, 'Access-Accept');
});

t.test('no password or shared secret in any log line', async (t) => {
  const all = logLines.join('');
  t.ok(logLines.length > 0);
  t.notMatch(all, PASSWORD);
  t.notMatch(all, 'Rotated-shared-secret-987654');
  t.notMatch(all, 'Nas-shared-secret-0123456789');
});
