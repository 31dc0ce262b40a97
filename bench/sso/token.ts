// SSO benchmark (a script, not a test): `npx tsx bench/sso/token.ts [seconds] [concurrency] [scenarios]`
// (scenarios: a comma list of cc, refresh, login; all by default: name one to profile it alone).
// SQLite by default; CAIRN_BENCH_PG_URL=postgres://… runs on a fresh database of that server.
//
// 1. token endpoint, client_credentials: Cairn vs a bare oidc-provider with its in-memory
//    adapter (the library's ceiling), same process, same TLS key, same client settings;
// 2. token endpoint, refresh_token (rotating): Cairn vs bare;
// 3. full browserless code-flow logins/s against Cairn (scripted HTTP through the login pages,
//    one argon2id per login: the verified-password cache is off for this run).
import { readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { startCairn } from '../../servers/sso/testkit.js';
import { createPgDatabase } from '../../test/helpers/directory.js';

const SECONDS = Number(process.argv[2] ?? 5);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const PW = 'Bench-canary-pw-51';
const SCENARIOS = new Set((process.argv[4] ?? 'cc,refresh,login').split(','));

const pgDb = process.env.CAIRN_BENCH_PG_URL ? await createPgDatabase(process.env.CAIRN_BENCH_PG_URL) : null;
const cairn = await startCairn({ ...(pgDb ? { databaseUrl: pgDb.url } : {}), overrides: { passwords: { maxConcurrentHashes: 2, verifiedCacheSeconds: 0 }, log: { level: 'warn' } } });
const staff = await cairn.dir.groups.create(cairn.ctx, { name: 'staff' });
const REDIRECT = 'https://rp.example.com/cb';
const { app, clientSecret } = await cairn.dir.sso.apps.create(cairn.ctx, {
  type: 'oidc', name: 'bench', groupIds: [staff.id], settings: { redirectUris: [REDIRECT], clientCredentials: true },
});
if (app.type !== 'oidc' || !clientSecret) throw new Error('setup');
const clientId = app.settings.clientId;
const agent = new Agent({ keepAlive: true, ca: cairn.ca, maxSockets: CONCURRENCY * 2 });

// --- a bare oidc-provider on its own HTTPS port, in-memory adapter ---------------------------
const tlsDir = join(cairn.dataDir, 'certs');
const bareServer = createServer({ key: readFileSync(join(tlsDir, 'server.key')), cert: readFileSync(join(tlsDir, 'server.crt')) });
await new Promise<void>((r) => bareServer.listen(0, '127.0.0.1', () => r()));
const barePort = (bareServer.address() as { port: number }).port;
const bare = new Provider(`https://127.0.0.1:${barePort}`, {
  clients: [{ client_id: 'bare', client_secret: clientSecret, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], response_types: ['code'] }],
  features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
});
bareServer.on('request', bare.callback());

type Res = { status: number; headers: Record<string, string | string[] | undefined>; body: string };
function req(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    r.on('error', reject);
    if (opts.body) r.write(opts.body);
    r.end();
  });
}

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${clientSecret}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function run(name: string, op: (worker: number) => Promise<boolean>): Promise<{ name: string; rps: number; p50: number; p99: number; errors: number; n: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const ok = await op(w).catch(() => false);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!ok) errors++;
    }
  }));
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0;
  return { name, rps: Math.round(lat.length / SECONDS), p50: +pct(0.5).toFixed(1), p99: +pct(0.99).toFixed(1), errors, n: lat.length };
}

const cairnToken = `${cairn.base}/oidc/token`;
const bareToken = `https://127.0.0.1:${barePort}/token`;
const cc = (url: string, id: string) => async () => (await req(url, { method: 'POST', headers: { ...form, authorization: basic(id) }, body: 'grant_type=client_credentials' })).status === 200;

// --- browserless code flow through Cairn's pages ----------------------------------------------
async function codeFlowLogin(username: string): Promise<string> {
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const take = (res: Res) => {
    const sc = res.headers['set-cookie'];
    for (const c of Array.isArray(sc) ? sc : sc ? [sc] : []) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      const k = kv!.slice(0, i);
      const v = kv!.slice(i + 1);
      if (/max-age=0/i.test(c) || v === '') jar.delete(k);
      else jar.set(k, v);
    }
  };
  const go = async (url: string, init: { method?: string; body?: string } = {}) => {
    const res = await req(url, { method: init.method ?? 'GET', headers: { cookie: cookieHeader(), ...(init.body ? form : {}) }, ...(init.body ? { body: init.body } : {}) });
    take(res);
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access', prompt: 'consent', code_challenge: challenge, code_challenge_method: 'S256', state: 's' });
  let res = await go(`${cairn.base}/oidc/auth?${q}`);
  for (let hops = 0; hops < 20; hops++) {
    const loc = res.headers.location as string | undefined;
    if (loc?.startsWith(REDIRECT)) {
      const code = new URL(loc).searchParams.get('code')!;
      const tok = await req(cairnToken, { method: 'POST', headers: { ...form, authorization: basic(clientId) }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString() });
      if (tok.status !== 200) throw new Error(`token ${tok.status}`);
      return JSON.parse(tok.body).refresh_token as string;
    }
    if (loc) {
      res = await go(new URL(loc, cairn.base).href);
      continue;
    }
    const csrf = /name="csrf" value="([^"]+)"/.exec(res.body)?.[1];
    const step = /name="step" value="([^"]+)"/.exec(res.body)?.[1];
    if (!csrf || !step) throw new Error(`unexpected page ${res.status}`);
    const fields: Record<string, string> = { csrf, step };
    if (step === 'username') fields.username = username;
    else if (step === 'password') fields.password = PW;
    else throw new Error(`step ${step}`);
    res = await go(`${cairn.base}/sso/login`, { method: 'POST', body: new URLSearchParams(fields).toString() });
  }
  throw new Error('too many redirects');
}

const users: Array<{ id: string; username: string }> = [];
for (let i = 0; i < CONCURRENCY; i++) {
  const u = await cairn.dir.users.create(cairn.ctx, { username: `user${i}`, displayName: `User ${i}`, password: PW });
  await cairn.dir.groups.addMember(cairn.ctx, staff.id, u.id);
  users.push(u);
}

// Warm up both (JIT, TLS sessions, provider caches).
await run('warmup', cc(cairnToken, clientId));
await run('warmup', cc(bareToken, 'bare'));

const results: Array<Awaited<ReturnType<typeof run>>> = [];
if (SCENARIOS.has('cc')) {
  results.push(await run('client_credentials cairn', cc(cairnToken, clientId)));
  results.push(await run('client_credentials bare', cc(bareToken, 'bare')));
}

// Refresh chains: one rotating refresh token per worker.
if (SCENARIOS.has('refresh')) {
  const cairnRt = await Promise.all(users.map((u) => codeFlowLogin(u.username)));
  const bareClient = await bare.Client.find('bare');
  const bareRt = await Promise.all(users.map(async (_u, i) => {
    const grant = new bare.Grant({ accountId: `u${i}`, clientId: 'bare' });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    return new bare.RefreshToken({ accountId: `u${i}`, client: bareClient, grantId, scope: 'openid offline_access', gty: 'authorization_code' }).save() as Promise<string>;
  }));
  const refresh = (url: string, id: string, chain: string[]) => async (w: number) => {
    const res = await req(url, { method: 'POST', headers: { ...form, authorization: basic(id) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: chain[w]! }).toString() });
    if (res.status !== 200) return false;
    chain[w] = JSON.parse(res.body).refresh_token;
    return true;
  };
  results.push(await run('refresh_token cairn', refresh(cairnToken, clientId, cairnRt)));
  results.push(await run('refresh_token bare', refresh(bareToken, 'bare', bareRt)));
}

let n = 0;
if (SCENARIOS.has('login')) {
  results.push(await run('code-flow login cairn (argon2id each)', async () => {
    await codeFlowLogin(users[n++ % users.length]!.username);
    return true;
  }));
}

const ratio = (a: string, b: string) => {
  const x = results.find((r) => r.name === a);
  const y = results.find((r) => r.name === b);
  return x && y ? (x.rps / y.rps).toFixed(2) : '-';
};
console.log(`\nSSO benchmark: ${SECONDS}s per scenario, concurrency ${CONCURRENCY}, node ${process.version}, ${cairn.config.database.url ? 'PostgreSQL' : 'SQLite (synchronous=FULL)'}`);
console.log('scenario'.padEnd(40), 'req/s'.padStart(7), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'errors'.padStart(7), 'n'.padStart(7));
for (const r of results) console.log(r.name.padEnd(40), String(r.rps).padStart(7), String(r.p50).padStart(8), String(r.p99).padStart(8), String(r.errors).padStart(7), String(r.n).padStart(7));
console.log(`ratio cairn/bare: client_credentials ${ratio('client_credentials cairn', 'client_credentials bare')}, refresh ${ratio('refresh_token cairn', 'refresh_token bare')}`);

agent.destroy();
await new Promise<void>((r) => bareServer.close(() => r()));
await cairn.stop();
await pgDb?.drop();
process.exit(0);
