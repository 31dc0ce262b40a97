// RADIUS networks (a set of NAS clients bound to user groups) and clients (NAS: source
// address + shared secret, sealed). Portable between SQLite and PostgreSQL.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('radius_networks', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('name', 64).notNullable();
    t.string('mfa_mode', 16).notNullable(); // 'appended' | 'challenge'
    // JSON list of {groupId, vlan?, sessionTimeout?, class?, replyMessage?}; first match wins per field.
    t.text('group_replies').notNullable().defaultTo('[]');
    // JSON list of EAP methods offered: 'ttls', 'peap', 'tls'.
    t.text('eap_methods').notNullable().defaultTo('["ttls"]');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['org_id', 'name']);
  });

  await knex.schema.createTable('radius_clients', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('network_id', 36).notNullable().references('radius_networks.id');
    t.string('name', 64).notNullable();
    t.string('address', 64).notNullable(); // IP or CIDR
    t.text('secret_enc').notNullable(); // sealed with AAD "radius-client:<id>"
    // Accepts Access-Requests without Message-Authenticator (Blast-RADIUS exposure; flagged by posture).
    t.boolean('legacy').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['org_id', 'name']);
    t.index(['network_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('radius_clients');
  await knex.schema.dropTableIfExists('radius_networks');
}
