// The docs stay true without an API server: the generated references equal what their sources say,
// every YAML block parses into Kubernetes objects, every Service example uses only annotations the
// module defines (with values it accepts), and every address is a documentation address.
// tests/cluster/docs-dry-run.test.ts sends the same objects through a real API server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { loadAll } from 'js-yaml';
import { parsePool, poolContains } from '../../lib/address/pool';
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_IPS,
  ANNOTATION_LB_NAME,
  GROUP,
  INTERNAL_GROUP,
} from '../../lib/model';
import { defaultSettings, parseSettings } from '../../lib/settings';
import { SETTINGS_CONFIGMAP } from '../../lib/controller/bindings';
import { SETTINGS_KEY } from '../../templates/standalone';
import { docsFiles, fencedBlocks, generatedDocs, type FencedBlock } from '../../scripts/gen-docs';

const root = join(__dirname, '..', '..');
const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');

interface DocObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

interface Example {
  block: FencedBlock;
  object: DocObject;
}

function isDocObject(doc: unknown): doc is DocObject {
  const d = doc as Partial<DocObject> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.apiVersion === 'string' &&
    typeof d.kind === 'string' &&
    typeof d.metadata?.name === 'string'
  );
}

const yamlBlocks = docsFiles().flatMap((f) => fencedBlocks(read(f), f).filter((b) => b.lang === 'yaml'));
const where = (b: FencedBlock): string => `${b.file}:${b.line}`;

function objectsOf(block: FencedBlock): DocObject[] {
  return loadAll(block.text).filter((d) => d !== null && d !== undefined) as DocObject[];
}

const examples: Example[] = yamlBlocks.flatMap((block) => {
  try {
    return objectsOf(block).map((object) => ({ block, object }));
  } catch {
    return []; // reported by the parse test below
  }
});
const services = examples.filter((e) => e.object.apiVersion === 'v1' && e.object.kind === 'Service');
const balancers = examples.filter((e) => e.object.kind === 'L2LoadBalancer');

describe('generated references', () => {
  it.each(generatedDocs().map((d) => [d.path, d.content] as const))(
    '%s equals what scripts/gen-docs.ts generates (run `npx tsx scripts/gen-docs.ts`)',
    (path, content) => {
      expect(read(path)).toBe(content);
    },
  );

  it('document every setting of the OpenAPI schema and every field of the CRDs', () => {
    const configuration = read('docs/CONFIGURATION.md');
    for (const path of [
      'loadBalancerClass',
      'maxExternalIPsPerService',
      'rebalance.mode',
      'speaker.leaseDurationSeconds',
      'speaker.garp.refreshSeconds',
      'speaker.tolerations[].effect',
    ])
      expect(configuration).toContain(`### \`${path}\``);
    const cr = read('docs/CR.md');
    for (const heading of [
      '## L2LoadBalancer',
      '## L2LBService',
      '### `spec.addressPool`',
      '### `spec.nodes`',
    ])
      expect(cr).toContain(heading);
  });
});

describe('YAML blocks of the docs', () => {
  it('exist in EXAMPLES.md, FAQ.md and CONFIGURATION.md', () => {
    const files = new Set(yamlBlocks.map((b) => b.file));
    for (const f of ['docs/EXAMPLES.md', 'docs/FAQ.md', 'docs/CONFIGURATION.md']) expect(files).toContain(f);
  });

  it.each(yamlBlocks.map((b) => [where(b), b] as const))(
    '%s parses into Kubernetes objects',
    (_where, block) => {
      const objects = objectsOf(block);
      expect(objects.length).toBeGreaterThan(0);
      for (const o of objects) expect(isDocObject(o)).toBe(true);
    },
  );

  it('show module settings (ModuleConfig and the standalone ConfigMap) that the module accepts', () => {
    const settings = examples.flatMap(({ block, object }) => {
      if (object.kind === 'ModuleConfig') return [{ where: where(block), raw: object.spec?.settings }];
      if (object.kind === 'ConfigMap' && object.metadata.name === SETTINGS_CONFIGMAP) {
        const text = (object as unknown as { data: Record<string, string> }).data[SETTINGS_KEY] ?? '';
        return [{ where: where(block), raw: loadAll(text)[0] }];
      }
      return [];
    });
    expect(settings.length).toBeGreaterThanOrEqual(3);
    for (const s of settings)
      expect({ where: s.where, ok: parseSettings(s.raw).ok }).toEqual({ where: s.where, ok: true });
  });

  it('EXAMPLES.md shows each case the users asked for', () => {
    const text = yamlBlocks
      .filter((b) => b.file === 'docs/EXAMPLES.md')
      .map((b) => b.text)
      .join('\n');
    expect(text).toContain(`${ANNOTATION_IPS_COUNT}: "3"`);
    expect(text).toContain(`${ANNOTATION_IPS_COUNT}: "all"`);
    expect(text).toContain(`${ANNOTATION_LB_IPS}:`);
    expect(text).toContain('external-dns.alpha.kubernetes.io/hostname:');
    expect(text).toContain('externalTrafficPolicy: Local');
    expect(text).toMatch(/2001:db8:/);
    expect(text).toContain('loadBalancerClass:');
  });
});

/** Annotation prefixes the module owns: any key under them must be one lib/model.ts defines. */
const MODULE_PREFIXES = [`${GROUP}/`, `${INTERNAL_GROUP}/`, `l2-load-balancer.${GROUP}/`, 'metallb.io/'];
const MODULE_ANNOTATIONS = new Set([ANNOTATION_LB_NAME, ANNOTATION_IPS_COUNT, ANNOTATION_LB_IPS]);
/** Other systems' annotations an example may show beside them. */
const FOREIGN_PREFIXES = ['external-dns.alpha.kubernetes.io/'];

describe('Service examples', () => {
  it('exist', () => {
    expect(services.length).toBeGreaterThanOrEqual(6);
  });

  it.each(services.map((e) => [`${where(e.block)} ${e.object.metadata.name}`, e] as const))(
    '%s uses only annotations the module defines, with values it accepts',
    (_name, { object }) => {
      const annotations = object.metadata.annotations ?? {};
      for (const key of Object.keys(annotations)) {
        if (MODULE_PREFIXES.some((p) => key.startsWith(p))) expect(MODULE_ANNOTATIONS).toContain(key);
        else expect(FOREIGN_PREFIXES.some((p) => key.startsWith(p))).toBe(true);
      }
      const count = annotations[ANNOTATION_IPS_COUNT];
      if (count !== undefined) {
        expect(count === 'all' || /^[1-9][0-9]*$/.test(count)).toBe(true);
        if (count !== 'all')
          expect(Number(count)).toBeLessThanOrEqual(defaultSettings().maxExternalIPsPerService);
      }
      expect(object.spec?.type).toBe('LoadBalancer');
    },
  );

  it('name L2LoadBalancers the docs define, and pin addresses inside their pools', () => {
    const pools = new Map(
      balancers.map((b) => [
        b.object.metadata.name,
        parsePool((b.object.spec?.addressPool ?? []) as string[]),
      ]),
    );
    for (const { object } of services) {
      const annotations = object.metadata.annotations ?? {};
      const name = annotations[ANNOTATION_LB_NAME];
      if (name === undefined) {
        expect(object.spec?.loadBalancerClass).toEqual(expect.any(String));
        continue;
      }
      const pool = pools.get(name);
      expect({
        service: object.metadata.name,
        l2loadbalancer: name,
        defined: pool !== undefined,
      }).toMatchObject({
        defined: true,
      });
      for (const address of (annotations[ANNOTATION_LB_IPS] ?? '').split(',').filter((a) => a !== ''))
        expect({ address, inPool: poolContains(pool!.pool, address.trim()) }).toEqual({
          address,
          inPool: true,
        });
    }
  });

  it('L2LoadBalancer examples have pools the module parses', () => {
    expect(balancers.length).toBeGreaterThan(0);
    for (const b of balancers) {
      const { errors } = parsePool((b.object.spec?.addressPool ?? []) as string[]);
      expect({ l2loadbalancer: b.object.metadata.name, errors }).toEqual({
        l2loadbalancer: b.object.metadata.name,
        errors: [],
      });
    }
  });
});

describe('addresses in the hand-written docs', () => {
  const DOCUMENTATION = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'].map((c) =>
    ipaddr.parseCIDR(c),
  );
  /** Cluster IPs in sample `kubectl get svc` output: the usual Service range, not a public address. */
  const CLUSTER_IPS = ipaddr.parseCIDR('10.96.0.0/12');
  const handWritten = ['docs/README.md', 'docs/EXAMPLES.md', 'docs/FAQ.md'];

  function addresses(text: string): string[] {
    return text
      .split(/[^0-9A-Fa-f:.]+/)
      .map((t) => t.replace(/^[.:]+|[.]+$/g, ''))
      .filter((t) =>
        t.includes(':')
          ? t.includes('::') || t.split(':').length === 8
            ? ipaddr.IPv6.isValid(t)
            : false
          : ipaddr.IPv4.isValidFourPartDecimal(t),
      );
  }

  it('finds IPv4 and IPv6 addresses, ranges and CIDRs in text', () => {
    expect(
      addresses('pool 192.0.2.0/28, 198.51.100.10-198.51.100.20 and 2001:db8:100::/124 at 10:00:00'),
    ).toEqual(['192.0.2.0', '198.51.100.10', '198.51.100.20', '2001:db8:100::']);
  });

  /** The addresses in `text` outside the documentation ranges (and the usual cluster IP range). */
  function undocumented(text: string): string[] {
    return addresses(text).filter((a) => {
      const ip = ipaddr.parse(a);
      const documentation = DOCUMENTATION.some((range) => ip.kind() === range[0].kind() && ip.match(range));
      return !documentation && !(ip.kind() === 'ipv4' && ip.match(CLUSTER_IPS));
    });
  }

  it('tells documentation addresses from others', () => {
    expect(undocumented('192.0.2.1 10.96.0.10 203.0.113.9 2001:db8::1 192.168.2.7 10.0.0.1 fd00::1')).toEqual(
      ['192.168.2.7', '10.0.0.1', 'fd00::1'],
    );
  });

  it.each(handWritten)('%s uses documentation addresses only (RFC 5737, RFC 3849)', (file) => {
    expect(undocumented(read(file))).toEqual([]);
  });
});
