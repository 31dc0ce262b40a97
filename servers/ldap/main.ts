// The LDAP front-end: LDAPS and LDAP+StartTLS over the core directory.
import type { Config } from '../../config/load.js';
import { scrubError, type Org } from '../../core/index.js';
import type { RunningServer, ServerContext } from '../shared/types.js';
import { LdapListener } from './server.js';
import { LdapSession } from './session.js';

export interface RunningLdap extends RunningServer {
  /** For tests and health: live connection count. */
  readonly connections: number;
  /** Operations received and not yet answered, over all connections. */
  readonly operationsInFlight: number;
}

export function baseDnFor(config: Readonly<Config>, org: Org): string {
  if (config.ldap.baseDn) return config.ldap.baseDn;
  return org.domain.split('.').filter(Boolean).map((p) => `dc=${p}`).join(',');
}

export async function start(ctx: ServerContext): Promise<RunningLdap> {
  const cfg = ctx.config.ldap;
  const log = ctx.log.child({ component: 'ldap' });
  const session = new LdapSession(ctx.dir, ctx.org, cfg, baseDnFor(ctx.config, ctx.org), log);
  // Load the view before accepting clients, so that the first search is not the slow one.
  await session.tree.fresh();
  session.tree.onError = (err) => log.warn({ err: scrubError(err) }, 'ldap view reload failed; serving the previous view');
  session.tree.startBackgroundRefresh();
  const listener = new LdapListener({
    log,
    key: ctx.tls.key,
    cert: ctx.tls.cert,
    handler: session,
    limits: {
      maxConnections: cfg.maxConnections,
      maxConnectionsPerIp: cfg.maxConnectionsPerIp,
      maxMessageBytes: cfg.maxMessageBytes,
      maxOutstandingPerConnection: cfg.maxOutstandingPerConnection,
      maxOutputBufferBytes: cfg.maxOutputBufferBytes,
      idleTimeoutSeconds: cfg.idleTimeoutSeconds,
      unboundIdleSeconds: cfg.unboundIdleSeconds,
      tlsHandshakeSeconds: cfg.tlsHandshakeSeconds,
    },
  });
  const host = ctx.config.listenHost;
  const ports: Record<string, number> = {};
  try {
    ports.ldap = await listener.listen(host, cfg.port, 'plain');
    ports.ldaps = await listener.listen(host, cfg.ldapsPort, 'ldaps');
  } catch (err) {
    await listener.stop(0);
    session.tree.close();
    throw err;
  }
  log.info({ ports, baseDn: session.tree.baseDn, entries: session.tree.size }, 'ldap listening');
  return {
    name: 'ldap',
    ports,
    get connections() {
      return listener.connections;
    },
    get operationsInFlight() {
      return listener.operationsInFlight;
    },
    async stop() {
      await listener.stop();
      session.tree.close();
    },
  };
}
