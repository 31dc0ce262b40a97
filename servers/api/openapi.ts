// The OpenAPI 3.1 document, generated from the same route table and TypeBox schemas the server
// validates with: what is published is what is enforced.
import type { TSchema } from '@sinclair/typebox';
import type { RouteDef } from './routes.js';
import { PROBLEM_BASE } from './errors.js';

const plain = (s: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
export const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: `Stable problem type: ${PROBLEM_BASE}<code>` },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    field: { type: 'string', description: 'The request field at fault.' },
    errors: { type: 'array', items: { type: 'string' } },
    instance: { type: 'string' },
  },
};

export function openApiDocument(routes: readonly RouteDef[], prefix: string, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = prefix + openApiPath(r.url);
    const parameters: Record<string, unknown>[] = [];
    for (const [where, schema] of [['path', r.schema.params], ['query', r.schema.querystring]] as const) {
      if (!schema) continue;
      const s = plain(schema);
      const required = new Set((s.required as string[] | undefined) ?? []);
      for (const [name, prop] of Object.entries((s.properties as Record<string, unknown>) ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || required.has(name), schema: prop });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [code, schema] of Object.entries(r.schema.response)) {
      const s = plain(schema);
      responses[code] = code === '204'
        ? { description: 'No content' }
        : { description: (s.description as string | undefined) ?? 'OK', content: { [r.url === '/events/export' ? 'application/x-ndjson' : 'application/json']: { schema: s } } };
    }
    responses.default = { description: 'An RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.url.replace(/[/:-]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
      summary: r.summary,
      tags: [r.tag],
      parameters,
      responses,
      'x-cairn-permission': r.permission,
      ...(r.session ? { 'x-cairn-session-only': true } : {}),
      security: r.permission === 'public' ? [] : [{ bearer: [] }],
    };
    if (r.schema.body) {
      const optional = (r.schema.body as unknown as Record<symbol, unknown>)[Symbol.for('TypeBox.Optional')] === 'Optional';
      op.requestBody = { required: !optional, content: { 'application/json': { schema: plain(r.schema.body) } } };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Cairn management API',
      version,
      description: 'Users, groups, systems, service accounts, policies, admins, API keys and the audit trail. Authenticate with `Authorization: Bearer <session token or API key>`.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An admin session token (POST /api/v1/auth/login) or an API key cairn_<publicId>_<secret>.' } },
      schemas: { Problem: problemSchema },
    },
  };
}
