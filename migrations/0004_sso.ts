// SSO: applications (OIDC clients and SAML service providers), the oidc-provider store
// (codes, tokens, grants, sessions, interactions) plus Cairn's own login flows and portal
// sessions, and the SAML request ids seen (replay refusal).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sso_apps', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('type', 8).notNullable(); // 'oidc' | 'saml'
    t.string('name', 64).notNullable();
    t.string('display_name', 256).notNullable();
    t.string('launch_url', 2048).notNullable().defaultTo('');
    // OIDC: the client_id; SAML: the SP entity id. Unique per org so lookups are direct.
    t.string('external_id', 1024).notNullable();
    t.text('settings').notNullable(); // JSON, no secrets in clear (client secret is a hash)
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['org_id', 'name']);
    t.unique(['type', 'external_id']);
  });

  // oidc-provider's models, and Cairn's login flows / portal sessions (model 'CairnFlow',
  // 'CairnSession'). `consumed_at` is set by a compare-and-set so one use wins.
  await knex.schema.createTable('sso_store', (t) => {
    t.string('model', 40).notNullable();
    t.string('id', 128).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 128);
    t.string('uid', 128);
    t.string('user_code', 128);
    t.string('account_id', 64);
    t.string('client_id', 128);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['model', 'id']);
    t.index(['grant_id']);
    t.index(['uid']);
    t.index(['user_code']);
    t.index(['account_id']);
    t.index(['client_id']);
    t.index(['expires_at']);
  });

  // SAML AuthnRequest ids already answered, per SP, until they would have expired anyway.
  await knex.schema.createTable('saml_request_ids', (t) => {
    t.string('app_id', 36).notNullable().references('sso_apps.id').onDelete('CASCADE');
    t.string('request_id', 256).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['app_id', 'request_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('saml_request_ids');
  await knex.schema.dropTableIfExists('sso_store');
  await knex.schema.dropTableIfExists('sso_apps');
}
