import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, fromEnv, loadConfig } from './load.js';

t.test('defaults are complete and frozen', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.ldap.port, 3389);
  t.equal(c.ldap.ldapsPort, 6636);
  t.equal(c.radius.authPort, 1812);
  t.equal(c.api.port, 8443);
  t.equal(c.passwords.memoryKiB, 19456, "OWASP's minimum, not the library's 64 MiB");
  t.equal(c.passwords.parallelism, 1);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.ldap));
});

t.test('file < env < overrides; env keys nest with __ and are coerced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-cfg-'));
  const file = join(dir, 'cairn.yaml');
  writeFileSync(file, 'ldap:\n  port: 1389\n  baseDn: dc=corp,dc=example\nlog:\n  level: debug\n');
  const c = loadConfig({ file, env: { CAIRN_LDAP__PORT: '2389', CAIRN_API__TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.1', CAIRN_TEST_PG_URL: 'ignored' }, overrides: { log: { level: 'warn' } } });
  t.equal(c.ldap.port, 2389, 'env beats the file');
  t.equal(c.ldap.baseDn, 'dc=corp,dc=example', 'the file beats defaults');
  t.equal(c.log.level, 'warn');
  t.same(c.api.trustedProxies, ['10.0.0.0/8', '192.0.2.1']);
  t.same(fromEnv({ CAIRN_PASSWORDS__VERIFIED_CACHE_SECONDS: '0' }), { passwords: { verifiedCacheSeconds: '0' } });
});

t.test('errors name the key and never echo a secret', async (t) => {
  t.throws(() => loadConfig({ env: { CAIRN_LDAP__PROT: '1' } }), new ConfigError('CAIRN_LDAP__PROT: no config key ldap.prot'));
  t.throws(() => loadConfig({ env: {}, overrides: { ldap: { port: 70000 } } }), /ldap\.port: must be <= 65535/);
  t.throws(() => loadConfig({ env: {}, overrides: { ldap: { colour: 'red' } } }), /ldap\.colour: unknown key/);
  t.throws(() => loadConfig({ env: {}, overrides: { passwords: { memoryKiB: 1024 } } }), /passwords\.memoryKiB: must be >= 19456/);
  const secret = 'postgres://u:SuperSecret123@db/x';
  try {
    loadConfig({ env: { CAIRN_DATABASE__URL: secret, CAIRN_DATABASE__POOL_MAX: 'many' } });
    t.fail('should throw');
  } catch (err) {
    t.match((err as Error).message, /database\.poolMax: must be integer/);
    t.notMatch((err as Error).message, /SuperSecret123/);
  }
  const dir = mkdtempSync(join(tmpdir(), 'cairn-cfg-'));
  writeFileSync(join(dir, 'bad.yaml'), 'ldap: [unclosed');
  t.throws(() => loadConfig({ file: join(dir, 'bad.yaml'), env: {} }), /not valid YAML\/JSON/);
  t.throws(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} }), /ENOENT/);
});

t.test('docs/configuration.md is generated from the current schema', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { configurationMarkdown } = await import('./docs.js');
  const current = readFileSync(join(import.meta.dirname, '..', 'docs', 'configuration.md'), 'utf8');
  t.equal(current, configurationMarkdown(), 'run: node --import tsx config/docs.ts > docs/configuration.md');
});
