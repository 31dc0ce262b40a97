// The change feed: front-ends keep caches current and cut access the moment a user is
// suspended. In-process now; with several instances on PostgreSQL this becomes LISTEN/NOTIFY.
import { EventEmitter } from 'node:events';

export type ChangeKind = 'user' | 'group' | 'system' | 'service_account' | 'policy' | 'access_rule' | 'ip_list' | 'grant' | 'resource';
export type ChangeAction = 'created' | 'updated' | 'deleted' | 'credentials' | 'state';

export interface Change {
  kind: ChangeKind;
  action: ChangeAction;
  orgId: string;
  id: string;
}

export class ChangeFeed {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(100);
  }

  publish(change: Change): void {
    this.#emitter.emit('change', change);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#emitter.on('change', listener);
    return () => this.#emitter.off('change', listener);
  }
}
