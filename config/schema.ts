// The one configuration schema: type, default and description of every key. Secrets are
// marked so that they are never echoed (errors name the key, never the value).
// Loaded as defaults < file (--config, YAML or JSON) < CAIRN_* env (`__` nests keys).
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const secret = <T extends TSchema>(schema: T) => ({ ...schema, secret: true }) as T;
const port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });

export const configSchema = Type.Object(
  {
    dataDir: Type.String({ default: 'data', description: 'Directory for the SQLite database, the dev master key and spools.' }),
    listenHost: Type.String({ default: '127.0.0.1', description: 'Address every listener binds to ("::" for all).' }),
    database: Type.Object(
      {
        url: secret(Type.String({ default: '', description: 'postgres://… for PostgreSQL; empty = SQLite file <dataDir>/cairn.sqlite.' })),
        poolMax: Type.Integer({ minimum: 1, default: 10, description: 'PostgreSQL pool size.' }),
        timeoutMs: Type.Integer({ minimum: 100, default: 3000, description: 'Timeout for one store call; shorter than a NAS retry.' }),
        followMs: Type.Integer({ minimum: 50, default: 1000, description: 'How often a server reads changes made by other processes (CLI, other instances).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    masterKey: Type.Object(
      {
        file: Type.String({ default: '', description: 'File holding the 32-byte master key (base64). Empty = <dataDir>/master.key, generated on first run.' }),
        value: secret(Type.String({ default: '', description: 'The master key itself (base64); set CAIRN_MASTER_KEY__VALUE rather than writing it to a file.' })),
      },
      { additionalProperties: false, default: {} },
    ),
    org: Type.Object(
      {
        name: Type.String({ default: 'default', description: 'Name of the default organization created on first start.' }),
        domain: Type.String({ default: 'example.com', description: 'DNS domain of the default organization (LDAP base DN dc=… is derived from it).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    bootstrap: Type.Object(
      {
        adminUsername: Type.String({ default: 'admin', description: 'Username of the initial administrator.' }),
        adminPassword: secret(Type.String({ default: '', description: 'Initial administrator password; empty = generate one and print it once.' })),
      },
      { additionalProperties: false, default: {} },
    ),
    posix: Type.Object(
      {
        idMin: Type.Integer({ minimum: 1000, default: 10000, description: 'First uidNumber/gidNumber Cairn assigns.' }),
        idMax: Type.Integer({ minimum: 1001, default: 2000000000, description: 'Last uidNumber/gidNumber Cairn assigns. Numbers are never reused.' }),
        homeTemplate: Type.String({ default: '/home/{username}', description: 'homeDirectory of new users.' }),
        defaultShell: Type.String({ default: '/bin/bash', description: 'loginShell of new users.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    passwords: Type.Object(
      {
        memoryKiB: Type.Integer({ minimum: 19456, default: 19456, description: 'argon2id memory cost (OWASP minimum 19 MiB).' }),
        iterations: Type.Integer({ minimum: 2, default: 2, description: 'argon2id time cost.' }),
        parallelism: Type.Integer({ minimum: 1, default: 1, description: 'argon2id lanes.' }),
        maxConcurrentHashes: Type.Integer({ minimum: 1, default: 2, description: 'Hashes computed at once (each holds memoryKiB).' }),
        maxQueuedHashes: Type.Integer({ minimum: 0, default: 200, description: 'Hashes waiting beyond that; more are refused as busy.' }),
        maxLengthBytes: Type.Integer({ minimum: 64, default: 1024, description: 'Longer secrets are refused before hashing.' }),
        verifiedCacheSeconds: Type.Integer({ minimum: 0, default: 300, description: 'How long a verified password is remembered in memory (keyed HMAC); 0 = off.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    tls: Type.Object(
      {
        certFile: Type.String({ default: '', description: 'PEM server certificate (chain). Empty = generate a local CA and certificate under tls.dir.' }),
        keyFile: Type.String({ default: '', description: 'PEM private key of certFile.' }),
        caFile: Type.String({ default: '', description: 'PEM CA certificate that clients should trust (shown to agents).' }),
        dir: Type.String({ default: 'certs', description: 'Where generated certificates are written.' }),
        hostnames: Type.Array(Type.String(), { default: [], description: 'Extra DNS names for the generated certificate.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info', description: 'pino log level.' }),
        pretty: Type.Boolean({ default: false, description: 'Human-readable logs (dev).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve the management API.' }),
        port: port(8443, 'HTTPS port shared by the management API and SSO.'),
        trustedProxies: Type.Array(Type.String(), { default: [], description: 'CIDRs whose X-Forwarded-For is believed.' }),
        sessionTtlMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 60, description: 'Absolute lifetime of an admin session token.' }),
        sessionIdleMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 15, description: 'An admin session unused this long ends.' }),
        loginPerMinute: Type.Integer({ minimum: 1, default: 20, description: 'Admin login attempts accepted per client address per minute (then 429).' }),
        failedAuthPerMinute: Type.Integer({ minimum: 1, default: 60, description: 'Requests with a wrong API key or session token accepted per client address per minute; then every request from it gets 429 until the minute ends.' }),
        keyPepper: secret(Type.String({ default: '', description: 'Server-side pepper for API key HMACs (base64, >= 32 bytes). Empty = derived from the master key (rotating the master key then invalidates every API key).' })),
        keyDefaultDays: Type.Integer({ minimum: 1, default: 90, description: 'Lifetime of a new API key when none is asked for.' }),
        keyMaxDays: Type.Integer({ minimum: 1, default: 365, description: 'Longest lifetime an API key may be given. Keys always expire.' }),
        keyRotateOverlapHours: Type.Integer({ minimum: 0, default: 24, description: 'How long a rotated API key keeps working beside its successor, by default.' }),
        keyMaxOverlapHours: Type.Integer({ minimum: 0, default: 168, description: 'Longest overlap a rotation may ask for.' }),
        pageSizeDefault: Type.Integer({ minimum: 1, default: 50, description: 'Items per page of a list when the client does not ask.' }),
        pageSizeMax: Type.Integer({ minimum: 1, maximum: 1000, default: 200, description: 'Most items one page may hold.' }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 65536, description: 'Largest request body an API route accepts.' }),
        webhook: Type.Object(
          {
            url: Type.String({ default: '', description: 'Audit events are POSTed here in order (https, or http to a loopback address). Empty = off.' }),
            secret: secret(Type.String({ default: '', description: 'HMAC-SHA256 key for the X-Cairn-Signature header (required with url).' })),
            batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Events per delivery.' }),
            timeoutMs: Type.Integer({ minimum: 100, default: 5000, description: 'Timeout of one delivery.' }),
            pollMs: Type.Integer({ minimum: 50, default: 5000, description: 'How often to look for events written by other instances.' }),
            maxBackoffMs: Type.Integer({ minimum: 100, default: 300000, description: 'Longest wait between retries of a failed delivery.' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    ldap: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve LDAP.' }),
        port: port(3389, 'LDAP port (StartTLS required before bind or search).'),
        ldapsPort: port(6636, 'LDAPS port.'),
        baseDn: Type.String({ default: '', description: 'Base DN; empty = dc=… from org.domain.' }),
        allowCleartextCidrs: Type.Array(Type.String(), { default: [], description: 'Client networks allowed to bind and search on the plain port without StartTLS (e.g. ["127.0.0.1/32"]). Empty = nobody.' }),
        maxConnections: Type.Integer({ minimum: 1, default: 4096, description: 'Open LDAP connections, all clients together.' }),
        maxConnectionsPerIp: Type.Integer({ minimum: 1, default: 256, description: 'Open LDAP connections from one client address.' }),
        maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 16777216, default: 262144, description: 'Largest LDAP request accepted; a larger one closes the connection.' }),
        maxOutstandingPerConnection: Type.Integer({ minimum: 1, default: 32, description: 'Operations one connection may have in progress; more are answered busy.' }),
        maxOutputBufferBytes: Type.Integer({ minimum: 65536, default: 4194304, description: 'Results queued for one connection that its client has not read yet; more closes the connection (pipelined searches that are never read).' }),
        idleTimeoutSeconds: Type.Integer({ minimum: 1, default: 900, description: 'Close a connection that has neither sent a request nor read any of our output for this long (a client that stops reading mid-search included).' }),
        unboundIdleSeconds: Type.Integer({ minimum: 1, default: 30, description: 'Close a connection that has not bound (or started TLS and bound) within this time.' }),
        tlsHandshakeSeconds: Type.Integer({ minimum: 1, default: 10, description: 'Time allowed for a TLS handshake (LDAPS or StartTLS).' }),
        operationTimeoutSeconds: Type.Integer({ minimum: 1, default: 15, description: 'A bind or password change waiting longer on the store is answered busy.' }),
        maxSizeLimit: Type.Integer({ minimum: 1, default: 1000, description: 'Most entries one unpaged search returns, whatever the client asks (paged searches page through everything).' }),
        maxTimeLimitSeconds: Type.Integer({ minimum: 1, default: 30, description: 'Longest a search may run, whatever the client asks.' }),
        maxPageSize: Type.Integer({ minimum: 1, default: 1000, description: 'Largest page a paged search returns.' }),
        maxPagedSearchesPerConnection: Type.Integer({ minimum: 1, default: 8, description: 'Paged-search cookies one connection may hold; the oldest is dropped beyond it.' }),
        pagedSearchSeconds: Type.Integer({ minimum: 1, default: 300, description: 'Lifetime of a paged-search cookie.' }),
        userAccess: Type.Union([Type.Literal('directory'), Type.Literal('self'), Type.Literal('none')], { default: 'directory', description: 'What a bound user may read: directory = users and groups; self = their own entry; none. Service accounts with read_directory read everything.' }),
        requireGrant: Type.Boolean({ default: false, description: 'User binds require membership of a group granted the "ldap" resource (id = org id).' }),
        userPrivateGroups: Type.Boolean({ default: true, description: 'Publish a group cn=<username> for each user whose gidNumber equals its uidNumber.' }),
        refreshSeconds: Type.Integer({ minimum: 1, default: 300, description: 'Full reload of the in-memory LDAP view (changes made by other instances); changes made here are seen at once.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    radius: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve RADIUS.' }),
        authPort: port(1812, 'RADIUS authentication port (UDP).'),
        acctPort: port(1813, 'RADIUS accounting port (UDP).'),
        listenHosts: Type.Array(Type.String(), { default: [], maxItems: 8, description: 'Addresses the RADIUS sockets bind to (e.g. ["0.0.0.0", "::"]); empty = [listenHost]. "::" alone also serves IPv4 where the OS allows.' }),
        rejectDelayMs: Type.Integer({ minimum: 0, maximum: 5000, default: 1000, description: 'Hold each Access-Reject back this long (slows online guessing; the duplicate cache absorbs NAS retries meanwhile).' }),
        duplicateWindowMs: Type.Integer({ minimum: 1000, maximum: 120000, default: 30000, description: 'How long a reply is kept to answer retransmissions (same source, port, Identifier, authenticator) without a second authentication.' }),
        duplicateCacheMax: Type.Integer({ minimum: 100, default: 100000, description: 'Most replies kept for duplicates; beyond it new requests are dropped until entries expire.' }),
        maxInFlight: Type.Integer({ minimum: 1, default: 1000, description: 'Requests processed at once; more are dropped silently (the NAS retries).' }),
        challengePrompt: Type.String({ default: 'Enter your one-time code', maxLength: 200, description: 'Reply-Message of the Access-Challenge that asks for the TOTP code.' }),
        passwordExpiredMessage: Type.String({
          default: 'Your password has expired or must be changed: change it in the Cairn portal, then connect again.', maxLength: 200,
          description: 'Reply-Message of the PAP Access-Reject for a right password that has expired or must be changed (sent only when the password was right).',
        }),
        eap: Type.Object(
          {
            maxConversations: Type.Integer({ minimum: 1, default: 2048, description: 'EAP conversations kept at once (about 55 KiB each once TLS has started: 2048 ≈ 110 MiB at worst); when full, the oldest that has not started TLS is dropped, else the oldest.' }),
            timeoutMs: Type.Integer({ minimum: 1000, default: 30000, description: 'An EAP conversation idle longer than this is forgotten.' }),
            maxRounds: Type.Integer({ minimum: 10, default: 60, description: 'Round trips one EAP conversation may take.' }),
            maxBytes: Type.Integer({ minimum: 16384, default: 131072, description: 'Bytes one EAP conversation may send us in total (TLS handshake included).' }),
            fragmentSize: Type.Integer({ minimum: 256, maximum: 4000, default: 1020, description: 'Largest EAP-TLS/TTLS/PEAP fragment we send.' }),
            tlsCaFile: Type.String({ default: '', description: 'PEM CA whose client certificates EAP-TLS accepts; empty = EAP-TLS off.' }),
            tlsIdentity: Type.Union([Type.Literal('cn'), Type.Literal('email')], { default: 'cn', description: 'Which part of an EAP-TLS client certificate names the user: the subject CN, or the local part of its SAN email (rfc822Name).' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    agent: Type.Object(
      {
        ldapUris: Type.Array(Type.String(), { default: [], description: 'LDAP URIs handed to enrolled hosts (ldaps://host:port or ldap://host:port for StartTLS). Empty = ldaps://<the name the agent used to reach the API>:<ldap.ldapsPort>.' }),
        tokenDefaultMinutes: Type.Integer({ minimum: 1, default: 60, description: 'Lifetime of a new enrolment token when none is asked for.' }),
        tokenMaxMinutes: Type.Integer({ minimum: 1, default: 10080, description: 'Longest lifetime an enrolment token may be given.' }),
        syncIntervalSeconds: Type.Integer({ minimum: 30, default: 300, description: 'How often enrolled hosts run cairn-agent sync (their systemd timer).' }),
        clockSkewSeconds: Type.Integer({ minimum: 5, maximum: 900, default: 120, description: 'A signed host request whose timestamp is further than this from the server clock is refused.' }),
        enrolPerMinute: Type.Integer({ minimum: 1, default: 20, description: 'Enrolment attempts and failed host signatures accepted per client address per minute (then 429).' }),
        credentialOverlapSeconds: Type.Integer({ minimum: 60, maximum: 86400, default: 900, description: 'After a host rotates its LDAP bind password, the previous one keeps working until the host confirms the new one is in place, or this long at most.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    sso: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve OIDC and SAML on the HTTPS port.' }),
        issuer: Type.String({ default: '', description: 'Public base URL (https://host:port); empty = https://localhost:<api.port>. OIDC is served at <issuer>/oidc, SAML at <issuer>/saml.' }),
        accessTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86400, default: 600, description: 'Lifetime of OIDC access tokens (opaque; userinfo and introspection check them).' }),
        refreshTokenTtlDays: Type.Integer({ minimum: 1, maximum: 365, default: 14, description: 'Lifetime of OIDC refresh tokens (rotated on every use; reuse revokes the grant).' }),
        samlAssertionTtlSeconds: Type.Integer({ minimum: 60, maximum: 3600, default: 300, description: 'NotOnOrAfter of SAML assertions and subject confirmations.' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof configSchema>;
