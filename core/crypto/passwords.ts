// argon2id hashing, bounded: a cap on concurrent hashes (each holds memoryKiB) and on the
// queue behind it, and a length cap checked before any work is done.
import argon2 from 'argon2';
import { CairnError } from '../errors.js';

export interface HashingOptions {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  maxConcurrentHashes: number;
  maxQueuedHashes: number;
  maxLengthBytes: number;
}

export class PasswordTooLong extends Error {}

export class PasswordHasher {
  readonly #opts: HashingOptions;
  #running = 0;
  readonly #queue: Array<() => void> = [];
  #dummy: Promise<string> | undefined;

  constructor(opts: HashingOptions) {
    this.#opts = opts;
  }

  get params() {
    return { type: argon2.argon2id as 2, memoryCost: this.#opts.memoryKiB, timeCost: this.#opts.iterations, parallelism: this.#opts.parallelism };
  }

  tooLong(secret: string): boolean {
    return Buffer.byteLength(secret) > this.#opts.maxLengthBytes;
  }

  async #slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#opts.maxConcurrentHashes) {
      if (this.#queue.length >= this.#opts.maxQueuedHashes) {
        throw new CairnError('rate_limited', 'too many authentications in progress; try again');
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#queue.shift();
      if (next) next(); // hand our slot over
      else this.#running--;
    }
  }

  async hash(secret: string): Promise<string> {
    if (this.tooLong(secret)) throw new PasswordTooLong();
    return this.#slot(() => argon2.hash(secret, this.params));
  }

  /** Constant work whether or not there is a stored hash: unknown users cost the same. */
  async verify(storedHash: string | null, secret: string): Promise<boolean> {
    if (this.tooLong(secret)) return false;
    const hash = storedHash ?? (await (this.#dummy ??= argon2.hash('cairn-dummy-password', this.params)));
    const ok = await this.#slot(() => argon2.verify(hash, secret).catch(() => false));
    return ok && storedHash !== null;
  }

  needsRehash(storedHash: string): boolean {
    return argon2.needsRehash(storedHash, {
      memoryCost: this.#opts.memoryKiB,
      timeCost: this.#opts.iterations,
      parallelism: this.#opts.parallelism,
    } as Parameters<typeof argon2.needsRehash>[1]) || !storedHash.startsWith('$argon2id$');
  }
}
