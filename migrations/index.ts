// The ordered list of migrations. Listed explicitly (not scanned from disk) so the same
// code runs from TypeScript sources in tests and from dist/ in production.
import type { Knex } from 'knex';
import * as m0001 from './0001_core.js';
import * as m0002 from './0002_api.js';
import * as m0003 from './0003_radius.js';
import * as m0004 from './0004_sso.js';
import * as m0005 from './0005_agent.js';
import * as m0006 from './0006_agent_credential_rotation.js';
import * as m0007 from './0007_webauthn.js';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

export const migrations: ReadonlyArray<readonly [string, Migration]> = [
  ['0001_core', m0001],
  ['0002_api', m0002],
  ['0003_radius', m0003],
  ['0004_sso', m0004],
  ['0005_agent', m0005],
  ['0006_agent_credential_rotation', m0006],
  ['0007_webauthn', m0007],
];

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => migrations.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations.find(([n]) => n === name)![1],
};
