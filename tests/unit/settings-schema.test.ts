// lib/settings-schema.ts is generated from openapi/*.yaml by scripts/gen-schemas.mjs; these tests fail
// when someone edits the YAML and forgets to run the script (or edits the generated file by hand).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { SchemaObject } from 'ajv';
import { configValuesSchema, valuesSchema } from '../../lib/settings-schema';

const root = join(__dirname, '..', '..');
const readYaml = (rel: string): SchemaObject => load(readFileSync(join(root, rel), 'utf8')) as SchemaObject;
const STALE = 'stale: run `node scripts/gen-schemas.mjs`';

describe('lib/settings-schema.ts', () => {
  it(`equals openapi/config-values.yaml (${STALE})`, () => {
    expect(configValuesSchema).toEqual(readYaml('openapi/config-values.yaml'));
  });

  it(`holds the properties of config-values.yaml and values.yaml, as x-extend merges them (${STALE})`, () => {
    const config = readYaml('openapi/config-values.yaml');
    const values = readYaml('openapi/values.yaml');
    expect(values['x-extend']).toEqual({ schema: 'config-values.yaml' });
    expect(valuesSchema.properties).toEqual({ ...config.properties, ...values.properties });
    expect(valuesSchema.additionalProperties).toBe(false);
    expect(valuesSchema['x-extend']).toBeUndefined();
  });
});
