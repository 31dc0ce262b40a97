// The server side of bench/agent/config.ts: a Cairn with the API only, on a fresh store, with
// two groups and N enrolment tokens; prints {url, caFile, tokens} as one JSON line.
import { HostAgents } from '../../core/index.js';
import { startApiOnly } from '../shared/api-server.js';

const hosts = Number(process.env.CAIRN_BENCH_HOSTS ?? '32');
const { dir, ctx, announce } = await startApiOnly('agent', { agent: { ldapUris: ['ldaps://127.0.0.1:6636'], enrolPerMinute: 100000 } });
const ops = await dir.groups.create(ctx, { name: 'ops' });
const wheel = await dir.groups.create(ctx, { name: 'admins' });
const agents = new HostAgents(dir.deps, dir);
const tokens: string[] = [];
for (let i = 0; i < hosts; i++) {
  tokens.push((await agents.createToken(ctx, { loginGroupIds: [ops.id], sudoGroupIds: [wheel.id] }, { defaultMinutes: 60, maxMinutes: 60 })).secret);
}
announce({ tokens });
