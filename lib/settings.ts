// Module settings: untyped ModuleConfig settings (or module values) in, typed `ModuleSettings` out.
// The schema is `openapi/config-values.yaml` (via the generated lib/settings-schema.ts), checked with
// ajv the way addon-operator checks it: defaults filled in, unknown fields refused. Rules that span
// several fields are `x-deckhouse-validations` (CEL) in the YAML for Deckhouse, and `CROSS_FIELD_RULES`
// here for everything else; a test keeps the two lists in step.
import Ajv, { type ErrorObject, type KeywordDefinition, type SchemaObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { load as loadYaml } from 'js-yaml';
import type { ModuleSettings, ModuleValues } from './model';
import { configValuesSchema, valuesSchema } from './settings-schema';

export type SettingsResult = { ok: true; settings: ModuleSettings } | { ok: false; errors: string[] };
export type ValuesResult = { ok: true; values: ModuleValues } | { ok: false; errors: string[] };

/** A rule over several settings: the CEL `expression` Deckhouse runs, and the same rule in TypeScript. */
export interface CrossFieldRule {
  /** Dotted path of the schema node that carries the rule in `x-deckhouse-validations` (`''` = root). */
  path: string;
  /** The CEL expression, exactly as in openapi/config-values.yaml. */
  expression: string;
  /** An error message naming the fields and their values, or undefined when the rule holds. */
  check(settings: ModuleSettings): string | undefined;
}

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  {
    path: 'speaker',
    expression:
      '(has(self.renewIntervalSeconds) ? self.renewIntervalSeconds : 15.0) < ' +
      '(has(self.leaseDurationSeconds) ? self.leaseDurationSeconds : 30.0)',
    check: ({ speaker: { renewIntervalSeconds: renew, leaseDurationSeconds: lease } }) =>
      renew < lease
        ? undefined
        : `speaker.renewIntervalSeconds must be less than speaker.leaseDurationSeconds (${lease}), got ${renew}`,
  },
  {
    path: 'speaker',
    expression:
      'double(has(self.heartbeat) && has(self.heartbeat.intervalMilliseconds) ? self.heartbeat.intervalMilliseconds : 50) * ' +
      'double(has(self.heartbeat) && has(self.heartbeat.missCount) ? self.heartbeat.missCount : 10) < ' +
      'double(has(self.leaseDurationSeconds) ? self.leaseDurationSeconds : 30) * 1000.0',
    // Heartbeats that notice a dead node later than its Lease does would only add traffic. CEL has
    // no int × double: addon-operator hands the values as doubles, the literals are ints, so every
    // operand is made a double (addon-operator v1.19.0 refused to start on the mixed form).
    check: ({ speaker: { heartbeat: hb, leaseDurationSeconds: lease } }) =>
      hb.intervalMilliseconds * hb.missCount < lease * 1000
        ? undefined
        : `speaker.heartbeat.intervalMilliseconds × speaker.heartbeat.missCount must be less than speaker.leaseDurationSeconds (${lease * 1000} ms), got ${hb.intervalMilliseconds} × ${hb.missCount} = ${hb.intervalMilliseconds * hb.missCount} ms`,
  },
];

/** OpenAPI extensions that addon-operator, Deckhouse and the API server read and ajv need not. */
const EXTENSION_KEYWORDS = [
  'x-examples',
  'x-extend',
  'x-deckhouse-validations',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
];

/**
 * An ajv instance that reads Kubernetes-flavoured OpenAPI v3 schemas: the `x-` extensions are known
 * keywords without checks (unless `keywords` gives one a check), `int32`/`int64` and `date-time` are
 * checked formats.
 */
export function createOpenApiAjv(options: {
  useDefaults: boolean;
  /** Check schemas against the meta-schema (default). Compiling the meta-schema costs a hook run ~30 ms. */
  validateSchema?: boolean;
  keywords?: readonly KeywordDefinition[];
}): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    useDefaults: options.useDefaults,
    strictTypes: false,
    validateSchema: options.validateSchema ?? true,
  });
  addFormats(ajv, ['date-time']);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  const checked = (options.keywords ?? []).map((k) => k.keyword);
  ajv.addVocabulary([...EXTENSION_KEYWORDS.filter((k) => !checked.includes(k)), ...(options.keywords ?? [])]);
  return ajv;
}

// Compiled on first use: a hook process compiles only the schema it needs (compiling is most of
// a short hook run's start-up).
let ajv: Ajv | undefined;
let configValuesValidator: ValidateFunction<ModuleSettings> | undefined;
let valuesValidator: ValidateFunction<ModuleValues> | undefined;
// The settings schema is the module's own and checked against the meta-schema by its tests.
const compiler = (): Ajv => (ajv ??= createOpenApiAjv({ useDefaults: true, validateSchema: false }));
const validateConfigValues = (): ValidateFunction<ModuleSettings> =>
  (configValuesValidator ??= compiler().compile<ModuleSettings>(configValuesSchema));
const validateValues = (): ValidateFunction<ModuleValues> =>
  (valuesValidator ??= compiler().compile<ModuleValues>(valuesSchema));

/** Parses ModuleConfig settings; absent fields get their defaults. `raw` is not modified. */
export function parseSettings(raw: unknown): SettingsResult {
  const data = jsonClone(raw ?? {});
  const validate = validateConfigValues();
  if (!validate(data)) return { ok: false, errors: formatSchemaErrors(validate.errors) };
  const errors = crossFieldErrors(data);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings: data };
}

/**
 * Parses module values (settings plus `internal`), as addon-operator hands them to hooks. `base`
 * prefixes the field paths of the errors (`l2LoadBalancer` names them as they sit in the values).
 */
export function parseValues(raw: unknown, base = ''): ValuesResult {
  const data = jsonClone(raw ?? {});
  const validate = validateValues();
  if (!validate(data)) return { ok: false, errors: formatSchemaErrors(validate.errors, 'values', base) };
  const errors = crossFieldErrors(data).map((e) => joinPath(base, e));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, values: data };
}

/** The key of this module's values: addon-operator keys them by the module name in camelCase. */
export const VALUES_KEY = 'l2LoadBalancer';

/**
 * The settings of one hook run, from wherever the engine keeps them (docs/ARCHITECTURE.md §2.1):
 * - `values` (addon-operator's `VALUES_PATH`): `{global, l2LoadBalancer: {...settings, internal}}`
 *   with the defaults of both schemas applied; checked against openapi/values.yaml, as
 *   addon-operator itself checks them, and `internal` dropped: it is the hooks' own state.
 * - otherwise (plain shell-operator has no values) `configMapText`, the YAML text of the standalone
 *   settings ConfigMap, checked against openapi/config-values.yaml; absent or empty = defaults.
 * Both give the same settings for the same user input. Errors name the field where the user (or the
 * engine) put it, and never throw: a hook that cannot read its settings changes nothing.
 */
export function hookSettings(
  values: Record<string, unknown> | undefined,
  configMapText: string | undefined,
  configMapName = 'the settings ConfigMap',
): SettingsResult {
  if (values !== undefined) {
    if (!(VALUES_KEY in values)) {
      // A module packaged under another name gets its values under another key; running on the
      // defaults would silently ignore every setting the user made.
      const keys = Object.keys(values).join(', ') || 'none';
      return { ok: false, errors: [`values have no ${VALUES_KEY} key (found: ${keys})`] };
    }
    const parsed = parseValues(values[VALUES_KEY], VALUES_KEY);
    if (!parsed.ok) return parsed;
    const { internal: _internal, ...settings } = parsed.values;
    return { ok: true, settings };
  }
  if (configMapText === undefined || configMapText.trim() === '') return parseSettings({});
  let raw: unknown;
  try {
    raw = loadYaml(configMapText);
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0] ?? '';
    return { ok: false, errors: [`${configMapName} key settings.yaml is not valid YAML: ${reason}`] };
  }
  return parseSettings(raw);
}

/** Every setting at its default. */
export function defaultSettings(): ModuleSettings {
  const result = parseSettings({});
  if (!result.ok)
    throw new Error(`the defaults of openapi/config-values.yaml are invalid: ${result.errors.join('; ')}`);
  return result.settings;
}

/**
 * A deep copy of JSON-shaped input. Not structuredClone: under jest it returns objects of the host
 * realm, which js-yaml's dump then refuses as "unacceptable kind of an object".
 */
export function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function crossFieldErrors(settings: ModuleSettings): string[] {
  return CROSS_FIELD_RULES.map((rule) => rule.check(settings)).filter((e): e is string => e !== undefined);
}

/**
 * Turns ajv errors into one message per problem, each naming the field by its dotted path and
 * showing the offending value: `speaker.leaseDurationSeconds must be >= 2, got 1`.
 */
export function formatSchemaErrors(
  errors: readonly ErrorObject[] | null | undefined,
  root = 'settings',
  base = '',
): string[] {
  const messages = (errors ?? [])
    // The branches of an anyOf report their own failures; the anyOf error says it all at once.
    .filter((e) => !e.schemaPath.includes('/anyOf/'))
    .map((e) => formatSchemaError(e, root, base));
  return [...new Set(messages)];
}

function formatSchemaError(e: ErrorObject, root: string, base: string): string {
  const path = joinPath(base, dottedPath(e.instancePath));
  const field = path || root;
  const got = `got ${show(e.data)}`;
  // Errors of keywords such as x-kubernetes-validations carry no value of their own.
  if (!('data' in e)) return `${field} ${e.message ?? 'is invalid'}`;
  const params: Record<string, unknown> = e.params;
  switch (e.keyword) {
    case 'type':
      return `${field} must be ${withArticle(String(params.type))}, ${got}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${field} must be ${String(params.comparison)} ${String(params.limit)}, ${got}`;
    case 'enum':
      return `${field} must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}, ${got}`;
    case 'additionalProperties':
      return `${joinPath(path, String(params.additionalProperty))} is not a known field`;
    case 'required':
      return `${joinPath(path, String(params.missingProperty))} is required`;
    case 'pattern': {
      // The address patterns of the CRDs run to a thousand characters: name them, don't print them.
      const pattern = String(params.pattern);
      return `${field} must match ${pattern.length > 120 ? 'the pattern of its schema' : pattern}, ${got}`;
    }
    case 'minItems':
    case 'maxItems': {
      const count = Array.isArray(e.data) ? e.data.length : 0;
      const bound = e.keyword === 'minItems' ? 'at least' : 'at most';
      const limit = Number(params.limit);
      return `${field} must have ${bound} ${limit} ${limit === 1 ? 'entry' : 'entries'}, got ${count}`;
    }
    case 'uniqueItems':
      return `${field} must not repeat an entry, got ${show((e.data as unknown[])[Number(params.i)])} twice`;
    case 'anyOf':
      return `${field} must be ${(e.schema as SchemaObject[]).map(describeSchema).join(' or ')}, ${got}`;
    default:
      // A rule over a whole object (CEL on a CRD's root) names its fields itself.
      return typeof e.data === 'object' && e.data !== null
        ? `${field} ${e.message ?? 'is invalid'}`
        : `${field} ${e.message ?? 'is invalid'}, ${got}`;
  }
}

/** `/speaker/tolerations/0/effect` -> `speaker.tolerations[0].effect`. */
function dottedPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : joinPath(acc, part)), '');
}

function joinPath(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeSchema(schema: SchemaObject): string {
  const type = withArticle(String(schema.type ?? 'value'));
  return typeof schema.pattern === 'string' ? `${type} matching ${schema.pattern}` : type;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
