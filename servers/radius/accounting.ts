// Accounting (RFC 2866): the request authenticator was verified by the server; here the
// session event becomes an audit event, and the Accounting-Response is sent only after
// that write committed (an unrecorded session must be retransmitted by the NAS).
import type { Directory, Org } from '../../core/index.js';
import { Attr, Code, getInt, getString, type Packet } from './codec.js';
import { auditDetail, clientIpFor } from './access.js';
import type { Reply, Request } from './server.js';

const statusNames: Record<number, string> = { 1: 'start', 2: 'stop', 3: 'interim', 7: 'on', 8: 'off' };

function octets(p: Packet, low: number, high: number): number | undefined {
  const lo = getInt(p, low);
  if (lo === undefined) return undefined;
  return (getInt(p, high) ?? 0) * 2 ** 32 + lo;
}

export class AccountingHandler {
  constructor(readonly dir: Directory, readonly org: Org) {}

  async handle(req: Request): Promise<Reply> {
    const p = req.packet;
    const status = getInt(p, Attr.AcctStatusType);
    const name = status === undefined ? undefined : statusNames[status];
    // Unknown status types are acknowledged (the NAS would retry forever) but recorded as such.
    const username = getString(p, Attr.UserName)?.slice(0, 64) ?? null;
    const user = username && /^[a-z_][a-z0-9_.-]{0,31}$/i.test(username) ? await this.dir.users.findByUsername(this.org.id, username) : null;
    const changes: Record<string, string | number> = { ...auditDetail(req) };
    const sessionId = getString(p, Attr.AcctSessionId);
    if (sessionId) changes.sessionId = sessionId.slice(0, 64);
    const inOctets = octets(p, Attr.AcctInputOctets, Attr.AcctInputGigawords);
    const outOctets = octets(p, Attr.AcctOutputOctets, Attr.AcctOutputGigawords);
    if (inOctets !== undefined) changes.inputOctets = inOctets;
    if (outOctets !== undefined) changes.outputOctets = outOctets;
    const time = getInt(p, Attr.AcctSessionTime);
    if (time !== undefined) changes.sessionTime = time;
    const cause = getInt(p, Attr.AcctTerminateCause);
    if (cause !== undefined) changes.terminateCause = cause;
    if (!user && username) changes.userName = username;
    if (!name) changes.statusType = status ?? -1;
    await this.dir.audit.record(
      {
        orgId: this.org.id,
        actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'system', id: null, name: req.client.name },
        clientIp: clientIpFor(req),
        service: 'radius',
      },
      {
        eventType: `radius.accounting.${name ?? 'other'}`, success: true,
        actorEmail: user?.email ?? null,
        // No `resource`: an accounting record changes nothing, and the change-feed follower
        // (core/feed-follow.ts) would otherwise read each one as a network update.
        changes: { ...changes, networkId: req.network.id, network: req.network.name },
      },
    );
    return { code: Code.AccountingResponse, attributes: [] };
  }
}
