// Management API: admin sessions and login failures, API keys, the webhook sink's cursor.
// Portable SQLite + PostgreSQL: times are epoch ms (bigint), JSON is text.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  const ms = (t: Knex.CreateTableBuilder, name: string) => t.bigInteger(name);

  // Short-lived admin sessions; only the SHA-256 of the (256-bit random) token is stored.
  // kind 'session' is a logged-in admin; 'enroll' may only confirm a TOTP enrolment.
  await knex.schema.createTable('admin_sessions', (t) => {
    t.string('token_hash', 64).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('admin_id', 36).notNullable().references('admins.id').onDelete('CASCADE');
    t.string('kind', 16).notNullable();
    ms(t, 'created_at').notNullable();
    ms(t, 'expires_at').notNullable();
    ms(t, 'last_seen_at').notNullable();
    ms(t, 'mfa_at'); // when the second factor was last proven in this session
    t.string('client_ip', 64);
    t.index(['admin_id']);
  });

  // Failed admin logins per (admin, source); '*' is the account-wide counter.
  await knex.schema.createTable('admin_auth_failures', (t) => {
    t.string('admin_id', 36).notNullable().references('admins.id').onDelete('CASCADE');
    t.string('source', 64).notNullable();
    t.integer('failures').notNullable();
    ms(t, 'last_failure_at').notNullable();
    ms(t, 'locked_until');
    t.primary(['admin_id', 'source']);
  });

  // API keys: cairn_<public_id>_<secret>; only HMAC-SHA256(pepper, secret) is stored.
  await knex.schema.createTable('api_keys', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('public_id', 32).notNullable().unique();
    t.string('name', 128).notNullable();
    t.string('secret_hmac', 64).notNullable();
    t.string('role', 32).notNullable();
    t.text('scopes'); // JSON array of permissions, or null = everything the role allows
    t.string('owner_admin_id', 36).notNullable().references('admins.id');
    t.text('allowed_cidrs').notNullable().defaultTo('[]');
    ms(t, 'created_at').notNullable();
    ms(t, 'expires_at').notNullable();
    ms(t, 'revoked_at');
    t.string('replaced_by', 36); // successor after a rotation
    t.string('rotated_from', 36); // predecessor
    ms(t, 'last_used_at');
    t.string('last_used_ip', 64);
    t.index(['org_id']);
    t.index(['owner_admin_id']);
  });

  // Where each audit sink has delivered up to (at-least-once across restarts).
  await knex.schema.createTable('audit_sink_cursors', (t) => {
    t.string('name', 64).primary();
    t.bigInteger('last_seq').notNullable();
    ms(t, 'updated_at').notNullable();
    // Several instances on one database: only the lease holder delivers, so that they do not
    // race each other (at-least-once still holds when a holder dies: its lease runs out).
    t.string('lease_owner', 64);
    ms(t, 'lease_until');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['audit_sink_cursors', 'api_keys', 'admin_auth_failures', 'admin_sessions']) {
    await knex.schema.dropTableIfExists(table);
  }
}
