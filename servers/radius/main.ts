// RADIUS front-end: start(ctx) per the server contract (servers/shared). Binds the
// authentication and accounting sockets, wires PAP, EAP and accounting to the core.
import type { RunningServer, ServerContext } from '../shared/types.js';
import { AccountingHandler } from './accounting.js';
import { PapHandler } from './access.js';
import { ClientTable } from './clients.js';
import { Attr, get } from './codec.js';
import { EapHandler } from './eap/handler.js';
import { RadiusUdpServer, type Reply, type Request } from './server.js';

export interface RadiusRunning extends RunningServer {
  server: RadiusUdpServer;
  eap: EapHandler;
  clients: ClientTable;
}

export async function start(ctx: ServerContext): Promise<RadiusRunning> {
  const cfg = ctx.config.radius;
  const log = ctx.log.child({ component: 'radius' });
  const repo = ctx.dir.radius;
  const clients = new ClientTable(ctx.dir, repo, ctx.org.id, log);
  await clients.refresh(true);
  const pap = new PapHandler({ dir: ctx.dir, org: ctx.org, rejectDelayMs: cfg.rejectDelayMs, challengePrompt: cfg.challengePrompt, passwordExpiredMessage: cfg.passwordExpiredMessage });
  const eap = new EapHandler({ dir: ctx.dir, org: ctx.org, repo, log, tls: ctx.tls, config: cfg.eap, rejectDelayMs: cfg.rejectDelayMs, pap });
  const accounting = new AccountingHandler(ctx.dir, ctx.org);
  const server = new RadiusUdpServer({
    dir: ctx.dir,
    org: ctx.org,
    log,
    clients,
    hosts: cfg.listenHosts.length ? cfg.listenHosts : [ctx.config.listenHost],
    authPort: cfg.authPort,
    acctPort: cfg.acctPort,
    duplicateWindowMs: cfg.duplicateWindowMs,
    duplicateCacheMax: cfg.duplicateCacheMax,
    maxInFlight: cfg.maxInFlight,
    handlers: {
      access: (req: Request): Promise<Reply> => (get(req.packet, Attr.EapMessage) ? eap.handle(req) : pap.handle(req)),
      accounting: (req) => accounting.handle(req),
    },
  });
  await server.start();
  log.info({ ports: server.ports }, 'radius listening');
  return {
    name: 'radius',
    ports: { radiusAuth: server.ports.auth, radiusAcct: server.ports.acct },
    server,
    eap,
    clients,
    async stop() {
      await server.stop();
      eap.close();
      clients.close();
    },
  };
}
