// The master key for encryption at rest: from config (value or file), never from the database.
// On a first dev run it is generated into <dataDir>/master.key (0600) and the log says where.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/load.js';
import { CairnError } from '../errors.js';
import type { Logger } from '../log.js';

function decode(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new CairnError('invalid_input', `${where}: the master key must be 32 bytes, base64-encoded`, { field: where });
  return key;
}

export function loadMasterKey(config: Readonly<Config>, log: Logger): Buffer {
  if (config.masterKey.value) return decode(config.masterKey.value, 'masterKey.value (CAIRN_MASTER_KEY__VALUE)');
  const file = config.masterKey.file || join(config.dataDir, 'master.key');
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o077;
    if (mode) log.warn({ file }, 'master key file is readable by group or others; chmod 600 it');
    return decode(readFileSync(file, 'utf8'), `masterKey.file (${file})`);
  }
  if (config.masterKey.file) throw new CairnError('invalid_input', `masterKey.file: ${file} does not exist`, { field: 'masterKey.file' });
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  log.warn({ file }, 'generated a new master key; back it up: without it, TOTP seeds and RADIUS secrets cannot be read');
  return key;
}
