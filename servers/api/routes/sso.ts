// SSO apps (OIDC clients, SAML service providers) over dir.sso.apps (core/sso.ts), the same
// calls as `cairn sso apps`. Administrator-only to write: an app decides where signed
// identities are sent. SAML SPs can be registered from metadata XML, parsed by the SSO server's
// own parser (servers/sso/saml/idp.ts) so the API and the IdP read metadata the same way.
import { CairnError, type SamlAppSettings } from '../../../core/index.js';
import { samlSettingsFromMetadata } from '../../sso/saml/idp.js';
import { itemRoutes, listRoute, R, type RouteDef } from '../route-kit.js';
import * as S from '../schemas.js';

/** SAML settings with those read from settings.metadataXml filled in (explicit settings win). */
function withMetadata(settings: Record<string, unknown>): Record<string, unknown> {
  if (typeof settings.metadataXml !== 'string') return settings;
  let fromMetadata: Partial<SamlAppSettings>;
  try {
    fromMetadata = samlSettingsFromMetadata(settings.metadataXml);
  } catch (err) {
    throw new CairnError('invalid_input', 'not SAML 2.0 SP metadata this server accepts (no DOCTYPE or entities; an SPSSODescriptor with an HTTP-POST ACS)', { field: 'settings.metadataXml', cause: err });
  }
  return { ...fromMetadata, ...settings };
}

const appSort = ['name', 'type', 'createdAt', 'updatedAt'] as const;

export const ssoRoutes: RouteDef[] = [
  listRoute({
    path: 'sso-apps', tag: 'sso', read: 'sso.read', summary: 'List SSO apps (OIDC clients, SAML service providers) with their group grants.',
    schema: S.SsoAppSchema, sort: appSort, present: S.presentSsoApp, list: (c) => c.dir.sso.apps.list(c.orgId),
  }),
  {
    method: 'POST', url: '/sso-apps', permission: 'sso.write', tag: 'sso',
    summary: 'Create an SSO app (a SAML SP may be registered from settings.metadataXml); a confidential OIDC client\'s secret is in this response only.',
    schema: { body: S.SsoAppCreate, response: R(201, S.SsoAppCreated) },
    handler: async (req, reply, c) => {
      const b = req.body;
      const r = await c.dir.sso.apps.create(c.actx, { ...b, settings: b.type === 'saml' ? withMetadata(b.settings) : b.settings });
      reply.code(201).header('cache-control', 'no-store');
      return { app: S.presentSsoApp(r.app), ...(r.clientSecret ? { clientSecret: r.clientSecret } : {}) };
    },
  },
  ...itemRoutes({
    path: 'sso-apps', tag: 'sso', read: 'sso.read', write: 'sso.write', schema: S.SsoAppSchema, present: S.presentSsoApp,
    summary: 'One SSO app (never a client secret).',
    get: (c, id) => c.dir.sso.apps.get(c.orgId, id),
    patch: { summary: 'Change an SSO app: display name, launch URL, granted groups (replaced whole), settings (merged; If-Match honoured).', body: S.SsoAppPatch, update: (c, id, body, current) => c.dir.sso.apps.update(c.actx, id, body.settings && current.type === 'saml' ? { ...body, settings: withMetadata(body.settings) } : body) },
    remove: { summary: 'Delete an SSO app, its grants and every token issued to it.', run: (c, id) => c.dir.sso.apps.delete(c.actx, id) },
  }),
  {
    method: 'POST', url: '/sso-apps/:id/client-secret', permission: 'sso.write', tag: 'sso',
    summary: 'New client secret for a confidential OIDC client, shown once; the previous one stops working.',
    schema: { params: S.IdParams, response: R(200, S.ClientSecret) },
    handler: async (req, reply, c) => {
      const clientSecret = await c.dir.sso.apps.rotateClientSecret(c.actx, req.params.id);
      reply.header('cache-control', 'no-store');
      return { clientSecret };
    },
  },
];
