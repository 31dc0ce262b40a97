// The core directory. Portable between SQLite and PostgreSQL: times are epoch
// milliseconds (bigint), JSON is text, ids are UUID strings.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  const ms = (t: Knex.CreateTableBuilder, name: string) => t.bigInteger(name);

  await knex.schema.createTable('orgs', (t) => {
    t.string('id', 36).primary();
    t.string('name', 128).notNullable().unique();
    t.string('domain', 253).notNullable();
    ms(t, 'created_at').notNullable();
  });

  // Next free POSIX id per org; only ever grows, so numbers are never reused.
  await knex.schema.createTable('posix_counters', (t) => {
    t.string('org_id', 36).primary().references('orgs.id');
    t.bigInteger('next_id').notNullable();
  });

  await knex.schema.createTable('users', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('username', 64).notNullable();
    t.string('display_name', 256).notNullable();
    t.string('email', 320);
    t.string('state', 16).notNullable();
    ms(t, 'locked_until');
    t.bigInteger('uid_number').notNullable();
    t.bigInteger('gid_number').notNullable();
    t.string('home_directory', 4096).notNullable();
    t.string('login_shell', 4096).notNullable();
    t.text('password_hash');
    ms(t, 'password_changed_at');
    t.boolean('must_change_password').notNullable().defaultTo(false);
    t.text('totp_seed_enc');
    t.text('totp_pending_enc'); // a seed shown to the user but not yet confirmed with a code
    t.bigInteger('totp_last_step');
    ms(t, 'totp_enrolled_at');
    // NT hash for PEAP-MSCHAPv2, sealed; only kept for orgs that turn that method on.
    t.text('nt_hash_enc');
    t.text('custom_attributes').notNullable().defaultTo('{}');
    // Bumped on every credential or state change: the verified-credential cache keys on it.
    t.integer('credential_version').notNullable().defaultTo(0);
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'username']);
    t.unique(['org_id', 'uid_number']);
  });

  await knex.schema.createTable('password_history', (t) => {
    t.increments('id').primary();
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.text('password_hash').notNullable();
    ms(t, 'created_at').notNullable();
    t.index(['user_id']);
  });

  await knex.schema.createTable('recovery_codes', (t) => {
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.string('code_hash', 64).notNullable();
    ms(t, 'used_at');
    t.primary(['user_id', 'code_hash']);
  });

  await knex.schema.createTable('ssh_keys', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.string('key_type', 64).notNullable();
    t.text('public_key').notNullable();
    t.string('comment', 256).notNullable();
    t.string('fingerprint', 64).notNullable();
    ms(t, 'created_at').notNullable();
    t.unique(['user_id', 'fingerprint']);
  });

  // Failed attempts per (user, source); source '*' is the account-wide counter.
  await knex.schema.createTable('auth_failures', (t) => {
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.string('source', 64).notNullable();
    t.integer('failures').notNullable();
    ms(t, 'last_failure_at').notNullable();
    ms(t, 'locked_until');
    t.primary(['user_id', 'source']);
  });

  // Pending second steps (MFA challenges), single use, short-lived; only the hash of the token.
  await knex.schema.createTable('auth_challenges', (t) => {
    t.string('token_hash', 64).primary();
    t.string('org_id', 36).notNullable();
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.string('kind', 32).notNullable();
    t.text('context').notNullable();
    ms(t, 'expires_at').notNullable();
  });

  // Administrators are not directory users: they manage Cairn, they do not log in to hosts.
  await knex.schema.createTable('admins', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('username', 64).notNullable();
    t.string('email', 320);
    t.string('role', 32).notNullable(); // administrator, manager, help_desk, read_only
    t.string('state', 16).notNullable();
    t.text('password_hash').notNullable();
    t.boolean('must_change_password').notNullable().defaultTo(false);
    t.text('totp_seed_enc');
    t.text('totp_pending_enc');
    t.bigInteger('totp_last_step');
    ms(t, 'totp_enrolled_at');
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'username']);
  });

  await knex.schema.createTable('groups', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('name', 64).notNullable();
    t.bigInteger('gid_number').notNullable();
    t.string('description', 1024).notNullable().defaultTo('');
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'name']);
    t.unique(['org_id', 'gid_number']);
  });

  await knex.schema.createTable('group_members', (t) => {
    t.string('group_id', 36).notNullable().references('groups.id').onDelete('CASCADE');
    t.string('user_id', 36).notNullable().references('users.id').onDelete('CASCADE');
    t.primary(['group_id', 'user_id']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('systems', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('hostname', 253).notNullable();
    t.string('os', 128).notNullable().defaultTo('');
    t.string('state', 16).notNullable();
    t.string('agent_version', 64);
    ms(t, 'last_contact_at');
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'hostname']);
  });

  await knex.schema.createTable('service_accounts', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('name', 64).notNullable();
    t.string('description', 1024).notNullable().defaultTo('');
    t.text('password_hash').notNullable();
    t.text('permissions').notNullable().defaultTo('[]');
    t.string('state', 16).notNullable();
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'name']);
  });

  // Which groups may use which resource (system login/sudo, RADIUS network, SSO app, ...).
  await knex.schema.createTable('resource_grants', (t) => {
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('resource_type', 32).notNullable();
    t.string('resource_id', 36).notNullable();
    t.string('role', 16).notNullable().defaultTo('access'); // 'access', 'login', 'sudo'
    t.string('group_id', 36).notNullable().references('groups.id').onDelete('CASCADE');
    t.primary(['resource_type', 'resource_id', 'role', 'group_id']);
    t.index(['group_id']);
  });

  await knex.schema.createTable('policies', (t) => {
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('kind', 32).notNullable(); // 'password', 'mfa'
    t.text('value').notNullable();
    ms(t, 'updated_at').notNullable();
    t.primary(['org_id', 'kind']);
  });

  await knex.schema.createTable('ip_lists', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('name', 128).notNullable();
    t.text('cidrs').notNullable();
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
    t.unique(['org_id', 'name']);
  });

  await knex.schema.createTable('access_rules', (t) => {
    t.string('id', 36).primary();
    t.string('org_id', 36).notNullable().references('orgs.id');
    t.string('name', 128).notNullable();
    t.integer('priority').notNullable();
    t.string('protocol', 16).notNullable();
    t.string('group_id', 36).references('groups.id').onDelete('CASCADE');
    t.string('ip_list_id', 36).references('ip_lists.id');
    t.boolean('negate_ip_list').notNullable().defaultTo(false);
    t.string('action', 16).notNullable();
    ms(t, 'created_at').notNullable();
    ms(t, 'updated_at').notNullable();
  });

  // Secrets the server reads back, sealed with the master key (signing keys, ...).
  await knex.schema.createTable('sealed_settings', (t) => {
    t.string('org_id', 36).notNullable();
    t.string('name', 128).notNullable();
    t.text('value').notNullable();
    ms(t, 'updated_at').notNullable();
    t.primary(['org_id', 'name']);
  });

  // Personal data of audit actors, kept apart from the hash-chained events so that erasing a
  // person (GDPR) leaves the chain intact and the events pointing at a pseudonymous id.
  await knex.schema.createTable('audit_subjects', (t) => {
    t.string('id', 36).primary();
    t.string('type', 32).notNullable();
    t.string('username', 256);
    t.string('email', 320);
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.bigInteger('seq').primary(); // gap-free, assigned under the audit_head lock
    t.string('id', 36).notNullable().unique();
    t.string('org_id', 36).notNullable();
    ms(t, 'timestamp').notNullable();
    t.string('event_type', 64).notNullable();
    t.string('service', 32).notNullable();
    t.string('actor_type', 32).notNullable();
    t.string('actor_id', 64);
    t.string('resource_type', 32);
    t.string('resource_id', 64);
    t.string('resource_name', 256);
    t.string('client_ip', 64);
    t.boolean('success').notNullable();
    t.string('mfa_type', 32);
    t.string('reason', 64);
    t.text('changes');
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable();
    t.index(['org_id', 'timestamp']);
    t.index(['org_id', 'event_type']);
    t.index(['actor_id']);
  });

  await knex.schema.createTable('audit_head', (t) => {
    t.integer('id').primary();
    t.bigInteger('seq').notNullable();
    t.string('hash', 64).notNullable();
  });
  await knex('audit_head').insert({ id: 1, seq: 0, hash: '0'.repeat(64) });

  // The audit trail is append-only for the application.
  if (pg) {
    await knex.raw(`CREATE FUNCTION cairn_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$`);
    await knex.raw(`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION cairn_audit_append_only()`);
  } else {
    await knex.raw(`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
      BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`);
    await knex.raw(`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
      BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'audit_head', 'audit_events', 'audit_subjects', 'sealed_settings', 'access_rules', 'ip_lists', 'policies',
    'resource_grants', 'service_accounts', 'systems', 'group_members', 'groups', 'admins', 'auth_challenges',
    'auth_failures', 'ssh_keys', 'recovery_codes', 'password_history', 'users', 'posix_counters', 'orgs',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
  if (knex.client.config.client === 'pg') await knex.raw('DROP FUNCTION IF EXISTS cairn_audit_append_only()');
}
