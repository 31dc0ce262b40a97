// SSO apps (OIDC clients, SAML service providers) over dir.sso.apps (core/sso.ts), the same
// calls as `cairn sso apps`. Administrator-only to write: an app decides where signed
// identities are sent. SAML SPs can be registered from metadata XML, parsed by the SSO server's
// own parser (servers/sso/saml/idp.ts) so the API and the IdP read metadata the same way.
import { CairnError, type SamlAppSettings } from '../../../core/index.js';
import { samlSettingsFromMetadata } from '../../sso/saml/idp.js';
import { checkIfMatch, ok204, pageLimit, pageSorted, R, sortedListQuery, withEtag, type RouteDef } from '../route-kit.js';
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
  {
    method: 'GET', url: '/sso-apps', permission: 'sso.read', tag: 'sso', summary: 'List SSO apps (OIDC clients, SAML service providers) with their group grants.',
    schema: { querystring: sortedListQuery(appSort), response: R(200, S.Page(S.SsoAppSchema)) },
    handler: async (req, _reply, c) => {
      const p = pageSorted(await c.dir.sso.apps.list(c.orgId), appSort, req.query, pageLimit(c, req.query.limit));
      return { items: p.items.map(S.presentSsoApp), nextCursor: p.nextCursor };
    },
  },
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
  {
    method: 'GET', url: '/sso-apps/:id', permission: 'sso.read', tag: 'sso', summary: 'One SSO app (never a client secret).',
    schema: { params: S.IdParams, response: R(200, S.SsoAppSchema) },
    handler: async (req, reply, c) => withEtag(reply, S.presentSsoApp(await c.dir.sso.apps.get(c.orgId, req.params.id))),
  },
  {
    method: 'PATCH', url: '/sso-apps/:id', permission: 'sso.write', tag: 'sso',
    summary: 'Change an SSO app: display name, launch URL, granted groups (replaced whole), settings (merged; If-Match honoured).',
    schema: { params: S.IdParams, body: S.SsoAppPatch, response: R(200, S.SsoAppSchema) },
    handler: async (req, reply, c) => {
      const current = await c.dir.sso.apps.get(c.orgId, req.params.id);
      checkIfMatch(req, S.presentSsoApp(current));
      const patch = req.body.settings && current.type === 'saml' ? { ...req.body, settings: withMetadata(req.body.settings) } : req.body;
      return withEtag(reply, S.presentSsoApp(await c.dir.sso.apps.update(c.actx, req.params.id, patch)));
    },
  },
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
  {
    method: 'DELETE', url: '/sso-apps/:id', permission: 'sso.write', tag: 'sso', summary: 'Delete an SSO app, its grants and every token issued to it.',
    schema: { params: S.IdParams, response: R(204, S.NoContent) },
    handler: async (req, reply, c) => {
      await c.dir.sso.apps.delete(c.actx, req.params.id);
      return ok204(reply);
    },
  },
];
