import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
// Memory per EAP conversation once TLS has started: node --expose-gc --import tsx bench/radius/eap-memory.ts 1000
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eapSecureContext, TlsTunnel } from '../../servers/radius/eap/tunnel.js';
const d = mkdtempSync(join(tmpdir(), 'mem-'));
execFileSync('openssl', ['req','-x509','-newkey','ec','-pkeyopt','ec_paramgen_curve:P-256','-nodes','-keyout',`${d}/k`,'-out',`${d}/c`,'-subj','/CN=x','-days','1'], { stdio: 'pipe' });
const ctx = eapSecureContext(readFileSync(`${d}/k`,'utf8'), readFileSync(`${d}/c`,'utf8'));
// one ClientHello from a real client
let hello = Buffer.alloc(0);
const cd = new Duplex({ read() {}, write(c, _e, cb) { hello = Buffer.concat([hello, c]); cb(); } });
tls.connect({ socket: cd as never, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }).on('error', () => {});
await new Promise((r) => setTimeout(r, 200));
const N = Number(process.argv[2] ?? 1000);
global.gc?.();
const m0 = process.memoryUsage();
const keep: TlsTunnel[] = [];
for (let i = 0; i < N; i++) { const t = new TlsTunnel({ secureContext: ctx, requestCert: false }); await t.feed(hello); t.takeOutput(); keep.push(t); }
global.gc?.();
const m1 = process.memoryUsage();
console.log(`hello ${hello.length} B; ${N} tunnels after ServerHello: rss +${((m1.rss - m0.rss) / N / 1024).toFixed(1)} KiB each, heap +${((m1.heapUsed - m0.heapUsed) / N / 1024).toFixed(1)} KiB each, external +${((m1.external - m0.external)/N/1024).toFixed(1)} KiB`);
