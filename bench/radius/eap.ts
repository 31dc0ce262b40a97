// EAP-TTLS/PAP and PEAP-MSCHAPv2 end to end with wpa_supplicant's eapol_test: full TLS
// handshake + inner authentication per run, BENCH_PARALLEL eapol_test processes at a time.
//
//   npx tsx bench/radius/eap.ts          (BENCH_RUNS=40, BENCH_PARALLEL=4)
//
// Each eapol_test run is a fresh supplicant (no resumption), like a reconnect storm.
import { availableParallelism } from 'node:os';
import { eapolTest, PASSWORD, radiusFixture } from '../../test/helpers/radius.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);

const fx = await radiusFixture({ radius: { rejectDelayMs: 0 } });
const { dir, ctx } = fx.srv;
await fx.repo.setSettings(ctx, { storeNtHash: true });
await dir.users.setPassword(ctx, fx.alice.id, PASSWORD + '-2');
const pw = PASSWORD + '-2';
const blocks = {
  'EAP-TTLS/PAP': `key_mgmt=WPA-EAP\neap=TTLS\nidentity="alice"\nanonymous_identity="anonymous"\npassword="${pw}"\nca_cert="${fx.srv.caFile}"\nphase2="auth=PAP"`,
  'PEAP-MSCHAPv2': `key_mgmt=WPA-EAP\neap=PEAP\nidentity="alice"\nanonymous_identity="anonymous"\npassword="${pw}"\nca_cert="${fx.srv.caFile}"\nphase2="auth=MSCHAPV2"`,
};
console.log(`EAP benchmark: ${RUNS} runs per method, ${PARALLEL} eapol_test at a time, ${availableParallelism()} cores`);
for (const [name, block] of Object.entries(blocks)) {
  const latencies: number[] = [];
  let ok = 0;
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async (_, w) => {
      while (next < RUNS) {
        const i = next++;
        const s = Date.now();
        const r = await eapolTest(fx, `bench-${w}-${i}`, block);
        latencies.push(Date.now() - s);
        if (r.ok && /MPPE keys OK: 1/.test(r.stdout)) ok++;
      }
    }),
  );
  const secs = (Date.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(`${name.padEnd(14)} ${(RUNS / secs).toFixed(1)} auths/s  p50 ${q(0.5)} ms  p99 ${q(0.99)} ms  (eapol_test process start included)  ok ${ok}/${RUNS}`);
}
await fx.stop();
process.exit(0);
