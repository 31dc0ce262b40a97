import { readFileSync } from 'node:fs';
import t from 'tap';
import { docPath, withRoutes } from './docs.js';

t.test('the route table in docs/management-api.md is current', async (t) => {
  const doc = readFileSync(docPath, 'utf8');
  t.equal(doc, withRoutes(doc), 'run: node --import tsx servers/api/docs.ts');
});
