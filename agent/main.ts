// cairn-agent: enrol a Linux host with Cairn and keep its SSSD, NSS, PAM, sshd and sudo
// configuration current. Talks to the management API over HTTPS only (client.ts); applies a
// declarative configuration (files/) and never runs anything the server sends: the only
// commands it runs are its own fixed steps (host.ts), and only on a real root (not with --root).
//
//   cairn-agent enroll --server https://cairn.example:8443 --token T [--ca-fingerprint FP | --ca-file F]
//   cairn-agent sync | status | unenroll      [--root DIR] [--dry-run]
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname as osHostname, release, type as osType } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { apply, originalContent, restoreAll, stateDir } from './apply.js';
import { currentProfile, isSelected, restoreArgv, selectSssd, usesAuthselect, WANTED } from './authselect.js';
import { ApiError, Client, loadHostKey, newHostKey } from './client.js';
import { checkConfig, type HostConfig } from './config.js';
import { renderAll, type ManagedFile } from './files/index.js';
import { commandsOnPath, type HostCommands } from './host.js';
import { ensureStateDir, loadKey, loadState, removeState, saveKey, saveState, type AgentState } from './state.js';

export const AGENT_VERSION = '0.1.0';

export interface Io { out(s: string): void; err(s: string): void }
const stdio: Io = { out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'), err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n') };

class Usage extends Error {}

const USAGE = `usage: cairn-agent enroll --server URL --token T [--ca-fingerprint FP|--ca-file F] [--hostname H] [--agent-command PATH] [--root DIR] [--dry-run]
       cairn-agent sync|status|unenroll [--root DIR] [--dry-run] [--local-only]`;

interface Opts {
  cmd: string; root: string; dryRun: boolean; server?: string; token?: string; caFingerprint?: string; caFile?: string; hostname?: string; agentCommand: string; localOnly: boolean;
  /** Where the agent's fixed steps run: this host on a real root, nowhere with --root (unless a caller says). */
  host: HostCommands | null;
}

function parse(argv: string[]): Opts {
  const [cmd, ...rest] = argv;
  if (!cmd || !['enroll', 'sync', 'status', 'unenroll'].includes(cmd)) throw new Usage(`unknown command ${cmd ?? ''}`.trim());
  const o: Opts = { cmd, root: '/', dryRun: false, agentCommand: '/usr/local/bin/cairn-agent', localOnly: false, host: null };
  const valued: Record<string, keyof Opts> = {
    '--root': 'root', '--server': 'server', '--token': 'token', '--ca-fingerprint': 'caFingerprint', '--ca-file': 'caFile', '--hostname': 'hostname', '--agent-command': 'agentCommand',
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--dry-run') o.dryRun = true;
    else if (flag === '--local-only') o.localOnly = true;
    else if (valued[flag]) {
      const v = inline ?? rest[++i];
      if (v === undefined) throw new Usage(`${flag} needs a value`);
      (o as unknown as Record<string, unknown>)[valued[flag]!] = v;
    } else throw new Usage(`unknown option ${flag}`);
  }
  if (!o.root.startsWith('/')) throw new Usage('--root must be an absolute path');
  return o;
}

function osName(root: string): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync(join(root, 'etc/os-release'), 'utf8'));
    if (m) return m[1]!.slice(0, 128);
  } catch {
    /* fall back */
  }
  return `${osType()} ${release()}`.slice(0, 128);
}

function render(root: string, s: AgentState, c: HostConfig): ManagedFile[] {
  return renderAll({ config: c, bindPassword: s.bindPassword, original: (p) => originalContent(root, p), agentCommand: s.agentCommand, authselect: usesAuthselect(root) });
}

/** The agent's own fixed reload steps. */
function reloads(o: Opts, kinds: Set<string>, io: Io, phase: 'apply' | 'remove'): void {
  if (!kinds.size) return;
  const host = o.host;
  if (!host) {
    io.out(`not run (--root): reload ${[...kinds].sort().join(', ')}`);
    return;
  }
  const have = (bin: string) => host.have(bin);
  const steps: string[][] = [];
  if (kinds.has('systemd') && have('systemctl')) {
    if (phase === 'remove') steps.push(['systemctl', 'disable', '--now', 'cairn-agent-sync.timer']);
    steps.push(['systemctl', 'daemon-reload']);
    if (phase === 'apply') steps.push(['systemctl', 'enable', '--now', 'cairn-agent-sync.timer']);
  }
  if (kinds.has('pam') && have('pam-auth-update')) steps.push(['pam-auth-update', '--package', phase === 'apply' ? '--enable' : '--remove', 'cairn-mkhomedir']);
  if (kinds.has('sssd')) {
    if (have('sss_cache')) steps.push(['sss_cache', '-E']);
    if (have('systemctl')) steps.push(['systemctl', 'try-restart', 'sssd']);
  }
  if (kinds.has('sshd') && have('systemctl')) steps.push(['systemctl', 'try-reload-or-restart', 'ssh']);
  for (const argv of steps) {
    const r = host.run(argv);
    if (r.status !== 0) io.err(`warning: ${argv.join(' ')} failed: ${r.stderr.trim().slice(0, 200)}`);
  }
}

/** RHEL-like hosts: select authselect's sssd profile (remembering the previous one first). */
function authselectStep(o: Opts, s: AgentState, io: Io): void {
  if (!usesAuthselect(o.root)) return;
  const wanted = `authselect select ${WANTED.join(' ')}`;
  if (!o.host) {
    io.out(`not run (--root): ${wanted}`);
    return;
  }
  if (o.dryRun) {
    if (!isSelected(currentProfile(o.host))) io.out(`would run ${wanted}`);
    return;
  }
  const ran = selectSssd(o.host, !s.authselect, (memo) => {
    s.authselect = memo;
    saveState(o.root, s);
  });
  if (ran) io.out(`ran ${ran}`);
}

function clientFor(root: string, s: AgentState): { client: Client; sign: { hostId: string; key: ReturnType<typeof loadHostKey> } } {
  return { client: new Client(s.server, s.caPem ?? undefined), sign: { hostId: s.systemId, key: loadHostKey(loadKey(root)) } };
}

/** Fetch, apply, report. Returns the names of files changed. */
async function sync(o: Opts, s: AgentState, io: Io, given?: HostConfig): Promise<string[]> {
  const { client, sign } = clientFor(o.root, s);
  const raw = given ?? (await client.call<HostConfig>('GET', '/api/v1/agent/config', { sign }));
  const { config, warnings } = checkConfig(raw);
  for (const w of warnings) io.err(`warning: ${w}`);
  // Rotation: the new password is saved in the state first, so a failure after this point
  // leaves the host able to apply it at its next sync (the server keeps the old one valid
  // until the heartbeat below confirms, and asks again while unconfirmed).
  const rotating = config.rotateCredential && !o.dryRun;
  if (config.rotateCredential && o.dryRun) io.out('would rotate the LDAP bind password');
  if (rotating) {
    const { bindPassword } = await client.call<{ bindPassword: string }>('POST', '/api/v1/agent/credential', { sign });
    if (typeof bindPassword !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(bindPassword)) throw new Error('the server sent an unusable bind password');
    s.bindPassword = bindPassword;
    saveState(o.root, s);
    io.out('rotated the LDAP bind password');
  }
  const files = render(o.root, s, config);
  let result;
  try {
    result = apply(o.root, files, { dryRun: o.dryRun });
    authselectStep(o, s, io);
  } catch (err) {
    if (!o.dryRun) {
      const msg = (err as Error).message;
      s.lastSync = { at: new Date().toISOString(), ok: false, configVersion: config.configVersion, changed: [], error: msg };
      saveState(o.root, s);
      await client.call('POST', '/api/v1/agent/heartbeat', { sign, body: { agentVersion: AGENT_VERSION, configVersion: s.lastConfig?.configVersion ?? null, changedFiles: [], ok: false, error: msg.slice(0, 500) } }).catch(() => {});
    }
    throw err;
  }
  const names = result.changed.map((f) => f.path);
  if (o.dryRun) {
    io.out(names.length ? result.diff : 'no changes');
    return names;
  }
  for (const n of names) io.out(`updated ${n}`);
  if (!names.length) io.out('no changes');
  reloads(o, new Set(result.changed.map((f) => f.reload).filter((k): k is NonNullable<typeof k> => !!k)), io, 'apply');
  s.lastConfig = config;
  s.lastSync = { at: new Date().toISOString(), ok: true, configVersion: config.configVersion, changed: names, error: null };
  saveState(o.root, s);
  await client.call('POST', '/api/v1/agent/heartbeat', {
    sign, body: { agentVersion: AGENT_VERSION, configVersion: config.configVersion, changedFiles: names, ok: true, os: osName(o.root), ...(rotating ? { credentialApplied: true } : {}) },
  });
  return names;
}

async function enroll(o: Opts, io: Io): Promise<number> {
  if (!o.server || !o.token) throw new Usage('enroll needs --server and --token');
  if (loadState(o.root)) throw new Error(`already enrolled (state in ${stateDir(o.root)}); run unenroll first`);
  let caPem: string | null = null;
  if (o.caFingerprint) caPem = await Client.pinnedCa(o.server, o.caFingerprint);
  else if (o.caFile) caPem = readFileSync(o.caFile, 'utf8');
  if (caPem) io.out(`trusting CA ${new X509Certificate(caPem).fingerprint256}`);
  if (o.dryRun) {
    io.out('dry run: the server and its CA were checked; the token was not used and nothing was written');
    return 0;
  }
  const client = new Client(o.server, caPem ?? undefined);
  const key = newHostKey();
  const hostname = (o.hostname ?? osHostname()).toLowerCase();
  const res = await client.call<{ systemId: string; bindPassword: string; config: HostConfig }>('POST', '/api/v1/agent/enroll', {
    body: { token: o.token, publicKey: key.publicRaw, hostname, os: osName(o.root), agentVersion: AGENT_VERSION },
    sign: { hostId: '-', key },
  });
  ensureStateDir(o.root);
  saveKey(o.root, key.pem);
  const s: AgentState = {
    server: o.server, caPem, systemId: res.systemId, hostname, bindPassword: res.bindPassword, enrolledAt: new Date().toISOString(),
    agentCommand: o.agentCommand, lastConfig: null, lastSync: null,
  };
  saveState(o.root, s);
  io.out(`enrolled as ${hostname} (${res.systemId})`);
  await sync(o, s, io, res.config);
  return 0;
}

function probeLdaps(uri: string, ca: string, timeoutMs = 5000): Promise<string> {
  const u = new URL(uri);
  if (u.protocol !== 'ldaps:') return Promise.resolve(`${uri}: StartTLS, not probed`);
  return new Promise((resolve) => {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const sock = connect({ host, port: Number(u.port || 636), ca, servername: /^[\d.:]+$/.test(host) ? undefined : host, timeout: timeoutMs }, () => {
      resolve(`${uri}: reachable, certificate verified`);
      sock.end();
    });
    sock.on('timeout', () => {
      resolve(`${uri}: no answer`);
      sock.destroy();
    });
    sock.on('error', (e) => resolve(`${uri}: ${e.message}`));
  });
}

async function status(o: Opts, io: Io): Promise<number> {
  const s = loadState(o.root);
  if (!s) {
    io.out('not enrolled');
    return 3;
  }
  io.out(`enrolled: ${s.hostname} (${s.systemId}) with ${s.server} since ${s.enrolledAt}`);
  io.out(s.lastSync ? `last sync: ${s.lastSync.at} ${s.lastSync.ok ? 'ok' : `FAILED: ${s.lastSync.error}`} (config ${s.lastSync.configVersion ?? '-'})` : 'last sync: never');
  const c = s.lastConfig;
  if (c) {
    io.out(`login groups: ${c.loginGroups.join(', ') || '(none: nobody may log in)'}; sudo groups: ${c.sudoGroups.join(', ') || '(none)'}; MFA for SSH: ${c.mfaForSsh ? 'yes' : 'no'}`);
    for (const uri of c.ldap.uris) io.out(`ldap ${await probeLdaps(uri, c.caPem)}`);
  }
  if (o.host?.have('sssctl')) {
    const r = o.host.run(['sssctl', 'domain-status', 'cairn']);
    io.out(`sssd: ${(r.stdout || r.stderr || '').trim().replace(/\n/g, '; ') || 'no answer'}`);
  }
  return 0;
}

async function unenroll(o: Opts, io: Io): Promise<number> {
  const s = loadState(o.root);
  if (!s) throw new Error('not enrolled');
  if (!o.dryRun) {
    try {
      const { client, sign } = clientFor(o.root, s);
      await client.call('DELETE', '/api/v1/agent', { sign });
      io.out('deregistered: the host\'s LDAP credential is revoked');
    } catch (err) {
      if (!o.localOnly) throw new Error(`deregistration failed (${(err as Error).message}); nothing was changed. Use --local-only to restore the files anyway (the host then stays registered in Cairn until an admin deletes it).`);
      io.err(`warning: deregistration failed (${(err as Error).message}); restoring local files only`);
    }
  }
  const kinds = new Set<string>();
  if (s.lastConfig) for (const f of render(o.root, s, s.lastConfig)) if (f.reload) kinds.add(f.reload);
  if (!o.dryRun) {
    reloads(o, new Set([...kinds].filter((k) => k === 'systemd' || k === 'pam')), io, 'remove');
    if (s.authselect) {
      const argv = restoreArgv(s.authselect);
      if (!o.host) io.out(`not run (--root): ${argv.join(' ')}`);
      else {
        const r = o.host.run(argv);
        if (r.status === 0) io.out(`ran ${argv.join(' ')}`);
        else io.err(`warning: ${argv.join(' ')} failed: ${r.stderr.trim().slice(0, 200)}; select the previous authselect profile by hand`);
      }
    }
  }
  const r = restoreAll(o.root, { dryRun: o.dryRun });
  if (o.dryRun) {
    io.out(r.diff || 'no changes');
    return 0;
  }
  for (const p of r.restored) io.out(`restored ${p}`);
  for (const p of r.removed) io.out(`removed ${p}`);
  reloads(o, new Set([...kinds].filter((k) => k === 'sssd' || k === 'sshd')), io, 'remove');
  removeState(o.root);
  io.out('unenrolled');
  return 0;
}

/** `host`: where the fixed steps run; by default this host on a real root and nowhere with --root. */
export async function run(argv: string[], io: Io = stdio, host?: HostCommands): Promise<number> {
  if (argv.length === 1 && ['--help', '-h', 'help'].includes(argv[0]!)) {
    io.out(USAGE);
    return 0;
  }
  let o: Opts;
  try {
    o = parse(argv);
    o.host = host ?? (o.root === '/' ? commandsOnPath() : null);
  } catch (err) {
    io.err(`cairn-agent: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    switch (o.cmd) {
      case 'enroll':
        return await enroll(o, io);
      case 'sync': {
        const s = loadState(o.root);
        if (!s) throw new Error('not enrolled');
        await sync(o, s, io);
        return 0;
      }
      case 'status':
        return await status(o, io);
      default:
        return await unenroll(o, io);
    }
  } catch (err) {
    if (err instanceof Usage) {
      io.err(`cairn-agent: ${err.message}`);
      return 2;
    }
    const e = err as Error;
    io.err(`cairn-agent ${o.cmd}: ${e instanceof ApiError && e.status === 401 ? `${e.message}: the server refused this host's credential (token used or expired, host deregistered, or clock off by more than the allowed skew)` : e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await run(process.argv.slice(2));
}
