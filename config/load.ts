import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';

export type { Config } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: 'array', strict: false });
const validate = ajv.compile(configSchema);

/** camelCase key of a schema object matching an env segment, e.g. LDAPS_PORT → ldapsPort. */
function matchKey(schema: Json | undefined, segment: string): string | undefined {
  const props = (schema?.properties ?? {}) as Json;
  const wanted = segment.toLowerCase().replace(/_/g, '');
  return Object.keys(props).find((k) => k.toLowerCase() === wanted);
}

/** CAIRN_LDAP__LDAPS_PORT=6636 → { ldap: { ldapsPort: '6636' } } (ajv coerces the type). */
export function fromEnv(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CAIRN_') || value === undefined) continue;
    const segments = name.slice('CAIRN_'.length).split('__');
    // Variables of the test harness and tools (CAIRN_TEST_PG_URL, ...) are not config.
    if (segments[0]?.startsWith('TEST')) continue;
    let schema = configSchema as unknown as Json;
    let target = out;
    const path: string[] = [];
    for (const [i, segment] of segments.entries()) {
      const key = matchKey(schema, segment);
      if (!key) {
        throw new ConfigError(`${name}: no config key ${[...path, segment.toLowerCase()].join('.')}`);
      }
      path.push(key);
      schema = ((schema.properties as Json)[key] ?? {}) as Json;
      if (i === segments.length - 1) {
        target[key] = schema.type === 'array' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
      } else {
        target = (target[key] ??= {}) as Json;
      }
    }
  }
  return out;
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Json, v as Json)
        : v;
  }
  return out;
}

function describe(e: ErrorObject): string {
  const key = e.instancePath.slice(1).replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${key ? key + '.' : ''}${extra}: unknown key`;
  }
  // ajv messages describe the expected shape, never the value we were given.
  return `${key || '(root)'}: ${e.message ?? 'invalid'}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values that win over everything (tests set ports to 0, a temp dataDir, ...). */
  overrides?: Json;
}

/** Defaults < file < CAIRN_* env < overrides; validated, frozen. Errors name the key. */
export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  let fileValues: Json = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`--config ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    try {
      fileValues = (parseYaml(text) ?? {}) as Json; // YAML is a superset of JSON
    } catch (err) {
      throw new ConfigError(`--config ${opts.file}: not valid YAML/JSON (${(err as Error).message.split('\n')[0]})`);
    }
    if (typeof fileValues !== 'object' || Array.isArray(fileValues)) {
      throw new ConfigError(`--config ${opts.file}: must hold an object of settings`);
    }
  }
  const merged = merge(merge(fileValues, fromEnv(opts.env ?? process.env)), opts.overrides ?? {});
  if (!validate(merged)) {
    const problems = (validate.errors ?? []).map(describe);
    throw new ConfigError(`invalid configuration:\n  ${[...new Set(problems)].join('\n  ')}`);
  }
  const config = merged as unknown as Config;
  if (config.posix.idMax <= config.posix.idMin) {
    throw new ConfigError('posix.idMax: must be greater than posix.idMin');
  }
  if (!!config.tls.certFile !== !!config.tls.keyFile) {
    throw new ConfigError('tls.keyFile: tls.certFile and tls.keyFile are set together');
  }
  return deepFreeze(config);
}
