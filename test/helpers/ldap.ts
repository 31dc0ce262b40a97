// Test fixture: the real Cairn (servers/all.ts via test/helpers/start.ts) with LDAP on
// ephemeral ports over a fresh directory; ldap-utils trust its CA through LDAPTLS_CACERT.
import { spawn } from 'node:child_process';
import { start, type Started } from './start.js';
import type { Backend } from './directory.js';
import type { User } from '../../core/index.js';
import { loadTls } from '../../servers/shared/tls.js';
import { start as startLdap, type RunningLdap } from '../../servers/ldap/main.js';

export interface LdapFixture {
  t: Started;
  /** The LDAP server itself, when started with `direct: true` or `seed`. */
  ldap: RunningLdap | null;
  ldapUrl: string;
  ldapsUrl: string;
  base: string;
  caFile: string;
  users: Record<string, User>;
  passwords: Record<string, string>;
  sssd: { dn: string; password: string };
  resetter: { dn: string; password: string };
  stop(): Promise<void>;
}

export const PASSWORDS = { alice: 'Wonder-land-Canary-1', bob: 'Build-it-Canary-2', carol: 'Sing-song-Canary-3' };
export const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

/**
 * Default: Cairn as `cairn serve` runs it (servers/all.ts). `direct: true` starts the LDAP server
 * from its main.ts beside the same directory, so that a test can read its live connection count.
 * `seed` fills the store before the LDAP view loads (bulk rows written past the change feed).
 */
export async function ldapFixture(
  backend: Backend = 'sqlite',
  ldapOverrides: Record<string, unknown> = {},
  opts: { direct?: boolean; overrides?: Record<string, unknown>; seed?: (t: Started) => Promise<void> } = {},
): Promise<LdapFixture> {
  const direct = opts.direct || !!opts.seed;
  const t = await start({ only: direct ? [] : ['ldap'], backend, overrides: { ...opts.overrides, ldap: { port: 0, ldapsPort: 0, ...ldapOverrides } } });
  let ldap: RunningLdap | null = null;
  try {
    if (direct) {
      await opts.seed?.(t);
      ldap = await startLdap({ dir: t.dir, config: t.config, log: t.dir.log, org: t.org, tls: await loadTls(t.config, t.dir.log) });
      Object.assign(t.ports, ldap.ports);
    }
    const { dir, ctx, org } = t;
    const users: Record<string, User> = {};
    users.alice = await dir.users.create(ctx, { username: 'alice', displayName: 'Alice Liddell', email: 'alice@example.com', password: PASSWORDS.alice });
    users.bob = await dir.users.create(ctx, { username: 'bob', displayName: 'Bob Builder', email: 'bob@example.com', password: PASSWORDS.bob });
    users.carol = await dir.users.create(ctx, { username: 'carol', displayName: 'Carol', password: PASSWORDS.carol });
    await dir.users.addSshKey(ctx, users.alice.id, ALICE_KEY);
    const admins = await dir.groups.create(ctx, { name: 'admins', description: 'Administrators' });
    const devs = await dir.groups.create(ctx, { name: 'developers' });
    await dir.groups.addMember(ctx, admins.id, users.alice.id);
    await dir.groups.addMember(ctx, devs.id, users.alice.id);
    await dir.groups.addMember(ctx, devs.id, users.bob.id);
    const sssd = await dir.serviceAccounts.create(ctx, { name: 'sssd', permissions: ['read_directory'] });
    const resetter = await dir.serviceAccounts.create(ctx, { name: 'resetter', permissions: ['read_directory', 'password_modify'] });
    const base = 'dc=example,dc=com';
    for (const u of Object.keys(users)) users[u] = (await dir.users.findByUsername(org.id, u))!;
    return {
      t, base, caFile: t.caFile, users, passwords: { ...PASSWORDS },
      ldapUrl: `ldap://127.0.0.1:${t.ports.ldap}`,
      ldapsUrl: `ldaps://127.0.0.1:${t.ports.ldaps}`,
      sssd: { dn: `cn=sssd,ou=Services,${base}`, password: sssd.password },
      resetter: { dn: `cn=resetter,ou=Services,${base}`, password: resetter.password },
      ldap,
      async stop() {
        await ldap?.stop();
        await t.stop();
      },
    };
  } catch (err) {
    await ldap?.stop();
    await t.stop();
    throw err;
  }
}

/** Run an ldap-utils command; never throws, returns exit code and output. */
export function ldapTool(fx: { caFile: string }, cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, {
      env: { ...process.env, LDAPTLS_CACERT: fx.caFile, LDAPTLS_REQCERT: 'demand', LDAPCONF: '/dev/null', LDAPRC: '/dev/null', HOME: '/nonexistent' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}
