// Runs any subset of the front-ends in one process: `cairn serve --only ldap,radius`.
import type { Config } from '../config/load.js';
import { bootstrap, openDirectory, scrubError, type Directory, type Logger } from '../core/index.js';
import { createHttpServer, type HttpState } from './shared/http.js';
import { loadTls } from './shared/tls.js';
import type { RegisterHttp, RunningServer, ServerContext, StartServer } from './shared/types.js';

export const serviceNames = ['ldap', 'radius', 'sso', 'api'] as const;
export type ServiceName = (typeof serviceNames)[number];

// Each front-end's one entry point. UDP/TCP servers start on their own ports; API and SSO
// mount onto the shared HTTPS listener.
const standalone: Partial<Record<ServiceName, () => Promise<{ start: StartServer }>>> = {
  ldap: () => import('./ldap/main.js'),
  radius: () => import('./radius/main.js'),
};
const mounted: Partial<Record<ServiceName, () => Promise<{ register: RegisterHttp }>>> = {
  sso: () => import('./sso/main.js'),
  api: () => import('./api/main.js'),
};

export interface Running {
  dir: Directory;
  ports: Record<string, number>;
  caFingerprint: string;
  bootstrapAdmin?: { username: string; password: string | null } | undefined;
  stop(deadlineMs?: number): Promise<void>;
}

export async function startAll(config: Readonly<Config>, log: Logger, only?: readonly ServiceName[]): Promise<Running> {
  const wanted = (name: ServiceName) => config[name].enabled && (!only || only.includes(name));
  const dir = await openDirectory({ config, log, migrate: true });
  const stops: Array<() => Promise<void>> = [];
  try {
    const { org, admin } = await bootstrap(dir);
    const tls = await loadTls(config, log);
    const ctx: ServerContext = { dir, config, log, org, tls };
    const unfollow = dir.followOutsideChanges();
    stops.push(async () => unfollow());
    const ports: Record<string, number> = {};
    const state: HttpState = { accepting: true };

    for (const name of serviceNames) {
      const load = standalone[name];
      if (!load || !wanted(name)) continue;
      const server: RunningServer = await (await load()).start(ctx);
      stops.push(() => server.stop());
      Object.assign(ports, server.ports);
    }

    // The HTTPS listener always runs: it carries /healthz and /readyz even when API and SSO are off.
    const app = createHttpServer(ctx, state);
    for (const name of serviceNames) {
      const load = mounted[name];
      if (!load || !wanted(name)) continue;
      const mount = await (await load()).register(app, ctx);
      stops.push(() => mount.stop());
    }
    await app.listen({ host: config.listenHost, port: config.api.port });
    ports.https = (app.server.address() as { port: number }).port;
    stops.unshift(async () => {
      state.accepting = false;
      await app.close();
    });

    log.info({ ports, caFingerprint: tls.caFingerprint, org: org.name }, 'cairn listening');
    return {
      dir,
      ports,
      caFingerprint: tls.caFingerprint,
      bootstrapAdmin: admin,
      async stop(deadlineMs = 10_000) {
        state.accepting = false;
        const all = Promise.allSettled(stops.map((s) => s()));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
        clearTimeout(timer);
        await dir.close().catch((err) => log.warn({ err: scrubError(err) }, 'closing the store failed'));
      },
    };
  } catch (err) {
    await Promise.allSettled(stops.map((s) => s()));
    await dir.close();
    throw err;
  }
}
