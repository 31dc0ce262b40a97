// The server contract (servers/shared/types.ts on main). Re-exported here so the SSO code has
// one import while the shared module settles.
export type { ServerContext } from '../shared/types.js';
