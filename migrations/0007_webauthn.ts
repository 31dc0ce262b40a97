// WebAuthn (security keys, passkeys) as a second factor for browser sign-in. A public key is
// not a secret: it is stored as is; the signature counter detects a cloned authenticator.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    // The authenticator's credential id (base64url), unique across the deployment.
    t.string('credential_id', 1400).notNullable().unique();
    t.text('public_key').notNullable(); // COSE key, base64url
    t.bigInteger('sign_count').notNullable();
    t.string('transports', 256).notNullable(); // JSON array
    t.string('name', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webauthn_credentials');
}
