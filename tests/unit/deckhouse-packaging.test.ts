// The Deckhouse packaging conventions the module follows, each stated as what Deckhouse reads:
// module.yaml (the Module object and the disable confirmation), the OpenAPI case tests, the Russian
// documentation beside the English, and the user-authz roles.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { SchemaObject } from 'ajv';
import { INTERNAL_GROUP, MODULE_NAME, MODULE_NAMESPACE, type ModuleSettings } from '../../lib/model';
import {
  createOpenApiAjv,
  CROSS_FIELD_RULES,
  defaultSettings,
  formatSchemaErrors,
  jsonClone,
} from '../../lib/settings';
import { moduleValuesFromSettings, renderModule, type KubernetesObject } from '../../templates';
import { DASHBOARD_FILE, dashboardJson, grafanaDashboardDefinition } from '../../templates/dashboard';
import { GRAFANA_DASHBOARD_CRD, moduleObjects, PODMONITOR_CRD } from '../../templates/module-objects';
import type { PolicyRule } from '../../templates/rbac';
import { ACCESS_LEVEL_ANNOTATION } from '../../templates/user-authz';
import { fencedBlocks } from '../../scripts/gen-docs';

const root = join(__dirname, '..', '..');
const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');
const readYaml = (rel: string): unknown => load(read(rel));

/** The keys of module.yaml that Deckhouse documents ("Module structure", module.yaml). */
const MODULE_YAML_KEYS = [
  'name',
  'weight',
  'stage',
  'namespace',
  'subsystems',
  'tags',
  'descriptions',
  'requirements',
  'disable',
  'exclusiveGroup',
  'critical',
  'accessibility',
];
const STAGES = ['Experimental', 'Preview', 'General Availability', 'Deprecated'];
/** A version constraint as Deckhouse's requirements take it: `>= 1.68`, `>= 1.27, < 1.32`. */
const CONSTRAINT =
  /^\s*(?:[<>]=?|=|~|\^)?\s*v?\d+(?:\.\d+){0,2}(?:\s*,\s*(?:[<>]=?|=)\s*v?\d+(?:\.\d+){0,2})*\s*$/;

interface ModuleYaml {
  name: string;
  weight: number;
  stage: string;
  namespace: string;
  subsystems: string[];
  tags: string[];
  descriptions: Record<string, string>;
  requirements: Record<string, string>;
  disable: { confirmation: boolean; message: string };
}

describe('module.yaml', () => {
  const raw = readYaml('module.yaml') as Record<string, unknown>;
  const moduleYaml = raw as unknown as ModuleYaml;

  it('holds only the keys Deckhouse documents for module.yaml', () => {
    expect(Object.keys(raw).filter((k) => !MODULE_YAML_KEYS.includes(k))).toEqual([]);
  });

  it('names the module and its namespace as the templates do, with a weight and a stage Deckhouse knows', () => {
    expect(moduleYaml.name).toBe(MODULE_NAME);
    expect(moduleYaml.namespace).toBe(MODULE_NAMESPACE);
    expect(Number.isInteger(moduleYaml.weight)).toBe(true);
    // After Deckhouse's metallb module (380), before the modules numbered 900 and up that use Services.
    expect(moduleYaml.weight).toBeGreaterThan(380);
    expect(moduleYaml.weight).toBeLessThan(900);
    expect(STAGES).toContain(moduleYaml.stage);
  });

  it('puts the module in the network subsystem, with a description in English and in Russian', () => {
    expect(moduleYaml.subsystems).toEqual(['network']);
    expect(Object.keys(moduleYaml.descriptions).sort()).toEqual(['en', 'ru']);
    expect(moduleYaml.descriptions.en).toMatch(/several public\s+IPs/);
    expect(moduleYaml.descriptions.ru).toMatch(/[а-яё]{4}/);
    expect(moduleYaml.descriptions.ru).not.toMatch(/several|public/);
  });

  it('requires Deckhouse and Kubernetes versions as constraints Deckhouse can compare', () => {
    expect(Object.keys(moduleYaml.requirements).sort()).toEqual(['deckhouse', 'kubernetes']);
    for (const constraint of Object.values(moduleYaml.requirements)) expect(constraint).toMatch(CONSTRAINT);
  });

  it('asks for confirmation before disabling, saying that every address stops being announced', () => {
    expect(moduleYaml.disable.confirmation).toBe(true);
    expect(moduleYaml.disable.message).toMatch(/all public IPs/);
    expect(moduleYaml.disable.message).toMatch(/stop being announced/);
  });
});

interface CaseTests {
  positive: { configValues: unknown[]; values: unknown[] };
  negative: { configValues: unknown[]; values: unknown[] };
}

/** The values schema as addon-operator builds it: values.yaml with config-values.yaml pulled in by x-extend. */
function extendedValuesSchema(): SchemaObject {
  const { 'x-extend': extend, ...values } = readYaml('openapi/values.yaml') as SchemaObject;
  expect(extend).toEqual({ schema: 'config-values.yaml' });
  const config = readYaml('openapi/config-values.yaml') as SchemaObject;
  return { ...config, ...values, properties: { ...config.properties, ...values.properties } };
}

describe('openapi/openapi-case-tests.yaml', () => {
  const cases = readYaml('openapi/openapi-case-tests.yaml') as CaseTests;
  const ajv = createOpenApiAjv({ useDefaults: true });
  const schemas = {
    configValues: ajv.compile(readYaml('openapi/config-values.yaml') as SchemaObject),
    values: ajv.compile(extendedValuesSchema()),
  };

  /** The problems addon-operator would report: the schema's, then the cross-field rules' (CEL there). */
  function problems(kind: keyof typeof schemas, input: unknown): string[] {
    const data = jsonClone(input);
    const validate = schemas[kind];
    if (!validate(data)) return formatSchemaErrors(validate.errors);
    return CROSS_FIELD_RULES.map((r) => r.check(data as ModuleSettings)).filter((e) => e !== undefined);
  }

  const label = (input: unknown): string => JSON.stringify(input);
  const each = (sign: keyof CaseTests, kind: keyof typeof schemas): [string, unknown][] =>
    cases[sign][kind].map((c) => [label(c), c]);

  it('has positive and negative cases for both schemas, in Deckhouse format', () => {
    expect(Object.keys(cases).sort()).toEqual(['negative', 'positive']);
    for (const sign of ['positive', 'negative'] as const) {
      expect(Object.keys(cases[sign]).sort()).toEqual(['configValues', 'values']);
      expect(cases[sign].configValues.length).toBeGreaterThan(3);
      expect(cases[sign].values.length).toBeGreaterThan(2);
    }
  });

  it.each(each('positive', 'configValues'))('config-values.yaml accepts %s', (_label, input) => {
    expect(problems('configValues', input)).toEqual([]);
  });

  it.each(each('positive', 'values'))('values.yaml accepts %s', (_label, input) => {
    expect(problems('values', input)).toEqual([]);
  });

  it.each(each('negative', 'configValues'))(
    'config-values.yaml refuses %s, naming the field',
    (_label, input) => {
      const found = problems('configValues', input);
      expect(found.length).toBeGreaterThan(0);
      const field = Object.keys(input as object)[0]!;
      expect(found.some((p) => p.includes(field))).toBe(true);
    },
  );

  it.each(each('negative', 'values'))('values.yaml refuses %s, naming the field', (_label, input) => {
    const found = problems('values', input);
    expect(found.length).toBeGreaterThan(0);
    const field = Object.keys(input as object)[0]!;
    expect(found.some((p) => p.includes(field))).toBe(true);
  });

  it('tells the two schemas apart: `internal` passes values.yaml and fails config-values.yaml', () => {
    expect(problems('values', { internal: {} })).toEqual([]);
    expect(problems('configValues', { internal: {} })).toEqual(['internal is not a known field']);
  });
});

describe('user-authz and aggregated roles (templates/user-authz.ts)', () => {
  const values = moduleValuesFromSettings(defaultSettings(), { pools: [], metallbCRDsPresent: false });
  const roles = renderModule(values).filter(
    (o) => o.kind === 'ClusterRole' && o.metadata.labels?.app === 'user-authz',
  ) as (KubernetesObject & { rules: PolicyRule[] })[];
  const DECKHOUSE_LEVELS = [
    'User',
    'PrivilegedUser',
    'Editor',
    'Admin',
    'ClusterEditor',
    'ClusterAdmin',
    'SuperAdmin',
  ];

  it('names each access-level role d8:user-authz:l2-load-balancer:<level>, annotated with a level user-authz knows', () => {
    const annotated = roles.filter((r) => r.metadata.annotations?.[ACCESS_LEVEL_ANNOTATION]);
    expect(
      annotated.map((r) => [r.metadata.name, r.metadata.annotations?.[ACCESS_LEVEL_ANNOTATION]]),
    ).toEqual([
      ['d8:user-authz:l2-load-balancer:user', 'User'],
      ['d8:user-authz:l2-load-balancer:cluster-editor', 'ClusterEditor'],
    ]);
    for (const r of annotated)
      expect(DECKHOUSE_LEVELS).toContain(r.metadata.annotations?.[ACCESS_LEVEL_ANNOTATION]);
  });

  it('folds the read of L2LBServices, and nothing else, into view, edit and admin', () => {
    const aggregated = roles.filter((r) =>
      Object.keys(r.metadata.labels ?? {}).some((l) =>
        l.startsWith('rbac.authorization.k8s.io/aggregate-to-'),
      ),
    );
    expect(aggregated).toHaveLength(1);
    expect(aggregated[0]!.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    });
    expect(aggregated[0]!.rules).toEqual([
      { apiGroups: [INTERNAL_GROUP], resources: ['l2lbservices'], verbs: ['get', 'list', 'watch'] },
    ]);
  });

  it('lets no role change L2LBServices, which only the hooks and the speakers write', () => {
    const writes = roles.flatMap((r) =>
      r.rules
        .filter((rule) => rule.apiGroups.includes(INTERNAL_GROUP))
        .flatMap((rule) => rule.verbs.filter((v) => !['get', 'list', 'watch'].includes(v))),
    );
    expect(writes).toEqual([]);
  });

  it('is applied by the hooks under addon-operator, and left to the install manifest under shell-operator', () => {
    const input = { settings: defaultSettings(), balancers: [], crds: new Set<string>() };
    const names = (objects: KubernetesObject[]): string[] =>
      objects.filter((o) => o.metadata.labels?.app === 'user-authz').map((o) => o.metadata.name);
    expect(names(moduleObjects({ ...input, deckhouse: true }))).toEqual(roles.map((r) => r.metadata.name));
    expect(names(moduleObjects({ ...input, deckhouse: false }))).toEqual([]);
    expect(names(renderModule(values, { standalone: true }))).toEqual(roles.map((r) => r.metadata.name));
  });
});

describe('the Grafana dashboard, the Deckhouse way and the standalone way', () => {
  const settings = defaultSettings();
  const dashboards = (objects: KubernetesObject[]): string[] =>
    objects
      .filter((o) => o.kind === 'GrafanaDashboardDefinition' || o.metadata.labels?.grafana_dashboard === '1')
      .map((o) => `${o.kind}/${o.metadata.name}`);
  const crds = (...names: string[]) => new Set([PODMONITOR_CRD, ...names]);

  it('lives in monitoring/grafana-dashboards/<folder>/<name>.json, as in Deckhouse modules', () => {
    expect(DASHBOARD_FILE).toBe('monitoring/grafana-dashboards/l2-load-balancer/overview.json');
  });

  it('is named and foldered from its file path as helm_lib_grafana_dashboard_definitions does', () => {
    expect(grafanaDashboardDefinition().metadata.name).toBe('d8-l2-load-balancer-l2-load-balancer-overview');
    expect(grafanaDashboardDefinition().spec).toMatchObject({ folder: 'L2 Load Balancer' });
    const other = grafanaDashboardDefinition('monitoring/grafana-dashboards/main/pool_use.v2.json');
    expect(other.metadata.name).toBe('d8-l2-load-balancer-main-pool-use-v2');
    expect(other.spec).toMatchObject({ folder: 'Main' });
    expect(other.metadata.labels).toMatchObject({ 'prometheus.deckhouse.io/grafana-dashboard': '' });
    expect((other.spec as { definition: string }).definition).toBe(dashboardJson());
  });

  it('is a GrafanaDashboardDefinition under Deckhouse, where its CRD exists, and a sidecar ConfigMap elsewhere', () => {
    const balancers: never[] = [];
    expect(
      dashboards(moduleObjects({ settings, balancers, crds: crds(GRAFANA_DASHBOARD_CRD), deckhouse: true })),
    ).toEqual(['GrafanaDashboardDefinition/d8-l2-load-balancer-l2-load-balancer-overview']);
    // Deckhouse without its prometheus-crd module: no GrafanaDashboardDefinition to write.
    expect(dashboards(moduleObjects({ settings, balancers, crds: crds(), deckhouse: true }))).toEqual([
      'ConfigMap/l2-load-balancer-dashboard',
    ]);
    // Plain shell-operator: the hooks' ServiceAccount writes the ConfigMap only.
    expect(dashboards(moduleObjects({ settings, balancers, crds: crds(GRAFANA_DASHBOARD_CRD) }))).toEqual([
      'ConfigMap/l2-load-balancer-dashboard',
    ]);
  });
});

describe('Russian documentation beside the English', () => {
  /** Every place of a schema that carries a description, as a path; `<-` marks a structural key. */
  function described(node: unknown, path = ''): string[] {
    if (typeof node !== 'object' || node === null) return [];
    const n = node as {
      description?: unknown;
      properties?: Record<string, unknown>;
      items?: unknown;
      additionalProperties?: unknown;
    };
    return [
      ...(typeof n.description === 'string' ? [path || '.'] : []),
      ...Object.entries(n.properties ?? {}).flatMap(([k, v]) => described(v, `${path}.${k}`)),
      ...described(n.items, `${path}[]`),
      ...described(n.additionalProperties, `${path}{}`),
    ];
  }

  /** Every key of a translation file that is not structure or a description. */
  function foreignKeys(node: unknown, path = ''): string[] {
    if (typeof node !== 'object' || node === null) return [];
    return Object.entries(node).flatMap(([k, v]) => {
      if (k === 'description') return typeof v === 'string' ? [] : [`${path}.description`];
      if (k === 'properties')
        return Object.entries(v as object).flatMap(([name, child]) => foreignKeys(child, `${path}.${name}`));
      if (k === 'items' || k === 'additionalProperties') return foreignKeys(v, `${path}[${k}]`);
      // `type` is kept at the root as Deckhouse's doc-ru files do; it says nothing new.
      if (k === 'type' && path === '') return [];
      return [`${path}.${k}`];
    });
  }

  /** Every path of a translation file, described or not. */
  function paths(node: unknown, path = ''): string[] {
    if (typeof node !== 'object' || node === null) return [];
    const n = node as {
      properties?: Record<string, unknown>;
      items?: unknown;
      additionalProperties?: unknown;
    };
    return [
      ...Object.entries(n.properties ?? {}).flatMap(([k, v]) => [
        `${path}.${k}`,
        ...paths(v, `${path}.${k}`),
      ]),
      ...(n.items ? [`${path}[]`, ...paths(n.items, `${path}[]`)] : []),
      ...(n.additionalProperties ? [`${path}{}`, ...paths(n.additionalProperties, `${path}{}`)] : []),
    ];
  }

  const cyrillic = /[а-яё]{3}/i;

  it('has a docs/<NAME>_RU.md for every docs/<NAME>.md, and nothing else in Russian', () => {
    const files = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));
    const english = files.filter((f) => !f.endsWith('_RU.md'));
    for (const page of ['CONFIGURATION.md', 'CR.md', 'EXAMPLES.md', 'FAQ.md', 'README.md'])
      expect(english).toContain(page);
    expect(files.filter((f) => f.endsWith('_RU.md')).sort()).toEqual(
      english.map((f) => f.replace(/\.md$/, '_RU.md')).sort(),
    );
    for (const f of english) expect(read(`docs/${f.replace(/\.md$/, '_RU.md')}`)).toMatch(cyrillic);
  });

  it('gives the Russian docs the same sections, code blocks and links as the English ones', () => {
    const handWritten = readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md') && !f.endsWith('_RU.md'))
      .map((f) => f.replace(/\.md$/, ''))
      .filter((f) => !['CONFIGURATION', 'CR'].includes(f));
    expect(handWritten.length).toBeGreaterThanOrEqual(3);
    for (const f of handWritten) {
      const en = read(`docs/${f}.md`);
      const ru = read(`docs/${f}_RU.md`);
      const headings = (md: string) => md.split('\n').filter((l) => /^#{1,6} /.test(l)).length;
      expect({ f, headings: headings(ru) }).toEqual({ f, headings: headings(en) });
      const blocks = (md: string, file: string) => fencedBlocks(md, file).map((b) => b.lang);
      expect({ f, blocks: blocks(ru, f) }).toEqual({ f, blocks: blocks(en, f) });
      // Links to the other docs point at their Russian versions.
      expect(ru).not.toMatch(/\]\((?!https?:)[A-Z0-9-]+\.md/);
    }
  });

  it('describes every setting in openapi/doc-ru-config-values.yaml, with no setting the schema lacks', () => {
    const en = readYaml('openapi/config-values.yaml');
    const ru = readYaml('openapi/doc-ru-config-values.yaml');
    expect(described(ru)).toEqual(described(en));
    const known = new Set(paths(en));
    expect(paths(ru).filter((p) => !known.has(p))).toEqual([]);
    expect(foreignKeys(ru)).toEqual([]);
    const texts = (node: unknown): string[] =>
      typeof node !== 'object' || node === null
        ? []
        : Object.entries(node).flatMap(([k, v]) => (k === 'description' ? [String(v)] : texts(v)));
    for (const text of texts(ru)) expect(text).toMatch(cyrillic);
  });

  const crdFiles = readdirSync(join(root, 'crds')).filter(
    (f) => f.endsWith('.yaml') && !f.startsWith('doc-'),
  );

  it('has a crds/doc-ru-<crd>.yaml for every CRD, and no other', () => {
    expect(
      readdirSync(join(root, 'crds'))
        .filter((f) => f.startsWith('doc-'))
        .sort(),
    ).toEqual(crdFiles.map((f) => `doc-ru-${f}`).sort());
  });

  it.each(crdFiles.map((f) => [f]))(
    'crds/doc-ru-%s describes every described field and printer column of the CRD, and nothing it lacks',
    (file) => {
      interface Version {
        name: string;
        additionalPrinterColumns?: { name: string; description?: string }[];
        schema?: { openAPIV3Schema: unknown };
      }
      const en = (readYaml(`crds/${file}`) as { spec: { versions: Version[] } }).spec.versions;
      const doc = readYaml(`crds/doc-ru-${file}`) as { spec: { versions: Version[] } };
      expect(Object.keys(doc)).toEqual(['spec']);
      expect(Object.keys(doc.spec)).toEqual(['versions']);
      expect(doc.spec.versions.map((v) => v.name)).toEqual(en.map((v) => v.name));
      for (const [i, v] of en.entries()) {
        const ru = doc.spec.versions[i]!;
        const schema = v.schema?.openAPIV3Schema;
        expect(described(ru.schema?.openAPIV3Schema)).toEqual(described(schema));
        const known = new Set(paths(schema));
        expect(paths(ru.schema?.openAPIV3Schema).filter((p) => !known.has(p))).toEqual([]);
        expect(foreignKeys(ru.schema?.openAPIV3Schema)).toEqual([]);
        const columns = (cs: Version['additionalPrinterColumns']) =>
          (cs ?? []).filter((c) => c.description).map((c) => c.name);
        expect(columns(ru.additionalPrinterColumns)).toEqual(columns(v.additionalPrinterColumns));
        expect(JSON.stringify(ru)).toMatch(cyrillic);
      }
    },
  );
});
