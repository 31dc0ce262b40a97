// The configuration shown in docs/ldap.md is a valid Cairn configuration, and its values are the
// defaults (so the page cannot drift from config/schema.ts unnoticed).
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../config/load.js';

t.test('docs/ldap.md cairn.yaml loads and matches the defaults', async (t) => {
  const page = readFileSync(fileURLToPath(new URL('../../docs/ldap.md', import.meta.url)), 'utf8');
  const block = /```yaml\n# cairn\.yaml\n([\s\S]*?)```/.exec(page)?.[1];
  t.ok(block, 'the page has a cairn.yaml block');
  const dir = mkdtempSync(join(tmpdir(), 'cairn-doc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cairn.yaml');
  writeFileSync(file, block!);
  const fromDoc = loadConfig({ file, env: {} });
  const defaults = loadConfig({ env: {} });
  t.same(fromDoc.ldap, defaults.ldap, 'every documented ldap value is the default');
  t.same(Object.keys(parse(block!).ldap).sort(), Object.keys(defaults.ldap).sort(), 'every ldap key is documented');
});
