// Hostile input: malformed BER, lying lengths, deep and huge filters, idle floods, cleartext
// pipelined after StartTLS. Each gets a protocol error or a disconnect; the server stays up
// and a parallel normal client (ldapsearch and a raw client from another address) is unaffected.
import t from 'tap';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { join } from 'node:path';
import { tlv, octets, int, seq } from './ber.js';
import { ldapFixture, ldapTool } from '../../test/helpers/ldap.js';
import { filter, RawClient, req } from './rawclient.js';

t.test('hostile clients', async (t) => {
  const fx = await ldapFixture('sqlite', { unboundIdleSeconds: 3, tlsHandshakeSeconds: 2, maxConnectionsPerIp: 200 }, { direct: true });
  t.teardown(fx.stop);
  const ca = readFileSync(fx.caFile, 'utf8');
  const ldapsPort = fx.t.ports.ldaps!;
  const ldapPort = fx.t.ports.ldap!;
  const base = fx.base;

  /** A normal client from another loopback address: bind as sssd, look alice up. */
  const healthy = async () => {
    const c = await RawClient.connect(ldapsPort, { tls: true, ca, localAddress: '127.0.0.2' });
    const b = await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    const s = await c.call(req.search(2, base, filter.eq('uid', 'alice'), ['uid']));
    c.destroy();
    return b.done?.code === 0 && s.done?.code === 0 && s.entries.length === 1;
  };
  const ldapsearchWorks = async () => {
    const r = await ldapTool(fx, 'ldapsearch', ['-x', '-LLL', '-H', fx.ldapsUrl, '-D', fx.sssd.dn, '-w', fx.sssd.password, '-b', base, '(uid=bob)', '1.1']);
    return r.code === 0 && r.stdout.includes('uid=bob');
  };

  t.ok(await healthy(), 'baseline');

  await t.test('malformed BER: each connection dropped, server fine', async (t) => {
    const garbage: [string, Buffer][] = [
      ['not a SEQUENCE', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
      ['indefinite length', Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00])],
      ['length of length 9', Buffer.from([0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
      ['unknown operation', seq([int(1), tlv(0x7f - 0x10, [octets('x')])])],
      ['inner length beyond outer', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x60, 0x7f, 0x02])],
      ['bind with missing fields', seq([int(1), tlv(0x60, [int(3)])])],
      ['search with a broken filter', seq([int(2), tlv(0x63, [octets(base), Buffer.from([0x0a, 0x01, 0x02, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00]), Buffer.from([0xa3, 0x03, 0x04, 0x09, 0x61]), seq([])])])],
      ['negative message id', seq([int(-5), tlv(0x42, [])])],
      ['huge integer', seq([tlv(0x02, Buffer.alloc(40, 0x7f)), tlv(0x42, [])])],
    ];
    for (const [what, bytes] of garbage) {
      const c = await RawClient.connect(ldapsPort, { tls: true, ca });
      c.send(bytes);
      const r = await c.next(3000);
      if (r) t.ok(r.code === 2 || r.tag === 0x78, `${what}: protocolError or notice (${r.code})`);
      await Promise.race([c.closed, new Promise((res) => setTimeout(res, 3000))]);
      t.ok(c.isClosed, `${what}: disconnected`);
      c.destroy();
    }
    t.ok(await healthy(), 'normal client unaffected');
  });

  await t.test('a length field larger than the message', async (t) => {
    // Declares 2 GiB: refused on the header alone, nothing buffered.
    let c = await RawClient.connect(ldapsPort, { tls: true, ca });
    c.send(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]));
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 3000))]);
    t.ok(c.isClosed, 'oversized declared length: disconnected at once');
    // Declares 4 KiB and sends 10 bytes: waits, bounded, then the unbound-idle timer closes it.
    c = await RawClient.connect(ldapsPort, { tls: true, ca });
    c.send(Buffer.from([0x30, 0x82, 0x10, 0x00, 0x02, 0x01, 0x01, 0x60, 0x00, 0x00]));
    const started = Date.now();
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 8000))]);
    t.ok(c.isClosed, `short message closed by the idle timer after ${Date.now() - started} ms`);
    t.ok(await healthy());
  });

  await t.test('deeply nested filter: protocolError, disconnect', async (t) => {
    let f = filter.eq('uid', 'alice');
    for (let i = 0; i < 200; i++) f = filter.not(f);
    const c = await RawClient.connect(ldapsPort, { tls: true, ca });
    await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    const { done } = await c.call(req.search(2, base, f));
    t.equal(done?.code, 2, 'protocolError');
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 3000))]);
    t.ok(c.isClosed);
    // 30 levels are fine (SSSD nests 3 or 4).
    let ok = filter.eq('uid', 'alice');
    for (let i = 0; i < 30; i++) ok = filter.and(ok);
    const c2 = await RawClient.connect(ldapsPort, { tls: true, ca });
    await c2.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    const r2 = await c2.call(req.search(2, base, ok, ['uid']));
    t.equal(r2.done?.code, 0);
    t.equal(r2.entries.length, 1);
    c2.destroy();
  });

  await t.test('a 1 MB filter: disconnect before it is buffered whole', async (t) => {
    const c = await RawClient.connect(ldapsPort, { tls: true, ca });
    await c.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    const big = filter.eq('cn', 'x'.repeat(1024 * 1024));
    c.send(req.search(2, base, big));
    const r = await c.next(5000);
    t.ok(r === null || r.tag === 0x78, 'no search result: a notice of disconnection at most');
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 5000))]);
    t.ok(c.isClosed, 'disconnected');
    // Many small terms: the node budget refuses them too.
    const many = filter.and(...Array.from({ length: 5000 }, (_, i) => filter.eq('uid', `u${i}`)));
    const c2 = await RawClient.connect(ldapsPort, { tls: true, ca });
    await c2.call(req.bind(1, fx.sssd.dn, fx.sssd.password));
    const r2 = await c2.call(req.search(2, base, many));
    t.equal(r2.done?.code, 2, '5000-term filter: protocolError');
    c2.destroy();
    t.ok(await ldapsearchWorks(), 'ldapsearch unaffected');
  });

  await t.test('thousands of idle connections: capped per address, closed when idle; others served', async (t) => {
    // Counted by the server itself: handshakes still in the kernel's backlog cost it nothing.
    const serverSide = () => fx.ldap!.connections;
    const sockets: RawClient[] = [];
    for (let batch = 0; batch < 8; batch++) {
      const opened = await Promise.allSettled(Array.from({ length: 250 }, () => RawClient.connect(ldapPort)));
      for (const o of opened) if (o.status === 'fulfilled') sockets.push(o.value);
    }
    t.ok(sockets.length >= 1500, `${sockets.length} connections opened`);
    const waitFor = async (cond: () => boolean, ms: number) => {
      const until = Date.now() + ms;
      while (!cond() && Date.now() < until) await new Promise((res) => setTimeout(res, 200));
      return cond();
    };
    const held = serverSide();
    t.ok(held <= 200, `the server holds at most maxConnectionsPerIp (${held})`);
    t.ok(held > 0, 'the first ones are accepted');
    t.ok(await healthy(), 'a client from another address is served meanwhile');
    // The held ones are closed by the unbound-idle timer (3 s here).
    t.ok(await waitFor(() => serverSide() === 0, 10_000), `idle unbound connections all closed (${serverSide()} left)`);
    for (const s of sockets) s.destroy();
    t.ok(await ldapsearchWorks(), 'ldapsearch works after the flood');
  });

  await t.test('TLS: silent client closed after the handshake timeout; garbage instead of ClientHello', async (t) => {
    const c = await RawClient.connect(ldapsPort);
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 6000))]);
    t.ok(c.isClosed, 'no ClientHello: closed');
    const g = await RawClient.connect(ldapsPort);
    g.send(Buffer.from(seq([int(1), tlv(0x42, [])])));
    await Promise.race([g.closed, new Promise((res) => setTimeout(res, 3000))]);
    t.ok(g.isClosed, 'LDAP in cleartext on the LDAPS port: closed');
  });

  await t.test('StartTLS: cleartext pipelined after the request is discarded', async (t) => {
    const c = await RawClient.connect(ldapPort);
    // StartTLS and a bind in one segment: the bind must never be processed.
    c.send(Buffer.concat([req.startTls(1), req.bind(2, `uid=alice,ou=Users,${base}`, fx.passwords.alice!)]));
    const r = await c.next(3000);
    t.equal(r?.id, 1);
    t.equal(r?.code, 0, 'StartTLS accepted');
    await c.startTls(ca);
    const who = await c.call(req.whoami(3));
    t.equal(who.done?.code, 0);
    t.notMatch(who.done!.body.toString('latin1'), /uid=alice/, 'still anonymous: the pipelined bind was dropped');
    const extra = await c.next(500);
    t.equal(extra, null, 'no late bind response');
    // StartTLS twice is refused.
    const again = await c.call(req.startTls(4));
    t.equal(again.done?.code, 1, 'operationsError');
    c.destroy();
  });

  await t.test('TLS older than 1.2 is refused, on LDAPS and after StartTLS', async (t) => {
    const old = (socket?: import('node:net').Socket) => new Promise<string>((resolve) => {
      const s = tls.connect({
        ...(socket ? { socket } : { host: '127.0.0.1', port: ldapsPort }),
        ca, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0',
      });
      s.once('secureConnect', () => {
        resolve(`accepted ${s.getProtocol()}`);
        s.destroy();
      });
      s.once('error', (err) => resolve(`refused: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    // Control: the same client options do reach TLS 1.1 with a server that allows it, so a
    // refusal below is Cairn's.
    const control = tls.createServer({ key: readFileSync(join(fx.t.dataDir, 'certs', 'server.key')), cert: readFileSync(join(fx.t.dataDir, 'certs', 'server.crt')), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
    const viaControl = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: (control.address() as import('node:net').AddressInfo).port, ca, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
      s.once('secureConnect', () => { resolve(s.getProtocol() ?? ''); s.destroy(); });
      s.once('error', (err) => resolve(`error ${err.message}`));
    });
    control.close();
    t.equal(viaControl, 'TLSv1.1', 'the client can speak TLS 1.1');
    t.match(await old(), /^refused/, 'LDAPS');
    const c = await RawClient.connect(ldapPort);
    t.equal((await c.call(req.startTls(1))).done?.code, 0);
    c.socket.removeAllListeners('data');
    t.match(await old(c.socket), /^refused/, 'StartTLS');
    c.destroy();
    const modern = await RawClient.connect(ldapsPort, { tls: true, ca });
    t.match((modern.socket as import('node:tls').TLSSocket).getProtocol(), /^TLSv1\.[23]$/, 'TLS 1.2+ works');
    modern.destroy();
  });

  await t.test('pipelined operations beyond maxOutstandingPerConnection are answered busy', async (t) => {
    const c = await RawClient.connect(ldapsPort, { tls: true, ca });
    // 40 binds in one write: each waits on argon2, so they pile up; the default cap is 32.
    c.send(Buffer.concat(Array.from({ length: 40 }, (_, i) => req.bind(i + 1, fx.sssd.dn, fx.sssd.password))));
    const codes: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await c.next(30_000);
      if (!r) break;
      codes.push(r.code!);
    }
    t.equal(codes.length, 40, 'every request answered');
    t.equal(codes.filter((x) => x === 51).length, 8, 'the 8 beyond the cap: busy (51)');
    t.equal(codes.filter((x) => x === 0).length, 32, 'the rest bound');
    c.destroy();
  });

  await t.test('the server is still up and correct', async (t) => {
    t.ok(await healthy());
    t.ok(await ldapsearchWorks());
  });
});
