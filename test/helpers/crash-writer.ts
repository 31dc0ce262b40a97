// Child process for the crash test: creates users one by one and acknowledges each on stdout
// only after its transaction committed. The parent kills it with SIGKILL mid-stream.
import { loadConfig } from '../../config/load.js';
import { bootstrap, createLogger, openDirectory, systemContext } from '../../core/index.js';

const [dataDir, databaseUrl] = process.argv.slice(2);
const config = loadConfig({ env: {}, overrides: { dataDir, database: { url: databaseUrl ?? '' }, bootstrap: { adminPassword: 'Bootstrap-admin-pw-1' } } });
const dir = await openDirectory({ config, log: createLogger({ level: 'silent' }), migrate: true });
const { org } = await bootstrap(dir);
const ctx = systemContext(org.id, 'crash-test');
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const user = await dir.users.create(ctx, { username: `u${i}` });
  await dir.groups.create(ctx, { name: `g${i}` });
  process.stdout.write(`ack ${user.username}\n`);
}
