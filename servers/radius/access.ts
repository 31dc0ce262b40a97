// Access-Request → the core's one authenticate() decision → Accept / Reject / Challenge.
// PAP (with the TOTP appended or an Access-Challenge round trip) here; EAP in eap/.
import type { AuthResult, Directory, Org, User } from '../../core/index.js';
import { normaliseIp } from '../../core/index.js';
import type { RadiusNetwork } from '../../core/radius.js';
import { Attr, Code, decodeUserPassword, get, getString, intAttr, attr, taggedIntAttr, type Attribute } from './codec.js';
import { SilentDrop, type Reply, type Request } from './server.js';

/** State attribute prefix for a PAP challenge: the core's single-use token follows it. */
const STATE_PREFIX = 'cairn-otp:';
const TUNNEL_TYPE_VLAN = 13;
/** No C0/C1 control characters, no U+FFFD (what invalid UTF-8 decodes to). */
const PLAUSIBLE = /^[^\u0000-\u001f\u007f-\u009f\ufffd]+$/u;
const TUNNEL_MEDIUM_IEEE802 = 6;

export interface AccessOptions {
  dir: Directory;
  org: Org;
  rejectDelayMs: number;
  challengePrompt: string;
  passwordExpiredMessage: string;
}

/**
 * The address conditional access and lockout see. A VPN concentrator puts the user's own
 * public address in Calling-Station-Id: that is what "outside the office" rules are about,
 * and per-source lockout then backs off the attacker rather than the whole concentrator.
 * WiFi puts a MAC address there: then the NAS's own address is used.
 */
export function clientIpFor(req: Request): string {
  const calling = getString(req.packet, Attr.CallingStationId);
  const addr = calling ? normaliseIp(calling.trim()) : null;
  return addr ? addr.toString() : req.src.address;
}

export function auditDetail(req: Request): Record<string, string> {
  const d: Record<string, string> = { nas: req.client.name, nasIp: req.src.address };
  const calling = getString(req.packet, Attr.CallingStationId);
  if (calling) d.callingStationId = calling.slice(0, 64);
  const nasId = getString(req.packet, Attr.NasIdentifier);
  if (nasId) d.nasIdentifier = nasId.slice(0, 64);
  return d;
}

/** Reply attributes for the user's groups: per attribute, the first matching entry wins. */
export function replyAttributes(network: RadiusNetwork, user: User): Attribute[] {
  const out: Attribute[] = [];
  let vlan: number | undefined, timeout: number | undefined, cls: string | undefined, msg: string | undefined;
  for (const r of network.groupReplies) {
    if (!user.groupIds.includes(r.groupId)) continue;
    vlan ??= r.vlan;
    timeout ??= r.sessionTimeout;
    cls ??= r.class;
    msg ??= r.replyMessage;
  }
  if (vlan !== undefined) {
    out.push(taggedIntAttr(Attr.TunnelType, 0, TUNNEL_TYPE_VLAN), taggedIntAttr(Attr.TunnelMediumType, 0, TUNNEL_MEDIUM_IEEE802), attr(Attr.TunnelPrivateGroupId, String(vlan)));
  }
  if (timeout !== undefined) out.push(intAttr(Attr.SessionTimeout, timeout));
  if (cls !== undefined) out.push(attr(Attr.Class, cls));
  if (msg !== undefined) out.push(attr(Attr.ReplyMessage, msg));
  return out;
}

export class PapHandler {
  constructor(readonly o: AccessOptions) {}

  reject(): Reply {
    return { code: Code.AccessReject, attributes: [], delayMs: this.o.rejectDelayMs };
  }

  async handle(req: Request): Promise<Reply> {
    const p = req.packet;
    const userName = get(p, Attr.UserName);
    const pw = get(p, Attr.UserPassword);
    // CHAP / MS-CHAP over plain RADIUS need a reversible or NT hash: not offered.
    if (!userName || userName.length > 253 || !pw) return this.reject();
    const password = decodeUserPassword(pw, req.client.secret, p.authenticator);
    // Without Message-Authenticator (legacy client) a wrong shared secret shows only as
    // garbage here: random bytes are almost never valid UTF-8 free of control characters,
    // so such a request is dropped as a bad secret instead of counting as a failed password.
    if (!req.proven && (password === null || !PLAUSIBLE.test(password))) throw new SilentDrop('bad_authenticator_suspected');
    if (password === null) return this.reject();
    const username = userName.toString('utf8');
    const clientIp = clientIpFor(req);
    const detail = auditDetail(req);
    const resource = { type: 'radius_network' as const, id: req.network.id };

    const state = get(p, Attr.State)?.toString('latin1');
    let result: AuthResult;
    if (state?.startsWith(STATE_PREFIX)) {
      result = await this.o.dir.authenticate({
        orgId: this.o.org.id, username, protocol: 'radius', resource, clientIp, detail,
        credential: { kind: 'challenge', token: state.slice(STATE_PREFIX.length), otp: password },
      });
      // The core binds the token to the user and to RADIUS; bind it to this network too.
      if (result.decision === 'allow' && !(await this.o.dir.grants.allows(this.o.org.id, resource, result.user.groupIds))) return this.reject();
    } else {
      result = await this.o.dir.authenticate({
        orgId: this.o.org.id, username, protocol: 'radius', resource, clientIp, detail,
        credential: { kind: 'password', password, otpAppended: req.network.mfaMode === 'appended' },
        challengeSupported: req.network.mfaMode === 'challenge',
      });
    }
    return this.answer(req, result);
  }

  answer(req: Request, result: AuthResult): Reply {
    if (result.decision === 'allow') return { code: Code.AccessAccept, attributes: replyAttributes(req.network, result.user) };
    if (result.decision === 'challenge' && result.kind === 'totp') {
      return {
        code: Code.AccessChallenge,
        attributes: [attr(Attr.ReplyMessage, this.o.challengePrompt), attr(Attr.State, STATE_PREFIX + result.token)],
      };
    }
    // Enrolment and password change need a browser: the portal, not RADIUS. A user whose right
    // password has expired is told so (VPN clients show the Reply-Message), not left guessing.
    const expired = result.decision === 'challenge' ? result.kind === 'password_change' : result.reason === 'password_change_required' || result.reason === 'password_expired';
    if (expired) return { code: Code.AccessReject, attributes: [attr(Attr.ReplyMessage, this.o.passwordExpiredMessage)], delayMs: this.o.rejectDelayMs };
    return this.reject();
  }
}
