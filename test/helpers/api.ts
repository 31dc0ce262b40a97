// A client for the management API in tests: real HTTPS (undici, trusting the test CA), plus
// the admin login flow (first login enrols TOTP, as a newcomer would).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { totpCode } from '../../core/index.js';
import { start, type Started } from './start.js';
import type { ServiceName } from '../../servers/all.js';
import type { Backend } from './directory.js';

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface ApiClient {
  base: string;
  agent: Agent;
  call(method: string, path: string, opts?: { token?: string | undefined; body?: unknown; headers?: Record<string, string>; raw?: string }): Promise<Res>;
  close(): Promise<void>;
}

export function apiClient(s: Pick<Started, 'url' | 'caFile'>, localAddress?: string): ApiClient {
  const agent = new Agent({ connect: { ca: readFileSync(s.caFile, 'utf8'), ...(localAddress ? { localAddress } : {}) } });
  return {
    base: s.url,
    agent,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await request(s.url + path, { method: method as 'GET', headers, body, dispatcher: agent });
      const text = await res.body.text();
      let json: unknown = undefined;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.statusCode, headers: res.headers, text, json };
    },
    close: () => agent.close(),
  };
}

/** First login of an admin: password → enrolment → confirm with a TOTP code → session. */
export async function loginWithEnrollment(c: ApiClient, username: string, password: string): Promise<{ token: string; totpSecret: string; adminId: string; usedCode: string }> {
  const first = await c.call('POST', '/api/v1/auth/login', { body: { username, password } });
  if (first.status !== 200 || first.json.status !== 'totp_enrollment_required') throw new Error(`login of ${username}: ${first.status} ${first.text}`);
  const secret = first.json.totpSecret as string;
  const usedCode = totpCode(secret);
  const done = await c.call('POST', '/api/v1/auth/totp/confirm', { body: { enrollmentToken: first.json.enrollmentToken, code: usedCode } });
  if (done.status !== 200) throw new Error(`enrolment of ${username}: ${done.status} ${done.text}`);
  return { token: done.json.token, totpSecret: secret, adminId: done.json.admin.id, usedCode };
}

export interface ApiHarness {
  s: Started;
  c: ApiClient;
  /** The bootstrap administrator's session. */
  admin: { token: string; totpSecret: string; adminId: string; usedCode: string };
  stop(): Promise<void>;
}

/** The API (and `only` other services beside it) started, with the bootstrap admin logged in. */
export async function startApi(backend: Backend = 'sqlite', overrides: Record<string, unknown> = {}, only: ServiceName[] = ['api']): Promise<ApiHarness> {
  const s = await start({ only, backend, overrides });
  const c = apiClient(s);
  const admin = await loginWithEnrollment(c, 'admin', 'Bootstrap-admin-pw-1');
  return {
    s, c, admin,
    async stop() {
      await c.close();
      await s.stop();
    },
  };
}
