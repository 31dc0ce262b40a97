// Runs the whole suite with tap (each file its own process, in parallel) and ends with the
// plain tally CI reads: "N passed, N failed".
import { spawn } from 'node:child_process';

const child = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-20_000);
});
child.on('close', (code) => {
  // tap's closing line: "# { total: 120, pass: 118, fail: 2 }" (skip/todo may appear too)
  const m = [...tail.matchAll(/# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?[^}]*\}/g)].at(-1);
  const total = Number(m?.[1] ?? 0);
  const passed = Number(m?.[2] ?? 0);
  const failed = m ? total - passed : 1;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && total > 0 ? 0 : 1);
});
