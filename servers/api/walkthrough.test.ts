// docs/management-api.md, executed: its yaml config starts the server, and its `sh` blocks run
// in order under bash with curl, jq and oathtool (real clients we did not write).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { start } from '../../test/helpers/start.js';

const doc = readFileSync(new URL('../../docs/management-api.md', import.meta.url), 'utf8');
const blocks = (lang: string) => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

t.test('the documented walkthrough works with curl', async (t) => {
  for (const tool of ['curl', 'jq', 'oathtool', 'bash']) {
    if (spawnSync('which', [tool]).status !== 0) return t.fail(`${tool} missing: apt-get install -y $(cat test/debian-packages.txt)`);
  }
  const received: unknown[] = [];
  const rx = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      received.push(...(JSON.parse(b) as { events: unknown[] }).events);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => rx.close(() => r())));
  const yamlConfig = parseYaml(blocks('yaml')[0]!) as { api: Record<string, unknown> & { webhook: Record<string, unknown> } };
  yamlConfig.api.port = 0;
  yamlConfig.api.webhook.url = `http://127.0.0.1:${(rx.address() as { port: number }).port}/cairn`;
  yamlConfig.api.webhook.secret = 'walkthrough-webhook-secret';
  yamlConfig.api.webhook.pollMs = 200;
  const s = await start({ only: ['api'], overrides: yamlConfig });
  t.teardown(() => s.stop());
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-walk-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const script = ['set -euo pipefail', ...blocks('sh')].join('\n');
  // Asynchronously: the server answers from this very process.
  const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-c', script], {
      cwd, timeout: 150_000,
      env: { PATH: process.env.PATH, HOME: cwd, CAIRN: s.url, CA: s.caFile, ADMIN_PASSWORD: 'Bootstrap-admin-pw-1', NEW_ADMIN_PASSWORD: 'Granite-lantern-57' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  t.equal(run.status, 0, `walkthrough exits 0\n${run.stdout}\n${run.stderr}`);
  t.match(run.stdout, /no failed request/);
  t.match(run.stdout, /"role": "administrator"/);
  t.match(run.stdout, /^session$/m, 'the password change makes a full session');
  t.match(run.stdout, /user\.created\tapi_key\t127\.0\.0\.1\ttrue/);
  t.match(run.stdout, /"field": "uidNumber"|"field":"uidNumber"/, 'the mass-assignment example names the field');
  t.match(run.stdout, /pass\tadmin_mfa_required/);
  t.match(run.stdout, /pass\taudit_export_configured/, 'the webhook of the documented config counts');
  const alice = await s.dir.users.findByUsername(s.org.id, 'alice');
  t.ok(alice && alice.groupIds.length === 1, 'alice exists and is in engineering');
  for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(received.length > 0, 'the documented webhook received events');
});
