// The server side of bench/api/get-user.ts: a Cairn with the API only, on a fresh store, with
// one user and a Manager API key; prints {url, caFile, key, userId} as one JSON line.
import { ApiKeys } from '../../core/index.js';
import { startApiOnly } from '../shared/api-server.js';

const { dir, ctx, announce } = await startApiOnly('api');
const user = await dir.users.create(ctx, { username: 'bench-user', email: 'bench@example.com', password: 'Correct-horse-9' });
await dir.users.addSshKey(ctx, user.id, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench@host');
const { secret } = await new ApiKeys(dir.deps).create(ctx, { name: 'bench', role: 'manager', allowedCidrs: ['127.0.0.1/32'] }, 'administrator');
announce({ key: secret, userId: user.id });
