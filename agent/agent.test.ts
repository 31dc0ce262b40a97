// cairn-agent against a real Cairn API on port 0, writing into a temporary root (--root):
// enrolment with CA pinning, every file with its mode, content and backup, idempotence,
// dry-run, a login-group change reaching the access filter, signed-request refusals
// (forged, stale, replayed, tampered), single-use tokens, and unenroll restoring the tree
// byte for byte.
import { sign, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { request } from 'undici';
import { addCanary, backends } from '../test/helpers/directory.js';
import { startApi } from '../test/helpers/api.js';
import { fakeRoot, io, NSSWITCH, snapshot } from '../test/helpers/agent.js';
import { signedText as serverSignedText } from '../servers/api/host-auth.js';
import { loadHostKey, newHostKey, signedText } from './client.js';
import { run } from './main.js';

const P = '/api/v1';

const mode = (p: string) => statSync(p).mode & 0o7777;

for (const backend of backends) {
  t.test(`cairn-agent with --root against a real API on ${backend}`, async (t) => {
    const h = await startApi(backend, { agent: { ldapUris: ['ldaps://127.0.0.1:1'] } });
    t.teardown(h.stop);
    const admin = h.admin.token;
    const call = (method: string, path: string, body?: unknown) => h.c.call(method, P + path, { token: admin, ...(body !== undefined ? { body } : {}) });
    const ops = (await call('POST', '/groups', { name: 'ops' })).json;
    const devs = (await call('POST', '/groups', { name: 'devs' })).json;
    const wheel = (await call('POST', '/groups', { name: 'admins' })).json;
    const caPem = readFileSync(h.s.caFile, 'utf8');
    const fp = new X509Certificate(caPem).fingerprint256;
    const ca = (await h.c.call('GET', `${P}/agent/ca`)).json;
    t.equal(ca.caFingerprint, fp, 'GET /agent/ca serves the CA and its fingerprint');

    const tok = await call('POST', '/agent/enrolment-tokens', { description: 'web1', loginGroupIds: [ops.id], sudoGroupIds: [wheel.id], ttlMinutes: 30 });
    t.equal(tok.status, 201);
    const secret: string = tok.json.secret;
    addCanary(secret);
    t.match(secret, /^cairn-enrol-/);
    t.equal(tok.json.token.state, 'active');
    t.notOk(JSON.stringify((await call('GET', '/agent/enrolment-tokens')).json).includes(secret), 'listing never shows the token');

    const root = fakeRoot();
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    const before = snapshot(root);
    const base = ['--root', root];

    await t.test('a wrong CA fingerprint stops enrolment before the token is used', async (t) => {
      const r = io();
      const code = await run(['enroll', '--server', h.s.url, '--token', secret, '--ca-fingerprint', 'AA:'.repeat(31) + 'AA', '--hostname', 'web1.example.com', ...base], r.io);
      t.equal(code, 1);
      t.match(r.errors(), /CA fingerprint mismatch/);
      t.same(snapshot(root), before, 'nothing written');
      t.equal((await call('GET', '/agent/enrolment-tokens')).json.items[0].state, 'active', 'token still unused');
    });

    await t.test('without a trusted CA the TLS connection is refused', async (t) => {
      const r = io();
      t.equal(await run(['enroll', '--server', h.s.url, '--token', secret, '--hostname', 'web1.example.com', ...base], r.io), 1);
      t.match(r.errors(), /certificate/i);
      t.same(snapshot(root), before, 'nothing written');
    });

    let systemId = '';
    let bindPassword = '';
    await t.test('enroll pins the CA, registers the host and writes every file', async (t) => {
      const r = io();
      const code = await run(['enroll', '--server', h.s.url, '--token', secret, '--ca-fingerprint', fp, '--hostname', 'web1.example.com', ...base], r.io);
      t.equal(code, 0, r.errors());
      t.match(r.text(), /enrolled as web1\.example\.com/);
      const state = JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/state.json'), 'utf8'));
      systemId = state.systemId;
      bindPassword = state.bindPassword;
      addCanary(bindPassword);
      t.equal(mode(join(root, 'var/lib/cairn-agent')), 0o700, 'state dir 0700');
      t.equal(mode(join(root, 'var/lib/cairn-agent/host.key')), 0o600, 'host key 0600');
      t.equal(mode(join(root, 'var/lib/cairn-agent/state.json')), 0o600, 'state 0600');
      t.equal(loadHostKey(readFileSync(join(root, 'var/lib/cairn-agent/host.key'), 'utf8')).privateKey.asymmetricKeyType, 'ed25519');

      const sssd = readFileSync(join(root, 'etc/sssd/sssd.conf'), 'utf8');
      t.equal(mode(join(root, 'etc/sssd/sssd.conf')), 0o600, 'sssd.conf 0600');
      t.match(sssd, /^ldap_uri = ldaps:\/\/127\.0\.0\.1:1$/m);
      t.match(sssd, /^ldap_search_base = dc=example,dc=com$/m);
      t.match(sssd, /^access_provider = ldap$/m);
      t.match(sssd, /^ldap_access_filter = \(memberOf=cn=ops,ou=Groups,dc=example,dc=com\)$/m);
      t.match(sssd, /^ldap_default_bind_dn = cn=host-[0-9a-f]{20},ou=Services,dc=example,dc=com$/m);
      t.ok(sssd.includes(`ldap_default_authtok = ${bindPassword}\n`), 'the host credential');
      t.match(sssd, /^ldap_tls_cacert = \/etc\/sssd\/cairn-ca\.pem$/m);
      t.match(sssd, /^ldap_tls_reqcert = demand$/m);
      t.match(sssd, /^ldap_user_ssh_public_key = sshPublicKey$/m);
      t.match(sssd, /^cache_credentials = true$/m);
      t.equal(readFileSync(join(root, 'etc/sssd/cairn-ca.pem'), 'utf8').trim(), caPem.trim(), 'the CA sssd trusts');
      t.equal(mode(join(root, 'etc/sssd/cairn-ca.pem')), 0o644);

      const nss = readFileSync(join(root, 'etc/nsswitch.conf'), 'utf8');
      t.match(nss, /^passwd:\s+files systemd sss$/m);
      t.match(nss, /^group:\s+files systemd sss$/m);
      t.match(nss, /^shadow:\s+files sss$/m);
      t.match(nss, /^sudoers: files sss$/m);
      t.match(nss, /^hosts:\s+files dns$/m, 'other databases untouched');
      t.equal(mode(join(root, 'etc/nsswitch.conf')), 0o644);

      t.match(readFileSync(join(root, 'etc/ssh/sshd_config.d/50-cairn.conf'), 'utf8'), /^AuthorizedKeysCommand \/usr\/bin\/sss_ssh_authorizedkeys$/m);
      t.match(readFileSync(join(root, 'etc/ssh/sshd_config.d/50-cairn.conf'), 'utf8'), /^AuthorizedKeysCommandUser nobody$/m);
      const sudo = readFileSync(join(root, 'etc/sudoers.d/cairn'), 'utf8');
      t.match(sudo, /^%admins ALL=\(ALL:ALL\) ALL$/m);
      t.equal(mode(join(root, 'etc/sudoers.d/cairn')), 0o440, 'sudoers drop-in 0440');
      t.match(readFileSync(join(root, 'usr/share/pam-configs/cairn-mkhomedir'), 'utf8'), /pam_mkhomedir\.so/);
      t.match(readFileSync(join(root, 'etc/systemd/system/cairn-agent-sync.timer'), 'utf8'), /^OnUnitActiveSec=300s$/m);
      t.match(readFileSync(join(root, 'etc/systemd/system/cairn-agent-sync.service'), 'utf8'), /^ExecStart=\/usr\/local\/bin\/cairn-agent sync$/m);
      t.match(r.text(), /not run \(--root\): reload/, 'no host command runs with --root');

      // Backups: the original of every file that existed, recorded before the first change.
      const manifest = JSON.parse(readFileSync(join(root, 'var/lib/cairn-agent/backup/manifest.json'), 'utf8'));
      t.equal(manifest.files['/etc/nsswitch.conf'].existed, true);
      t.equal(manifest.files['/etc/nsswitch.conf'].mode, 0o644);
      t.equal(readFileSync(join(root, 'var/lib/cairn-agent/backup', manifest.files['/etc/nsswitch.conf'].backup), 'utf8'), NSSWITCH, 'nsswitch backup is the original');
      t.equal(manifest.files['/etc/sssd/sssd.conf'].existed, false);
      t.same(manifest.dirs, ['/etc/sssd'], 'directories the agent created');

      // Server side: system, its groups, a read-only service account that binds, audit events.
      const sys = (await call('GET', `/systems/${systemId}`)).json;
      t.equal(sys.hostname, 'web1.example.com');
      t.equal(sys.state, 'enrolled');
      t.same(sys.loginGroupIds, [ops.id]);
      t.same(sys.sudoGroupIds, [wheel.id]);
      t.equal(sys.agentVersion, '0.1.0');
      t.ok(sys.lastContactAt, 'heartbeat recorded');
      const name = /cn=(host-[0-9a-f]+),/.exec(sssd)![1]!;
      const sa = await h.s.dir.serviceAccounts.findByName(h.s.org.id, name);
      t.same(sa?.permissions, ['read_directory'], 'per-host credential can only read');
      t.ok(await h.s.dir.serviceAccounts.verify(h.s.org.id, name, bindPassword, null, 'test'), 'the bind password works');
      const events = (await call('GET', '/events?limit=200')).json.items.map((e: { event_type: string; success: boolean }) => `${e.event_type}:${e.success}`);
      for (const e of ['agent.enrolment_token_created:true', 'agent.enrolled:true', 'agent.synced:true', 'service_account.created:true']) t.ok(events.includes(e), `audited ${e}`);
      t.equal((await call('GET', '/agent/enrolment-tokens')).json.items[0].state, 'used');
    });

    await t.test('a second sync changes nothing', async (t) => {
      const snap = snapshot(root);
      const mtime = statSync(join(root, 'etc/sssd/sssd.conf')).mtimeMs;
      const r = io();
      t.equal(await run(['sync', ...base], r.io), 0, r.errors());
      t.match(r.text(), /^no changes$/m);
      const after = snapshot(root);
      delete after['var/lib/cairn-agent/state.json'];
      const s2 = { ...snap };
      delete s2['var/lib/cairn-agent/state.json'];
      t.same(after, s2, 'no managed file changed');
      t.equal(statSync(join(root, 'etc/sssd/sssd.conf')).mtimeMs, mtime, 'not even rewritten');
      const st = io();
      t.equal(await run(['status', ...base], st.io), 0);
      t.match(st.text(), /^enrolled: web1\.example\.com \([0-9a-f-]{36}\) with https:\/\/127\.0\.0\.1:\d+ since /m);
      t.match(st.text(), /^last sync: \S+ ok \(config [0-9a-f]+\)$/m);
      t.match(st.text(), /^login groups: ops; sudo groups: admins; MFA for SSH: no$/m);
      t.match(st.text(), /^ldap ldaps:\/\/127\.0\.0\.1:1: (?!reachable)/m, 'nothing listens there in this test: reported, not hidden');
    });

    await t.test('login groups changed in Cairn: dry-run shows the diff, sync applies it', async (t) => {
      const patch = await call('PATCH', `/systems/${systemId}`, { loginGroupIds: [ops.id, devs.id] });
      t.equal(patch.status, 200);
      const snap = snapshot(root);
      const r = io();
      t.equal(await run(['sync', '--dry-run', ...base], r.io), 0, r.errors());
      t.match(r.text(), /^-ldap_access_filter = \(memberOf=cn=ops,ou=Groups,dc=example,dc=com\)$/m);
      t.match(r.text(), /^\+ldap_access_filter = \(\|\(memberOf=cn=devs,ou=Groups,dc=example,dc=com\)\(memberOf=cn=ops,ou=Groups,dc=example,dc=com\)\)$/m);
      t.notOk(r.text().includes(bindPassword), 'the diff hides the bind password');
      t.same(snapshot(root), snap, 'dry-run changed nothing');
      const r2 = io();
      t.equal(await run(['sync', ...base], r2.io), 0, r2.errors());
      t.same(r2.out.filter((l) => l.startsWith('updated')), ['updated /etc/sssd/sssd.conf'], 'only sssd.conf changed');
      t.match(readFileSync(join(root, 'etc/sssd/sssd.conf'), 'utf8'), /^ldap_access_filter = \(\|\(memberOf=cn=devs,.*\(memberOf=cn=ops,/m);
      // A disabled system: nobody may log in.
      await call('PATCH', `/systems/${systemId}`, { state: 'disabled' });
      t.equal(await run(['sync', ...base], io().io), 0);
      t.match(readFileSync(join(root, 'etc/sssd/sssd.conf'), 'utf8'), /^ldap_access_filter = \(!\(objectClass=\*\)\)$/m);
      t.match(readFileSync(join(root, 'etc/sudoers.d/cairn'), 'utf8'), /no sudo groups/);
      await call('PATCH', `/systems/${systemId}`, { state: 'enrolled' });
      t.equal(await run(['sync', ...base], io().io), 0);
    });

    await t.test('signed requests: forged, stale, replayed and tampered ones get 401', async (t) => {
      const key = loadHostKey(readFileSync(join(root, 'var/lib/cairn-agent/host.key'), 'utf8'));
      t.equal(serverSignedText('GET', '/x?y=1', 5, 'h', '{}'), signedText('GET', '/x?y=1', 5, 'h', '{}'), 'agent and server sign the same text');
      const send = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
        const res = await request(h.s.url + path, {
          method: method as 'GET', headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body, dispatcher: h.c.agent,
        });
        await res.body.text();
        return res.statusCode;
      };
      const headersFor = (k: typeof key, method: string, path: string, ts: number, body = '') => ({
        'x-cairn-host': systemId, 'x-cairn-timestamp': String(ts), 'x-cairn-signature': sign(null, Buffer.from(signedText(method, path, ts, systemId, body)), k.privateKey).toString('base64url'),
      });
      const path = `${P}/agent/config`;
      const good = headersFor(key, 'GET', path, Date.now());
      t.equal(await send('GET', path, good), 200, 'a fresh signed request');
      t.equal(await send('GET', path, good), 401, 'the same request again: replay refused');
      t.equal(await send('GET', path, headersFor(newHostKey(), 'GET', path, Date.now() + 1)), 401, 'signed by another key');
      t.equal(await send('GET', path, headersFor(key, 'GET', path, Date.now() - 10 * 60_000)), 401, 'ten minutes old');
      t.equal(await send('GET', path, headersFor(key, 'GET', path, Date.now() + 10 * 60_000)), 401, 'ten minutes ahead');
      t.equal(await send('GET', `${path}?x=1`, headersFor(key, 'GET', path, Date.now() + 2)), 401, 'path not the signed one');
      const hb = `${P}/agent/heartbeat`;
      const body = JSON.stringify({ agentVersion: '0.1.0', configVersion: null, changedFiles: [], ok: true });
      const h1 = headersFor(key, 'POST', hb, Date.now() + 3, body);
      t.equal(await send('POST', hb, h1, body.replace('"ok":true', '"ok":false')), 401, 'body not the signed one');
      t.equal(await send('POST', hb, { ...h1, 'x-cairn-timestamp': String(Date.now() + 4) }, body), 401, 'timestamp not the signed one');
      t.equal(await send('GET', path, {}), 401, 'no signature');
      t.equal(await send('GET', path, { ...good, 'x-cairn-host': '00000000-0000-0000-0000-000000000000' }), 401, 'unknown host');
      t.equal(await send('DELETE', `${P}/agent`, { authorization: `Bearer ${admin}` }), 401, 'an admin bearer token is not a host credential');
      const failures = (await call('GET', '/events?event_type=agent.auth_failed&limit=50')).json.items.map((e: { reason: string }) => e.reason);
      for (const reason of ['replayed', 'bad_signature', 'clock_skew']) t.ok(failures.includes(reason), `auth failure audited: ${reason}`);
      const r = io();
      t.equal(await run(['sync', ...base], r.io), 0, `the agent still syncs after all this: ${r.errors()}`);
    });

    await t.test('tokens: single use, expiry, revocation, unknown groups', async (t) => {
      const root2 = fakeRoot();
      t.teardown(() => rmSync(root2, { recursive: true, force: true }));
      const r = io();
      t.equal(await run(['enroll', '--server', h.s.url, '--token', secret, '--ca-file', h.s.caFile, '--hostname', 'web2.example.com', '--root', root2], r.io), 1, 'a used token cannot enroll twice');
      t.match(r.errors(), /401/);
      t.notOk(JSON.parse(JSON.stringify(readdirSync(join(root2, 'var/lib')))).includes('cairn-agent'), 'no state left behind');
      const enrolWith = async (token: string, hostname = 'web3.example.com') => {
        const k = newHostKey();
        const body = JSON.stringify({ token, publicKey: k.publicRaw, hostname, os: 'x', agentVersion: '0' });
        const ts = Date.now();
        const res = await request(`${h.s.url}${P}/agent/enroll`, {
          method: 'POST', body, dispatcher: h.c.agent,
          headers: { 'content-type': 'application/json', 'x-cairn-host': '-', 'x-cairn-timestamp': String(ts), 'x-cairn-signature': sign(null, Buffer.from(signedText('POST', `${P}/agent/enroll`, ts, '-', body)), k.privateKey).toString('base64url') },
        });
        return { status: res.statusCode, json: await res.body.json() as Record<string, unknown> };
      };
      const expiring = (await call('POST', '/agent/enrolment-tokens', {})).json;
      await h.s.dir.store('agent_enrolment_tokens').where({ id: expiring.token.id }).update({ expires_at: Date.now() - 1 });
      t.equal((await enrolWith(expiring.secret)).status, 401, 'expired token');
      const revoked = (await call('POST', '/agent/enrolment-tokens', {})).json;
      t.equal((await call('DELETE', `/agent/enrolment-tokens/${revoked.token.id}`)).status, 204);
      t.equal((await enrolWith(revoked.secret)).status, 401, 'revoked token');
      t.equal((await enrolWith('cairn-enrol-' + 'A'.repeat(43))).status, 401, 'unknown token');
      t.equal((await call('POST', '/agent/enrolment-tokens', { loginGroupIds: ['00000000-0000-0000-0000-000000000000'] })).status, 404, 'unknown group');
      t.equal((await call('POST', '/agent/enrolment-tokens', { ttlMinutes: 999999 })).status, 400, 'ttl above the maximum');
      // An unsigned (or wrongly signed) enrolment does not consume the token.
      const fresh = (await call('POST', '/agent/enrolment-tokens', {})).json;
      const k = newHostKey();
      const bad = await request(`${h.s.url}${P}/agent/enroll`, {
        method: 'POST', dispatcher: h.c.agent, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: fresh.secret, publicKey: k.publicRaw, hostname: 'web4.example.com', os: 'x', agentVersion: '0' }),
      });
      await bad.body.text();
      t.equal(bad.statusCode, 401, 'enrolment without proof of key possession');
      // The hostname of an enrolled host cannot be taken over; the token stays usable.
      t.equal((await enrolWith(fresh.secret, 'web1.example.com')).status, 409, 'an enrolled hostname cannot be taken over');
      const listed = (await call('GET', '/agent/enrolment-tokens')).json.items.find((x: { id: string }) => x.id === fresh.token.id);
      t.equal(listed.state, 'active', 'refused enrolments leave the token usable');
      // Two hosts racing with one token: exactly one is enrolled.
      const raced = (await call('POST', '/agent/enrolment-tokens', {})).json;
      const both = await Promise.all([enrolWith(raced.secret, 'race-a.example.com'), enrolWith(raced.secret, 'race-b.example.com')]);
      t.same(both.map((b) => b.status).sort(), [201, 401], 'a token enrols one host, even under a race');
      // An admin deleting an enrolled system also removes the host's LDAP credential.
      const winner = both.find((b) => b.status === 201)!.json as { systemId: string };
      const account = `host-${winner.systemId.replace(/-/g, '').slice(0, 20)}`;
      t.ok(await h.s.dir.serviceAccounts.findByName(h.s.org.id, account), 'the raced host has its account');
      t.equal((await call('DELETE', `/systems/${winner.systemId}`)).status, 204);
      t.equal(await h.s.dir.serviceAccounts.findByName(h.s.org.id, account), null, 'deleting the system deleted its service account, in the same call');
      t.equal((await enrolWith(raced.secret, 'race-c.example.com')).status, 401, 'the used token stays used');
      const events = (await call('GET', '/events?event_type=agent.enrolled&limit=50')).json.items.filter((e: { success: boolean }) => !e.success).map((e: { reason: string }) => e.reason);
      for (const reason of ['used_token', 'expired_token', 'revoked_token', 'unknown_token', 'bad_signature']) t.ok(events.includes(reason), `failed enrolment audited: ${reason}`);
    });

    await t.test('unenroll restores every file byte for byte and revokes the host', async (t) => {
      const name = /cn=(host-[0-9a-f]+),/.exec(readFileSync(join(root, 'etc/sssd/sssd.conf'), 'utf8'))![1]!;
      const snap = snapshot(root);
      const dry = io();
      t.equal(await run(['unenroll', '--dry-run', ...base], dry.io), 0);
      t.match(dry.text(), /^\+\+\+ \/dev\/null$/m, 'dry-run shows the removals');
      t.same(snapshot(root), snap, 'dry-run changed nothing');
      const r = io();
      t.equal(await run(['unenroll', ...base], r.io), 0, r.errors());
      t.same(snapshot(root), before, 'the tree is exactly as before enrolment');
      t.equal((await call('GET', `/systems/${systemId}`)).status, 404, 'system removed');
      t.equal(await h.s.dir.serviceAccounts.findByName(h.s.org.id, name), null, 'service account deleted');
      t.notOk(await h.s.dir.serviceAccounts.verify(h.s.org.id, name, bindPassword, null, 'test'), 'its password no longer binds');
      const events = (await call('GET', '/events?event_type=agent.deregistered')).json.items;
      t.equal(events.length, 1, 'deregistration audited');
      t.equal(await run(['status', ...base], io().io), 3, 'status: not enrolled');
    });

    await t.test('failed host authentications from one address are limited (429)', async (t) => {
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        const res = await request(`${h.s.url}${P}/agent/config`, { dispatcher: h.c.agent, headers: { 'x-cairn-host': systemId, 'x-cairn-timestamp': String(Date.now()), 'x-cairn-signature': 'A'.repeat(86) } });
        await res.body.text();
        statuses.push(res.statusCode);
      }
      t.ok(statuses.includes(401), 'refused');
      t.equal(statuses[statuses.length - 1], 429, 'then limited');
    });

    await t.test('the CLI runs as a program', async (t) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), 'status', '--root', root], { encoding: 'utf8', timeout: 30_000 });
      t.equal(r.status, 3, r.stderr);
      t.match(r.stdout, /not enrolled/);
      const bad = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), 'frobnicate'], { encoding: 'utf8', timeout: 30_000 });
      t.equal(bad.status, 2);
      t.match(bad.stderr, /usage/);
      const help = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), '--help'], { encoding: 'utf8', timeout: 30_000 });
      t.equal(help.status, 0, '--help is not an error');
      t.match(help.stdout, /enroll --server URL .*--root DIR\] \[--dry-run\]/, 'every enroll option is listed');
    });
  });
}
