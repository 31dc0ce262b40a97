// Encryption at rest for secrets the server must read back (TOTP seeds, RADIUS secrets,
// signing keys): AES-256-GCM under the master key, which lives outside the database.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { CairnError } from '../errors.js';

const VERSION = 'v1';

export class SecretBox {
  readonly #key: Buffer;
  /** Short id of the key, stored with each ciphertext so a rotation can find old ones. */
  readonly keyId: string;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new CairnError('internal', 'master key must be 32 bytes', { expose: false });
    this.#key = Buffer.from(masterKey);
    this.keyId = createHash('sha256').update(masterKey).digest('hex').slice(0, 8);
  }

  /** `aad` binds the ciphertext to its row (e.g. "totp:<userId>") so it cannot be moved. */
  encrypt(plain: Buffer | string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return [VERSION, this.keyId, iv.toString('base64'), body.toString('base64'), cipher.getAuthTag().toString('base64')].join('.');
  }

  decrypt(sealed: string, aad: string): Buffer {
    const [version, keyId, iv, body, tag] = sealed.split('.');
    if (version !== VERSION || !iv || !body || !tag) throw new CairnError('internal', 'unreadable sealed secret', { expose: false });
    if (keyId !== this.keyId) throw new CairnError('internal', `secret sealed with another master key (${keyId})`, { expose: false });
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
    } catch (err) {
      throw new CairnError('internal', 'sealed secret failed authentication', { cause: err, expose: false });
    }
  }

  /** A key for one purpose (e.g. the API key pepper), derived with HKDF-SHA256; never stored. */
  deriveKey(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `cairn:${label}`, 32));
  }

  // Printing a SecretBox must never show the key.
  toJSON() {
    return { keyId: this.keyId };
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `SecretBox(${this.keyId})`;
  }
}
