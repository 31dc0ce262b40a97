// Test support for the SSO suites (not a test itself): a real Cairn on a fixed free port (so the
// issuer survives a restart), a fetch that trusts Cairn's CA, and headless Chromium.
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../config/load.js';
import { systemContext, type ActionContext, type Org } from '../../core/index.js';
import { startAll, type Running } from '../all.js';
import { testLogger } from '../../test/helpers/directory.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Cairn extends Running {
  config: Readonly<Config>;
  org: Org;
  ctx: ActionContext;
  base: string;
  ca: string;
  dataDir: string;
}

/** `databaseUrl`: PostgreSQL (see createPgDatabase in test/helpers/directory.ts); SQLite in dataDir when empty. */
export async function startCairn(opts: { dataDir?: string; port?: number; databaseUrl?: string; overrides?: Record<string, unknown> } = {}): Promise<Cairn> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'cairn-sso-'));
  const port = opts.port ?? (await freePort());
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      listenHost: '127.0.0.1',
      database: { url: opts.databaseUrl ?? '' },
      bootstrap: { adminPassword: 'Bootstrap-admin-pw-1' },
      passwords: { maxConcurrentHashes: 4 },
      tls: { dir: join(dataDir, 'certs') },
      api: { port },
      ldap: { enabled: false },
      radius: { enabled: false },
      sso: { issuer: `https://127.0.0.1:${port}` },
      ...(opts.overrides ?? {}),
    },
  });
  const running = await startAll(config, testLogger(), ['sso']);
  const org = await running.dir.defaultOrg();
  return {
    ...running, config, org, dataDir,
    ctx: systemContext(org.id, 'test', { type: 'cli', id: 'cli:test', name: 'test' }),
    base: `https://127.0.0.1:${port}`,
    ca: readFileSync(join(dataDir, 'certs', 'ca.crt'), 'utf8'),
  };
}

/** fetch() over node:https trusting only the given CA (openid-client's customFetch). */
export function caFetch(ca: string) {
  return async (input: string | URL | Request, init: RequestInit & { body?: unknown } = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers: Record<string, string> = {};
    new Headers(init.headers as HeadersInit | undefined).forEach((v, k) => (headers[k] = v));
    let body: Buffer | undefined;
    if (init.body instanceof URLSearchParams) {
      body = Buffer.from(init.body.toString());
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (typeof init.body === 'string') body = Buffer.from(init.body);
    else if (init.body) body = Buffer.from(init.body as ArrayBuffer);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers, ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
            else if (v !== undefined) h.set(k, String(v));
          }
          const status = res.statusCode ?? 500;
          resolve(new Response([204, 304].includes(status) ? null : Buffer.concat(chunks), { status, headers: h }));
        });
      });
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  };
}

export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** One headless Chromium whose contexts are separate browsers (own cookies): `newContext()`. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
  return {
    close: () => browser.close(),
    async newContext() {
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      ctx.setDefaultTimeout(60_000);
      ctx.setDefaultNavigationTimeout(60_000);
      return ctx;
    },
  };
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const userDataDir = mkdtempSync(join(tmpdir(), 'cairn-chromium-'));
  // A persistent context with a fresh profile directory; the browser is never downloaded.
  const ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true, ignoreHTTPSErrors: true });
  // Generous: the CI box is shared, and argon2 under load is slow; a real hang still fails.
  ctx.setDefaultTimeout(60_000);
  ctx.setDefaultNavigationTimeout(60_000);
  return ctx;
}
