// Validates objects of the module's own kinds (L2LoadBalancer, L2LBService) against their CRDs, the way
// the API server would, without one: the CRD's OpenAPI schema through ajv, unknown fields refused (as
// with kubectl's strict field validation), defaults applied, and each CEL rule through a TypeScript
// equivalent. For tests and tools; the real API server in the cluster tests remains the judge.
import type { FuncKeywordDefinition, SchemaObject, SchemaValidateFunction, ValidateFunction } from 'ajv';
import { parseAddress, type Address } from '../lib/address/pool';
import { createOpenApiAjv, formatSchemaErrors, jsonClone } from '../lib/settings';
import { crds } from './crds.generated';

/** A rule of `x-kubernetes-validations`. */
export interface CelValidation {
  rule: string;
  message?: string;
}

/** One CEL rule in TypeScript. Transition rules (those with `oldSelf`) only run on updates. */
export interface CelEquivalent {
  transition?: boolean;
  holds(self: unknown, oldSelf?: unknown): boolean;
}

const BITS = { 4: 32n, 6: 128n } as const;

// The Kubernetes CEL IP and CIDR library, as far as the CRDs use it. Like `ip()` and `cidr()`,
// addresses are strict: no zone, no leading zeros, and no IPv4-mapped IPv6 (`::ffff:c000:201`).
function parseIP(s: string): Address | undefined {
  const address = parseAddress(s);
  return address?.family === 6 && address.value >> 32n === 0xffffn ? undefined : address;
}

const isIP = (s: string): boolean => parseIP(s) !== undefined;

function parseCidr(s: string): { address: Address; prefix: bigint } | undefined {
  const [base, prefixText, ...rest] = s.split('/');
  const address = parseIP(base ?? '');
  if (rest.length > 0 || address === undefined || !/^(0|[1-9][0-9]*)$/.test(prefixText ?? ''))
    return undefined;
  const prefix = BigInt(prefixText ?? '');
  return prefix <= BITS[address.family] ? { address, prefix } : undefined;
}

const isCIDR = (s: string): boolean => parseCidr(s) !== undefined;

/** `cidr(s) == cidr(s).masked()`: no address bits past the prefix. */
function isMasked(s: string): boolean {
  const cidr = parseCidr(s);
  if (cidr === undefined) return false;
  const hostBits = BITS[cidr.address.family] - cidr.prefix;
  return (cidr.address.value & ((1n << hostBits) - 1n)) === 0n;
}

function isRange(s: string): boolean {
  const ends = s.split('-');
  if (ends.length !== 2) return false;
  const [first, last] = ends.map((e) => parseIP(e));
  return first !== undefined && last !== undefined && first.family === last.family;
}

const str = (self: unknown): string => (typeof self === 'string' ? self : '');

/** Every CEL rule of crds/*.yaml, keyed by its text; a unit test fails when one is missing here. */
export const CEL_EQUIVALENTS: Readonly<Record<string, CelEquivalent>> = {
  'self.metadata.name.size() <= 63': {
    holds: (self) => str((self as { metadata?: { name?: unknown } }).metadata?.name).length <= 63,
  },
  "self.contains('-') || (self.contains('/') ? isCIDR(self) : isIP(self))": {
    holds: (self) =>
      str(self).includes('-') || (str(self).includes('/') ? isCIDR(str(self)) : isIP(str(self))),
  },
  "!self.contains('/') || !isCIDR(self) || cidr(self) == cidr(self).masked()": {
    holds: (self) => !str(self).includes('/') || !isCIDR(str(self)) || isMasked(str(self)),
  },
  "!self.contains('-') || (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]) && ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family())":
    { holds: (self) => !str(self).includes('-') || isRange(str(self)) },
  'self == oldSelf': {
    transition: true,
    holds: (self, oldSelf) => JSON.stringify(self) === JSON.stringify(oldSelf),
  },
  "self == '' || isIP(self)": { holds: (self) => str(self) === '' || isIP(str(self)) },
  "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0":
    {
      holds: (self) => {
        const { operator, values } = self as { operator?: unknown; values?: unknown };
        const count = Array.isArray(values) ? values.length : 0;
        return operator === 'In' || operator === 'NotIn' ? count > 0 : count === 0;
      },
    },
};

const celKeyword: FuncKeywordDefinition = {
  keyword: 'x-kubernetes-validations',
  schemaType: 'array',
  errors: true,
  validate: ((): SchemaValidateFunction => {
    const validate: SchemaValidateFunction = (rules: readonly CelValidation[], data: unknown) => {
      const failed = rules.filter((r) => {
        const equivalent = CEL_EQUIVALENTS[r.rule];
        if (equivalent === undefined) throw new Error(`no TypeScript equivalent of the CEL rule ${r.rule}`);
        return !equivalent.transition && !equivalent.holds(data);
      });
      validate.errors = failed.map((r) => ({
        keyword: 'x-kubernetes-validations',
        message: r.message ?? `failed rule: ${r.rule}`,
        params: { rule: r.rule },
      }));
      return failed.length === 0;
    };
    return validate;
  })(),
};

/**
 * A CRD's structural schema as plain JSON Schema: objects with `properties` refuse other fields,
 * `set` lists refuse repeats, int-or-string is spelled as anyOf.
 */
export function toJsonSchema(schema: SchemaObject): SchemaObject {
  const out: SchemaObject = { ...schema };
  if (schema.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties as Record<string, SchemaObject>).map(([k, v]) => [k, toJsonSchema(v)]),
    );
    if (
      schema.additionalProperties === undefined &&
      schema['x-kubernetes-preserve-unknown-fields'] !== true
    ) {
      out.additionalProperties = false;
    }
  }
  if (typeof schema.additionalProperties === 'object') {
    out.additionalProperties = toJsonSchema(schema.additionalProperties as SchemaObject);
  }
  if (schema.items !== undefined) out.items = toJsonSchema(schema.items as SchemaObject);
  if (schema['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (schema['x-kubernetes-int-or-string'] === true && schema.anyOf === undefined) {
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  return out;
}

interface CrdVersion {
  name: string;
  schema: { openAPIV3Schema: SchemaObject };
}
interface CrdSpec {
  group: string;
  names: { kind: string };
  versions: CrdVersion[];
}

const ajv = createOpenApiAjv({ useDefaults: true, keywords: [celKeyword] });
const validators = new Map<string, ValidateFunction>();

function validatorFor(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion}/${kind}`;
  const cached = validators.get(key);
  if (cached !== undefined) return cached;
  for (const crd of crds) {
    const spec = crd.spec as CrdSpec;
    if (spec.names.kind !== kind) continue;
    const version = spec.versions.find((v) => `${spec.group}/${v.name}` === apiVersion);
    if (version === undefined) continue;
    const validate = ajv.compile(toJsonSchema(version.schema.openAPIV3Schema));
    validators.set(key, validate);
    return validate;
  }
  return undefined;
}

/**
 * Errors of an object of one of the module's kinds, each naming the field (`spec.addressPool[0] must
 * match ...`); empty when the API server would take it. `object` is not modified.
 */
export function validateCustomObject(object: unknown): string[] {
  const { apiVersion, kind } = (typeof object === 'object' && object !== null ? object : {}) as Record<
    string,
    unknown
  >;
  const validate = validatorFor(String(apiVersion), String(kind));
  if (validate === undefined) return [`${String(apiVersion)} ${String(kind)} is not a kind of this module`];
  return validate(jsonClone(object)) ? [] : formatSchemaErrors(validate.errors, String(kind));
}
