// Host agent (issue 7): enrolment tokens and the enrolled hosts' keys.
// Portable SQLite + PostgreSQL: times are epoch ms (bigint), JSON is text.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  const ms = (t: Knex.CreateTableBuilder, name: string) => t.bigInteger(name);

  // Single-use enrolment tokens: only SHA-256 of the (256-bit random) token is stored.
  await knex.schema.createTable('agent_enrolment_tokens', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('token_hash', 64).notNullable().unique();
    t.string('description', 256).notNullable().defaultTo('');
    t.text('login_group_ids').notNullable().defaultTo('[]'); // JSON; [] = keep/none
    t.text('sudo_group_ids').notNullable().defaultTo('[]');
    t.string('created_by', 128);
    ms(t, 'created_at').notNullable();
    ms(t, 'expires_at').notNullable();
    ms(t, 'used_at');
    t.string('used_by_system_id', 36);
    ms(t, 'revoked_at');
    t.index(['org_id']);
  });

  // One row per enrolled host: its Ed25519 public key, its LDAP service account, and the
  // newest request timestamp accepted from it (a signed request is accepted once: replay refusal).
  await knex.schema.createTable('agent_hosts', (t) => {
    t.string('system_id', 36).primary().references('systems.id').onDelete('CASCADE');
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('public_key', 64).notNullable(); // raw 32-byte Ed25519 key, base64url
    t.string('service_account_id', 36);
    ms(t, 'enrolled_at').notNullable();
    ms(t, 'last_request_ts').notNullable();
    ms(t, 'last_sync_at');
    t.string('config_version', 64);
    t.index(['org_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['agent_hosts', 'agent_enrolment_tokens']) await knex.schema.dropTableIfExists(table);
}
