// PAP, MFA, replies and accounting against a real Cairn RADIUS server, driven by FreeRADIUS's
// radclient (freeradius-utils 3.2). Also: duplicates, the store going away, IPv6.
import t from 'tap';
import { totpCode } from '../../core/index.js';
import { backends } from '../../test/helpers/directory.js';
import { accessRequest, enrolTotp, PASSWORD, radclient, radiusFixture, run, SECRET, udpExchange, UdpNas } from '../../test/helpers/radius.js';
import { logLines } from '../../test/helpers/directory.js';
import { verifyResponse } from './codec.js';

for (const backend of backends) {
  t.test(`PAP with radclient (${backend})`, async (t) => {
    const fx = await radiusFixture({ backend });
    t.teardown(() => fx.stop());
    const { dir, ctx, org } = fx.srv;
    const port = fx.authPort;

    await t.test('accept, with a valid Message-Authenticator first, and the group VLAN', async (t) => {
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(r.reply, 'Access-Accept', r.stdout + r.stderr);
      // radclient 3.2 discards a reply whose Message-Authenticator does not verify; it printed it.
      t.match(r.attrs['Message-Authenticator'], /^0x[0-9a-f]{32}$/);
      t.equal(r.attrs['Tunnel-Type:0'] ?? r.attrs['Tunnel-Type'], 'VLAN');
      t.equal(r.attrs['Tunnel-Medium-Type:0'] ?? r.attrs['Tunnel-Medium-Type'], 'IEEE-802');
      t.equal(r.attrs['Tunnel-Private-Group-Id:0'] ?? r.attrs['Tunnel-Private-Group-Id'], '42');
      t.equal(r.attrs['Session-Timeout'], '3600');
      t.match(r.attrs['Class'], /^(staff|0x7374616666)$/);
      t.equal(r.attrs['Reply-Message'], 'Welcome, staff');
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.success, true);
      t.equal(ev.changes?.nas, 'ap-1');
    });

    await t.test('our own check: Message-Authenticator is the first attribute and both authenticators verify', async (t) => {
      const req = accessRequest({ user: 'alice', password: PASSWORD });
      const resp = await udpExchange(port, req);
      t.ok(resp);
      const v = verifyResponse(resp!, req.subarray(4, 20), Buffer.from(SECRET));
      t.same(v, { authenticator: true, messageAuthenticator: true, messageAuthenticatorFirst: true });
    });

    await t.test('wrong password and unknown user are rejected alike', async (t) => {
      const a = await radclient(port, { 'User-Name': 'alice', 'User-Password': '"Wrong-password-1"' });
      t.equal(a.reply, 'Access-Reject');
      const b = await radclient(port, { 'User-Name': 'nobody', 'User-Password': '"Wrong-password-1"' });
      t.equal(b.reply, 'Access-Reject');
      t.same(Object.keys(a.attrs), Object.keys(b.attrs), 'no hint in the reply');
      await dir.users.unlock(ctx, fx.alice.id);
    });

    await t.test('user not in a group bound to the network is rejected', async (t) => {
      const r = await radclient(port, { 'User-Name': 'bob', 'User-Password': `"${PASSWORD}"` });
      t.equal(r.reply, 'Access-Reject');
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.reason, 'not_assigned');
    });

    await t.test('wrong shared secret: no answer, audited, and no lockout counted', async (t) => {
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': '"garbage"' }, { secret: 'Not-the-right-secret-123' });
      t.equal(r.reply, null, r.stdout);
      t.match(r.stdout + r.stderr, /No reply/i);
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.request_dropped', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.reason, 'bad_authenticator');
      const failures = await dir.store('auth_failures').where({ user_id: fx.alice.id });
      t.equal(failures.length, 0);
    });

    await t.test('missing Message-Authenticator: no answer (Blast-RADIUS)', async (t) => {
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { ma: false });
      t.equal(r.reply, null);
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.request_dropped', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.reason, 'missing_message_authenticator');
    });

    await t.test('unknown source address: no answer', async (t) => {
      await fx.repo.updateClient(ctx, (await fx.repo.listClients(org.id)).find((c) => c.name === 'ap-1')!.id, { address: '10.9.9.9' });
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(r.reply, null);
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.request_dropped', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.reason, 'unknown_client');
      await fx.repo.updateClient(ctx, (await fx.repo.listClients(org.id)).find((c) => c.name === 'ap-1')!.id, { address: '127.0.0.1' });
      t.equal((await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` })).reply, 'Access-Accept');
    });

    await t.test('IPv6 NAS', async (t) => {
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` }, { host: '::1' });
      t.equal(r.reply, 'Access-Accept', r.stdout + r.stderr);
    });

    await t.test('duplicates get the cached reply, not a second authentication', async (t) => {
      const before = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1000 })).length;
      const req = accessRequest({ user: 'alice', password: PASSWORD, id: 77 });
      const nas = new UdpNas(port);
      t.teardown(() => nas.close());
      // A retransmission while the first is in flight (dropped), then one after the answer (cached).
      const first = nas.next();
      nas.send(req);
      nas.send(req);
      const a = await first;
      const second = nas.next();
      nas.send(req);
      const c = await second;
      t.ok(a && c);
      t.same(c, a, 'identical bytes from the cache');
      await new Promise((r) => setTimeout(r, 100));
      t.ok(nas.received.every((b) => b.equals(a!)), 'every answer to the retransmissions is the same packet');
      const after = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1000 })).length;
      t.equal(after - before, 1, 'one authentication');
    });

    await t.test('TOTP appended to the password: accepted once, replay rejected', async (t) => {
      const seed = await enrolTotp(fx, fx.alice.id);
      await dir.policies.setMfaModes(ctx, { radius: 'required' });
      t.teardown(() => dir.policies.setMfaModes(ctx, { radius: 'off' }));
      const plain = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(plain.reply, 'Access-Reject', 'password alone is not enough');
      const code = totpCode(seed);
      const ok = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}${code}"` });
      t.equal(ok.reply, 'Access-Accept');
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.mfaMeta?.type, 'totp');
      const replay = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}${code}"` });
      t.equal(replay.reply, 'Access-Reject', 'the same code twice');
      await dir.users.unlock(ctx, fx.alice.id);
    });

    await t.test('Access-Challenge round trip', async (t) => {
      const seed = await enrolTotp(fx, fx.alice.id);
      await dir.policies.setMfaModes(ctx, { radius: 'required' });
      await fx.repo.updateNetwork(ctx, fx.network.id, { mfaMode: 'challenge' });
      t.teardown(async () => {
        await dir.policies.setMfaModes(ctx, { radius: 'off' });
        await fx.repo.updateNetwork(ctx, fx.network.id, { mfaMode: 'appended' });
      });
      const first = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(first.reply, 'Access-Challenge', first.stdout);
      t.equal(first.attrs['Reply-Message'], 'Enter your one-time code');
      const state = first.attrs['State'];
      t.match(state, /^0x[0-9a-f]+$/);
      // Bound to the user: bob cannot use alice's State.
      const stolen = await radclient(port, { 'User-Name': 'bob', 'User-Password': `"${totpCode(seed)}"`, State: state! });
      t.equal(stolen.reply, 'Access-Reject');
      // Single use: the failed attempt above consumed it; start again.
      const again = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(again.reply, 'Access-Challenge');
      const second = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${totpCode(seed)}"`, State: again.attrs['State']! });
      t.equal(second.reply, 'Access-Accept', second.stdout);
      t.equal(second.attrs['Tunnel-Private-Group-Id:0'] ?? second.attrs['Tunnel-Private-Group-Id'], '42');
      const reuse = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${totpCode(seed)}"`, State: again.attrs['State']! });
      t.equal(reuse.reply, 'Access-Reject', 'State is single use');
      await dir.users.unlock(ctx, fx.alice.id);
    });

    await t.test('accounting start / interim / stop become audit events', async (t) => {
      const common = { 'User-Name': 'alice', 'Acct-Session-Id': '"sess-1"', 'Calling-Station-Id': '"02-00-00-00-00-01"', 'NAS-IP-Address': '127.0.0.1' };
      for (const [status, extra] of [['Start', {}], ['Interim-Update', { 'Acct-Input-Octets': '1000', 'Acct-Session-Time': '60' }], ['Stop', { 'Acct-Input-Octets': '5000', 'Acct-Output-Octets': '7000', 'Acct-Session-Time': '120', 'Acct-Terminate-Cause': 'User-Request' }]] as const) {
        const r = await radclient(fx.acctPort, { ...common, 'Acct-Status-Type': status, ...extra }, { type: 'acct' });
        t.equal(r.reply, 'Accounting-Response', r.stdout + r.stderr);
      }
      const events = await dir.audit.list({ orgId: org.id, limit: 3, order: 'desc' });
      t.same(events.map((e) => e.eventType).reverse(), ['radius.accounting.start', 'radius.accounting.interim', 'radius.accounting.stop']);
      const stop = events[0]!;
      t.equal(stop.initiatedBy.id, fx.alice.id);
      t.match(stop.changes, { sessionId: 'sess-1', inputOctets: 5000, outputOctets: 7000, sessionTime: 120, callingStationId: '02-00-00-00-00-01', nas: 'ap-1' });
      const bad = await radclient(fx.acctPort, { ...common, 'Acct-Status-Type': 'Start' }, { type: 'acct', secret: 'Not-the-right-secret-123' });
      t.equal(bad.reply, null, 'bad request authenticator: no answer');
    });

    await t.test('the directory failing: no answer, then answers again by itself', async (t) => {
      const auth = dir.auth;
      const original = auth.authenticate.bind(auth);
      const { CairnError } = await import('../../core/index.js');
      auth.authenticate = async () => {
        throw new CairnError('unavailable', 'directory store unavailable');
      };
      const down = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(down.reply, null, 'silence, so the NAS fails over');
      auth.authenticate = original;
      const up = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(up.reply, 'Access-Accept');
    });

    await t.test('conditional access by Calling-Station-Id (an IP) and by NAS address', async (t) => {
      const list = await dir.policies.createIpList(ctx, { name: 'blocked', cidrs: ['203.0.113.0/24'] });
      const rule = await dir.policies.createAccessRule(ctx, { name: 'block', priority: 1, protocol: 'radius', groupId: null, ipListId: list.id, negateIpList: false, action: 'deny' });
      const blocked = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"`, 'Calling-Station-Id': '"203.0.113.9"' });
      t.equal(blocked.reply, 'Access-Reject', 'VPN user from a blocked range');
      const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
      t.equal(ev.reason, 'access_rule');
      t.equal(ev.clientIp, '203.0.113.9');
      const mac = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"`, 'Calling-Station-Id': '"02-00-00-00-00-01"' });
      t.equal(mac.reply, 'Access-Accept', 'a MAC address: the NAS address decides');
      await dir.policies.deleteAccessRule(ctx, rule.id);
      const nasList = await dir.policies.createIpList(ctx, { name: 'this-nas', cidrs: ['127.0.0.1/32'] });
      const nasRule = await dir.policies.createAccessRule(ctx, { name: 'block-nas', priority: 1, protocol: 'radius', groupId: null, ipListId: nasList.id, negateIpList: false, action: 'deny' });
      t.equal((await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` })).reply, 'Access-Reject', 'rule on the NAS address');
      await dir.policies.deleteAccessRule(ctx, nasRule.id);
    });

    await t.test('Status-Server (RFC 5997) is answered', async (t) => {
      const r = await run('radclient', ['-x', '-t', '1', '-r', '1', `127.0.0.1:${port}`, 'status', SECRET], 'Message-Authenticator = 0x00\n');
      t.match(r.stdout, /Received Access-Accept/);
    });

    await t.test('an expired password: rejected with a Reply-Message that says so, only when it was right', async (t) => {
      await dir.store('users').where({ id: fx.alice.id }).update({ password_changed_at: Date.now() - 91 * 86400_000 });
      let r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(r.reply, 'Access-Reject');
      t.match(r.attrs['Reply-Message'], /password has expired or must be changed/);
      r = await radclient(port, { 'User-Name': 'alice', 'User-Password': '"Not-her-password-1"' });
      t.equal(r.reply, 'Access-Reject');
      t.equal(r.attrs['Reply-Message'], undefined, 'a wrong password learns nothing');
      await dir.store('users').where({ id: fx.alice.id }).update({ password_changed_at: Date.now() });
      await dir.users.unlock(ctx, fx.alice.id);
    });

    await t.test('suspending a user cuts RADIUS access at once', async (t) => {
      await dir.users.setState(ctx, fx.alice.id, 'suspended');
      const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
      t.equal(r.reply, 'Access-Reject');
      await dir.users.setState(ctx, fx.alice.id, 'active');
    });
  });
}

t.test('no password or shared secret in any log line', async (t) => {
  const all = logLines.join('');
  t.ok(logLines.length > 0);
  t.notMatch(all, PASSWORD);
  t.notMatch(all, SECRET);
});
