// What the CRD schemas accept and refuse, checked in JavaScript: the OpenAPI patterns as JS regular
// expressions (through ajv) and each CEL rule through its TypeScript equivalent
// (templates/crd-validation.ts). The API server's verdict on the same inputs comes from the cluster
// tests, with a server-side dry run against the real CRDs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { load, loadAll } from 'js-yaml';
import type { SchemaObject } from 'ajv';
import { parsePool } from '../../lib/address/pool';
import { parseSettings } from '../../lib/settings';
import { crds } from '../../templates/crds.generated';
import { CEL_EQUIVALENTS, validateCustomObject } from '../../templates/crd-validation';

const root = join(__dirname, '..', '..');

function l2lb(spec: Record<string, unknown>, name = 'public'): Record<string, unknown> {
  return { apiVersion: 'network.deckhouse.io/v1alpha1', kind: 'L2LoadBalancer', metadata: { name }, spec };
}

const pool = (...addressPool: unknown[]) => l2lb({ addressPool });

/** The addressPool item schema, and whether an entry passes its pattern and its CEL rules. */
const entrySchema = (() => {
  type CrdSpec = { names: { kind: string }; versions: { schema: { openAPIV3Schema: SchemaObject } }[] };
  const crd = crds.map((c) => c.spec as CrdSpec).find((c) => c.names.kind === 'L2LoadBalancer')!;
  const spec = (crd.versions[0]!.schema.openAPIV3Schema.properties as Record<string, SchemaObject>).spec!;
  return (spec.properties as Record<string, SchemaObject>).addressPool!.items as SchemaObject;
})();
const entryPattern = new RegExp(entrySchema.pattern as string, 'u');
const entryRules = entrySchema['x-kubernetes-validations'] as { rule: string }[];
const celAccepts = (entry: string) => entryRules.every((r) => CEL_EQUIVALENTS[r.rule]!.holds(entry));

describe('L2LoadBalancer addressPool entries', () => {
  it.each([
    '192.168.2.0/28',
    '192.168.2.100-192.168.2.150',
    '192.168.2.7',
    '10.0.0.0/8',
    '0.0.0.0/0',
    '255.255.255.255',
    '192.168.2.7/32',
    '2001:db8::/64',
    '2001:db8::1',
    '2001:DB8::1',
    '2001:db8::10-2001:db8::1f',
    '2001:db8:0:0:0:0:0:1',
    'fe80::',
    '::1',
    '::',
    '::/0',
    '2001:db8::1/128',
  ])('accepts %s', (entry) => {
    expect(entryPattern.test(entry)).toBe(true);
    expect(celAccepts(entry)).toBe(true);
    expect(validateCustomObject(pool(entry))).toEqual([]);
  });

  it.each([
    ['an octet above 255', '10.0.0.300'],
    ['an empty string', ''],
    ['an IPv4 prefix above 32', '10.0.0.0/33'],
    ['an IPv6 prefix above 128', '2001:db8::/129'],
    ['a prefix with a leading zero', '10.0.0.0/08'],
    ['three octets', '10.0.0'],
    ['a leading zero (octal to inet_aton)', '010.0.0.1'],
    ['a hostname', 'lb.example.com'],
    ['whitespace around the entry', ' 192.168.2.7'],
    ['whitespace inside a range', '192.168.2.1 - 192.168.2.9'],
    ['a range without an end', '192.168.2.1-'],
    ['a range mixing families', '192.168.2.1-2001:db8::1'],
    ['a range with a CIDR end', '192.168.2.0/30-192.168.2.9'],
    ['a range of three addresses', '10.0.0.1-10.0.0.2-10.0.0.3'],
    ['an IPv6 zone', 'fe80::1%eth0'],
    ['two ::', '2001::db8::1'],
    ['nine groups', '1:2:3:4:5:6:7:8:9'],
    ['a five-digit group', '2001:db8::12345'],
    ['IPv4-mapped dotted notation', '::ffff:192.0.2.1'],
    ['a bare slash', '/24'],
  ])('refuses %s (%s)', (_what, entry) => {
    expect(validateCustomObject(pool(entry))).not.toEqual([]);
  });

  it('refuses a CIDR with address bits past its prefix, by its CEL rule', () => {
    expect(entryPattern.test('192.168.2.5/28')).toBe(true);
    expect(validateCustomObject(pool('192.168.2.5/28'))).toEqual([
      'spec.addressPool[0] a CIDR must have no address bits set past its prefix length (192.0.2.0/28, not 192.0.2.5/28), got "192.168.2.5/28"',
    ]);
    expect(validateCustomObject(pool('2001:db8::1/64'))).not.toEqual([]);
  });

  it('refuses an empty pool, a repeated entry and a pool that is not a list', () => {
    expect(validateCustomObject(pool())).toEqual(['spec.addressPool must have at least 1 entry, got 0']);
    expect(validateCustomObject(pool('192.0.2.1', '192.0.2.1'))).toEqual([
      'spec.addressPool must not repeat an entry, got "192.0.2.1" twice',
    ]);
    expect(validateCustomObject(l2lb({ addressPool: '192.0.2.0/28' }))).toEqual([
      'spec.addressPool must be an array, got "192.0.2.0/28"',
    ]);
  });

  it('uses patterns that Go RE2 (the API server) reads as JavaScript does: no lookaround, no backreference', () => {
    const patterns = JSON.stringify(crds).match(/"pattern":"(?:[^"\\]|\\.)*"/g) ?? [];
    expect(patterns.length).toBeGreaterThan(0);
    for (const p of patterns) expect(p).not.toMatch(/\(\?[=!<]|\\[1-9]/);
  });

  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => ipaddr.fromByteArray(o));
  const v6 = fc.array(fc.nat(255), { minLength: 16, maxLength: 16 }).map((b) => ipaddr.fromByteArray(b));
  const v4Text = v4.map((a) => a.toString());
  // Compressed, full and upper-case forms; ipaddr prints IPv4-mapped addresses in hex, which is fine.
  const v6Text = fc.oneof(
    v6.map((a) => a.toString()),
    v6.map((a) => a.toNormalizedString()),
    v6.map((a) => a.toString().toUpperCase()),
  );
  const cidr = fc.oneof(
    fc
      .tuple(v4, fc.nat(32))
      .map(([a, p]) => ipaddr.IPv4.networkAddressFromCIDR(`${a.toString()}/${p}`).toString() + `/${p}`),
    fc
      .tuple(v6, fc.nat(128))
      .map(([a, p]) => `${ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${p}`).toString()}/${p}`),
  );
  const range = fc.oneof(fc.tuple(v4Text, v4Text), fc.tuple(v6Text, v6Text)).map(([a, b]) => `${a}-${b}`);

  it('accepts every IPv4 and IPv6 address, network CIDR and range', () => {
    fc.assert(
      fc.property(fc.oneof(v4Text, v6Text, cidr, range), (entry) => {
        expect(entryPattern.test(entry)).toBe(true);
        expect(celAccepts(entry)).toBe(true);
      }),
    );
  });

  it('refuses an IPv4 address with any octet out of range', () => {
    fc.assert(
      fc.property(v4Text, fc.nat(3), fc.integer({ min: 256, max: 999 }), (address, i, octet) => {
        const parts = address.split('.');
        parts[i] = String(octet);
        expect(validateCustomObject(pool(parts.join('.')))).not.toEqual([]);
      }),
    );
  });

  it('admits only entries the hooks can parse (lib/address/pool.ts), unless a range is reversed', () => {
    fc.assert(
      fc.property(fc.oneof(v4Text, v6Text, cidr, range), (entry) => {
        const { errors } = parsePool([entry]);
        expect(errors.filter((e) => !e.message.includes('reversed'))).toEqual([]);
      }),
    );
  });
});

describe('L2LoadBalancer', () => {
  it('accepts the documented example with every field', () => {
    expect(
      validateCustomObject(
        l2lb({
          addressPool: ['192.168.2.0/28', '192.168.2.100-192.168.2.150', '2001:db8::/120'],
          nodeSelector: { 'node-role.kubernetes.io/frontend': '' },
          interfaces: ['eth0', 'bond0.100', 'enp3s0f1'],
          isDefault: true,
        }),
      ),
    ).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no spec', {}, 'spec is required'],
    ['an unknown spec field', { addressPool: ['192.0.2.1'], pool: 'x' }, 'spec.pool is not a known field'],
    [
      'isDefault as a string',
      { addressPool: ['192.0.2.1'], isDefault: 'yes' },
      'spec.isDefault must be a boolean, got "yes"',
    ],
    [
      'an interface name longer than Linux allows',
      { addressPool: ['192.0.2.1'], interfaces: ['enp0s20f0u1u2c2'.padEnd(16, 'x')] },
      'spec.interfaces[0] must NOT have more than 15 characters, got "enp0s20f0u1u2c2x"',
    ],
    [
      'an interface name with a slash',
      { addressPool: ['192.0.2.1'], interfaces: ['eth0/1'] },
      'spec.interfaces[0] must match ^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$, got "eth0/1"',
    ],
    [
      'a node selector value that is no label value',
      { addressPool: ['192.0.2.1'], nodeSelector: { role: 'front end' } },
      'spec.nodeSelector.role must match ^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$, got "front end"',
    ],
  ])('refuses %s', (_what, spec, message) => {
    const object = Object.keys(spec).length === 0 ? { ...l2lb({}), spec: undefined } : l2lb(spec);
    expect(validateCustomObject(JSON.parse(JSON.stringify(object)))).toContain(message);
  });

  it('accepts serviceAllocation by namespaces, namespace labels and Service labels', () => {
    expect(
      validateCustomObject(
        l2lb({
          addressPool: ['192.0.2.0/28'],
          serviceAllocation: {
            namespaces: ['team-a', 'team-a-staging'],
            namespaceSelector: {
              matchLabels: { 'example.com/team': 'a' },
              matchExpressions: [
                { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
              ],
            },
            serviceSelector: { matchExpressions: [{ key: 'example.com/public', operator: 'Exists' }] },
          },
        }),
      ),
    ).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a namespace that is no namespace name',
      { namespaces: ['Team_A'] },
      'spec.serviceAllocation.namespaces[0] must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, got "Team_A"',
    ],
    [
      'an unknown selector operator',
      { serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'Equals', values: ['web'] }] } },
      'spec.serviceAllocation.serviceSelector.matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist, got "Equals"',
    ],
    [
      'In without values, by its CEL rule',
      { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } },
      'In and NotIn need at least one value; Exists and DoesNotExist take none',
    ],
    [
      'Exists with values, by its CEL rule',
      { serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['web'] }] } },
      'In and NotIn need at least one value; Exists and DoesNotExist take none',
    ],
    [
      "MetalLB's plural namespaceSelectors",
      { namespaceSelectors: [{ matchLabels: { team: 'a' } }] },
      'spec.serviceAllocation.namespaceSelectors is not a known field',
    ],
  ])('refuses in serviceAllocation %s', (_what, serviceAllocation, message) => {
    const errors = validateCustomObject(l2lb({ addressPool: ['192.0.2.1'], serviceAllocation }));
    expect(errors.join('\n')).toContain(message);
  });

  it('refuses a name longer than a label value, since L2LBServices carry it as one', () => {
    expect(validateCustomObject(l2lb({ addressPool: ['192.0.2.1'] }, 'p'.repeat(64)))).toEqual([
      'L2LoadBalancer metadata.name must be at most 63 characters, since it becomes a label value on every L2LBService',
    ]);
  });

  it('accepts the status the hooks write, with an IPv6-sized total', () => {
    const object = {
      ...l2lb({ addressPool: ['2001:db8::/64'] }),
      status: {
        observedGeneration: 2,
        addressesTotal: '18446744073709551616',
        addressesAllocated: 3,
        eligibleNodes: 2,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'PoolValid',
            message: '3 of 18446744073709551616 addresses allocated',
            lastTransitionTime: '2026-11-01T10:00:00Z',
            observedGeneration: 2,
          },
        ],
      },
    };
    expect(validateCustomObject(object)).toEqual([]);
  });

  it('refuses a condition without a reason and a count that is not a decimal string', () => {
    const errors = validateCustomObject({
      ...pool('192.0.2.1'),
      status: {
        addressesTotal: 16,
        conditions: [{ type: 'Ready', status: 'Yes', message: '', lastTransitionTime: 'now' }],
      },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        'status.addressesTotal must be a string, got 16',
        'status.conditions[0].reason is required',
        'status.conditions[0].status must be one of True, False, Unknown, got "Yes"',
        'status.conditions[0].lastTransitionTime must match format "date-time", got "now"',
      ]),
    );
  });
});

describe('L2LBService', () => {
  const l2lbService = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
    apiVersion: 'internal.network.deckhouse.io/v1alpha1',
    kind: 'L2LBService',
    metadata: {
      name: 'web-public-0',
      namespace: 'default',
      labels: {
        'network.deckhouse.io/parent-service': 'web',
        'network.deckhouse.io/l2-load-balancer': 'public',
      },
      annotations: { 'metallb.io/address-pool': 'public', 'metallb.io/loadBalancerIPs': '192.0.2.1' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u-1', controller: true }],
    },
    spec,
    ...(status ? { status } : {}),
  });
  const spec = {
    type: 'LoadBalancer',
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
      { name: 'https', port: 443, targetPort: 'https', appProtocol: 'https' },
    ],
    selector: { app: 'web' },
    clusterIP: '10.222.0.10',
    externalTrafficPolicy: 'Local',
    internalTrafficPolicy: 'Cluster',
    loadBalancerClass: 'l2-load-balancer',
    serviceRef: { name: 'web', namespace: 'default' },
    loadBalancerIP: '192.0.2.1',
    nodes: ['frontend-1', 'frontend-2'],
  };

  it('accepts the object the hooks write and the status the speaker writes', () => {
    const status = {
      loadBalancer: { ingress: [{ ip: '192.0.2.1' }] },
      announcingNode: 'frontend-1',
      announcedSince: '2026-11-01T10:00:03Z',
      conditions: [
        {
          type: 'Announced',
          status: 'True',
          reason: 'Announced',
          message: 'frontend-1 announces 192.0.2.1',
          lastTransitionTime: '2026-11-01T10:00:03Z',
        },
      ],
    };
    expect(validateCustomObject(l2lbService(spec, status))).toEqual([]);
  });

  it('accepts an index that has no address yet, and an IPv6 one', () => {
    expect(validateCustomObject(l2lbService({ ...spec, loadBalancerIP: '', nodes: [] }))).toEqual([]);
    expect(validateCustomObject(l2lbService({ ...spec, loadBalancerIP: '2001:db8::7' }))).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no serviceRef', { ...spec, serviceRef: undefined }, 'spec.serviceRef is required'],
    [
      'a serviceRef without namespace',
      { ...spec, serviceRef: { name: 'web' } },
      'spec.serviceRef.namespace is required',
    ],
    [
      'an address that is no address',
      { ...spec, loadBalancerIP: '192.0.2.256' },
      'spec.loadBalancerIP must be an IP address or empty, got "192.0.2.256"',
    ],
    [
      'a CIDR as the address',
      { ...spec, loadBalancerIP: '192.0.2.0/24' },
      'spec.loadBalancerIP must be an IP address or empty, got "192.0.2.0/24"',
    ],
    [
      'more than 16 candidate nodes',
      { ...spec, nodes: Array.from({ length: 17 }, (_, i) => `n${i}`) },
      'spec.nodes must have at most 16 entries, got 17',
    ],
    [
      'a type other than LoadBalancer',
      { ...spec, type: 'NodePort' },
      'spec.type must be one of LoadBalancer, got "NodePort"',
    ],
    [
      'an unknown protocol',
      { ...spec, ports: [{ port: 53, protocol: 'ICMP' }] },
      'spec.ports[0].protocol must be one of TCP, UDP, SCTP, got "ICMP"',
    ],
    ['port 0', { ...spec, ports: [{ port: 0 }] }, 'spec.ports[0].port must be >= 1, got 0'],
    [
      'a targetPort that is neither number nor name',
      { ...spec, ports: [{ port: 80, targetPort: true }] },
      'spec.ports[0].targetPort must be an integer or a string, got true',
    ],
    [
      'an unknown traffic policy',
      { ...spec, externalTrafficPolicy: 'Nearest' },
      'spec.externalTrafficPolicy must be one of Cluster, Local, got "Nearest"',
    ],
  ])('refuses %s', (_what, badSpec, message) => {
    expect(validateCustomObject(JSON.parse(JSON.stringify(l2lbService(badSpec))))).toContain(message);
  });

  it('refuses a status with a malformed announcement time', () => {
    expect(validateCustomObject(l2lbService(spec, { announcedSince: 'yesterday' }))).toEqual([
      'status.announcedSince must match format "date-time", got "yesterday"',
    ]);
  });
});

describe('objects the rest of the project writes', () => {
  const ours = (doc: unknown): doc is { apiVersion: string; kind: string } =>
    typeof doc === 'object' &&
    doc !== null &&
    ['L2LoadBalancer', 'L2LBService'].includes(String((doc as { kind?: unknown }).kind));

  it.each(['examples/cluster.yaml', 'tests/fixtures/clusters/three-frontends.yaml'])(
    '%s passes the CRDs',
    (file) => {
      const docs = loadAll(readFileSync(join(root, file), 'utf8')).filter(ours);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) expect(validateCustomObject(doc)).toEqual([]);
    },
  );

  it('examples/module-config.yaml holds settings the module accepts', () => {
    const config = load(readFileSync(join(root, 'examples/module-config.yaml'), 'utf8')) as {
      spec: { settings: unknown };
    };
    expect(parseSettings(config.spec.settings)).toMatchObject({ ok: true });
  });
});
