// Host agent (issue 7): rotating a host's LDAP bind password without re-enrolling. While a
// rotation is unconfirmed the account also accepts its previous password, until the host
// confirms (heartbeat) or previous_expires_at passes; an admin can ask a host to rotate.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('service_accounts', (t) => {
    t.text('previous_password_hash');
    t.bigInteger('previous_expires_at');
  });
  await knex.schema.alterTable('agent_hosts', (t) => {
    t.bigInteger('rotate_requested_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_hosts', (t) => t.dropColumn('rotate_requested_at'));
  await knex.schema.alterTable('service_accounts', (t) => {
    t.dropColumn('previous_password_hash');
    t.dropColumn('previous_expires_at');
  });
}
