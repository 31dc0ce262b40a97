// Host agent routes (issue 7). Admins create enrolment tokens (systems.write); hosts enrol with
// one (public route, rate limited, signed by the host's new key) and then call /agent/config,
// /agent/heartbeat and DELETE /agent signed with that key (host-auth.ts). These host routes are
// 'public' in the table because their credential is not a bearer token: host-auth.ts decides.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../../config/load.js';
import { CairnError, HostAgents, type EnrolmentToken, type HostPolicy } from '../../../core/index.js';
import { authenticateHost, checkLimit, countFailure, verifyEnrolmentSignature } from '../host-auth.js';
import type { Call, RouteDef } from '../route-kit.js';
import { Id, IdParams } from '../schemas.js';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

const agentsOf = new WeakMap<Call['dir'], HostAgents>();
function agents(c: Call): HostAgents {
  let a = agentsOf.get(c.dir);
  if (!a) agentsOf.set(c.dir, (a = new HostAgents(c.dir.deps, c.dir)));
  return a;
}

// The CA hosts must trust, read the way servers/shared/tls.ts loads it.
const caCache = new WeakMap<Readonly<Config>, { pem: string; fingerprint: string }>();
function caOf(config: Readonly<Config>): { pem: string; fingerprint: string } {
  let ca = caCache.get(config);
  if (!ca) {
    const t = config.tls;
    const file = t.certFile ? t.caFile || t.certFile : join(t.dir, 'ca.crt');
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CairnError('unavailable', 'the CA certificate cannot be read', { cause: err });
    }
    ca = { pem, fingerprint: new X509Certificate(pem).fingerprint256 };
    caCache.set(config, ca);
  }
  return ca;
}

async function baseDnOf(c: Call): Promise<string> {
  if (c.config.ldap.baseDn) return c.config.ldap.baseDn;
  const org = await c.dir.defaultOrg();
  return org.domain.split('.').filter(Boolean).map((p) => `dc=${p}`).join(',');
}

/** The name the agent used to reach us, without port; only ever used for this host's own config. */
function requestHost(req: FastifyRequest): string {
  const h = String(req.headers.host ?? 'localhost');
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(h);
  if (m) return `[${m[1]}]`;
  const name = h.replace(/:\d+$/, '');
  return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : 'localhost';
}

const HostConfigSchema = Type.Object({
  configVersion: Type.String(),
  system: Type.Object({ id: Type.String(), hostname: Type.String(), state: Type.String() }, strict),
  ldap: Type.Object({
    uris: Type.Array(Type.String()), baseDn: Type.String(), usersDn: Type.String(), groupsDn: Type.String(),
    bindDn: Nullable(Type.String()), schema: Type.String(),
  }, strict),
  caPem: Type.String(),
  loginGroups: Type.Array(Type.String()),
  sudoGroups: Type.Array(Type.String()),
  syncIntervalSeconds: Type.Integer(),
  mfaForSsh: Type.Boolean(),
  rotateCredential: Type.Boolean(),
}, strict);

async function hostConfig(req: FastifyRequest, c: Call, p: HostPolicy) {
  const base = await baseDnOf(c);
  const uris = c.config.agent.ldapUris.length ? [...c.config.agent.ldapUris] : [`ldaps://${requestHost(req)}:${c.config.ldap.ldapsPort}`];
  const body = {
    system: { id: p.system.id, hostname: p.system.hostname, state: p.system.state },
    ldap: {
      uris, baseDn: base, usersDn: `ou=Users,${base}`, groupsDn: `ou=Groups,${base}`,
      bindDn: p.serviceAccountName ? `cn=${p.serviceAccountName},ou=Services,${base}` : null, schema: 'rfc2307',
    },
    caPem: caOf(c.config).pem,
    // A disabled system is told that nobody may log in and nobody may sudo.
    loginGroups: p.system.state === 'disabled' ? [] : p.loginGroups,
    sudoGroups: p.system.state === 'disabled' ? [] : p.sudoGroups,
    syncIntervalSeconds: c.config.agent.syncIntervalSeconds,
    mfaForSsh: p.mfaForSsh,
  };
  const configVersion = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32);
  // An instruction, not configuration: asking for a rotation does not change the version.
  return { configVersion, ...body, rotateCredential: p.rotateCredential };
}

const TokenSchema = Type.Object({
  id: Type.String(), description: Type.String(), loginGroupIds: Type.Array(Type.String()), sudoGroupIds: Type.Array(Type.String()),
  createdBy: Nullable(Type.String()), createdAt: DateTime, expiresAt: DateTime, usedAt: Nullable(DateTime), usedBySystemId: Nullable(Type.String()),
  revokedAt: Nullable(DateTime), state: Type.String(),
}, strict);
const presentToken = (t: EnrolmentToken) => ({
  id: t.id, description: t.description, loginGroupIds: t.loginGroupIds, sudoGroupIds: t.sudoGroupIds, createdBy: t.createdBy,
  createdAt: t.createdAt.toISOString(), expiresAt: t.expiresAt.toISOString(), usedAt: iso(t.usedAt), usedBySystemId: t.usedBySystemId,
  revokedAt: iso(t.revokedAt), state: t.revokedAt ? 'revoked' : t.usedAt ? 'used' : t.expiresAt.getTime() <= Date.now() ? 'expired' : 'active',
});

const NoContent = Type.Null();
const GroupIds = Type.Array(Id, { maxItems: 500 });

export const agentRoutes: RouteDef[] = [
  {
    method: 'POST', url: '/agent/enrolment-tokens', permission: 'systems.write', tag: 'agent',
    summary: 'Create a single-use host enrolment token (optionally bound to login and sudo groups); the token is in this response only.',
    schema: {
      body: Type.Object({
        description: Type.Optional(Type.String({ maxLength: 256 })), loginGroupIds: Type.Optional(GroupIds), sudoGroupIds: Type.Optional(GroupIds),
        ttlMinutes: Type.Optional(Type.Integer({ minimum: 1 })),
      }, strict),
      response: { 201: Type.Object({ token: TokenSchema, secret: Type.String() }, strict) },
    },
    handler: async (req, reply, c) => {
      const out = await agents(c).createToken(c.actx, req.body ?? {}, { defaultMinutes: c.config.agent.tokenDefaultMinutes, maxMinutes: c.config.agent.tokenMaxMinutes });
      reply.code(201);
      return { token: presentToken(out.token), secret: out.secret };
    },
  },
  {
    method: 'GET', url: '/agent/enrolment-tokens', permission: 'systems.read', tag: 'agent', summary: 'Enrolment tokens, newest first (never their secrets).',
    schema: { response: { 200: Type.Object({ items: Type.Array(TokenSchema) }, strict) } },
    handler: async (_req, _reply, c) => ({ items: (await agents(c).listTokens(c.orgId)).map(presentToken) }),
  },
  {
    method: 'DELETE', url: '/agent/enrolment-tokens/:id', permission: 'systems.write', tag: 'agent', summary: 'Revoke an unused enrolment token.',
    schema: { params: IdParams, response: { 204: NoContent } },
    handler: async (req, reply, c) => {
      await agents(c).revokeToken(c.actx, req.params.id);
      reply.code(204);
      return null;
    },
  },
  {
    method: 'GET', url: '/agent/ca', permission: 'public', tag: 'agent',
    summary: 'The CA certificate hosts must trust, with its SHA-256 fingerprint (the agent pins it by fingerprint on first contact).',
    schema: { response: { 200: Type.Object({ caPem: Type.String(), caFingerprint: Type.String() }, strict) } },
    handler: async (_req, _reply, c) => {
      const ca = caOf(c.config);
      return { caPem: ca.pem, caFingerprint: ca.fingerprint };
    },
  },
  {
    method: 'POST', url: '/agent/enroll', permission: 'public', tag: 'agent',
    summary: 'Enrol a host with a token; signed with the host\'s new Ed25519 key. Returns its config and its LDAP password (once).',
    schema: {
      body: Type.Object({
        token: Type.String({ minLength: 1, maxLength: 128 }), publicKey: Type.String({ minLength: 43, maxLength: 43 }),
        hostname: Type.String({ minLength: 1, maxLength: 253 }), os: Type.String({ maxLength: 128 }), agentVersion: Type.String({ maxLength: 64 }),
      }, strict),
      response: {
        201: Type.Object({ systemId: Type.String(), bindPassword: Type.String(), config: HostConfigSchema }, strict),
      },
    },
    handler: async (req, reply, c) => {
      checkLimit(c);
      if (!verifyEnrolmentSignature(req, c, req.body.publicKey)) {
        countFailure(c);
        await c.dir.audit.record(c.actx, { eventType: 'agent.enrolled', success: false, reason: 'bad_signature', resource: { type: 'system', id: null, name: String(req.body.hostname).slice(0, 253) } });
        throw new CairnError('unauthenticated', 'authentication required');
      }
      let out;
      try {
        out = await agents(c).enroll(c.actx, req.body);
      } catch (err) {
        if (err instanceof CairnError && err.code === 'unauthenticated') countFailure(c);
        throw err;
      }
      const p = await agents(c).policy(c.orgId, out.system.id);
      reply.code(201);
      return { systemId: out.system.id, bindPassword: out.password, config: await hostConfig(req, c, p) };
    },
  },
  {
    method: 'GET', url: '/agent/config', permission: 'public', tag: 'agent', summary: 'This host\'s configuration (signed host request).',
    schema: { response: { 200: HostConfigSchema } },
    handler: async (req, _reply, c) => {
      const { binding } = await authenticateHost(req, c, agents(c));
      return hostConfig(req, c, await agents(c).policy(c.orgId, binding.systemId));
    },
  },
  {
    method: 'POST', url: '/agent/heartbeat', permission: 'public', tag: 'agent', summary: 'Report a sync: agent version, applied config, changed files (signed host request).',
    schema: {
      body: Type.Object({
        agentVersion: Type.String({ maxLength: 64 }), configVersion: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
        changedFiles: Type.Array(Type.String({ maxLength: 256 }), { maxItems: 50 }), ok: Type.Boolean(), error: Type.Optional(Type.String({ maxLength: 500 })),
        os: Type.Optional(Type.String({ maxLength: 128 })),
        credentialApplied: Type.Optional(Type.Boolean()),
      }, strict),
      response: { 204: NoContent },
    },
    handler: async (req, reply, c) => {
      const { binding, actx } = await authenticateHost(req, c, agents(c));
      await agents(c).recordSync(actx, binding.systemId, req.body);
      reply.code(204);
      return null;
    },
  },
  {
    method: 'POST', url: '/agent/credential', permission: 'public', tag: 'agent',
    summary: 'Rotate this host\'s LDAP bind password (signed host request); the previous one binds until the host confirms in a heartbeat or agent.credentialOverlapSeconds pass.',
    schema: { response: { 200: Type.Object({ bindPassword: Type.String() }, strict) } },
    handler: async (req, reply, c) => {
      const { binding, actx } = await authenticateHost(req, c, agents(c));
      reply.header('cache-control', 'no-store');
      return { bindPassword: await agents(c).rotateCredential(actx, binding.systemId, c.config.agent.credentialOverlapSeconds * 1000) };
    },
  },
  {
    method: 'POST', url: '/systems/:id/rotate-credential', permission: 'systems.write', tag: 'agent',
    summary: 'Ask an enrolled host to rotate its LDAP bind password at its next sync.',
    schema: { params: IdParams, response: { 202: Type.Object({ rotationRequested: Type.Boolean() }, strict) } },
    handler: async (req, reply, c) => {
      await agents(c).requestRotation(c.actx, req.params.id);
      reply.code(202);
      return { rotationRequested: true };
    },
  },
  {
    method: 'DELETE', url: '/agent', permission: 'public', tag: 'agent', summary: 'Deregister this host: its LDAP credential is deleted and the system removed (signed host request).',
    schema: { response: { 204: NoContent } },
    handler: async (req, reply, c) => {
      const { binding, actx } = await authenticateHost(req, c, agents(c));
      await agents(c).deregister(actx, binding.systemId);
      reply.code(204);
      return null;
    },
  },
];
