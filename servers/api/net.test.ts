import t from 'tap';
import { clientAddress, KeyedMutex, RateLimiter } from './net.js';

t.test('client address is the peer unless the peer is a trusted proxy', async (t) => {
  t.equal(clientAddress('127.0.0.1', '203.0.113.9', []), '127.0.0.1', 'no trusted proxies: header ignored');
  t.equal(clientAddress('::ffff:192.0.2.1', undefined, []), '192.0.2.1', 'IPv4-mapped IPv6 normalised');
  t.equal(clientAddress('192.0.2.1', '203.0.113.9', ['10.0.0.0/8']), '192.0.2.1', 'untrusted peer: header ignored');
  t.equal(clientAddress('10.0.0.2', '203.0.113.9', ['10.0.0.0/8']), '203.0.113.9', 'trusted peer: header believed');
  t.equal(clientAddress('::ffff:10.0.0.2', '203.0.113.9', ['10.0.0.0/8']), '203.0.113.9', 'trusted mapped peer');
  t.equal(clientAddress('10.0.0.2', '1.1.1.1, 203.0.113.9, 10.0.0.7', ['10.0.0.0/8']), '203.0.113.9', 'right-most untrusted hop; client-written left part ignored');
  t.equal(clientAddress('10.0.0.2', ['1.1.1.1', '203.0.113.9'], ['10.0.0.0/8']), '203.0.113.9', 'repeated headers joined');
  t.equal(clientAddress('10.0.0.2', 'garbage, 203.0.113.9', ['10.0.0.0/8']), '203.0.113.9');
  t.equal(clientAddress('10.0.0.2', '203.0.113.9, garbage', ['10.0.0.0/8']), '10.0.0.2', 'garbage stops the walk at the last trusted address');
  t.equal(clientAddress('10.0.0.2', '::ffff:198.51.100.1', ['10.0.0.0/8']), '198.51.100.1');
  t.equal(clientAddress('2001:db8::1', '198.51.100.1', ['2001:db8::/32']), '198.51.100.1', 'IPv6 proxy');
  t.equal(clientAddress(undefined, '198.51.100.1', ['0.0.0.0/0']), null);
});

t.test('rate limiter', async (t) => {
  const r = new RateLimiter(3, 60_000, 10);
  t.same([r.take('a', 0), r.take('a', 1), r.take('a', 2)], [0, 0, 0]);
  t.ok(r.take('a', 3) > 0, 'fourth in the window is refused');
  t.equal(r.take('b', 3), 0, 'per key');
  t.equal(r.take('a', 60_001), 0, 'next window');
  for (let i = 0; i < 100; i++) r.take(`k${i}`, 5);
  t.ok(true, 'bounded memory: many keys do not throw');
});

t.test('keyed mutex', async (t) => {
  const m = new KeyedMutex();
  const order: string[] = [];
  const slow = (tag: string, ms: number) => async () => {
    order.push(`${tag}+`);
    await new Promise((r) => setTimeout(r, ms));
    order.push(`${tag}-`);
    if (tag === 'a2') throw new Error('boom');
    return tag;
  };
  const results = await Promise.allSettled([m.run('a', slow('a1', 30)), m.run('a', slow('a2', 5)), m.run('b', slow('b1', 5)), m.run('a', slow('a3', 1))]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'], 'a failure does not block the next');
  t.ok(order.indexOf('a1-') < order.indexOf('a2+') && order.indexOf('a2-') < order.indexOf('a3+'), 'same key: one at a time, in order');
  t.ok(order.indexOf('b1+') < order.indexOf('a1-'), 'other keys run freely');
});
