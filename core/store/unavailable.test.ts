// A store that is gone: every call fails fast as 'unavailable' (front-ends answer busy, drop,
// or 503), never as a wrong password, and nothing is counted against the user.
import t from 'tap';
import { loadConfig } from '../../config/load.js';
import { openDirectory } from '../index.js';
import { testDirectory, testLogger } from '../../test/helpers/directory.js';

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
