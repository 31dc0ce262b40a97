// `cairn serve` as a real process: it starts on ephemeral ports with generated certificates,
// prints the bootstrap password once (never into the log), answers health checks over TLS,
// and stops cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';

const entry = join(import.meta.dirname, '..', 'cli', 'cairn.ts');

function get(url: string, ca: string): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      const protocol = (res.socket as import('node:tls').TLSSocket).getProtocol() ?? '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(t: Test, dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'serve'], {
    env: {
      ...process.env,
      CAIRN_DATA_DIR: dataDir,
      CAIRN_TLS__DIR: join(dataDir, 'certs'),
      CAIRN_API__PORT: '0',
      CAIRN_LDAP__PORT: '0',
      CAIRN_LDAP__LDAPS_PORT: '0',
      CAIRN_RADIUS__AUTH_PORT: '0',
      CAIRN_RADIUS__ACCT_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      for (const line of stdout.split('\n')) {
        if (line.includes('"cairn listening"')) resolve(JSON.parse(line).ports);
      }
    });
    child.on('exit', (code) => reject(new Error(`cairn serve exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error('cairn serve did not start in 60 s')), 60_000).unref();
  });
  return { child, ports, out: () => stdout, err: () => stderr };
}

t.test('cairn serve starts, is healthy over TLS 1.2+, and stops on SIGTERM', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-serve-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await serve(t, dataDir);
  const ca = readFileSync(join(dataDir, 'certs', 'ca.crt'), 'utf8');
  t.ok(first.ports.https > 0, `HTTPS on ${first.ports.https}`);
  const health = await get(`https://127.0.0.1:${first.ports.https}/healthz`, ca);
  t.equal(health.status, 200);
  t.match(health.protocol, /^TLSv1\.[23]$/);
  const ready = await get(`https://localhost:${first.ports.https}/readyz`, ca);
  t.equal(ready.status, 200, 'certificate is valid for localhost too');
  t.match(JSON.parse(ready.body), { status: 'ready', database: 'ok', pendingMigrations: [] });
  const password = /password: (\S+)/.exec(first.err())?.[1];
  t.ok(password && password.length >= 20, 'bootstrap password printed on the terminal');
  t.notOk(first.out().includes(password!), 'and not in the JSON log');
  t.match(first.out(), /generated a local CA and server certificate/);
  t.match(first.out(), /"caFingerprint":"([0-9A-F]{2}:){31}[0-9A-F]{2}"/);

  const exit = new Promise<number | null>((r) => first.child.once('exit', (code) => r(code)));
  first.child.kill('SIGTERM');
  t.equal(await exit, 0, 'clean exit on SIGTERM');

  const second = await serve(t, dataDir);
  t.notMatch(second.err(), /Initial administrator/, 'a restart creates no second admin');
  t.notMatch(second.out(), /generated a local CA/, 'and reuses the certificates');
  const exit2 = new Promise<number | null>((r) => second.child.once('exit', (code) => r(code)));
  second.child.kill('SIGTERM');
  t.equal(await exit2, 0);
});
