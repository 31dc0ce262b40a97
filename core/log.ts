import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

// The one list of paths pino must never print. Path-based only, so error objects and raw
// packets are scrubbed where they are logged (scrubError below), not here.
export const redactPaths = [
  'password', '*.password', 'newPassword', '*.newPassword', 'oldPassword', '*.oldPassword',
  'secret', '*.secret', '*.*.secret', 'token', '*.token', 'otp', '*.otp', 'code', '*.code',
  'apiKey', '*.apiKey', 'key', '*.key', 'masterKey', '*.masterKey', 'totpSeed', '*.totpSeed',
  'authorization', '*.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'headers.authorization', 'headers.cookie', 'cookie', '*.cookie', 'userPassword', '*.userPassword',
  'database.url', 'config.database.url', 'sharedSecret', '*.sharedSecret',
  // management API
  'enrollmentToken', '*.enrollmentToken', 'totpSecret', '*.totpSecret', 'otpauthUri', '*.otpauthUri',
  'currentPassword', '*.currentPassword', 'keyPepper', '*.keyPepper', 'api.webhook.secret', 'config.api.webhook.secret',
  // host agent
  'bindPassword', '*.bindPassword', 'req.headers["x-cairn-signature"]', 'headers["x-cairn-signature"]',
];

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  /** Write here instead of stdout (tests capture lines). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    base: { service: 'cairn' },
    redact: { paths: redactPaths, censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.pretty && !opts.destination) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** What of an error may be logged: its class, code and message; never causes' payloads. */
export function scrubError(err: unknown): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message.slice(0, 300) };
  }
  return { name: 'unknown', message: String(err).slice(0, 300) };
}
