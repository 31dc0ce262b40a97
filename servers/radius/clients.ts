// The NAS table in memory: clients (with unsealed secrets) and their networks, reloaded when
// the change feed says a RADIUS resource changed and at least every `refreshMs`. When the
// store is down the last good table keeps serving (secrets are needed to stay silent
// correctly; authentication itself still needs the store).
import ipaddr from 'ipaddr.js';
import type { Directory, Logger } from '../../core/index.js';
import { normaliseIp, scrubError } from '../../core/index.js';
import type { RadiusClientWithSecret, RadiusNetwork, RadiusRepository } from '../../core/radius.js';

export interface ClientEntry extends RadiusClientWithSecret {
  net: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

export class ClientTable {
  #clients: ClientEntry[] = [];
  #networks = new Map<string, RadiusNetwork>();
  #loadedAt = 0;
  #loading: Promise<void> | null = null;
  #dirty = true;
  readonly #unsubscribe: () => void;

  constructor(
    readonly dir: Directory,
    readonly repo: RadiusRepository,
    readonly orgId: string,
    readonly log: Logger,
    readonly refreshMs = 60_000,
  ) {
    this.#unsubscribe = dir.feed.subscribe((c) => {
      if (c.orgId === orgId && (c.kind === 'resource' || c.kind === 'grant' || c.kind === 'group')) this.#dirty = true;
    });
  }

  close() {
    this.#unsubscribe();
    for (const c of this.#clients) c.secret.fill(0);
  }

  async #load(): Promise<void> {
    try {
      const [clients, networks] = await Promise.all([this.repo.clientsWithSecrets(this.orgId), this.repo.listNetworks(this.orgId)]);
      const entries: ClientEntry[] = [];
      for (const c of clients) {
        const [addr, bits] = c.address.includes('/') ? ipaddr.parseCIDR(c.address) : [ipaddr.parse(c.address), -1];
        entries.push({ ...c, net: [addr, bits === -1 ? (addr.kind() === 'ipv4' ? 32 : 128) : bits] });
      }
      // Most specific prefix first: a /32 for one NAS beats the /24 of its building.
      entries.sort((a, b) => b.net[1] - a.net[1]);
      const old = this.#clients;
      this.#clients = entries;
      this.#networks = new Map(networks.map((n) => [n.id, n]));
      this.#loadedAt = Date.now();
      this.#dirty = false;
      for (const c of old) c.secret.fill(0);
    } catch (err) {
      this.log.warn({ err: scrubError(err) }, 'radius: could not reload clients; keeping the last table');
      this.#loadedAt = Date.now() - this.refreshMs + 5_000; // retry in 5 s
    }
  }

  async refresh(force = false): Promise<void> {
    if (!force && !this.#dirty && Date.now() - this.#loadedAt < this.refreshMs) return;
    this.#loading ??= this.#load().finally(() => (this.#loading = null));
    await this.#loading;
  }

  async lookup(address: string): Promise<{ client: ClientEntry; network: RadiusNetwork } | null> {
    await this.refresh();
    const addr = normaliseIp(address);
    if (!addr) return null;
    for (const c of this.#clients) {
      const [net, bits] = c.net;
      if (net.kind() === addr.kind() && addr.match(net as never, bits)) {
        const network = this.#networks.get(c.networkId);
        return network ? { client: c, network } : null;
      }
    }
    return null;
  }
}
