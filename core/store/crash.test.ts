// kill -9 a writer in the middle of its writes: every acknowledged change is there after
// reopening, and the audit chain still verifies.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../config/load.js';
import { openDirectory } from '../index.js';
import { backends, createPgDatabase, testLogger } from '../../test/helpers/directory.js';

for (const backend of backends) {
  t.test(`kill -9 during writes loses nothing acknowledged (${backend})`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-crash-'));
    const pgdb = backend === 'pg' ? await createPgDatabase() : null;
    t.teardown(async () => {
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../test/helpers/crash-writer.ts'), dataDir, pgdb?.url ?? ''], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (chunk) => {
        buf += chunk.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.startsWith('ack ')) acked.push(line.slice(4));
          if (acked.length === 60) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
      setTimeout(() => reject(new Error('writer too slow')), 60_000).unref();
    });
    await new Promise((r) => child.once('exit', r).once('close', r));
    t.equal(acked.length, 60, 'the writer acknowledged 60 users before it was killed');

    const config = loadConfig({ env: {}, overrides: { dataDir, database: { url: pgdb?.url ?? '' } } });
    const dir = await openDirectory({ config, log: testLogger(), migrate: true });
    t.teardown(() => dir.close());
    const org = await dir.defaultOrg();
    const users = await dir.users.list(org.id, { limit: 10_000 });
    const names = new Set(users.map((u) => u.username));
    t.ok(acked.every((u) => names.has(u)), `all ${acked.length} acknowledged users survived (found ${users.length})`);
    const v = await dir.audit.verify();
    t.ok(v.ok, `audit chain verifies after the crash (${v.checked} events)`);
    const created = await dir.audit.list({ eventType: 'user.created', limit: 10_000 });
    t.equal(created.length, users.length, 'every user that exists has its event, and no event without its user');
  });
}
