// Hostile input from an address that IS a configured NAS (so it passes the client lookup):
// truncated packets, lengths that lie, oversized packets, attribute floods, endless EAP
// fragments and thousands of half-open EAP conversations. The server drops them, stays up,
// keeps memory bounded, and a normal client running in parallel is not affected.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { accessRequest, eapolTest, eapResponse, PASSWORD, radclient, radiusFixture, signedRequest, UdpNas } from '../../test/helpers/radius.js';
import { Attr, Code, decode, encodeRaw, get, getEap } from './codec.js';

const MAX_CONVERSATIONS = 300;

t.test('hostile packets and EAP abuse', async (t) => {
  const fx = await radiusFixture({ radius: { eap: { maxConversations: MAX_CONVERSATIONS, maxBytes: 65536, maxRounds: 40, timeoutMs: 20_000 } } });
  t.teardown(() => fx.stop());
  const port = fx.authPort;

  // A well-behaved NAS authenticating continuously while the rest goes on.
  let normalOk = 0;
  let normalBad = 0;
  let running = true;
  const good = new UdpNas(port);
  t.teardown(() => good.close());
  const normal = (async () => {
    let id = 0;
    while (running) {
      // As a NAS does: wait 3 s, retransmit the same packet once (the reply cache answers it).
      const packet = accessRequest({ user: 'alice', password: PASSWORD, id: id++ & 0xff });
      let answer = good.next(3000);
      good.send(packet);
      let resp = await answer;
      if (!resp) {
        answer = good.next(3000);
        good.send(packet);
        resp = await answer;
      }
      if (resp && resp[0] === Code.AccessAccept) normalOk++;
      else normalBad++;
    }
  })();

  const evil = new UdpNas(port);
  t.teardown(() => evil.close());
  const send = async (packets: Buffer[]) => {
    for (const [i, p] of packets.entries()) {
      evil.send(p);
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
    }
  };
  const rss0 = process.memoryUsage().rss;

  await t.test('malformed datagrams are dropped without an answer', async (t) => {
    const valid = accessRequest({ user: 'alice', password: PASSWORD });
    const lies: Buffer[] = [];
    for (let n = 0; n < 300; n++) {
      lies.push(valid.subarray(0, n % 20)); // truncated below a header
      const longer = Buffer.from(valid);
      longer.writeUInt16BE(valid.length + 1 + (n % 50), 2); // claims more than was sent
      lies.push(longer);
      const shorter = Buffer.from(valid);
      shorter.writeUInt16BE(19 - (n % 19), 2); // claims less than a header
      lies.push(shorter);
      const overrun = Buffer.from(valid);
      overrun[21] = 250; // first attribute runs past the end
      lies.push(overrun);
      const zero = Buffer.from(valid);
      zero[21] = 0; // zero-length attribute (would loop forever in a naive parser)
      lies.push(zero);
      lies.push(randomBytes(20 + (n % 200)));
    }
    // 4096-byte packets: a flood of tiny attributes, and one datagram beyond 4096.
    const flood = encodeRaw(Code.AccessRequest, 1, randomBytes(16), Array.from({ length: 1358 }, () => ({ type: 26, value: Buffer.from([1]) })));
    t.equal(flood.length, 4094);
    for (let n = 0; n < 100; n++) lies.push(flood, Buffer.alloc(5000, 1));
    // Well-formed but the Message-Authenticator is wrong.
    for (let n = 0; n < 100; n++) {
      const bad = accessRequest({ user: 'alice', password: PASSWORD });
      bad[bad.length - 1] ^= 1;
      lies.push(bad);
    }
    await send(lies);
    const answer = await evil.next(1500);
    t.equal(answer, null, 'not one answer to ' + lies.length + ' hostile datagrams');
  });

  await t.test('EAP fragments that never end: cut off by the round and byte budgets', async (t) => {
    const nas = new UdpNas(port);
    t.teardown(() => nas.close());
    let reply = nas.next();
    nas.send(signedRequest(eapResponse(0, 1, Buffer.from('anonymous'))));
    let r = await reply;
    t.ok(r && r[0] === Code.AccessChallenge, 'TTLS start');
    let state = get(decode(r!), Attr.State)!;
    let rounds = 0;
    for (; rounds < 200; rounds++) {
      const eap = getEap(decode(r!))!;
      reply = nas.next();
      // TTLS response: flags L|M, a claimed total and 1000 bytes of "TLS" that never complete.
      const body = Buffer.concat([Buffer.from([0xc0]), Buffer.from([0, 0, 0xea, 0x60]), randomBytes(1000)]); // claims 60000 bytes
      nas.send(signedRequest([...eapResponse(eap[1]!, 21, body), { type: Attr.State, value: state }]));
      r = await reply;
      if (!r || r[0] !== Code.AccessChallenge) break;
      state = get(decode(r), Attr.State)!;
    }
    t.ok(r && r[0] === Code.AccessReject, 'ends in Access-Reject');
    t.ok(rounds > 5 && rounds <= 41, `cut off after ${rounds} rounds (maxRounds 40, maxBytes 64 KiB)`);
  });

  await t.test('thousands of half-open EAP conversations stay bounded', async (t) => {
    const nas = new UdpNas(port);
    t.teardown(() => nas.close());
    const first = nas.next();
    nas.send(signedRequest(eapResponse(0, 1, Buffer.from('first'))));
    const firstState = get(decode((await first)!), Attr.State)!;
    const burst: Buffer[] = [];
    for (let n = 0; n < 3000; n++) burst.push(signedRequest(eapResponse(n & 0xff, 1, Buffer.from(`flood-${n}`))));
    await send(burst);
    await new Promise((r) => setTimeout(r, 1500));
    // The oldest half-open conversation was evicted: continuing it is refused.
    const eap = Buffer.from([2, 0, 0, 6, 21, 0]);
    const cont = nas.next(2000);
    nas.send(signedRequest([{ type: Attr.EapMessage, value: eap }, { type: Attr.State, value: firstState }]));
    const resp = await cont;
    t.ok(resp && resp[0] === Code.AccessReject, 'evicted conversation → reject');
    // A real supplicant still gets through.
    const ok = await eapolTest(fx, 'ttls-after-flood', `key_mgmt=WPA-EAP\neap=TTLS\nidentity="alice"\npassword="${PASSWORD}"\nca_cert="${fx.srv.caFile}"\nphase2="auth=PAP"`);
    t.ok(ok.ok, 'eapol_test EAP-TTLS succeeds after the flood');
  });

  running = false;
  await normal;
  const grown = (process.memoryUsage().rss - rss0) / 1024 / 1024;
  t.ok(grown < 200, `RSS grew ${grown.toFixed(1)} MiB`);
  t.ok(normalOk > 20, `normal client: ${normalOk} accepts`);
  t.equal(normalBad, 0, 'normal client: no reject, no timeout');
  const r = await radclient(port, { 'User-Name': 'alice', 'User-Password': `"${PASSWORD}"` });
  t.equal(r.reply, 'Access-Accept', 'still up for radclient');
});
