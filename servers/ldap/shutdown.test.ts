// Graceful stop: in-flight work finishes with a real answer, then every client gets a Notice of
// Disconnection (unsolicited extended response, message id 0) and the listeners are gone.
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { ldapFixture } from '../../test/helpers/ldap.js';
import { RawClient, req } from './rawclient.js';

t.test('stop: Notice of Disconnection, then closed', async (t) => {
  const fx = await ldapFixture('sqlite', {}, { direct: true });
  t.teardown(fx.stop);
  const ca = readFileSync(fx.caFile, 'utf8');
  const c = await RawClient.connect(fx.t.ports.ldaps!, { tls: true, ca });
  t.equal((await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password))).done?.code, 0);
  // A bind in flight (argon2 takes a while) when stop begins still gets its answer.
  const d = await RawClient.connect(fx.t.ports.ldaps!, { tls: true, ca });
  d.send(req.bind(1, `uid=alice,ou=Users,${fx.base}`, fx.passwords.alice!));
  // Stop once the server has the bind in hand (under load, a fixed delay was not always enough).
  for (let i = 0; i < 500 && fx.ldap!.operationsInFlight === 0; i++) await new Promise((r) => setTimeout(r, 2));
  const stopping = fx.ldap!.stop();
  const inflight = await d.next(5000);
  t.equal(inflight?.id, 1);
  t.equal(inflight?.code, 0, 'the in-flight bind was answered');
  const notice = await c.next(5000);
  t.equal(notice?.id, 0, 'unsolicited');
  t.equal(notice?.tag, 0x78, 'extended response');
  t.match(notice!.body.toString('latin1'), '1.3.6.1.4.1.1466.20036');
  await stopping;
  await Promise.race([c.closed, new Promise((r) => setTimeout(r, 3000))]);
  t.ok(c.isClosed, 'connection closed');
  const refused = await new Promise((r) => net.connect(fx.t.ports.ldaps!, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(false); }).once('error', () => r(true)));
  t.ok(refused, 'no longer listening');
});
