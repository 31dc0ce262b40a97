// Every request and response shape of the API, in TypeBox. Request objects are
// additionalProperties:false (no mass assignment; read-only fields such as id, uidNumber,
// timestamps are simply not in the create/update schemas, so sending them is rejected and the
// problem names the field). Response schemas decide what is serialised: nothing unlisted leaves.
import { Type, type TSchema } from '@sinclair/typebox';
import {
  adminRoles, eapMethods, mfaModes, oidcScopes, permissions, protocols, ssoSessionPolicyLimits,
  type Admin, type ApiKey, type AccessRule, type Group, type IpList, type RadiusClient, type RadiusNetwork, type ServiceAccount, type SsoApp, type System, type User,
} from '../../core/index.js';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' });
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const IdParams = Type.Object({ id: Id }, strict);
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Items per page (capped at api.pageSizeMax).' })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'nextCursor of the previous page.' })),
};
export const Page = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) }, strict);

// --- users ---------------------------------------------------------------------------------
const Username = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z_][a-z0-9_.-]{0,31}$' });
const CustomAttributes = Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9-]{0,63}$' }), Type.String({ maxLength: 1024 }), { maxProperties: 50 });
export const UserState = Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('locked'), Type.Literal('staged')]);
export const SshKeySchema = Type.Object({
  id: Type.String(), type: Type.String(), publicKey: Type.String(), comment: Type.String(), fingerprint: Type.String(), createdAt: DateTime,
}, strict);
export const SecurityKeySchema = Type.Object({
  id: Type.String(), name: Type.String(), createdAt: DateTime, lastUsedAt: Nullable(DateTime),
}, { ...strict, description: 'A WebAuthn security key or passkey the user registered in the portal (its public key is not shown).' });
export const UserSchema = Type.Object({
  id: Type.String(), username: Type.String(), displayName: Type.String(), email: Nullable(Type.String()), state: UserState,
  lockedUntil: Nullable(DateTime), uidNumber: Type.Integer(), gidNumber: Type.Integer(), homeDirectory: Type.String(), loginShell: Type.String(),
  hasPassword: Type.Boolean(), passwordChangedAt: Nullable(DateTime), passwordExpiresAt: Nullable(DateTime), mustChangePassword: Type.Boolean(),
  totpEnrolled: Type.Boolean(), sshKeys: Type.Array(SshKeySchema), groupIds: Type.Array(Type.String()), customAttributes: CustomAttributes,
  createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const UserCreate = Type.Object({
  username: Username,
  displayName: Type.Optional(Type.String({ maxLength: 256 })),
  email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('staged')])),
  homeDirectory: Type.Optional(Type.String({ maxLength: 4096 })),
  loginShell: Type.Optional(Type.String({ maxLength: 4096 })),
  mustChangePassword: Type.Optional(Type.Boolean()),
  customAttributes: Type.Optional(CustomAttributes),
}, strict);
export const UserPatch = Type.Object({
  displayName: Type.Optional(Type.String({ maxLength: 256 })),
  email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
  homeDirectory: Type.Optional(Type.String({ maxLength: 4096 })),
  loginShell: Type.Optional(Type.String({ maxLength: 4096 })),
  mustChangePassword: Type.Optional(Type.Boolean()),
  customAttributes: Type.Optional(CustomAttributes),
}, { ...strict, minProperties: 1 });
export const UserFilters = { state: Type.Optional(UserState), search: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) };
export const PasswordReset = Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }), mustChangePassword: Type.Optional(Type.Boolean()) }, strict);
export const MustChange = Type.Object({ mustChangePassword: Type.Boolean() }, strict);
export const SshKeyCreate = Type.Object({ publicKey: Type.String({ minLength: 1, maxLength: 16384 }) }, strict);
export const SshKeyParams = Type.Object({ id: Id, keyId: Id }, strict);
export const TotpBegin = Type.Object({ secret: Type.String(), otpauthUri: Type.String() }, strict);
export const TotpConfirm = Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, strict);
export const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String()) }, strict);

export function presentUser(u: User) {
  return {
    id: u.id, username: u.username, displayName: u.displayName, email: u.email, state: u.state, lockedUntil: iso(u.lockedUntil),
    uidNumber: u.uidNumber, gidNumber: u.gidNumber, homeDirectory: u.homeDirectory, loginShell: u.loginShell, hasPassword: u.hasPassword,
    passwordChangedAt: iso(u.passwordChangedAt), passwordExpiresAt: iso(u.passwordExpiresAt), mustChangePassword: u.mustChangePassword,
    totpEnrolled: u.totpEnrolled, sshKeys: u.sshKeys.map((k) => ({ ...k, createdAt: iso(k.createdAt)! })), groupIds: u.groupIds,
    customAttributes: u.customAttributes, createdAt: iso(u.createdAt)!, updatedAt: iso(u.updatedAt)!,
  };
}

// --- groups --------------------------------------------------------------------------------
export const GroupSchema = Type.Object({
  id: Type.String(), name: Type.String(), gidNumber: Type.Integer(), description: Type.String(), memberIds: Type.Array(Type.String()),
  createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const GroupCreate = Type.Object({ name: Username, description: Type.Optional(Type.String({ maxLength: 1024 })) }, strict);
export const GroupPatch = Type.Object({ description: Type.String({ maxLength: 1024 }) }, strict);
export const MemberParams = Type.Object({ id: Id, userId: Id }, strict);
export const presentGroup = (g: Group) => ({
  id: g.id, name: g.name, gidNumber: g.gidNumber, description: g.description, memberIds: g.memberIds, createdAt: iso(g.createdAt)!, updatedAt: iso(g.updatedAt)!,
});

// --- systems -------------------------------------------------------------------------------
const SystemState = Type.Union([Type.Literal('pending'), Type.Literal('enrolled'), Type.Literal('disabled')]);
const GroupIds = Type.Array(Id, { maxItems: 500 });
export const SystemSchema = Type.Object({
  id: Type.String(), hostname: Type.String(), os: Type.String(), state: SystemState, agentVersion: Nullable(Type.String()),
  lastContactAt: Nullable(DateTime), loginGroupIds: Type.Array(Type.String()), sudoGroupIds: Type.Array(Type.String()),
  createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const SystemCreate = Type.Object({
  hostname: Type.String({ minLength: 1, maxLength: 253 }), os: Type.Optional(Type.String({ maxLength: 128 })), state: Type.Optional(SystemState),
  loginGroupIds: Type.Optional(GroupIds), sudoGroupIds: Type.Optional(GroupIds),
}, strict);
export const SystemPatch = Type.Object({
  os: Type.Optional(Type.String({ maxLength: 128 })), state: Type.Optional(SystemState), loginGroupIds: Type.Optional(GroupIds), sudoGroupIds: Type.Optional(GroupIds),
}, { ...strict, minProperties: 1 });
export const presentSystem = (s: System) => ({
  id: s.id, hostname: s.hostname, os: s.os, state: s.state, agentVersion: s.agentVersion, lastContactAt: iso(s.lastContactAt),
  loginGroupIds: s.loginGroupIds, sudoGroupIds: s.sudoGroupIds, createdAt: iso(s.createdAt)!, updatedAt: iso(s.updatedAt)!,
});

// --- service accounts ----------------------------------------------------------------------
const ServicePermission = Type.Union([Type.Literal('read_directory'), Type.Literal('password_modify')]);
export const ServiceAccountSchema = Type.Object({
  id: Type.String(), name: Type.String(), description: Type.String(), permissions: Type.Array(Type.String()), state: Type.String(),
  createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const ServiceAccountCreate = Type.Object({
  name: Username, description: Type.Optional(Type.String({ maxLength: 1024 })), permissions: Type.Optional(Type.Array(ServicePermission, { maxItems: 10 })),
}, strict);
export const ServiceAccountPatch = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 1024 })), permissions: Type.Optional(Type.Array(ServicePermission, { maxItems: 10 })),
  state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
}, { ...strict, minProperties: 1 });
export const ServiceAccountWithPassword = Type.Object({ account: ServiceAccountSchema, password: Type.String({ description: 'Shown once.' }) }, strict);
export const GeneratedPassword = Type.Object({ password: Type.String({ description: 'Shown once.' }) }, strict);
export const presentServiceAccount = (a: ServiceAccount) => ({
  id: a.id, name: a.name, description: a.description, permissions: a.permissions, state: a.state, createdAt: iso(a.createdAt)!, updatedAt: iso(a.updatedAt)!,
});

// --- RADIUS networks and clients -----------------------------------------------------------
// A network is bound to user groups (groupIds: who may connect) and gives reply attributes per
// group; a client (NAS) sends from an address into one network with a shared secret that is
// written (or generated) and shown once, never read back.
const RadiusName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$' });
const RadiusMfaMode = Type.Union([Type.Literal('appended'), Type.Literal('challenge')], { description: 'appended: password+code in one field; challenge: Access-Challenge for the code.' });
const EapMethods = Type.Array(Type.Union(eapMethods.map((m) => Type.Literal(m))), { maxItems: 3 });
const RadiusText = Type.String({ minLength: 1, maxLength: 253 });
const GroupReplySchema = Type.Object({
  groupId: Id, vlan: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094 })), sessionTimeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 })),
  class: Type.Optional(RadiusText), replyMessage: Type.Optional(RadiusText),
}, strict);
const GroupReplies = Type.Array(GroupReplySchema, { maxItems: 100 });
export const RadiusNetworkSchema = Type.Object({
  id: Type.String(), name: Type.String(), mfaMode: RadiusMfaMode, groupIds: Type.Array(Type.String()), groupReplies: GroupReplies,
  eapMethods: EapMethods, createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const RadiusNetworkCreate = Type.Object({
  name: RadiusName, mfaMode: Type.Optional(RadiusMfaMode), groupIds: Type.Optional(GroupIds), groupReplies: Type.Optional(GroupReplies), eapMethods: Type.Optional(EapMethods),
}, strict);
export const RadiusNetworkPatch = Type.Object({
  name: Type.Optional(RadiusName), mfaMode: Type.Optional(RadiusMfaMode), groupIds: Type.Optional(GroupIds), groupReplies: Type.Optional(GroupReplies), eapMethods: Type.Optional(EapMethods),
}, { ...strict, minProperties: 1 });
export const presentRadiusNetwork = (n: RadiusNetwork) => ({
  id: n.id, name: n.name, mfaMode: n.mfaMode, groupIds: n.groupIds, groupReplies: n.groupReplies, eapMethods: n.eapMethods,
  createdAt: iso(n.createdAt)!, updatedAt: iso(n.updatedAt)!,
});
const RadiusSecret = Type.String({ minLength: 16, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'Shared secret: 16..128 printable ASCII characters; generated when absent.' });
export const RadiusClientSchema = Type.Object({
  id: Type.String(), name: Type.String(), networkId: Type.String(), address: Type.String(), legacy: Type.Boolean(), createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const RadiusClientCreate = Type.Object({
  name: RadiusName, address: Type.String({ minLength: 1, maxLength: 64, description: 'The IP address or CIDR the NAS sends from.' }), networkId: Id,
  secret: Type.Optional(RadiusSecret), legacy: Type.Optional(Type.Boolean({ description: 'Accept requests without Message-Authenticator (Blast-RADIUS exposure).' })),
}, strict);
export const RadiusClientPatch = Type.Object({
  name: Type.Optional(RadiusName), address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), networkId: Type.Optional(Id), legacy: Type.Optional(Type.Boolean()),
}, { ...strict, minProperties: 1 });
export const RadiusSecretBody = Type.Object({ secret: Type.Optional(RadiusSecret) }, strict);
export const RadiusClientWithSecret = Type.Object({ client: RadiusClientSchema, secret: Type.String({ description: 'Shown once.' }) }, strict);
export const SharedSecret = Type.Object({ secret: Type.String({ description: 'Shown once.' }) }, strict);
export const presentRadiusClient = (c: RadiusClient) => ({
  id: c.id, name: c.name, networkId: c.networkId, address: c.address, legacy: c.legacy, createdAt: iso(c.createdAt)!, updatedAt: iso(c.updatedAt)!,
});

// --- SSO apps ------------------------------------------------------------------------------
// One settings object for both kinds: the schema refuses keys neither kind has (no writing
// clientSecretHash), the core refuses keys of the other kind and checks what each needs, naming
// settings.<field>. A SAML SP can be registered from its metadata XML (settings.metadataXml):
// entity id, ACS URLs and certificate come from it unless given beside it.
const SsoAppType = Type.Union([Type.Literal('oidc'), Type.Literal('saml')]);
const SsoName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' });
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Urls = (max: number) => Type.Array(Url, { maxItems: max });
const OidcScope = Type.Union(oidcScopes.map((s) => Type.Literal(s)));
const ClientType = Type.Union([Type.Literal('public'), Type.Literal('confidential')]);
const GroupsClaim = Type.Union([Type.Literal('names'), Type.Literal('ids')]);
const NameIdFormat = Type.Union([Type.Literal('email'), Type.Literal('persistent'), Type.Literal('unspecified')]);
const SamlAttributes = Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 80 }), { maxProperties: 30, description: 'SAML attribute name → source: email, name, username, groups, firstName, lastName, id or custom:<key>.' });
const oidcSettingProps = {
  clientId: Type.String({ minLength: 1, maxLength: 128, description: 'OIDC: generated when absent; cannot change.' }), clientType: ClientType,
  redirectUris: Urls(20), postLogoutRedirectUris: Urls(20), clientCredentials: Type.Boolean(), thirdParty: Type.Boolean(),
  scopes: Type.Array(OidcScope, { maxItems: 10 }), groupsClaim: GroupsClaim,
};
const samlSettingProps = {
  entityId: Type.String({ minLength: 1, maxLength: 1024 }), acsUrls: Urls(10), sloUrl: Nullable(Type.String({ maxLength: 2048 })),
  sloBinding: Type.Union([Type.Literal('redirect'), Type.Literal('post')], { description: 'SAML: the binding of the SP\'s sloUrl (HTTP-Redirect or HTTP-POST); default redirect.' }),
  certificate: Nullable(Type.String({ maxLength: 16384, description: 'SAML: the SP signing certificate, PEM or base64.' })), wantRequestsSigned: Type.Boolean(),
  nameIdFormat: NameIdFormat, attributes: SamlAttributes, signResponse: Type.Boolean(), signAssertion: Type.Boolean(), encryptAssertion: Type.Boolean(),
  metadataXml: Type.String({ minLength: 1, maxLength: 200000, description: 'SAML: the SP metadata XML to register from.' }),
};
const SsoSettingsInput = Type.Partial(Type.Object({ ...oidcSettingProps, ...samlSettingProps }, strict), { ...strict, description: 'OIDC keys for an oidc app, SAML keys for a saml app.' });
export const OidcSettingsSchema = Type.Object({
  ...oidcSettingProps, hasClientSecret: Type.Boolean({ description: 'A confidential client has a secret (never shown after creation or rotation).' }),
}, strict);
export const SamlSettingsSchema = Type.Object({ ...samlSettingProps, metadataXml: Nullable(Type.String()) }, strict);
export const SsoAppSchema = Type.Object({
  id: Type.String(), type: SsoAppType, name: Type.String(), displayName: Type.String(), launchUrl: Type.String(), groupIds: Type.Array(Type.String()),
  settings: Type.Union([OidcSettingsSchema, SamlSettingsSchema]), createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const SsoAppCreate = Type.Object({
  type: SsoAppType, name: SsoName, displayName: Type.Optional(Type.String({ maxLength: 256 })), launchUrl: Type.Optional(Type.String({ maxLength: 2048 })),
  groupIds: Type.Optional(GroupIds), settings: SsoSettingsInput,
}, strict);
export const SsoAppPatch = Type.Object({
  displayName: Type.Optional(Type.String({ maxLength: 256 })), launchUrl: Type.Optional(Type.String({ maxLength: 2048 })), groupIds: Type.Optional(GroupIds),
  settings: Type.Optional(SsoSettingsInput),
}, { ...strict, minProperties: 1 });
export const SsoAppCreated = Type.Object({ app: SsoAppSchema, clientSecret: Type.Optional(Type.String({ description: 'A confidential OIDC client\'s secret, shown once.' })) }, strict);
export const ClientSecret = Type.Object({ clientSecret: Type.String({ description: 'Shown once; the previous secret stops working.' }) }, strict);
export function presentSsoApp(a: SsoApp) {
  const base = { id: a.id, type: a.type, name: a.name, displayName: a.displayName, launchUrl: a.launchUrl, groupIds: a.groupIds, createdAt: iso(a.createdAt)!, updatedAt: iso(a.updatedAt)! };
  if (a.type === 'saml') return { ...base, settings: a.settings };
  const { clientSecretHash, ...settings } = a.settings;
  return { ...base, settings: { ...settings, hasClientSecret: clientSecretHash !== null } };
}

// --- IP lists and access rules -------------------------------------------------------------
export const IpListSchema = Type.Object({ id: Type.String(), name: Type.String(), cidrs: Type.Array(Type.String()) }, strict);
export const IpListCreate = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }), cidrs: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 }) }, strict);
export const IpListPatch = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), cidrs: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 })) }, { ...strict, minProperties: 1 });
export const presentIpList = (l: IpList) => ({ id: l.id, name: l.name, cidrs: l.cidrs });
const ProtocolOrAny = Type.Union([Type.Literal('*'), ...protocols.map((p) => Type.Literal(p))]);
const AccessAction = Type.Union([Type.Literal('allow'), Type.Literal('require_mfa'), Type.Literal('deny')]);
export const AccessRuleSchema = Type.Object({
  id: Type.String(), name: Type.String(), priority: Type.Integer(), protocol: ProtocolOrAny, groupId: Nullable(Type.String()),
  ipListId: Nullable(Type.String()), negateIpList: Type.Boolean(), action: AccessAction,
}, strict);
export const AccessRuleCreate = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }), priority: Type.Integer({ minimum: -1000000, maximum: 1000000 }), protocol: ProtocolOrAny,
  groupId: Type.Optional(Nullable(Id)), ipListId: Type.Optional(Nullable(Id)), negateIpList: Type.Optional(Type.Boolean()), action: AccessAction,
}, strict);
export const AccessRulePatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), priority: Type.Optional(Type.Integer({ minimum: -1000000, maximum: 1000000 })),
  protocol: Type.Optional(ProtocolOrAny), groupId: Type.Optional(Nullable(Id)), ipListId: Type.Optional(Nullable(Id)), negateIpList: Type.Optional(Type.Boolean()),
  action: Type.Optional(AccessAction),
}, { ...strict, minProperties: 1 });
export const presentRule = (r: AccessRule) => ({
  id: r.id, name: r.name, priority: r.priority, protocol: r.protocol, groupId: r.groupId, ipListId: r.ipListId, negateIpList: r.negateIpList, action: r.action,
});

// --- policies ------------------------------------------------------------------------------
export const PasswordPolicySchema = Type.Object({
  minLength: Type.Integer(), minClasses: Type.Integer(), notContainUsername: Type.Boolean(), historyCount: Type.Integer(),
  maxAgeDays: Type.Integer(), expiryWarningDays: Type.Integer(), lockoutThreshold: Type.Integer(), lockoutMinutes: Type.Integer(),
}, strict);
export const PasswordPolicyPatch = Type.Object({
  minLength: Type.Optional(Type.Integer({ minimum: 8, maximum: 128 })), minClasses: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 })),
  notContainUsername: Type.Optional(Type.Boolean()), historyCount: Type.Optional(Type.Integer({ minimum: 0, maximum: 24 })),
  maxAgeDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
  expiryWarningDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 365, description: 'Days before expiry that LDAP clients (SSSD) start warning.' })), lockoutThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  lockoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10080 })),
}, { ...strict, minProperties: 1 });
const MfaMode = Type.Union(mfaModes.map((m) => Type.Literal(m)), { description: 'required: everyone; optional: users who enrolled TOTP; off: nobody' });
const MfaModes = Type.Object(Object.fromEntries(protocols.map((p) => [p, MfaMode])), strict);
const MfaModesPatch = Type.Object(Object.fromEntries(protocols.map((p) => [p, Type.Optional(MfaMode)])), { ...strict, minProperties: 1 });
export const MfaPolicySchema = Type.Object({ mode: MfaModes }, strict);
export const MfaPolicyPatch = Type.Object({ mode: MfaModesPatch }, strict);

export const LdapAccessSchema = Type.Object({
  groupIds: Type.Array(Type.String(), { description: 'Groups whose members may bind as users when ldap.requireGrant is on.' }),
}, strict);
export const LdapAccessPut = Type.Object({ groupIds: GroupIds }, strict);
export const RadiusSettingsSchema = Type.Object({
  storeNtHash: Type.Boolean({ description: 'Keep an NT hash (sealed with the master key) of passwords set from now on, for PEAP-MSCHAPv2; false erases every stored one.' }),
}, strict);
export const RadiusSettingsPatch = Type.Object({ storeNtHash: Type.Optional(Type.Boolean()) }, { ...strict, minProperties: 1 });
export const SsoSessionPolicySchema = Type.Object({ maxAgeMinutes: Type.Integer(), idleMinutes: Type.Integer() }, strict);
export const SsoSessionPolicyPatch = Type.Object({
  maxAgeMinutes: Type.Optional(Type.Integer({ minimum: ssoSessionPolicyLimits.maxAgeMinutes[0], maximum: ssoSessionPolicyLimits.maxAgeMinutes[1] })),
  idleMinutes: Type.Optional(Type.Integer({ minimum: ssoSessionPolicyLimits.idleMinutes[0], maximum: ssoSessionPolicyLimits.idleMinutes[1] })),
}, { ...strict, minProperties: 1 });

// --- admins --------------------------------------------------------------------------------
const Role = Type.Union(adminRoles.map((r) => Type.Literal(r)));
export const AdminSchema = Type.Object({
  id: Type.String(), username: Type.String(), email: Nullable(Type.String()), role: Role, state: Type.String(),
  mustChangePassword: Type.Boolean(), totpEnrolled: Type.Boolean(), createdAt: DateTime, updatedAt: DateTime,
}, strict);
export const AdminCreate = Type.Object({
  username: Username, email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))), role: Role,
  password: Type.String({ minLength: 12, maxLength: 1024 }), mustChangePassword: Type.Optional(Type.Boolean()),
}, strict);
export const AdminPatch = Type.Object({
  email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))), role: Type.Optional(Role), state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
}, { ...strict, minProperties: 1 });
export const presentAdmin = (a: Admin) => ({
  id: a.id, username: a.username, email: a.email, role: a.role, state: a.state, mustChangePassword: a.mustChangePassword,
  totpEnrolled: a.totpEnrolled, createdAt: iso(a.createdAt)!, updatedAt: iso(a.updatedAt)!,
});

// --- auth ----------------------------------------------------------------------------------
export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }),
  otp: Type.Optional(Type.String({ maxLength: 16 })),
}, strict);
export const SessionResponse = Type.Object({
  status: Type.Literal('ok'), token: Type.String(), expiresAt: DateTime, admin: AdminSchema, mustChangePassword: Type.Boolean(),
}, strict);
export const EnrollmentResponse = Type.Object({
  status: Type.Literal('totp_enrollment_required'), enrollmentToken: Type.String(), expiresAt: DateTime, totpSecret: Type.String(), otpauthUri: Type.String(),
}, strict);
export const LoginResponse = Type.Union([SessionResponse, EnrollmentResponse]);
export const EnrollConfirmBody = Type.Object({ enrollmentToken: Type.String({ minLength: 1, maxLength: 128 }), code: Type.String({ pattern: '^[0-9]{6}$' }) }, strict);
export const PasswordChangeBody = Type.Object({ currentPassword: Type.String({ minLength: 1, maxLength: 1024 }), newPassword: Type.String({ minLength: 12, maxLength: 1024 }) }, strict);
export const MeResponse = Type.Object({
  kind: Type.Union([Type.Literal('session'), Type.Literal('restricted'), Type.Literal('api_key')]),
  admin: AdminSchema, apiKeyId: Nullable(Type.String()), permissions: Type.Array(Type.String()), expiresAt: Nullable(DateTime),
}, strict);

// --- API keys ------------------------------------------------------------------------------
const Permission = Type.Union(permissions.map((p) => Type.Literal(p)));
export const ApiKeySchema = Type.Object({
  id: Type.String(), publicId: Type.String(), name: Type.String(), role: Role, scopes: Nullable(Type.Array(Type.String())), ownerAdminId: Type.String(),
  allowedCidrs: Type.Array(Type.String()), createdAt: DateTime, expiresAt: DateTime, revokedAt: Nullable(DateTime), replacedBy: Nullable(Type.String()),
  rotatedFrom: Nullable(Type.String()), lastUsedAt: Nullable(DateTime), lastUsedIp: Nullable(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('rotated'), Type.Literal('expired'), Type.Literal('revoked')]),
}, strict);
export const ApiKeyCreate = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }), role: Role, scopes: Type.Optional(Nullable(Type.Array(Permission, { maxItems: 50 }))),
  ownerAdminId: Type.Optional(Id), expiresInDays: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 36500 })),
  allowedCidrs: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
}, strict);
export const ApiKeyWithSecret = Type.Object({ key: ApiKeySchema, secret: Type.String({ description: 'The full key, shown once: cairn_<publicId>_<secret>.' }) }, strict);
export const ApiKeyRotate = Type.Object({
  overlapHours: Type.Optional(Type.Number({ minimum: 0, maximum: 100000 })), expiresInDays: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 36500 })),
}, strict);
export const ApiKeyRotated = Type.Object({ key: ApiKeySchema, secret: Type.String(), previous: ApiKeySchema }, strict);
export const RevokeAllBody = Type.Object({ otp: Type.String({ pattern: '^[0-9]{6}$' }), confirm: Type.Literal('revoke every API key') }, strict);
export const RevokeAllResponse = Type.Object({ revoked: Type.Integer() }, strict);
export const presentKey = (k: ApiKey) => ({
  id: k.id, publicId: k.publicId, name: k.name, role: k.role, scopes: k.scopes, ownerAdminId: k.ownerAdminId, allowedCidrs: k.allowedCidrs,
  createdAt: iso(k.createdAt)!, expiresAt: iso(k.expiresAt)!, revokedAt: iso(k.revokedAt), replacedBy: k.replacedBy, rotatedFrom: k.rotatedFrom,
  lastUsedAt: iso(k.lastUsedAt), lastUsedIp: k.lastUsedIp, status: k.status,
});

// --- events --------------------------------------------------------------------------------
export const EventSchema = Type.Object({
  seq: Type.Integer(), id: Type.String(), timestamp: DateTime, event_type: Type.String(), service: Type.String(), org_id: Type.String(),
  initiated_by: Type.Object({ type: Type.String(), id: Nullable(Type.String()), username: Nullable(Type.String()), email: Nullable(Type.String()) }, strict),
  resource: Nullable(Type.Object({ type: Type.String(), id: Nullable(Type.String()), name: Nullable(Type.String()) }, strict)),
  client_ip: Nullable(Type.String()), success: Type.Boolean(), mfa_meta: Nullable(Type.Object({ type: Type.String() }, strict)),
  reason: Nullable(Type.String()), changes: Nullable(Type.Object({}, { additionalProperties: true })),
}, strict);
export const EventQueryProps = {
  since: Type.Optional(DateTime), until: Type.Optional(DateTime),
  event_type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), actor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  resource: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), success: Type.Optional(Type.Boolean()),
};
export const EventQuery = Type.Object({ ...EventQueryProps, ...PageQuery, order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])) }, strict);
export const ExportQuery = Type.Object({ ...EventQueryProps, after_seq: Type.Optional(Type.Integer({ minimum: 0 })) }, strict);

// --- posture -------------------------------------------------------------------------------
export const PostureSchema = Type.Object({
  generatedAt: DateTime, passed: Type.Integer(), failed: Type.Integer(),
  checks: Type.Array(Type.Object({
    id: Type.String(), title: Type.String(), status: Type.Union([Type.Literal('pass'), Type.Literal('fail')]), finding: Type.String(), why: Type.String(),
    frameworks: Type.Object({ cis: Type.Array(Type.String()), nist80053: Type.Array(Type.String()), hipaa: Type.Array(Type.String()), gdpr: Type.Array(Type.String()) }, strict),
  }, strict)),
}, strict);

export const NoContent = Type.Null({ description: 'No content' });
export const Empty = Type.Object({}, strict);
