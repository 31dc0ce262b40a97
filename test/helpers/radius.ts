// RADIUS test fixture: a real Cairn RADIUS server on ephemeral ports, one network, one NAS
// client, users and groups; and wrappers for the real FreeRADIUS / wpa_supplicant clients.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RadiusRepository, type RadiusNetwork } from '../../core/radius.js';
import { totpCode, type User } from '../../core/index.js';
import type { Group } from '../../core/types.js';
import { start, type Started } from './start.js';
import type { Backend } from './directory.js';

export const SECRET = 'Nas-shared-secret-0123456789';
export const PASSWORD = 'Correct-horse-7-battery';

export interface RadiusFixture {
  srv: Started;
  repo: RadiusRepository;
  network: RadiusNetwork;
  staff: Group;
  alice: User;
  /** Not a member of any group granted the network. */
  bob: User;
  authPort: number;
  acctPort: number;
  tmp: string;
  stop(): Promise<void>;
}

export async function radiusFixture(opts: { backend?: Backend; radius?: Record<string, unknown>; legacy?: boolean } = {}): Promise<RadiusFixture> {
  const srv = await start({
    only: ['radius'],
    backend: opts.backend ?? 'sqlite',
    overrides: { listenHost: '127.0.0.1', radius: { rejectDelayMs: 0, listenHosts: ['127.0.0.1', '::1'], ...(opts.radius ?? {}) } },
  });
  const { dir, ctx, org } = srv;
  const repo = dir.radius;
  const staff = await dir.groups.create(ctx, { name: 'staff' });
  const alice = await dir.users.create(ctx, { username: 'alice', password: PASSWORD, email: 'alice@example.com' });
  const bob = await dir.users.create(ctx, { username: 'bob', password: PASSWORD });
  await dir.groups.addMember(ctx, staff.id, alice.id);
  const network = await repo.createNetwork(ctx, {
    name: 'office-wifi', mfaMode: 'appended', groupIds: [staff.id], eapMethods: ['ttls', 'peap', 'tls'],
    groupReplies: [{ groupId: staff.id, vlan: 42, sessionTimeout: 3600, class: 'staff', replyMessage: 'Welcome, staff' }],
  });
  await repo.createClient(ctx, { name: 'ap-1', address: '127.0.0.1', networkId: network.id, secret: SECRET, legacy: !!opts.legacy });
  await repo.createClient(ctx, { name: 'ap-1-v6', address: '::1', networkId: network.id, secret: SECRET });
  void org;
  const tmp = mkdtempSync(join(tmpdir(), 'cairn-radius-'));
  return {
    srv, repo, network, staff, alice: await dir.users.get(org.id, alice.id), bob, tmp,
    authPort: srv.ports.radiusAuth!, acctPort: srv.ports.radiusAcct!,
    stop: () => srv.stop(),
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input = '', timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/**
 * radclient (freeradius-utils 3.2): one request; `attrs` in its text format. With 3.2.1 the
 * Message-Authenticator is only sent when listed (it computes the value itself).
 */
export async function radclient(port: number, attrs: Record<string, string>, opts: { secret?: string; type?: 'auth' | 'acct'; host?: string; ma?: boolean; retries?: number; timeout?: number } = {}): Promise<RunResult & { reply: string | null; attrs: Record<string, string> }> {
  const lines = Object.entries(attrs).map(([k, v]) => `${k} = ${v}`);
  if (opts.ma !== false && (opts.type ?? 'auth') === 'auth') lines.push('Message-Authenticator = 0x00');
  const host = opts.host ?? '127.0.0.1';
  // 3 s as a NAS waits: a loaded CI machine may need more than 1 s for an argon2 check plus the audit write.
  const args = ['-x', '-t', String(opts.timeout ?? 3), '-r', String(opts.retries ?? 1)];
  if (host.includes(':')) args.push('-6');
  args.push(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, opts.type ?? 'auth', opts.secret ?? SECRET);
  const r = await run('radclient', args, lines.join(',\n') + '\n');
  const m = /Received (Access-Accept|Access-Reject|Access-Challenge|Accounting-Response)/.exec(r.stdout);
  const out: Record<string, string> = {};
  if (m) {
    const after = r.stdout.slice(m.index);
    for (const line of after.split('\n').slice(1)) {
      const kv = /^\s+([\w:-]+) = (.*)$/.exec(line);
      if (kv) out[kv[1]!] = kv[2]!.replace(/^"|"$/g, '');
    }
  }
  return { ...r, reply: m ? m[1]! : null, attrs: out };
}

/** A TOTP enrolment whose confirmation used the previous step, so the current code is still fresh. */
export async function enrolTotp(fx: RadiusFixture, userId: string): Promise<string> {
  const { dir, ctx } = fx.srv;
  const { secret } = await dir.users.beginTotp(ctx, userId);
  await dir.users.confirmTotp(ctx, userId, totpCode(secret, Date.now() / 1000 - 30));
  return secret;
}

/** eapol_test (wpa_supplicant 2.10) with a network block; returns its output and exit code. */
export async function eapolTest(fx: RadiusFixture, name: string, network: string, opts: { secret?: string; timeout?: number } = {}): Promise<RunResult & { ok: boolean }> {
  const conf = join(fx.tmp, `${name}.conf`);
  writeFileSync(conf, `network={\n${network}\n}\n`);
  const r = await run('eapol_test', ['-c', conf, '-a', '127.0.0.1', '-p', String(fx.authPort), '-s', opts.secret ?? SECRET, '-t', String(opts.timeout ?? 10), '-r', '0'], '', 30_000);
  return { ...r, ok: r.code === 0 && /^SUCCESS$/m.test(r.stdout) };
}

// --- a raw UDP sender for what radclient cannot do (duplicates, hostile bytes) -----------------

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createHmac } from 'node:crypto';
import { Attr, Code, encodeRaw, encodeUserPassword, type Attribute } from '../../servers/radius/codec.js';

/** A NAS-like client on one source port: several sends, answers collected. */
export class UdpNas {
  readonly sock: dgram.Socket;
  readonly received: Buffer[] = [];
  #waiters: ((b: Buffer) => void)[] = [];
  constructor(readonly port: number, readonly host = '127.0.0.1') {
    this.sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.sock.on('message', (m) => {
      this.received.push(m);
      this.#waiters.shift()?.(m);
    });
  }
  send(packet: Buffer): void {
    this.sock.send(packet, this.port, this.host);
  }
  next(timeoutMs = 1000): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(null);
      }, timeoutMs);
      const done = (b: Buffer) => {
        clearTimeout(timer);
        resolve(b);
      };
      this.#waiters.push(done);
    });
  }
  close(): void {
    this.sock.close();
  }
}

/** Send one datagram and wait for one answer (or null after timeoutMs). */
export function udpExchange(port: number, packet: Buffer, timeoutMs = 1000, host = '127.0.0.1'): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(null);
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(packet, port, host);
  });
}

/** An Access-Request built by hand, with a correct Message-Authenticator unless told otherwise. */
export function accessRequest(opts: { user: string; password: string; secret?: string; ma?: boolean; id?: number; authenticator?: Buffer; extra?: Attribute[] }): Buffer {
  const secret = Buffer.from(opts.secret ?? SECRET);
  const auth = opts.authenticator ?? randomBytes(16);
  const attrs: Attribute[] = [
    { type: Attr.UserName, value: Buffer.from(opts.user) },
    { type: Attr.UserPassword, value: encodeUserPassword(opts.password, secret, auth) },
    ...(opts.extra ?? []),
  ];
  if (opts.ma === false) return encodeRaw(Code.AccessRequest, opts.id ?? 1, auth, attrs);
  const withMa = [...attrs, { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }];
  const pkt = encodeRaw(Code.AccessRequest, opts.id ?? 1, auth, withMa);
  createHmac('md5', secret).update(pkt).digest().copy(pkt, pkt.length - 16);
  return pkt;
}

/** Any Access-Request with the given attributes and a correct Message-Authenticator (last). */
export function signedRequest(attrs: Attribute[], opts: { secret?: string; id?: number } = {}): Buffer {
  const secret = Buffer.from(opts.secret ?? SECRET);
  const pkt = encodeRaw(Code.AccessRequest, opts.id ?? randomBytes(1)[0]!, randomBytes(16), [...attrs, { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }]);
  createHmac('md5', secret).update(pkt).digest().copy(pkt, pkt.length - 16);
  return pkt;
}

/** EAP-Response/Identity, or any EAP payload, as EAP-Message attributes. */
export function eapResponse(id: number, type: number, data: Buffer): Attribute[] {
  const eap = Buffer.alloc(5 + data.length);
  eap[0] = 2;
  eap[1] = id;
  eap.writeUInt16BE(eap.length, 2);
  eap[4] = type;
  data.copy(eap, 5);
  const out: Attribute[] = [];
  for (let i = 0; i < eap.length; i += 253) out.push({ type: Attr.EapMessage, value: eap.subarray(i, i + 253) });
  return out;
}

// --- EAP-TLS client certificates (openssl CLI) ----------------------------------------------

import { execFileSync } from 'node:child_process';

/** A client CA and certificates: alice (good), carol (no such user), mallory (other CA), laptop (CN=laptop, SAN email alice@…). */
export function makeClientCerts(): string {
  const d = mkdtempSync(join(tmpdir(), 'cairn-eaptls-'));
  const o = (...a: string[]) => execFileSync('openssl', a, { cwd: d, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  o('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Test Wifi Client CA', '-days', '2');
  o('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-subj', '/CN=Some Other CA', '-days', '2');
  writeFileSync(join(d, 'ext'), 'extendedKeyUsage=clientAuth\n');
  writeFileSync(join(d, 'ext-email'), 'extendedKeyUsage=clientAuth\nsubjectAltName=email:alice@example.com\n');
  for (const [name, ca] of [['alice', 'ca'], ['carol', 'ca'], ['mallory', 'other-ca'], ['laptop', 'ca']] as const) {
    o('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'mallory' ? 'alice' : name}`);
    o('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', name === 'laptop' ? 'ext-email' : 'ext');
  }
  return d;
}

/** eapol_test's own check of the MS-MPPE keys against the MSK it derived. */
export const mppeOk = (out: string) => /MPPE keys OK: 1 {2}mismatch: 0/.test(out);
