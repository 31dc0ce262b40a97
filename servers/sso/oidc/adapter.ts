// oidc-provider's storage adapter over the core's SsoStore (core/sso.ts): tokens, codes, grants,
// sessions and interactions live in SQLite/PostgreSQL, so they survive a restart and are shared
// by every instance. Clients are not stored here: they are Cairn SSO apps (see provider.ts).
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { isCairnError, type Directory } from '../../../core/index.js';

/** The store is down: OAuth's temporarily_unavailable with HTTP 503, never a server_error. */
export function storeDown(err: unknown): never {
  if (isCairnError(err) && (err.code === 'unavailable' || err.code === 'rate_limited')) {
    const e = new errors.TemporarilyUnavailable('the directory is temporarily unavailable') as unknown as Error & { status: number; statusCode: number; expose: boolean };
    e.status = 503;
    e.statusCode = 503;
    e.expose = true;
    throw e;
  }
  throw err;
}
const guard = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
  try {
    return await fn(...a);
  } catch (err) {
    return storeDown(err);
  }
};

/** Models whose consume() must be won by exactly one caller. */
const SINGLE_USE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest']);

export function adapterFactory(dir: Directory, clientFinder: (id: string) => Promise<AdapterPayload | undefined>) {
  const raw = dir.sso.store;
  const store = {
    upsert: guard(raw.upsert.bind(raw)), find: guard(raw.find.bind(raw)), findByUid: guard(raw.findByUid.bind(raw)),
    findByUserCode: guard(raw.findByUserCode.bind(raw)), consume: guard(raw.consume.bind(raw)), destroy: guard(raw.destroy.bind(raw)),
    revokeByGrantId: guard(raw.revokeByGrantId.bind(raw)),
  };
  const findClient = guard(clientFinder);
  return class CairnAdapter implements Adapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await store.upsert(this.model, id, payload as Record<string, unknown>, expiresIn);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClient(id);
      const e = await store.find(this.model, id);
      if (!e) return undefined;
      return { ...(e.payload as AdapterPayload), ...(e.consumedAt ? { consumed: Math.floor(e.consumedAt / 1000) } : {}) };
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const e = await store.findByUserCode(this.model, userCode);
      return e ? { ...(e.payload as AdapterPayload), ...(e.consumedAt ? { consumed: Math.floor(e.consumedAt / 1000) } : {}) } : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const e = await store.findByUid(this.model, uid);
      return e ? (e.payload as AdapterPayload) : undefined;
    }

    /**
     * oidc-provider reads, checks `consumed`, then calls consume(): two parallel redemptions can
     * both pass the check. The compare-and-set decides; the loser gets invalid_grant and, as for
     * any replay, the whole grant is revoked (so the winner's tokens die too: RFC 6749 §4.1.2).
     */
    async consume(id: string): Promise<void> {
      const won = await store.consume(this.model, id);
      if (!won && SINGLE_USE.has(this.model)) {
        const e = await store.find(this.model, id);
        const grantId = e?.payload.grantId;
        if (typeof grantId === 'string') await store.revokeByGrantId(grantId);
        throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already consumed`);
      }
    }

    async destroy(id: string): Promise<void> {
      await store.destroy(this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.revokeByGrantId(grantId);
    }
  };
}
