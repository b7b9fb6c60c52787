// The Deckhouse packaging conventions the module follows, each stated as what Deckhouse reads:
// module.yaml (the Module object and the disable confirmation), the OpenAPI case tests, the Russian
// documentation beside the English, and the user-authz roles.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { MODULE_NAME, MODULE_NAMESPACE } from '../../lib/model';

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
