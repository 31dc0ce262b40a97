// Every core error code has an LDAP result code; internal detail never reaches a client; a
// store that is down answers unavailable (52), never invalidCredentials, and leaves lockout alone.
import t from 'tap';
import { createRequire } from 'node:module';
import pg from 'pg';
import { join } from 'node:path';
import { CairnError, errorCodes } from '../../core/index.js';
import { backends } from '../../test/helpers/directory.js';
import { ldapError, resultCodeFor } from './errors.js';
import { ldapFixture, ldapTool } from '../../test/helpers/ldap.js';

// better-sqlite3 ships no types; the test only needs exec/close.
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };

t.test('every core error code maps to an LDAP result code', async (t) => {
  for (const code of errorCodes) {
    t.type(resultCodeFor[code], 'number', code);
    t.ok(resultCodeFor[code] > 0, `${code} is not success`);
  }
  t.same(Object.keys(resultCodeFor).sort(), [...errorCodes].sort(), 'no extra, none missing');
  t.equal(ldapError(new CairnError('unavailable', 'pg: connection refused at 10.0.0.5')).code, 52);
  t.notMatch(ldapError(new CairnError('unavailable', 'pg: connection refused at 10.0.0.5')).message, /10\.0\.0\.5/);
  t.equal(ldapError(new Error('SELECT * FROM users; secret stack')).message, 'internal error');
  t.equal(ldapError(new CairnError('rate_limited', 'queue full')).code, 51);
  t.match(ldapError(new CairnError('policy_violation', 'password does not meet the policy', { details: ['at least 12 characters'] })).message, /at least 12/);
});

for (const backend of backends) {
  t.test(`store down: unavailable (52), lockout untouched, recovery automatic (${backend})`, async (t) => {
    const fx = await ldapFixture(backend, {}, { overrides: { database: { timeoutMs: 400 } } });
    t.teardown(fx.stop);
    const ldaps = ['-x', '-H', fx.ldapsUrl];
    const aliceDn = `uid=alice,ou=Users,${fx.base}`;
    const alice = fx.users.alice!;
    const { dir } = fx.t;

    // Hold the store: an exclusive SQLite write lock, or PostgreSQL tables locked.
    let release: () => Promise<void>;
    if (backend === 'sqlite') {
      const db = new Database(join(fx.t.dataDir, 'cairn.sqlite'));
      db.exec('BEGIN EXCLUSIVE');
      release = async () => {
        db.exec('ROLLBACK');
        db.close();
      };
    } else {
      const c = new pg.Client({ connectionString: fx.t.config.database.url });
      await c.connect();
      await c.query('BEGIN');
      await c.query('LOCK TABLE users, auth_failures, audit_events IN ACCESS EXCLUSIVE MODE');
      release = async () => {
        await c.query('ROLLBACK');
        await c.end();
      };
    }
    try {
      for (const pw of [fx.passwords.alice!, 'wrong-password-1', 'wrong-password-2', 'wrong-password-3']) {
        const r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', pw]);
        t.ok(r.code === 52 || r.code === 51, `bind answered ${r.code} (unavailable/busy), not 49`);
        t.notMatch(r.stderr, /SQLITE|postgres|knex|at .*\.ts/i, 'no internal detail');
      }
    } finally {
      await release!();
    }
    const failures = await dir.store('auth_failures').where({ user_id: alice.id });
    t.same(failures, [], 'no failure was counted while the store was down');
    const u = await dir.users.get(fx.t.org.id, alice.id);
    t.equal(u.state, 'active');
    const r = await ldapTool(fx, 'ldapwhoami', [...ldaps, '-D', aliceDn, '-w', fx.passwords.alice!]);
    t.equal(r.code, 0, 'recovers by itself');
  });
}
