// SSH public keys: parsed from the authorized_keys format, the embedded key type checked
// against the declared one, fingerprinted as `ssh-keygen -l` does (SHA256, base64, no padding).
import { createHash } from 'node:crypto';
import { invalidInput } from '../errors.js';

const allowedTypes = new Set([
  'ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export interface ParsedSshKey {
  type: string;
  publicKey: string;
  comment: string;
  fingerprint: string;
}

function readString(buf: Buffer, offset: number): [Buffer, number] {
  if (offset + 4 > buf.length) throw new Error('truncated');
  const len = buf.readUInt32BE(offset);
  if (offset + 4 + len > buf.length) throw new Error('truncated');
  return [buf.subarray(offset + 4, offset + 4 + len), offset + 4 + len];
}

export function parseSshKey(line: string): ParsedSshKey {
  const trimmed = line.trim();
  if (trimmed.length > 16384 || /[\r\n]/.test(trimmed)) throw invalidInput('publicKey', 'one public key per line, at most 16 KiB');
  const [type, b64, ...rest] = trimmed.split(/\s+/);
  if (!type || !b64 || !allowedTypes.has(type)) throw invalidInput('publicKey', 'not an OpenSSH public key of a supported type (ed25519, rsa, ecdsa)');
  if (!/^[A-Za-z0-9+/]+={0,3}$/.test(b64)) throw invalidInput('publicKey', 'key data is not base64');
  const blob = Buffer.from(b64, 'base64');
  let embedded: Buffer;
  let next: number;
  try {
    [embedded, next] = readString(blob, 0);
    if (type === 'ssh-rsa') {
      const [, afterE] = readString(blob, next);
      const [modulus] = readString(blob, afterE);
      if ((modulus.length - (modulus[0] === 0 ? 1 : 0)) * 8 < 2048) throw invalidInput('publicKey', 'RSA keys must have at least 2048 bits');
    } else if (type === 'ssh-ed25519') {
      const [point] = readString(blob, next);
      if (point.length !== 32) throw new Error('bad ed25519 key');
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'invalid_input') throw err;
    throw invalidInput('publicKey', 'key data is malformed');
  }
  if (embedded.toString() !== type) throw invalidInput('publicKey', 'key type does not match the key data');
  const comment = rest.join(' ').slice(0, 256);
  const fingerprint = 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return { type, publicKey: `${type} ${blob.toString('base64')}${comment ? ' ' + comment : ''}`, comment, fingerprint };
}
