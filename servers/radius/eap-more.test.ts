// EAP fragmentation both ways and the EAP-TLS SAN-email identity, with eapol_test.
import { join } from 'node:path';
import t from 'tap';
import { eapolTest, eapResponse, makeClientCerts as makeCerts, mppeOk, PASSWORD, radiusFixture, signedRequest, UdpNas } from '../../test/helpers/radius.js';
import { Attr, Code, decode, get, getEap } from './codec.js';

t.test('fragmentation both ways: small server fragments, small supplicant fragments', async (t) => {
  const certs = makeCerts();
  const fx = await radiusFixture({ radius: { eap: { tlsCaFile: join(certs, 'ca.crt'), fragmentSize: 256 } } });
  t.teardown(() => fx.stop());
  await fx.repo.updateNetwork(fx.srv.ctx, fx.network.id, { eapMethods: ['ttls', 'tls'] });
  const ca = `ca_cert="${fx.srv.caFile}"`;
  const ttls = await eapolTest(fx, 'frag-ttls', `key_mgmt=WPA-EAP\neap=TTLS\nidentity="alice"\npassword="${PASSWORD}"\n${ca}\nphase2="auth=PAP"\nfragment_size=100`);
  t.ok(ttls.ok, 'EAP-TTLS/PAP');
  t.match(ttls.stdout, /SSL: Received packet\(len=\d+\) - Flags 0xc0/, 'we sent a first fragment with L and M');
  t.match(ttls.stdout, /SSL: sending \d+ bytes, more fragments will follow/, 'the supplicant fragmented too');
  t.ok(mppeOk(ttls.stdout));
  const tls = await eapolTest(fx, 'frag-tls', `key_mgmt=WPA-EAP\neap=TLS\nidentity="alice"\n${ca}\nclient_cert="${certs}/alice.crt"\nprivate_key="${certs}/alice.key"\nfragment_size=100`);
  t.ok(tls.ok, 'EAP-TLS with its client certificate in fragments');
  t.ok(mppeOk(tls.stdout));
});

t.test('EAP-TLS with tlsIdentity "email": the SAN email local part names the user', async (t) => {
  const certs = makeCerts();
  const fx = await radiusFixture({ radius: { eap: { tlsCaFile: join(certs, 'ca.crt'), tlsIdentity: 'email' } } });
  t.teardown(() => fx.stop());
  await fx.repo.updateNetwork(fx.srv.ctx, fx.network.id, { eapMethods: ['tls'] });
  const block = (name: string) => `key_mgmt=WPA-EAP\neap=TLS\nidentity="x"\nca_cert="${fx.srv.caFile}"\nclient_cert="${certs}/${name}.crt"\nprivate_key="${certs}/${name}.key"`;
  const r = await eapolTest(fx, 'tls-email', block('laptop'));
  t.ok(r.ok, 'CN=laptop with SAN alice@example.com authenticates as alice');
  t.match(r.stdout, /Attribute 1 \(User-Name\)/);
  t.notOk((await eapolTest(fx, 'tls-no-san', block('alice'))).ok, 'no SAN email: refused');
});


t.test('an idle EAP conversation expires after eap.timeoutMs', async (t) => {
  const fx = await radiusFixture({ radius: { eap: { timeoutMs: 1000 } } });
  t.teardown(() => fx.stop());
  const nas = new UdpNas(fx.authPort);
  t.teardown(() => nas.close());
  const first = nas.next();
  nas.send(signedRequest(eapResponse(0, 1, Buffer.from('anonymous'))));
  const start = (await first)!;
  t.equal(start[0], Code.AccessChallenge);
  const state = get(decode(start), Attr.State)!;
  const eapId = getEap(decode(start))![1]!;
  await new Promise((r) => setTimeout(r, 2500));
  const later = nas.next(2000);
  // A TTLS response with no data: valid at this point, but the conversation is gone.
  nas.send(signedRequest([...eapResponse(eapId, 21, Buffer.from([0])), { type: Attr.State, value: state }]));
  const resp = (await later)!;
  t.equal(resp[0], Code.AccessReject);
  t.equal(getEap(decode(resp))![0], 4, 'EAP-Failure');
});
