// What each admin role may do. One table, used by the API's route table (servers/api) and by
// API keys (a key never holds more than its role, its owner's current role and its scopes).
import type { AdminRole } from './admins.js';

export const permissions = [
  'users.read', 'users.write', 'users.credentials',
  'groups.read', 'groups.write',
  'systems.read', 'systems.write',
  'service_accounts.read', 'service_accounts.write',
  'radius.read', 'radius.write',
  'sso.read', 'sso.write',
  'policies.read', 'policies.write',
  'admins.read', 'admins.write',
  'api_keys.read', 'api_keys.write',
  'events.read', 'posture.read',
] as const;
export type Permission = (typeof permissions)[number];

const readAll = permissions.filter((p) => p.endsWith('.read'));

export const rolePermissions: Readonly<Record<AdminRole, ReadonlySet<Permission>>> = {
  // Everything.
  administrator: new Set(permissions),
  // Users, groups, memberships, systems.
  manager: new Set<Permission>(['users.read', 'users.write', 'users.credentials', 'groups.read', 'groups.write', 'systems.read', 'systems.write']),
  // Reset password, unlock, reset MFA; read users and groups.
  help_desk: new Set<Permission>(['users.read', 'users.credentials', 'groups.read']),
  // Read everything (secrets are never readable by anyone), including the audit trail.
  read_only: new Set<Permission>(readAll),
};

export function isPermission(p: string): p is Permission {
  return (permissions as readonly string[]).includes(p);
}

/** Roles ordered by what they may do: a key or a new admin can be given at most its creator's. */
export function roleCovers(holder: AdminRole, wanted: AdminRole): boolean {
  for (const p of rolePermissions[wanted]) if (!rolePermissions[holder].has(p)) return false;
  return true;
}
