/**
 * The contract check: every response a test receives is checked against the OpenAPI document the same
 * server serves: the operation must exist, document the status and the media type, and the JSON body
 * must match the documented schema. A test calling through `call()` fails on any mismatch.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

type Spec = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components?: unknown;
};

const specs = new Map<string, Promise<Spec>>();
const validators = new WeakMap<Spec, Map<string, ValidateFunction>>();
// OpenAPI 3.0 schemas: `nullable` is understood by Ajv; other OpenAPI keywords (components) are ignored.
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);

export function specOf(url: string): Promise<Spec> {
  let spec = specs.get(url);
  if (!spec) {
    spec = fetch(`${url}/openapi.json`).then((r) => r.json() as Promise<Spec>);
    specs.set(url, spec);
  }
  return spec;
}

/** The documented path (`/streams/{id}`) a request path falls under; literal paths win. */
export function operationPath(spec: Spec, path: string): string | undefined {
  if (spec.paths[path]) return path;
  return Object.keys(spec.paths).find((template) =>
    new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path),
  );
}

/** Throws when the response is not what the spec documents for this request. */
export function checkResponse(
  spec: Spec,
  request: { method: string; path: string },
  response: { status: number; contentType: string | null; text: string },
): void {
  const path = request.path.split('?')[0]!;
  if (path === '/openapi.json' || path.startsWith('/docs')) return;
  const where = `${request.method} ${path} -> ${response.status}`;
  const template = operationPath(spec, path);
  const operation = template ? spec.paths[template]![request.method.toLowerCase()] : undefined;
  if (!operation) {
    // No such route: the not-found answer is still an Error body.
    if (response.status !== 404) throw new Error(`contract: ${where}: no documented operation`);
    validate(where, 'error', { $ref: '#/components/schemas/Error' }, spec, response.text);
    return;
  }
  const documented = operation.responses[String(response.status)];
  if (!documented) throw new Error(`contract: ${where}: status not documented (${Object.keys(operation.responses)})`);
  const mediaType = response.contentType?.split(';')[0]!.trim() ?? '';
  if (!documented.content) {
    if (response.text !== '') throw new Error(`contract: ${where}: a body where none is documented`);
    return;
  }
  const media = documented.content[mediaType];
  if (!media)
    throw new Error(`contract: ${where}: content-type ${mediaType} not documented (${Object.keys(documented.content)})`);
  if (mediaType === 'application/json')
    validate(where, `${template} ${request.method} ${response.status}`, media.schema, spec, response.text);
}

function validate(where: string, key: string, schema: unknown, spec: Spec, text: string) {
  let compiled = validators.get(spec);
  if (!compiled) validators.set(spec, (compiled = new Map()));
  let validator = compiled.get(key);
  if (!validator) {
    // The schema's `#/components/...` references resolve against this root.
    validator = ajv.compile({ ...(schema as object), components: spec.components });
    compiled.set(key, validator);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`contract: ${where}: the body is not JSON: ${text.slice(0, 200)}`);
  }
  if (!validator(body))
    throw new Error(
      `contract: ${where}: the body does not match the spec: ${ajv.errorsText(validator.errors)}; body ${text.slice(0, 500)}`,
    );
}
