// The one HTTPS listener (api.port): the management API and SSO mount onto it.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { ServerContext } from './types.js';

export interface HttpState {
  /** False once shutdown begins, so load balancers stop sending traffic first. */
  accepting: boolean;
}

export function createHttpServer(ctx: ServerContext, state: HttpState): FastifyInstance {
  const trusted = ctx.config.api.trustedProxies;
  const app = Fastify({
    https: { key: ctx.tls.key, cert: ctx.tls.cert, minVersion: 'TLSv1.2' },
    // The client address is the peer's; a forwarded header counts only from a trusted proxy.
    trustProxy: trusted.length ? [...trusted] : false,
    bodyLimit: 1024 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 10_000,
    loggerInstance: ctx.log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) => {
    const ready = await ctx.dir.ready();
    const ok = ready.ok && state.accepting;
    reply.code(ok ? 200 : 503).header('cache-control', 'no-store');
    return { status: ok ? 'ready' : 'unavailable', database: ready.error ? 'unreachable' : 'ok', pendingMigrations: ready.pending, accepting: state.accepting };
  });
  // Typed as the default instance so that route modules need not care that it is HTTPS.
  return app as unknown as FastifyInstance;
}
