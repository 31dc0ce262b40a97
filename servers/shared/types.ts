import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/load.js';
import type { Directory, Logger, Org } from '../../core/index.js';

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  /** SHA-256 of the CA certificate (DER), hex with colons, as `openssl x509 -fingerprint -sha256` prints it. */
  caFingerprint: string;
  caFile: string;
}

export interface ServerContext {
  dir: Directory;
  config: Readonly<Config>;
  log: Logger;
  org: Org;
  tls: TlsMaterial;
}

export interface RunningServer {
  name: string;
  /** Ports actually bound (config may ask for 0). */
  ports: Record<string, number>;
  stop(): Promise<void>;
}

export type StartServer = (ctx: ServerContext) => Promise<RunningServer>;

/** API and SSO mount onto the one HTTPS listener. */
export type RegisterHttp = (app: FastifyInstance, ctx: ServerContext) => Promise<{ stop(): Promise<void> }>;
