// The directory's domain types: what front-ends see. No SQL, no protocol.

export type UserState = 'active' | 'suspended' | 'locked' | 'staged';
export const userStates: readonly UserState[] = ['active', 'suspended', 'locked', 'staged'];

export interface SshKey {
  id: string;
  type: string; // ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...
  publicKey: string; // the full authorized_keys line without options: "<type> <base64> [comment]"
  comment: string;
  fingerprint: string; // SHA256:<base64, no padding>, as ssh-keygen -l prints it
  createdAt: Date;
}

export interface User {
  id: string;
  orgId: string;
  username: string;
  displayName: string;
  email: string | null;
  state: UserState;
  lockedUntil: Date | null;
  uidNumber: number;
  gidNumber: number;
  homeDirectory: string;
  loginShell: string;
  hasPassword: boolean;
  passwordChangedAt: Date | null;
  /** When the password expires under the current policy; null when it never does. */
  passwordExpiresAt: Date | null;
  mustChangePassword: boolean;
  totpEnrolled: boolean;
  sshKeys: SshKey[];
  groupIds: string[];
  customAttributes: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

export interface Group {
  id: string;
  orgId: string;
  name: string;
  gidNumber: number;
  description: string;
  memberIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type SystemState = 'pending' | 'enrolled' | 'disabled';
export interface System {
  id: string;
  orgId: string;
  hostname: string;
  os: string;
  state: SystemState;
  agentVersion: string | null;
  lastContactAt: Date | null;
  loginGroupIds: string[];
  sudoGroupIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** Things a group can be given access to. */
export type ResourceType = 'system' | 'radius_network' | 'sso_app' | 'ldap';
export interface ResourceRef {
  type: ResourceType;
  id: string;
}

export interface ServiceAccount {
  id: string;
  orgId: string;
  name: string;
  description: string;
  /** e.g. 'read_directory', 'password_modify' */
  permissions: string[];
  state: 'active' | 'disabled';
  createdAt: Date;
  updatedAt: Date;
}

export type Protocol = 'ldap' | 'radius' | 'sso' | 'portal' | 'admin';
export const protocols: readonly Protocol[] = ['ldap', 'radius', 'sso', 'portal', 'admin'];

export interface PasswordPolicy {
  minLength: number;
  /** How many of the four classes (lower, upper, digit, special) a password must contain. */
  minClasses: number;
  notContainUsername: boolean;
  /** The last N passwords may not be reused. */
  historyCount: number;
  /** Days until a password expires; 0 = never. */
  maxAgeDays: number;
  /** Days before expiry that clients start warning (LDAP shadowWarning, the password policy control); 0 = no warning. */
  expiryWarningDays: number;
  /** Failed attempts from one source before that (user, source) pair is locked. */
  lockoutThreshold: number;
  lockoutMinutes: number;
}

/**
 * How a service asks for a second factor: from everyone (unenrolled users enrol first or are
 * refused), only from users who have enrolled one, or never.
 */
export type MfaMode = 'required' | 'optional' | 'off';
export const mfaModes: readonly MfaMode[] = ['required', 'optional', 'off'];

export interface MfaPolicy {
  /** Per service: how it asks for a second factor. */
  mode: Record<Protocol, MfaMode>;
}

/** How long a browser stays signed in to SSO (login pages, portal, OIDC and SAML). */
export interface SsoSessionPolicy {
  /** Longest a session lives before the password is asked again. */
  maxAgeMinutes: number;
  /** A session unused this long ends. */
  idleMinutes: number;
}

export type AccessAction = 'allow' | 'require_mfa' | 'deny';
export interface IpList {
  id: string;
  orgId: string;
  name: string;
  cidrs: string[];
}
export interface AccessRule {
  id: string;
  orgId: string;
  name: string;
  /** Lower runs first; the first matching rule decides. */
  priority: number;
  /** '*' matches every protocol. */
  protocol: Protocol | '*';
  /** null = every user. */
  groupId: string | null;
  /** null = every address. */
  ipListId: string | null;
  /** true: the rule matches when the address is NOT in the list ("outside the office"). */
  negateIpList: boolean;
  action: AccessAction;
}

export interface Principal {
  /** Who acts: an admin, an API key, a directory user, the CLI, the system itself. */
  type: 'admin' | 'api_key' | 'user' | 'service_account' | 'cli' | 'system' | 'anonymous';
  id: string | null;
  name: string | null;
}

/** Who did it and from where; every mutation takes one and writes it to the audit trail. */
export interface ActionContext {
  orgId: string;
  actor: Principal;
  clientIp: string | null;
  service: string; // 'api', 'cli', 'ldap', ...
  keyId?: string;
}

export interface AuditEvent {
  seq: number;
  id: string;
  timestamp: Date;
  orgId: string;
  eventType: string;
  service: string;
  initiatedBy: { type: string; id: string | null; username: string | null; email: string | null };
  resource: { type: string; id: string | null; name: string | null } | null;
  clientIp: string | null;
  success: boolean;
  mfaMeta: { type: string } | null;
  changes: Record<string, unknown> | null;
  reason: string | null;
}
