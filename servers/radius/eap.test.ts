// EAP against a real Cairn RADIUS server, driven by wpa_supplicant's eapol_test (Debian
// eapoltest 2.10): EAP-TTLS/PAP, PEAP-MSCHAPv2, PEAP-GTC and EAP-TLS must succeed with the
// right credentials and derive MPPE keys that eapol_test checks against its own MSK
// ("MPPE keys OK"), and fail with the wrong ones.
import { join } from 'node:path';
import t from 'tap';
import { totpCode } from '../../core/index.js';
import { eapolTest, enrolTotp, makeClientCerts as makeCerts, mppeOk, PASSWORD, radiusFixture } from '../../test/helpers/radius.js';

t.test('EAP with eapol_test', async (t) => {
  const certs = makeCerts();
  const fx = await radiusFixture({ radius: { eap: { tlsCaFile: join(certs, 'ca.crt') } } });
  t.teardown(() => fx.stop());
  const { dir, ctx, org } = fx.srv;
  const ca = `ca_cert="${fx.srv.caFile}"`;
  const ttls = (user: string, password: string) => `key_mgmt=WPA-EAP\neap=TTLS\nidentity="${user}"\nanonymous_identity="anonymous"\npassword="${password}"\n${ca}\nphase2="auth=PAP"`;
  const peap = (user: string, password: string, inner: string) => `key_mgmt=WPA-EAP\neap=PEAP\nidentity="${user}"\nanonymous_identity="anonymous"\npassword="${password}"\n${ca}\nphase1="peapver=0"\nphase2="auth=${inner}"`;
  const eapTls = (name: string) => `key_mgmt=WPA-EAP\neap=TLS\nidentity="${name}"\n${ca}\nclient_cert="${certs}/${name}.crt"\nprivate_key="${certs}/${name}.key"`;

  await t.test('EAP-TTLS/PAP: success with MPPE keys, VLAN in the Accept', async (t) => {
    const r = await eapolTest(fx, 'ttls-ok', ttls('alice', PASSWORD));
    t.ok(r.ok, 'SUCCESS');
    t.ok(mppeOk(r.stdout), 'MPPE keys match the MSK eapol_test derived');
    t.match(r.stdout, /Attribute 81 \(Tunnel-Private-Group-Id\)/);
    t.match(r.stdout, /Attribute 80 \(Message-Authenticator\)[\s\S]*Attribute 79 \(EAP-Message\)/);
    t.match(r.stdout, /SSL: Using TLS version TLSv1\.2/);
    const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
    t.equal(ev.success, true);
    t.equal(ev.changes?.eapMethod, 'ttls');
  });

  await t.test('EAP-TTLS/PAP: wrong password and non-member fail', async (t) => {
    t.notOk((await eapolTest(fx, 'ttls-bad', ttls('alice', 'Wrong-password-1'))).ok);
    t.notOk((await eapolTest(fx, 'ttls-bob', ttls('bob', PASSWORD))).ok, 'bob is not in a group bound to the network');
    await dir.users.unlock(ctx, fx.alice.id);
  });

  await t.test('EAP-TTLS/PAP carries the appended TOTP when MFA is required', async (t) => {
    const seed = await enrolTotp(fx, fx.alice.id);
    await dir.policies.setMfaModes(ctx, { radius: 'required' });
    t.teardown(async () => {
      await dir.policies.setMfaModes(ctx, { radius: 'off' });
      await dir.users.resetTotp(ctx, fx.alice.id);
    });
    t.notOk((await eapolTest(fx, 'ttls-nocode', ttls('alice', PASSWORD))).ok, 'password alone fails');
    const code = totpCode(seed);
    t.ok((await eapolTest(fx, 'ttls-code', ttls('alice', PASSWORD + code))).ok, 'password + code succeeds');
    t.notOk((await eapolTest(fx, 'ttls-replay', ttls('alice', PASSWORD + code))).ok, 'the same code again fails');
    await dir.users.unlock(ctx, fx.alice.id);
  });

  await t.test('PEAP-MSCHAPv2 needs the NT hash: off by default, then on', async (t) => {
    t.notOk((await eapolTest(fx, 'peap-off', peap('alice', PASSWORD, 'MSCHAPV2'))).ok, 'no NT hash stored: fails');
    await fx.repo.setSettings(ctx, { storeNtHash: true });
    const newPassword = 'Fresh-password-42';
    await dir.users.setPassword(ctx, fx.alice.id, newPassword);
    const row = await dir.store('users').where({ id: fx.alice.id }).first('nt_hash_enc');
    t.match(row.nt_hash_enc, /^v1\./, 'sealed, not a bare hash');
    const r = await eapolTest(fx, 'peap-ok', peap('alice', newPassword, 'MSCHAPV2'));
    t.ok(r.ok, 'SUCCESS');
    t.match(r.stdout, /EAP-MSCHAPV2: Received success/);
    t.match(r.stdout, /EAP-MSCHAPV2: Authentication succeeded/, 'eapol_test verified our Authenticator Response');
    t.ok(mppeOk(r.stdout), 'MPPE keys OK');
    const bad = await eapolTest(fx, 'peap-bad', peap('alice', 'Wrong-password-1', 'MSCHAPV2'));
    t.notOk(bad.ok, 'wrong password fails');
    t.match(bad.stdout, /EAP-MSCHAPV2: failure message: 'Authentication failed' \(retry not allowed, error 691\)/, 'an in-tunnel MSCHAPv2 failure (E=691) the peer understood');
    t.match(bad.stdout, /TLV Result - Failure/);
    await dir.policies.setMfaModes(ctx, { radius: 'required' });
    t.notOk((await eapolTest(fx, 'peap-mfa', peap('alice', newPassword, 'MSCHAPV2'))).ok, 'MSCHAPv2 cannot carry a code: refused when MFA is required');
    const mfaEv = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
    t.match(mfaEv.reason, /^mfa_/);
    await dir.policies.setMfaModes(ctx, { radius: 'off' });
    const failures = await dir.store('auth_failures').where({ user_id: fx.alice.id });
    t.ok(failures.length > 0, 'a wrong MSCHAPv2 response counts as a failed password');
    await dir.users.unlock(ctx, fx.alice.id);

    await t.test('turning it off erases every NT hash', async (t) => {
      await fx.repo.setSettings(ctx, { storeNtHash: false });
      const after = await dir.store('users').whereNotNull('nt_hash_enc');
      t.equal(after.length, 0);
      t.notOk((await eapolTest(fx, 'peap-erased', peap('alice', newPassword, 'MSCHAPV2'))).ok);
      await fx.repo.setSettings(ctx, { storeNtHash: true });
      await dir.users.setPassword(ctx, fx.alice.id, PASSWORD + 'x');
      await dir.users.setPassword(ctx, fx.alice.id, PASSWORD + 'y');
    });
  });

  await t.test('PEAP-GTC: success and failure (no NT hash needed)', async (t) => {
    await fx.repo.setSettings(ctx, { storeNtHash: false });
    const pw = PASSWORD + 'y';
    const r = await eapolTest(fx, 'gtc-ok', peap('alice', pw, 'GTC'));
    t.ok(r.ok, 'SUCCESS');
    t.match(r.stdout, /EAP-PEAP: Phase 2 Request: type=6/);
    t.ok(mppeOk(r.stdout));
    t.notOk((await eapolTest(fx, 'gtc-bad', peap('alice', 'Wrong-password-1', 'GTC'))).ok);
    await dir.users.unlock(ctx, fx.alice.id);
  });

  await t.test('EAP-TLS: certificate from the named CA maps to the user', async (t) => {
    await fx.repo.updateNetwork(ctx, fx.network.id, { eapMethods: ['tls', 'ttls', 'peap'] });
    const r = await eapolTest(fx, 'tls-ok', eapTls('alice'));
    t.ok(r.ok, 'SUCCESS');
    t.ok(mppeOk(r.stdout), 'MPPE keys OK');
    const ev = (await dir.audit.list({ orgId: org.id, eventType: 'radius.auth', limit: 1, order: 'desc' }))[0]!;
    t.equal(ev.mfaMeta?.type, 'certificate');
    t.notOk((await eapolTest(fx, 'tls-other-ca', eapTls('mallory'))).ok, 'CN=alice from another CA is refused');
    t.notOk((await eapolTest(fx, 'tls-nouser', eapTls('carol'))).ok, 'no such user');
    await dir.users.setState(ctx, fx.alice.id, 'suspended');
    t.notOk((await eapolTest(fx, 'tls-suspended', eapTls('alice'))).ok, 'revocation: a suspended user is refused');
    await dir.users.setState(ctx, fx.alice.id, 'active');
    t.ok((await eapolTest(fx, 'tls-back', eapTls('alice'))).ok);
  });

  await t.test('directory unavailable mid-conversation: silence, then the retransmission succeeds', async (t) => {
    const { CairnError } = await import('../../core/index.js');
    const auth = dir.auth;
    const original = auth.authenticate.bind(auth);
    t.teardown(() => {
      auth.authenticate = original;
    });
    for (const [name, block] of [['ttls', ttls('alice', PASSWORD + 'y')], ['tls', eapTls('alice')]] as const) {
      let failures = 1;
      auth.authenticate = async (req) => {
        if (failures-- > 0) throw new CairnError('unavailable', 'directory store unavailable');
        return original(req);
      };
      const r = await eapolTest(fx, `unavailable-${name}`, block, { timeout: 15 });
      t.ok(r.ok, `${name}: SUCCESS after eapol_test's RADIUS retransmission`);
      t.match(r.stdout, /Resending RADIUS message \(id=/, 'the first copy went unanswered');
      t.ok(mppeOk(r.stdout));
    }
  });

  await t.test('a method the network does not offer is refused', async (t) => {
    await fx.repo.updateNetwork(ctx, fx.network.id, { eapMethods: ['ttls'] });
    t.notOk((await eapolTest(fx, 'tls-not-offered', eapTls('alice'))).ok);
    t.ok((await eapolTest(fx, 'ttls-still', ttls('alice', PASSWORD + 'y'))).ok);
  });
});

t.test('no password, shared secret or key material in any log line', async (t) => {
  const { logLines } = await import('../../test/helpers/directory.js');
  const all = logLines.join('');
  t.ok(logLines.length > 0);
  for (const canary of [PASSWORD, 'Fresh-password-42', 'Nas-shared-secret-0123456789']) t.notMatch(all, canary);
});
