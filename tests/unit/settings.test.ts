import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { load } from 'js-yaml';
import type { SchemaObject } from 'ajv';
import { CROSS_FIELD_RULES, defaultSettings, parseSettings, parseValues } from '../../lib/settings';
import { configValuesSchema } from '../../lib/settings-schema';
import type { ModuleSettings } from '../../lib/model';

const root = join(__dirname, '..', '..');
const readYaml = (rel: string): unknown => load(readFileSync(join(root, rel), 'utf8'));

function expectErrors(raw: unknown): string[] {
  const result = parseSettings(raw);
  if (result.ok) throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
  return result.errors;
}

function expectSettings(raw: unknown): ModuleSettings {
  const result = parseSettings(raw);
  if (!result.ok)
    throw new Error(`expected ${JSON.stringify(raw)} to be accepted: ${result.errors.join('; ')}`);
  return result.settings;
}

describe('parseSettings: defaults', () => {
  it('fills every documented default into empty settings', () => {
    expect(expectSettings({})).toEqual({
      maxExternalIPsPerService: 16,
      addressReservationSeconds: 600,
      rebalance: { mode: 'Gradual', minNodeReadySeconds: 60, maxMovesPerRun: 1 },
      speaker: {
        tolerations: [],
        resources: { requests: { cpu: '10m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        logLevel: 'Info',
        leaseDurationSeconds: 30,
        renewIntervalSeconds: 15,
        garp: { count: 4, intervalMilliseconds: 1000, refreshSeconds: 60 },
        heartbeat: { intervalMilliseconds: 50, missCount: 10, port: 7947 },
      },
    });
  });

  it('treats absent settings (null or undefined) as empty', () => {
    expect(expectSettings(undefined)).toEqual(defaultSettings());
    expect(expectSettings(null)).toEqual(defaultSettings());
  });

  it('leaves loadBalancerClass unset by default, so only annotated Services are handled', () => {
    expect(defaultSettings().loadBalancerClass).toBeUndefined();
  });

  it('keeps the defaults of the siblings of a field that is set', () => {
    const settings = expectSettings({ speaker: { garp: { count: 8 } }, rebalance: { mode: 'Never' } });
    expect(settings.speaker.garp).toEqual({ count: 8, intervalMilliseconds: 1000, refreshSeconds: 60 });
    expect(settings.speaker.leaseDurationSeconds).toBe(30);
    expect(settings.rebalance).toEqual({ mode: 'Never', minNodeReadySeconds: 60, maxMovesPerRun: 1 });
  });

  it('replaces the default requests as a whole when the user sets requests', () => {
    const settings = expectSettings({ speaker: { resources: { requests: { cpu: '100m' } } } });
    expect(settings.speaker.resources).toEqual({ requests: { cpu: '100m' }, limits: { memory: '512Mi' } });
  });

  it('does not modify its input', () => {
    const raw = { speaker: { garp: { count: 2 } } };
    parseSettings(raw);
    expect(raw).toEqual({ speaker: { garp: { count: 2 } } });
  });

  it('returns a fresh object on every call', () => {
    const a = defaultSettings();
    (a.speaker.tolerations as unknown[]).push({ operator: 'Exists' });
    expect(defaultSettings().speaker.tolerations).toEqual([]);
  });
});

describe('parseSettings: examples', () => {
  const examples = (configValuesSchema['x-examples'] as unknown[]) ?? [];

  it('has examples for the whole object', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it.each(examples.map((e, i) => [i, e]))('accepts x-examples[%i]', (_i, example) => {
    expectSettings(example);
  });

  it('accepts the field-level examples of loadBalancerClass', () => {
    const property = (configValuesSchema.properties as Record<string, SchemaObject>).loadBalancerClass;
    for (const example of property?.['x-examples'] as string[]) {
      expect(expectSettings({ loadBalancerClass: example }).loadBalancerClass).toBe(example);
    }
  });

  it('accepts a toleration of every taint', () => {
    expect(
      expectSettings({ speaker: { tolerations: [{ operator: 'Exists' }] } }).speaker.tolerations,
    ).toEqual([{ operator: 'Exists' }]);
  });

  it('accepts integer quantities', () => {
    expectSettings({ speaker: { resources: { limits: { cpu: 1, memory: '1Gi' } } } });
  });
});

describe('parseSettings: refusals name the field and the value', () => {
  it.each<[string, unknown, string]>([
    [
      'a lease shorter than 2 s',
      { speaker: { leaseDurationSeconds: 1 } },
      'speaker.leaseDurationSeconds must be >= 2, got 1',
    ],
    [
      'a lease longer than 60 s',
      { speaker: { leaseDurationSeconds: 61 } },
      'speaker.leaseDurationSeconds must be <= 60, got 61',
    ],
    [
      'a fractional lease',
      { speaker: { leaseDurationSeconds: 2.5 } },
      'speaker.leaseDurationSeconds must be an integer, got 2.5',
    ],
    [
      'a renew interval of 0',
      { speaker: { renewIntervalSeconds: 0 } },
      'speaker.renewIntervalSeconds must be >= 1, got 0',
    ],
    [
      'a count given as a string',
      { maxExternalIPsPerService: '16' },
      'maxExternalIPsPerService must be an integer, got "16"',
    ],
    ['a zero IP limit', { maxExternalIPsPerService: 0 }, 'maxExternalIPsPerService must be >= 1, got 0'],
    [
      'an IP limit above 1024',
      { maxExternalIPsPerService: 1025 },
      'maxExternalIPsPerService must be <= 1024, got 1025',
    ],
    [
      'an unknown rebalance mode',
      { rebalance: { mode: 'Always' } },
      'rebalance.mode must be one of Never, Gradual, got "Always"',
    ],
    [
      'a negative ready time',
      { rebalance: { minNodeReadySeconds: -1 } },
      'rebalance.minNodeReadySeconds must be >= 0, got -1',
    ],
    [
      'zero moves per run',
      { rebalance: { maxMovesPerRun: 0 } },
      'rebalance.maxMovesPerRun must be >= 1, got 0',
    ],
    [
      'an unknown log level',
      { speaker: { logLevel: 'Trace' } },
      'speaker.logLevel must be one of Debug, Info, Warn, Error, got "Trace"',
    ],
    ['zero gratuitous ARPs', { speaker: { garp: { count: 0 } } }, 'speaker.garp.count must be >= 1, got 0'],
    [
      'a 1 ms ARP interval',
      { speaker: { garp: { intervalMilliseconds: 1 } } },
      'speaker.garp.intervalMilliseconds must be >= 10, got 1',
    ],
    [
      'a refresh of 0 s',
      { speaker: { garp: { refreshSeconds: 0 } } },
      'speaker.garp.refreshSeconds must be >= 1, got 0',
    ],
    [
      'tolerations given as an object',
      { speaker: { tolerations: { operator: 'Exists' } } },
      'speaker.tolerations must be an array, got {"operator":"Exists"}',
    ],
    [
      'a toleration with an unknown effect',
      { speaker: { tolerations: [{ operator: 'Exists', effect: 'NoRun' }] } },
      'speaker.tolerations[0].effect must be one of NoSchedule, PreferNoSchedule, NoExecute, got "NoRun"',
    ],
    ['a misspelt setting', { speaker: { leaseDuration: 5 } }, 'speaker.leaseDuration is not a known field'],
    ['an unknown top-level setting', { mode: 'Gradual' }, 'mode is not a known field'],
    [
      'an empty loadBalancerClass',
      { loadBalancerClass: '' },
      'loadBalancerClass must NOT have fewer than 1 characters, got ""',
    ],
    ['settings that are not an object', ['Gradual'], 'settings must be an object, got ["Gradual"]'],
  ])('refuses %s', (_what, raw, message) => {
    expect(expectErrors(raw)).toContain(message);
  });

  it('refuses a loadBalancerClass that is not a label-style name', () => {
    expect(expectErrors({ loadBalancerClass: 'L2 class' })).toEqual([
      expect.stringMatching(/^loadBalancerClass must match .*, got "L2 class"$/),
    ]);
  });

  it('refuses a quantity that is neither a number nor a Kubernetes quantity', () => {
    expect(expectErrors({ speaker: { resources: { requests: { memory: 'lots' } } } })).toEqual([
      expect.stringMatching(
        /^speaker\.resources\.requests\.memory must be an integer or a string matching .*, got "lots"$/,
      ),
    ]);
  });

  it('reports every bad field at once', () => {
    const errors = expectErrors({
      maxExternalIPsPerService: 0,
      speaker: { logLevel: 'Loud', garp: { count: 0 } },
    });
    expect(errors).toHaveLength(3);
  });
});

describe('parseSettings: rules across fields', () => {
  it('refuses a renew interval equal to the lease duration', () => {
    expect(expectErrors({ speaker: { leaseDurationSeconds: 3, renewIntervalSeconds: 3 } })).toEqual([
      'speaker.renewIntervalSeconds must be less than speaker.leaseDurationSeconds (3), got 3',
    ]);
  });

  it('checks the renew interval against the default lease duration', () => {
    expect(expectErrors({ speaker: { renewIntervalSeconds: 30 } })).toEqual([
      'speaker.renewIntervalSeconds must be less than speaker.leaseDurationSeconds (30), got 30',
    ]);
    // And the lease against the default renew interval (15 s).
    expect(expectErrors({ speaker: { leaseDurationSeconds: 10 } })).toEqual([
      'speaker.renewIntervalSeconds must be less than speaker.leaseDurationSeconds (10), got 15',
    ]);
  });

  it('refuses heartbeats that would notice a dead node no sooner than its Lease', () => {
    expect(
      expectErrors({
        speaker: {
          leaseDurationSeconds: 2,
          renewIntervalSeconds: 1,
          heartbeat: { intervalMilliseconds: 500, missCount: 4 },
        },
      }),
    ).toEqual([
      'speaker.heartbeat.intervalMilliseconds × speaker.heartbeat.missCount must be less than speaker.leaseDurationSeconds (2000 ms), got 500 × 4 = 2000 ms',
    ]);
    expect(
      parseSettings({
        speaker: {
          leaseDurationSeconds: 3,
          renewIntervalSeconds: 1,
          heartbeat: { intervalMilliseconds: 500, missCount: 4 },
        },
      }).ok,
    ).toBe(true);
  });

  it('refuses a heartbeat interval, miss count or port outside their bounds', () => {
    expect(expectErrors({ speaker: { heartbeat: { intervalMilliseconds: 5 } } })).toEqual([
      'speaker.heartbeat.intervalMilliseconds must be >= 10, got 5',
    ]);
    expect(expectErrors({ speaker: { heartbeat: { missCount: 2 } } })).toEqual([
      'speaker.heartbeat.missCount must be >= 3, got 2',
    ]);
    expect(expectErrors({ speaker: { heartbeat: { port: 80 } } })).toEqual([
      'speaker.heartbeat.port must be >= 1024, got 80',
    ]);
  });

  it('accepts any renew interval shorter than the lease, and only those', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 60 }), fc.integer({ min: 1, max: 59 }), (lease, renew) => {
        const result = parseSettings({
          speaker: { leaseDurationSeconds: lease, renewIntervalSeconds: renew },
        });
        expect(result.ok).toBe(renew < lease);
      }),
    );
  });

  it('carries exactly the rules of x-deckhouse-validations, so Deckhouse and parseSettings agree', () => {
    const inSchema: { path: string; expression: string }[] = [];
    const walk = (schema: SchemaObject, path: string): void => {
      for (const rule of (schema['x-deckhouse-validations'] as { expression: string }[] | undefined) ?? []) {
        inSchema.push({ path, expression: rule.expression });
      }
      for (const [name, child] of Object.entries((schema.properties as Record<string, SchemaObject>) ?? {})) {
        walk(child, path ? `${path}.${name}` : name);
      }
    };
    walk(configValuesSchema, '');
    expect(CROSS_FIELD_RULES.map(({ path, expression }) => ({ path, expression }))).toEqual(inSchema);
  });
});

describe('the settings schema', () => {
  it('gives every setting a default, except loadBalancerClass whose absence means "no class"', () => {
    const missing: string[] = [];
    const walk = (schema: SchemaObject, path: string): void => {
      for (const [name, child] of Object.entries((schema.properties as Record<string, SchemaObject>) ?? {})) {
        const childPath = path ? `${path}.${name}` : name;
        if (!('default' in child)) missing.push(childPath);
        // requests and limits default as whole maps; their entries have none of their own.
        if (childPath !== 'speaker.resources.requests' && childPath !== 'speaker.resources.limits') {
          walk(child, childPath);
        }
      }
    };
    walk(configValuesSchema, '');
    expect(missing).toEqual(['loadBalancerClass']);
  });

  it('describes every setting', () => {
    const undocumented = Object.entries(configValuesSchema.properties as Record<string, SchemaObject>)
      .flatMap(([name, s]) => [
        [name, s] as const,
        ...Object.entries((s.properties as Record<string, SchemaObject>) ?? {}).map(
          ([child, c]) => [`${name}.${child}`, c] as const,
        ),
      ])
      .filter(([, s]) => typeof s.description !== 'string')
      .map(([name]) => name);
    expect(undocumented).toEqual([]);
  });
});

describe('parseValues', () => {
  it('fills internal with empty defaults on a fresh install', () => {
    const result = parseValues(readYaml('tests/fixtures/values/minimal.yaml'));
    expect(result).toEqual({
      ok: true,
      values: { ...defaultSettings(), internal: { pools: [], metallbCRDsPresent: false } },
    });
  });

  it('accepts the full values fixture with its pools', () => {
    const result = parseValues(readYaml('tests/fixtures/values/full.yaml'));
    if (!result.ok) throw new Error(result.errors.join('; '));
    expect(result.values.internal.pools.map((p) => p.name)).toEqual(['public', 'public-v6']);
    expect(result.values.speaker.leaseDurationSeconds).toBe(10);
  });

  it('refuses a pool without addresses', () => {
    const result = parseValues({ internal: { pools: [{ name: 'empty', addressPool: [] }] } });
    expect(result).toEqual({
      ok: false,
      errors: ['internal.pools[0].addressPool must have at least 1 entry, got 0'],
    });
  });

  it('applies the rules across fields to values too', () => {
    expect(parseValues({ speaker: { renewIntervalSeconds: 30 } }).ok).toBe(false);
  });
});
