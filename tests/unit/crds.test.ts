// The CRDs as the API server reads them: well-formed, structural, printer columns that point at real
// fields, and the generated copy in templates/ up to date. What the schemas accept and refuse is in
// crds-validation.test.ts. The API server's own verdict (CEL compilation and cost included) comes from
// the cluster tests, which apply crds/ to a real kube-apiserver.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { SchemaObject } from 'ajv';
import { createOpenApiAjv } from '../../lib/settings';
import { crds } from '../../templates/crds.generated';
import { CEL_EQUIVALENTS, toJsonSchema } from '../../templates/crd-validation';

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
}
interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[] };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: PrinterColumn[];
      schema: { openAPIV3Schema: SchemaObject };
    }>;
  };
}

const crdDir = join(__dirname, '..', '..', 'crds');
const files = readdirSync(crdDir)
  .filter((f) => f.endsWith('.yaml') && !f.startsWith('doc-'))
  .sort();
const byFile = new Map(files.map((f) => [f, load(readFileSync(join(crdDir, f), 'utf8')) as Crd]));
const byKind = new Map([...byFile.values()].map((crd) => [crd.spec.names.kind, crd]));

function crd(kind: string): Crd {
  const found = byKind.get(kind);
  if (found === undefined) throw new Error(`no CRD of kind ${kind} in crds/`);
  return found;
}
const v1alpha1 = (kind: string) => crd(kind).spec.versions.find((v) => v.name === 'v1alpha1')!;

/** Each node of a schema with its path, as the API server walks it. */
function* walk(
  schema: SchemaObject,
  path: string,
  inValidation = false,
): Generator<[string, SchemaObject, boolean]> {
  yield [path, schema, inValidation];
  for (const [name, child] of Object.entries((schema.properties as Record<string, SchemaObject>) ?? {})) {
    yield* walk(child, `${path}.${name}`, inValidation);
  }
  if (typeof schema.additionalProperties === 'object') {
    yield* walk(schema.additionalProperties as SchemaObject, `${path}[*]`, inValidation);
  }
  if (schema.items !== undefined) yield* walk(schema.items as SchemaObject, `${path}[]`, inValidation);
  for (const key of ['anyOf', 'allOf', 'oneOf']) {
    for (const [i, branch] of ((schema[key] as SchemaObject[]) ?? []).entries()) {
      yield* walk(branch, `${path}.${key}[${i}]`, true);
    }
  }
}

/** Rules of structural schemas (Kubernetes "Specifying a structural schema"), for one CRD version. */
function structuralProblems(root: SchemaObject): string[] {
  const problems: string[] = [];
  for (const [path, node, inValidation] of walk(root, '')) {
    const intOrString = node['x-kubernetes-int-or-string'] === true;
    if (inValidation) {
      // Inside anyOf/allOf/oneOf only value checks are allowed; int-or-string's two types are the exception.
      for (const key of ['description', 'default', 'additionalProperties', 'nullable']) {
        if (key in node) problems.push(`${path}: ${key} inside a logical junctor`);
      }
      continue;
    }
    if (
      !intOrString &&
      node['x-kubernetes-preserve-unknown-fields'] !== true &&
      typeof node.type !== 'string'
    ) {
      problems.push(`${path}: no type`);
    }
    if (node.properties !== undefined && node.additionalProperties !== undefined) {
      problems.push(`${path}: both properties and additionalProperties`);
    }
    if (Array.isArray(node.items)) problems.push(`${path}: items must be one schema`);
    if (node['x-kubernetes-list-type'] === 'map') {
      const items = node.items as SchemaObject;
      for (const key of (node['x-kubernetes-list-map-keys'] as string[]) ?? []) {
        const keySchema = (items.properties as Record<string, SchemaObject>)[key];
        const required = ((items.required as string[]) ?? []).includes(key);
        if (keySchema === undefined || (!required && !('default' in keySchema))) {
          problems.push(`${path}: map key ${key} must be required or defaulted`);
        }
      }
    }
  }
  const metadata = (root.properties as Record<string, SchemaObject>).metadata;
  if (metadata !== undefined && metadata.properties !== undefined)
    problems.push('.metadata: must not be restricted');
  return problems;
}

/** Resolves a printer column's JSONPath in the schema; undefined when the field does not exist. */
function schemaAt(root: SchemaObject, jsonPath: string): SchemaObject | undefined {
  const tokens = jsonPath.match(/\.[A-Za-z0-9_]+|\[[^\]]*\]/g) ?? [];
  let node: SchemaObject | undefined = root;
  for (const token of tokens) {
    if (node === undefined) return undefined;
    if (node.type === 'object' && node.properties === undefined && node.additionalProperties === undefined) {
      return { type: 'string' }; // metadata: free-form here, typed by the API server itself
    }
    node = token.startsWith('[')
      ? (node.items as SchemaObject | undefined)
      : (node.properties as Record<string, SchemaObject> | undefined)?.[token.slice(1)];
  }
  return node;
}

describe('crds/', () => {
  it('holds one CustomResourceDefinition per file, named <plural>.<group>', () => {
    expect(files).toEqual(['l2lbservice.yaml', 'l2loadbalancer.yaml']);
    for (const c of byFile.values()) {
      expect(c.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(c.kind).toBe('CustomResourceDefinition');
      expect(c.metadata.name).toBe(`${c.spec.names.plural}.${c.spec.group}`);
      expect(c.metadata.labels).toMatchObject({ heritage: 'deckhouse', module: 'l2-load-balancer' });
    }
  });

  it('defines L2LoadBalancer as a cluster-scoped network.deckhouse.io/v1alpha1 kind', () => {
    expect(crd('L2LoadBalancer').spec).toMatchObject({
      group: 'network.deckhouse.io',
      scope: 'Cluster',
      names: { plural: 'l2loadbalancers', singular: 'l2loadbalancer', shortNames: ['l2lb'] },
    });
  });

  it('defines L2LBService as a namespaced internal.network.deckhouse.io/v1alpha1 kind', () => {
    expect(crd('L2LBService').spec).toMatchObject({
      group: 'internal.network.deckhouse.io',
      scope: 'Namespaced',
      names: { plural: 'l2lbservices', singular: 'l2lbservice', shortNames: ['l2lbsvc'] },
    });
  });

  it.each(['L2LoadBalancer', 'L2LBService'])(
    'serves and stores v1alpha1 of %s with a status subresource',
    (kind) => {
      expect(crd(kind).spec.versions).toHaveLength(1);
      expect(v1alpha1(kind)).toMatchObject({ served: true, storage: true, subresources: { status: {} } });
    },
  );

  it.each(['L2LoadBalancer', 'L2LBService'])('gives %s a structural schema', (kind) => {
    expect(structuralProblems(v1alpha1(kind).schema.openAPIV3Schema)).toEqual([]);
  });

  it.each(['L2LoadBalancer', 'L2LBService'])(
    'keeps every default of %s valid against its own schema',
    (kind) => {
      const ajv = createOpenApiAjv({ useDefaults: false });
      for (const [path, node] of walk(v1alpha1(kind).schema.openAPIV3Schema, '')) {
        if (!('default' in node)) continue;
        const { default: value, ...schema } = node;
        expect({ path, valid: ajv.validate(toJsonSchema(schema), value) }).toEqual({ path, valid: true });
      }
    },
  );

  it("puts the objects of both kinds into Deckhouse's cluster-configuration backup", () => {
    // Deckhouse backs up the custom objects of every CRD labelled backup.deckhouse.io/cluster-config:
    // the L2LoadBalancers, and the L2LBServices that record the allocation (DESIGN §4.1).
    for (const crd of crds) {
      expect([crd.metadata.name, crd.metadata.labels?.['backup.deckhouse.io/cluster-config']]).toEqual([
        crd.metadata.name,
        'true',
      ]);
    }
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'l2lbservices.internal.network.deckhouse.io',
      'l2loadbalancers.network.deckhouse.io',
    ]);
  });

  it('requires the address pool and the parent Service reference', () => {
    const spec = (kind: string) =>
      (v1alpha1(kind).schema.openAPIV3Schema.properties as Record<string, SchemaObject>).spec as SchemaObject;
    expect(spec('L2LoadBalancer').required).toEqual(['addressPool']);
    expect(spec('L2LBService').required).toEqual(['serviceRef']);
  });
});

describe('printer columns', () => {
  const columns = (kind: string) =>
    (v1alpha1(kind).additionalPrinterColumns ?? []).map(({ name, jsonPath }) => [
      name.toUpperCase(),
      jsonPath,
    ]);

  it('show an L2LoadBalancer pool, its counts, its nodes and readiness', () => {
    expect(columns('L2LoadBalancer')).toEqual([
      ['POOL', '.spec.addressPool'],
      ['TOTAL', '.status.addressesTotal'],
      ['ALLOCATED', '.status.addressesAllocated'],
      ['NODES', '.status.eligibleNodes'],
      ['READY', '.status.conditions[?(@.type=="Ready")].status'],
      ['DEFAULT', '.spec.isDefault'],
      ['AGE', '.metadata.creationTimestamp'],
    ]);
    const wideOnly = v1alpha1('L2LoadBalancer').additionalPrinterColumns!.filter(
      (c) => (c.priority ?? 0) > 0,
    );
    expect(wideOnly.map((c) => c.name)).toEqual(['Default']);
  });

  it('show an L2LBService parent, address, preferred node and announcer', () => {
    expect(columns('L2LBService')).toEqual([
      ['SERVICE', '.spec.serviceRef.name'],
      ['IP', '.spec.loadBalancerIP'],
      ['PREFERRED NODE', '.spec.nodes[0]'],
      ['ANNOUNCED BY', '.status.announcingNode'],
      ['AGE', '.metadata.creationTimestamp'],
    ]);
  });

  it.each(['L2LoadBalancer', 'L2LBService'])(
    'of %s point at fields of the schema, of the column type',
    (kind) => {
      const root = v1alpha1(kind).schema.openAPIV3Schema;
      const schemaType: Record<string, string> = {
        string: 'string',
        integer: 'integer',
        boolean: 'boolean',
        date: 'string',
      };
      for (const column of v1alpha1(kind).additionalPrinterColumns ?? []) {
        const field = schemaAt(root, column.jsonPath);
        // A string column may show a whole list: the API server prints it as JSON.
        const printedAs = field?.type === 'array' && column.type === 'string' ? 'string' : field?.type;
        expect({ column: column.name, type: printedAs }).toEqual({
          column: column.name,
          type: schemaType[column.type],
        });
      }
    },
  );
});

describe('CEL rules', () => {
  const rules = [...byFile.values()].flatMap((c) =>
    c.spec.versions.flatMap((v) =>
      [...walk(v.schema.openAPIV3Schema, '')].flatMap(([, node]) =>
        ((node['x-kubernetes-validations'] as { rule: string; message?: string }[]) ?? []).map((r) => r),
      ),
    ),
  );

  it('each have a TypeScript equivalent, and no equivalent is left over', () => {
    expect(new Set(rules.map((r) => r.rule))).toEqual(new Set(Object.keys(CEL_EQUIVALENTS)));
  });

  it('each say what is wrong in their message', () => {
    for (const rule of rules) expect(rule.message?.length ?? 0).toBeGreaterThan(10);
  });

  it('use only the CEL IP and CIDR library and the string extensions the API server has', () => {
    const functions = new Set(rules.flatMap((r) => [...r.rule.matchAll(/([A-Za-z]+)\(/g)].map((m) => m[1])));
    const known = ['isIP', 'isCIDR', 'ip', 'cidr', 'masked', 'family', 'contains', 'split', 'size', 'has'];
    expect([...functions].filter((f) => !known.includes(f!))).toEqual([]);
  });
});

describe('templates/crds.generated.ts', () => {
  it('equals crds/*.yaml in file order (stale: run `node scripts/gen-schemas.mjs`)', () => {
    expect(crds).toEqual([...byFile.values()]);
  });
});
