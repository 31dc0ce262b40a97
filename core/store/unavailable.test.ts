// A store that is gone: every call fails fast as 'unavailable' (front-ends answer busy, drop,
// or 503), never as a wrong password, and nothing is counted against the user.
import t from 'tap';
import { loadConfig } from '../../config/load.js';
import { openDirectory } from '../index.js';
import { testDirectory, testLogger } from '../../test/helpers/directory.js';
import { storeError } from './knex.js';

t.test('PostgreSQL unreachable: unavailable within the timeout', async (t) => {
  const config = loadConfig({ env: {}, overrides: { database: { url: 'postgres://postgres@127.0.0.1:1/none', timeoutMs: 500 }, dataDir: '/tmp/cairn-unavailable-test' } });
  const dir = await openDirectory({ config, log: testLogger() });
  t.teardown(() => dir.close());
  const started = Date.now();
  await t.rejects(
    dir.authenticate({ orgId: 'x', username: 'alice', credential: { kind: 'password', password: 'Correct-horse-9' }, protocol: 'ldap', clientIp: '127.0.0.1' }),
    { code: 'unavailable', expose: false },
  );
  t.ok(Date.now() - started < 3000, 'fails within the store timeout, shorter than a NAS retry');
  t.match(await dir.ready(), { ok: false, error: 'directory store unavailable' });
});

t.test('SQLite closed under a running directory: unavailable, then no lockout was recorded', async (t) => {
  const td = await testDirectory('sqlite');
  t.teardown(td.close);
  await td.dir.users.create(td.ctx, { username: 'alice', password: 'Correct-horse-9' });
  // Another writer holds the database: our calls time out as busy.
  const BetterSqlite = (await import('better-sqlite3')).default;
  const blocker = new BetterSqlite(td.databaseUrl);
  blocker.exec('BEGIN EXCLUSIVE');
  const slow = await openDirectory({ config: loadConfig({ env: {}, overrides: { ...td.config, database: { ...td.config.database, timeoutMs: 300 } } }), log: testLogger() });
  t.teardown(() => slow.close());
  await t.rejects(
    slow.authenticate({ orgId: td.org.id, username: 'alice', credential: { kind: 'password', password: 'wrong-Password-1' }, protocol: 'ldap', clientIp: '127.0.0.1' }),
    { code: 'unavailable' },
  );
  blocker.exec('ROLLBACK');
  blocker.close();
  t.equal((await td.dir.store('auth_failures').count({ n: '*' }))[0]!.n, 0, 'no failure counted while the store was unavailable');
  t.equal((await slow.authenticate({ orgId: td.org.id, username: 'alice', credential: { kind: 'password', password: 'Correct-horse-9' }, protocol: 'ldap', clientIp: '127.0.0.1' })).decision, 'allow', 'recovers by itself');
});

t.test('a connection the database refuses (unknown role, no such database, TLS) is unavailable, not internal', async (t) => {
  for (const cause of [{ code: '28P01' }, { code: '28000' }, { code: '3D000' }, { code: 'SELF_SIGNED_CERT_IN_CHAIN' }, new Error('The server does not support SSL connections')]) {
    t.equal(storeError(cause).code, 'unavailable', cause instanceof Error ? cause.message : cause.code);
  }
  t.equal(storeError({ code: '42P01' }).code, 'internal', 'a missing table is still an internal error');
  const base = process.env.CAIRN_TEST_PG_URL;
  if (!base) return;
  const url = new URL(base);
  url.username = 'cairn_no_such_role';
  const config = loadConfig({ env: {}, overrides: { database: { url: url.toString(), timeoutMs: 2000 }, dataDir: '/tmp/cairn-unavailable-test' } });
  await t.rejects(openDirectory({ config, log: testLogger(), migrate: true }), { code: 'unavailable' }, 'a real PostgreSQL refusing the role');
});
