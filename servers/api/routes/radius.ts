// RADIUS networks and NAS clients over dir.radius (core/radius.ts). Administrator-only to write
// (the issue gives Managers users, groups and systems): a NAS secret lets its holder forge
// RADIUS answers, and a network's group grants decide who gets on the Wi-Fi or VPN.
import { Type } from '@sinclair/typebox';
import { createRoute, itemRoutes, listRoute, ok204, settingRoutes, R, type RouteDef } from '../route-kit.js';
import * as S from '../schemas.js';

const networkSort = ['name', 'createdAt', 'updatedAt'] as const;
const clientSort = ['name', 'address', 'createdAt', 'updatedAt'] as const;

export const radiusRoutes: RouteDef[] = [
  ...settingRoutes({
    name: 'radius', tag: 'radius', read: 'radius.read', write: 'radius.write', schema: S.RadiusSettingsSchema,
    summary: 'RADIUS settings: whether NT hashes are kept for PEAP-MSCHAPv2.',
    get: (c) => c.dir.radius.settings(c.orgId),
    change: {
      method: 'PATCH', body: S.RadiusSettingsPatch, apply: (c, body) => c.dir.radius.setSettings(c.actx, body),
      summary: 'Turn NT-hash storage on (passwords set from then on work with PEAP-MSCHAPv2) or off (every stored NT hash is erased); If-Match honoured.',
    },
  }),

  // networks
  listRoute({
    path: 'radius-networks', tag: 'radius', read: 'radius.read', summary: 'List RADIUS networks with their group grants and replies.',
    schema: S.RadiusNetworkSchema, sort: networkSort, present: S.presentRadiusNetwork, list: (c) => c.dir.radius.listNetworks(c.orgId),
  }),
  createRoute({
    path: 'radius-networks', tag: 'radius', write: 'radius.write', summary: 'Create a RADIUS network: the groups allowed on it, per-group replies (VLAN...), EAP methods, MFA mode.',
    body: S.RadiusNetworkCreate, schema: S.RadiusNetworkSchema, present: S.presentRadiusNetwork, create: (c, body) => c.dir.radius.createNetwork(c.actx, body),
  }),
  ...itemRoutes({
    path: 'radius-networks', tag: 'radius', read: 'radius.read', write: 'radius.write', schema: S.RadiusNetworkSchema, present: S.presentRadiusNetwork,
    summary: 'One RADIUS network.',
    get: (c, id) => c.dir.radius.getNetwork(c.orgId, id),
    patch: { summary: 'Change a RADIUS network; groupIds and groupReplies are replaced whole (If-Match honoured).', body: S.RadiusNetworkPatch, update: (c, id, body) => c.dir.radius.updateNetwork(c.actx, id, body) },
    remove: { summary: 'Delete a RADIUS network that has no clients left.', run: (c, id) => c.dir.radius.deleteNetwork(c.actx, id) },
  }),

  // clients (NAS)
  listRoute({
    path: 'radius-clients', tag: 'radius', read: 'radius.read', summary: 'List RADIUS clients (never their shared secrets).',
    schema: S.RadiusClientSchema, sort: clientSort, present: S.presentRadiusClient, list: (c) => c.dir.radius.listClients(c.orgId),
  }),
  {
    method: 'POST', url: '/radius-clients', permission: 'radius.write', tag: 'radius', summary: 'Register a NAS; its shared secret (given, or generated) is in this response only.',
    schema: { body: S.RadiusClientCreate, response: R(201, S.RadiusClientWithSecret) },
    handler: async (req, reply, c) => {
      const r = await c.dir.radius.createClient(c.actx, req.body);
      reply.code(201).header('cache-control', 'no-store');
      return { client: S.presentRadiusClient(r.client), secret: r.secret };
    },
  },
  ...itemRoutes({
    path: 'radius-clients', tag: 'radius', read: 'radius.read', write: 'radius.write', schema: S.RadiusClientSchema, present: S.presentRadiusClient,
    summary: 'One RADIUS client (never its shared secret).',
    get: (c, id) => c.dir.radius.getClient(c.orgId, id),
    patch: { summary: 'Change a RADIUS client\'s name, address, network or legacy flag (If-Match honoured; the secret: POST .../secret).', body: S.RadiusClientPatch, update: (c, id, body) => c.dir.radius.updateClient(c.actx, id, body) },
  }),
  {
    method: 'POST', url: '/radius-clients/:id/secret', permission: 'radius.write', tag: 'radius', summary: 'Replace a RADIUS client\'s shared secret (given, or generated); shown once, the old one stops working.',
    schema: { params: S.IdParams, body: Type.Optional(S.RadiusSecretBody), response: R(200, S.SharedSecret) },
    handler: async (req, reply, c) => {
      const secret = await c.dir.radius.rotateClientSecret(c.actx, req.params.id, req.body?.secret);
      reply.header('cache-control', 'no-store');
      return { secret };
    },
  },
  {
    method: 'DELETE', url: '/radius-clients/:id', permission: 'radius.write', tag: 'radius', summary: 'Delete a RADIUS client.',
    schema: { params: S.IdParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.radius.deleteClient(c.actx, req.params.id);
      return ok204(reply);
    },
  },
];
