// The published OpenAPI document is valid OpenAPI 3.1: checked against the OpenAPI
// Initiative's own meta-schema (vendored: test/fixtures/openapi/README.md), and every schema in
// it is a valid JSON Schema 2020-12 (the dialect OpenAPI 3.1 uses).
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import t from 'tap';
import { openApiDocument } from './openapi.js';
import { routes } from './routes.js';
import { API_PREFIX, API_VERSION } from './main.js';

const metaSchema = JSON.parse(readFileSync(new URL('../../test/fixtures/openapi/oas-3.1-schema.json', import.meta.url), 'utf8')) as { $id: string };

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addFormat('media-range', true); // an OpenAPI format ajv-formats does not define
  return ajv;
}

/** Every value under a `schema` key of the document (parameters, bodies, responses) and its components. */
function schemasIn(node: unknown, path: string, out: { path: string; schema: object }[] = []) {
  if (!node || typeof node !== 'object') return out;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'schema' && v && typeof v === 'object') out.push({ path: `${path}/schema`, schema: v });
    else schemasIn(v, `${path}/${k}`, out);
  }
  return out;
}

t.test('the OpenAPI document validates against the official OpenAPI 3.1 schema', async (t) => {
  t.match(metaSchema.$id, /^https:\/\/spec\.openapis\.org\/oas\/3\.1\/schema\//, 'the vendored schema is the OAI\'s');
  const doc = openApiDocument(routes, API_PREFIX, API_VERSION);
  const validate = validator().compile(metaSchema);
  const ok = validate(doc);
  t.ok(ok, 'valid OpenAPI 3.1');
  if (!ok) t.comment(JSON.stringify(validate.errors?.slice(0, 10), null, 2));

  // A broken document is caught, so the check above is not vacuous.
  const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses?: unknown; parameters?: unknown[] }>> };
  const op = Object.values(broken.paths)[0]!;
  const first = Object.values(op)[0]!;
  first.parameters = [{ name: 'x', in: 'body', schema: {} }];
  t.notOk(validate(broken), 'a parameter "in: body" is refused');
  delete first.parameters;
  first.responses = { 200: { content: {} } };
  t.notOk(validate(broken), 'a response without a description is refused');
});

t.test('every schema in the document is valid JSON Schema 2020-12', async (t) => {
  const doc = openApiDocument(routes, API_PREFIX, API_VERSION);
  const ajv = validator();
  const found = schemasIn(doc.paths, '#/paths');
  for (const [name, s] of Object.entries((doc.components as { schemas: Record<string, object> }).schemas)) found.push({ path: `#/components/schemas/${name}`, schema: s });
  let n = 0;
  for (const { path, schema } of found) {
    if ('$ref' in schema) continue;
    if (!ajv.validateSchema(schema)) t.fail(`${path}: ${ajv.errorsText(ajv.errors)}`);
    n++;
  }
  t.ok(n > routes.length, `${n} schemas checked`);
});
