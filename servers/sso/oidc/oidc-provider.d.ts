// oidc-provider ships no TypeScript types (and @types/oidc-provider lags the 9.x API): the
// narrow surface Cairn uses, typed loosely on purpose.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export type AdapterPayload = Record<string, any>;
  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }
  export const errors: Record<string, new (description?: string, detail?: string) => Error & { status: number; error: string; error_description?: string; expose?: boolean }>;
  export const interactionPolicy: any;
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, any>);
    issuer: string;
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<any>;
    interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, any>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
    on(event: string, listener: (...args: any[]) => void): this;
    Grant: any;
    Session: any;
    Client: any;
    AccessToken: any;
    RefreshToken: any;
  }
}
