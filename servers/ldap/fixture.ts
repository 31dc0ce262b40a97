// Test fixture: a real Cairn LDAP server on ephemeral ports over a fresh directory, with a
// CA that ldap-utils trust through LDAPTLS_CACERT. Used by the *.test.ts files beside it.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testDirectory, type Backend, type TestDirectory } from '../../test/helpers/directory.js';
import type { User } from '../../core/index.js';
import { start, type RunningLdap } from './main.js';

export function makeCerts(dir: string): { key: string; cert: string; caFile: string } {
  mkdirSync(dir, { recursive: true });
  const o = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=Cairn test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'));
  o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr'));
  const ext = join(dir, 'ext.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > ${ext}`]);
  o('x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', join(dir, 'server.crt'));
  return { key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.crt'), 'utf8'), caFile: join(dir, 'ca.crt') };
}

export interface LdapFixture {
  t: TestDirectory;
  server: RunningLdap;
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

export async function ldapFixture(backend: Backend = 'sqlite', ldapOverrides: Record<string, unknown> = {}): Promise<LdapFixture> {
  const t = await testDirectory(backend, { ldap: { port: 0, ldapsPort: 0, ...ldapOverrides } });
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
  const certs = makeCerts(join(t.dataDir, 'ldap-certs'));
  const server = await start({ dir, config: t.config, log: dir.log, org, tls: certs });
  const base = 'dc=example,dc=com';
  for (const u of Object.keys(users)) users[u] = (await dir.users.findByUsername(org.id, u))!;
  return {
    t, server, base, caFile: certs.caFile, users, passwords: { ...PASSWORDS },
    ldapUrl: `ldap://127.0.0.1:${server.ports.ldap}`,
    ldapsUrl: `ldaps://127.0.0.1:${server.ports.ldaps}`,
    sssd: { dn: `cn=sssd,ou=Services,${base}`, password: sssd.password },
    resetter: { dn: `cn=resetter,ou=Services,${base}`, password: resetter.password },
    async stop() {
      await server.stop();
      await t.close();
    },
  };
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
