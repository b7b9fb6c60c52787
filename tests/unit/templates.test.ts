// What renderModule promises, stated as behaviour rather than snapshots. The API server's own schema
// check of the rendered objects (a server-side dry run) belongs to the cluster tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { LABEL_MEMBER, MODULE_NAMESPACE, type ModuleValues } from '../../lib/model';
import { SETTINGS_CONFIGMAP } from '../../lib/controller/bindings';
import { defaultSettings, parseSettings, parseValues } from '../../lib/settings';
import { crds } from '../../templates/crds.generated';
import { validateCustomObject } from '../../templates/crd-validation';
import {
  DEFAULT_IMAGES,
  moduleValuesFromSettings,
  renderModule,
  type KubernetesObject,
} from '../../templates';

const root = join(__dirname, '..', '..');

function fixture(name: string): ModuleValues {
  const result = parseValues(load(readFileSync(join(root, 'tests/fixtures/values', name), 'utf8')));
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.values;
}

const minimal = fixture('minimal.yaml');
const full = fixture('full.yaml');
const images = {
  speaker: 'registry.example/l2lb/speaker@sha256:1',
  hooks: 'registry.example/l2lb/hooks@sha256:2',
};

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

function only(objects: KubernetesObject[], kind: string, name?: string): KubernetesObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, got ${found.length}`);
  return found[0]!;
}

/** A path into a rendered object, for reading nested fields in tests. */
function at<T = unknown>(object: unknown, ...path: (string | number)[]): T {
  return path.reduce<unknown>(
    (node, key) => (node as Record<string | number, unknown> | undefined)?.[key],
    object,
  ) as T;
}

interface Container {
  name: string;
  image: string;
  env: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: unknown[];
  securityContext: Record<string, unknown>;
  resources: unknown;
  livenessProbe?: { httpGet: { path: string; port: number } };
  readinessProbe?: { httpGet: { path: string; port: number } };
}

const podSpec = (workload: KubernetesObject) =>
  at<Record<string, unknown>>(workload, 'spec', 'template', 'spec');
const containers = (workload: KubernetesObject) =>
  at<Container[]>(workload, 'spec', 'template', 'spec', 'containers');
const speaker = (values: ModuleValues = full) =>
  only(renderModule(values, { image: images }), 'DaemonSet', 'speaker');
const speakerContainer = (values: ModuleValues = full) => containers(speaker(values))[0]!;

const variants: [string, KubernetesObject[]][] = [
  ['Deckhouse, minimal values', renderModule(minimal)],
  ['Deckhouse, full values', renderModule(full, { image: images })],
  ['standalone, minimal values', renderModule(minimal, { standalone: true })],
  ['standalone, full values', renderModule(full, { standalone: true, image: images })],
];

describe.each(variants)('renderModule (%s)', (_variant, objects) => {
  it('gives every object an apiVersion, a kind and a name', () => {
    for (const o of objects) {
      expect(o.apiVersion).toMatch(/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/);
      expect(o.kind).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/);
    }
  });

  it('puts namespaced objects in the module namespace (IPAddressPools where MetalLB reads them), cluster-scoped ones in none', () => {
    for (const o of objects) {
      const expected = CLUSTER_SCOPED.has(o.kind)
        ? undefined
        : o.kind === 'IPAddressPool'
          ? expect.stringMatching(/metallb/)
          : MODULE_NAMESPACE;
      expect({ object: `${o.kind}/${o.metadata.name}`, namespace: o.metadata.namespace }).toEqual({
        object: `${o.kind}/${o.metadata.name}`,
        namespace: expected,
      });
    }
  });

  it('renders each object once', () => {
    const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('labels everything it owns with heritage and module', () => {
    for (const o of objects)
      expect(o.metadata.labels).toMatchObject({ heritage: 'deckhouse', module: 'l2-load-balancer' });
  });

  it('orders CRDs and the namespace before the objects that need them', () => {
    const index = (predicate: (o: KubernetesObject) => boolean) => objects.findIndex(predicate);
    const lastDefinition = Math.max(
      index((o) => o.kind === 'Namespace'),
      ...objects.map((o, i) => (o.kind === 'CustomResourceDefinition' ? i : -1)),
    );
    const firstUser = index((o) => o.metadata.namespace !== undefined);
    expect(lastDefinition).toBeLessThan(firstUser);
  });

  it('binds roles that exist to ServiceAccounts that exist', () => {
    for (const binding of objects.filter(
      (o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding',
    )) {
      const roleRef = at<{ kind: string; name: string }>(binding, 'roleRef');
      expect(only(objects, roleRef.kind, roleRef.name)).toBeDefined();
      for (const subject of at<{ kind: string; name: string }[]>(binding, 'subjects')) {
        expect(only(objects, subject.kind, subject.name).metadata.namespace).toBe(MODULE_NAMESPACE);
      }
    }
  });

  it('grants no wildcard, and on Secrets only the create of the heartbeat key (no read)', () => {
    for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const rule of at<{ apiGroups: string[]; resources: string[]; verbs: string[] }[]>(role, 'rules')) {
        expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
        if (rule.resources.includes('secrets')) {
          expect(role.kind).toBe('Role');
          expect(rule.verbs).toEqual(['create']);
        }
      }
    }
  });

  it('runs each workload under a ServiceAccount it renders, selecting its own Pods', () => {
    for (const workload of objects.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment')) {
      expect(only(objects, 'ServiceAccount', String(podSpec(workload).serviceAccountName))).toBeDefined();
      const selector = at<Record<string, string>>(workload, 'spec', 'selector', 'matchLabels');
      expect(at(workload, 'spec', 'template', 'metadata', 'labels')).toMatchObject(selector);
    }
  });

  it('renders CRDs that equal crds/ exactly, only standalone', () => {
    const rendered = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(rendered).toEqual(_variant.startsWith('standalone') ? crds : []);
  });
});

describe('the speaker DaemonSet', () => {
  it('holds exactly NET_ADMIN and NET_RAW, everything else dropped, on a read-only root filesystem', () => {
    const security = speakerContainer().securityContext;
    expect(security.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
    expect(security.privileged).toBe(false);
    expect(security.readOnlyRootFilesystem).toBe(true);
    expect(security.runAsNonRoot).toBe(true);
  });

  it('leaves privilege escalation on, which the file capabilities of the image need', () => {
    // no_new_privs (allowPrivilegeEscalation: false) makes the kernel ignore file capabilities.
    expect(speakerContainer().securityContext.allowPrivilegeEscalation).toBe(true);
  });

  it('runs on the host network of the balancer nodes only, as node-critical', () => {
    const spec = podSpec(speaker());
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.nodeSelector).toEqual({ [LABEL_MEMBER]: '' });
    expect(spec.priorityClassName).toBe('system-node-critical');
  });

  it('rolls out one node at a time', () => {
    expect(at(speaker(), 'spec', 'updateStrategy')).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1 },
    });
  });

  it('passes the speaker settings in its environment', () => {
    const env = Object.fromEntries(speakerContainer(full).env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toEqual({
      NODE_NAME: { fieldRef: { fieldPath: 'spec.nodeName' } },
      NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      NODE_IP: { fieldRef: { fieldPath: 'status.hostIP' } },
      LEASE_DURATION_SECONDS: '10',
      RENEW_INTERVAL_SECONDS: '4',
      GARP_COUNT: '7',
      GARP_INTERVAL_MS: '250',
      GARP_REFRESH_SECONDS: '45',
      HEARTBEAT_INTERVAL_MS: '100',
      HEARTBEAT_MISS_COUNT: '6',
      HEARTBEAT_PORT: '7950',
      HEARTBEAT_KEY_FILE: '/etc/l2lb/heartbeat/key',
      LOG_LEVEL: 'Debug',
      METRICS_ADDRESS: '0.0.0.0:9474',
    });
  });

  it('passes the defaults when nothing is set', () => {
    const env = Object.fromEntries(speakerContainer(minimal).env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      LEASE_DURATION_SECONDS: '30',
      RENEW_INTERVAL_SECONDS: '15',
      GARP_COUNT: '4',
      GARP_INTERVAL_MS: '1000',
      GARP_REFRESH_SECONDS: '60',
      HEARTBEAT_INTERVAL_MS: '50',
      HEARTBEAT_MISS_COUNT: '10',
      HEARTBEAT_PORT: '7947',
      LOG_LEVEL: 'Info',
    });
  });

  it('mounts the heartbeat key Secret read-only, readable by the speaker group only', () => {
    const spec = podSpec(speaker(minimal));
    expect(spec.securityContext).toEqual({ fsGroup: 65532 });
    expect(spec.volumes).toEqual([
      { name: 'heartbeat-key', secret: { secretName: 'l2lb-heartbeat-key', defaultMode: 0o440 } },
    ]);
    expect(speakerContainer(minimal).volumeMounts).toEqual([
      { name: 'heartbeat-key', mountPath: '/etc/l2lb/heartbeat', readOnly: true },
    ]);
  });

  it('takes tolerations and resources from the settings', () => {
    expect(podSpec(speaker(full)).tolerations).toEqual(full.speaker.tolerations);
    expect(speakerContainer(full).resources).toEqual({
      requests: { cpu: '50m', memory: '100Mi' },
      limits: { cpu: '1', memory: '200Mi' },
    });
    expect(podSpec(speaker(minimal)).tolerations).toEqual([]);
    expect(speakerContainer(minimal).resources).toEqual(defaultSettings().speaker.resources);
  });

  it('probes /healthz and /readyz on the port it serves metrics on', () => {
    const c = speakerContainer();
    const metricsPort = Number(c.env.find((e) => e.name === 'METRICS_ADDRESS')!.value!.split(':')[1]);
    expect(c.ports).toEqual([
      expect.objectContaining({ name: 'metrics', containerPort: metricsPort }),
      { name: 'heartbeat', containerPort: 7950, protocol: 'UDP' },
    ]);
    expect(c.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: metricsPort });
    expect(c.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: metricsPort });
  });

  it('runs the image it is given, or the default one', () => {
    expect(speakerContainer().image).toBe(images.speaker);
    expect(containers(only(renderModule(minimal), 'DaemonSet'))[0]!.image).toBe(DEFAULT_IMAGES.speaker);
  });
});

describe('speaker RBAC', () => {
  const objects = renderModule(minimal);
  const rules = (kind: string) =>
    at<{ apiGroups: string[]; resources: string[]; verbs: string[] }[]>(
      only(objects, kind, kind === 'Role' ? 'speaker' : 'd8:l2-load-balancer:speaker'),
      'rules',
    );
  const can = (kind: string, group: string, resource: string, verb: string) =>
    rules(kind).some(
      (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
    );

  it('reads L2LBServices and L2LoadBalancers and writes only L2LBService status', () => {
    for (const verb of ['get', 'list', 'watch']) {
      expect(can('ClusterRole', 'internal.network.deckhouse.io', 'l2lbservices', verb)).toBe(true);
      expect(can('ClusterRole', 'network.deckhouse.io', 'l2loadbalancers', verb)).toBe(true);
    }
    expect(can('ClusterRole', 'internal.network.deckhouse.io', 'l2lbservices/status', 'patch')).toBe(true);
    for (const verb of ['create', 'update', 'patch', 'delete']) {
      expect(can('ClusterRole', 'internal.network.deckhouse.io', 'l2lbservices', verb)).toBe(false);
      expect(can('ClusterRole', 'network.deckhouse.io', 'l2loadbalancers', verb)).toBe(false);
    }
  });

  it('keeps Leases in the module namespace (a Role), with no delete', () => {
    // images/speaker/cluster.ts creates its Lease, then renews and releases it with merge patches.
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch']) {
      expect(can('Role', 'coordination.k8s.io', 'leases', verb)).toBe(true);
    }
    expect(can('Role', 'coordination.k8s.io', 'leases', 'delete')).toBe(false);
    expect(can('ClusterRole', 'coordination.k8s.io', 'leases', 'get')).toBe(false);
  });

  it('reads no EndpointSlices, Nodes or Services and writes no Events: the speaker uses none', () => {
    expect(can('ClusterRole', 'discovery.k8s.io', 'endpointslices', 'watch')).toBe(false);
    expect(can('ClusterRole', '', 'nodes', 'get')).toBe(false);
    expect(can('ClusterRole', '', 'nodes', 'patch')).toBe(false);
    expect(can('ClusterRole', '', 'events', 'create')).toBe(false);
    expect(can('ClusterRole', '', 'services', 'get')).toBe(false);
    expect(can('ClusterRole', 'internal.network.deckhouse.io', 'l2lbservices', 'watch')).toBe(true);
  });
});

describe('IPAddressPools', () => {
  it('mirror each pool with autoAssign off when MetalLB CRDs are present', () => {
    const pools = renderModule(full).filter((o) => o.kind === 'IPAddressPool');
    expect(pools.map((p) => [p.apiVersion, p.metadata.name, p.metadata.namespace, p.spec])).toEqual([
      [
        'metallb.io/v1beta1',
        'l2-load-balancer-public',
        'd8-metallb',
        { addresses: ['192.0.2.0/28', '198.51.100.10-198.51.100.20'], autoAssign: false },
      ],
      [
        'metallb.io/v1beta1',
        'l2-load-balancer-public-v6',
        'd8-metallb',
        { addresses: ['2001:db8::/120'], autoAssign: false },
      ],
    ]);
    expect(pools[0]!.metadata.labels).toMatchObject({ 'network.deckhouse.io/l2-load-balancer': 'public' });
  });

  it('are not rendered without the MetalLB CRDs', () => {
    const withoutMetallb = { ...full, internal: { ...full.internal, metallbCRDsPresent: false } };
    expect(renderModule(withoutMetallb).filter((o) => o.kind === 'IPAddressPool')).toEqual([]);
  });

  it("go to upstream MetalLB's namespace standalone, or where told", () => {
    const namespaces = (objects: KubernetesObject[]) =>
      objects.filter((o) => o.kind === 'IPAddressPool').map((o) => o.metadata.namespace);
    expect(namespaces(renderModule(full, { standalone: true }))).toEqual([
      'metallb-system',
      'metallb-system',
    ]);
    expect(namespaces(renderModule(full, { metallbNamespace: 'lb' }))).toEqual(['lb', 'lb']);
  });
});

describe('the admission policy on Service annotations', () => {
  // What the expressions accept is tested on a real API server (tests/cluster/admission.test.ts).
  const validations = (values: ModuleValues) =>
    at<{ expression: string; messageExpression: string }[]>(
      only(renderModule(values), 'ValidatingAdmissionPolicy', 'd8-l2-load-balancer-service-annotations'),
      'spec',
      'validations',
    );

  it('takes its bounds from maxExternalIPsPerService', () => {
    const [, count, pinned] = validations({ ...minimal, maxExternalIPsPerService: 4 });
    expect(count!.expression).toContain('<= 4)');
    expect(count!.messageExpression).toContain('a whole number from 1 to 4 (maxExternalIPsPerService)');
    expect(pinned!.expression).toContain('.size() <= 4 &&');
    expect(pinned!.messageExpression).toContain('at most 4 IP addresses');
    expect(validations(minimal)[1]!.expression).toContain(`<= ${minimal.maxExternalIPsPerService})`);
  });

  it('is bound, and denies', () => {
    const binding = only(
      renderModule(minimal),
      'ValidatingAdmissionPolicyBinding',
      'd8-l2-load-balancer-service-annotations',
    );
    expect(binding.spec).toEqual({
      policyName: 'd8-l2-load-balancer-service-annotations',
      validationActions: ['Deny'],
    });
  });
});

describe('the PodMonitor', () => {
  it("scrapes the speaker Pods on their metrics port, for Deckhouse's main Prometheus", () => {
    const objects = renderModule(full);
    const monitor = only(objects, 'PodMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toMatchObject({ prometheus: 'main' });
    expect(at(only(objects, 'DaemonSet'), 'spec', 'template', 'metadata', 'labels')).toMatchObject(
      at<Record<string, string>>(monitor, 'spec', 'selector', 'matchLabels'),
    );
    const port = at<string>(monitor, 'spec', 'podMetricsEndpoints', 0, 'port');
    expect(speakerContainer(full).ports!.map((p) => p.name)).toContain(port);
  });

  it('can be left out where the prometheus-operator CRDs are missing', () => {
    expect(renderModule(full, { podMonitor: false }).some((o) => o.kind === 'PodMonitor')).toBe(false);
  });
});

describe('standalone', () => {
  const objects = renderModule(full, { standalone: true, image: images });

  it('runs shell-operator with the hooks image, one replica at a time', () => {
    const deployment = only(objects, 'Deployment', 'hooks');
    expect(at(deployment, 'spec', 'replicas')).toBe(1);
    expect(at(deployment, 'spec', 'strategy')).toEqual({ type: 'Recreate' });
    const [container] = containers(deployment);
    expect(container!.image).toBe(images.hooks);
    expect(container!.env).toContainEqual({ name: 'SHELL_OPERATOR_HOOKS_DIR', value: '/module/hooks' });
    expect(container!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('defaults the hooks image', () => {
    const deployment = only(renderModule(minimal, { standalone: true }), 'Deployment', 'hooks');
    expect(containers(deployment)[0]!.image).toBe(DEFAULT_IMAGES.hooks);
  });

  it('puts the settings where the hooks watch for them, so they read back the same', () => {
    const configMap = only(objects, 'ConfigMap', SETTINGS_CONFIGMAP);
    const text = at<string>(configMap, 'data', 'settings.yaml');
    const { internal: _internal, ...settings } = full;
    expect(parseSettings(load(text))).toEqual({ ok: true, settings });
  });

  it('gives the hooks what the control loop and the module-objects hook read and write', () => {
    const rules = [
      ...at<{ apiGroups: string[]; resources: string[]; verbs: string[] }[]>(
        only(objects, 'ClusterRole', 'd8:l2-load-balancer:hooks'),
        'rules',
      ),
      ...at<{ apiGroups: string[]; resources: string[]; verbs: string[] }[]>(
        only(objects, 'Role', 'hooks'),
        'rules',
      ),
    ];
    const can = (group: string, resource: string, verb: string) =>
      rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    const needs: [string, string, string[]][] = [
      ['', 'services', ['get', 'list', 'watch']],
      ['', 'services/status', ['patch']],
      ['', 'nodes', ['get', 'list', 'watch', 'patch']],
      ['network.deckhouse.io', 'l2loadbalancers', ['get', 'list', 'watch']],
      ['network.deckhouse.io', 'l2loadbalancers/status', ['patch']],
      [
        'internal.network.deckhouse.io',
        'l2lbservices',
        ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
      ],
      ['coordination.k8s.io', 'leases', ['get', 'list', 'watch']],
      ['discovery.k8s.io', 'endpointslices', ['get', 'list', 'watch']],
      ['', 'events', ['create']],
      ['', 'configmaps', ['get', 'list', 'watch']],
      ['metallb.io', 'ipaddresspools', ['get', 'create', 'update', 'patch', 'delete']],
      // What hooks/module_objects.ts applies with CreateOrUpdate.
      ['', 'namespaces', ['get', 'create', 'patch']],
      ['', 'serviceaccounts', ['get', 'create', 'patch']],
      ['apps', 'daemonsets', ['get', 'create', 'patch']],
      ['rbac.authorization.k8s.io', 'clusterroles', ['get', 'create', 'patch']],
      ['rbac.authorization.k8s.io', 'clusterrolebindings', ['get', 'create', 'patch']],
      ['rbac.authorization.k8s.io', 'roles', ['get', 'create', 'patch']],
      ['rbac.authorization.k8s.io', 'rolebindings', ['get', 'create', 'patch']],
      ['monitoring.coreos.com', 'podmonitors', ['get', 'create', 'patch']],
    ];
    for (const [group, resource, verbs] of needs) {
      for (const verb of verbs)
        expect({ group, resource, verb, allowed: can(group, resource, verb) }).toMatchObject({
          allowed: true,
        });
    }
    // Kubernetes lets the hooks grant the speaker only what they hold themselves.
    expect(can('coordination.k8s.io', 'leases', 'patch')).toBe(true);
    expect(can('internal.network.deckhouse.io', 'l2lbservices/status', 'patch')).toBe(true);
    expect(can('coordination.k8s.io', 'leases', 'delete')).toBe(false);
    expect(can('', 'secrets', 'get')).toBe(false);
    expect(can('', 'secrets', 'create')).toBe(true);
  });
});

describe('standalone RBAC escalation', () => {
  // The API server refuses to let a ServiceAccount create a role granting more than it holds
  // (checked against kube-apiserver 1.36: an `escalate` limited by resourceNames does not cover
  // the create), so the hooks must hold each rule they apply for the speaker.
  const objects = renderModule(minimal, { standalone: true });
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  const rulesOf = (kind: string, name: string) => at<Rule[]>(only(objects, kind, name), 'rules');
  const holds = (held: Rule[], group: string, resource: string, verb: string) =>
    held.some(
      (r) =>
        r.resourceNames === undefined &&
        r.apiGroups.includes(group) &&
        r.resources.includes(resource) &&
        r.verbs.includes(verb),
    );
  const expand = (rules: Rule[]) =>
    rules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => [g, res, v] as const))),
    );

  it("lets the hooks grant the speaker's ClusterRole: they hold each of its rules cluster-wide", () => {
    const hooks = rulesOf('ClusterRole', 'd8:l2-load-balancer:hooks');
    const missing = expand(rulesOf('ClusterRole', 'd8:l2-load-balancer:speaker')).filter(
      ([g, res, v]) => !holds(hooks, g, res, v),
    );
    expect(missing).toEqual([]);
  });

  it("lets the hooks grant the speaker's Role: they hold each of its rules in the module namespace", () => {
    const hooks = [...rulesOf('ClusterRole', 'd8:l2-load-balancer:hooks'), ...rulesOf('Role', 'hooks')];
    const missing = expand(rulesOf('Role', 'speaker')).filter(([g, res, v]) => !holds(hooks, g, res, v));
    expect(missing).toEqual([]);
  });
});

describe('moduleValuesFromSettings', () => {
  it('adds an empty internal part to settings', () => {
    expect(moduleValuesFromSettings(defaultSettings())).toEqual({
      ...defaultSettings(),
      internal: { pools: [], metallbCRDsPresent: false },
    });
  });

  it('takes the internal part it is given, and the result passes the values schema', () => {
    const values = moduleValuesFromSettings(defaultSettings(), {
      pools: [{ name: 'public', addressPool: ['192.0.2.0/28'] }],
      metallbCRDsPresent: true,
    });
    expect(values.internal.pools).toHaveLength(1);
    expect(parseValues(values)).toEqual({ ok: true, values });
  });
});

describe('custom objects a user writes next to the rendered module', () => {
  it('an L2LoadBalancer per rendered IPAddressPool passes its CRD', () => {
    for (const pool of full.internal.pools) {
      const object = {
        apiVersion: 'network.deckhouse.io/v1alpha1',
        kind: 'L2LoadBalancer',
        metadata: { name: pool.name },
        spec: { addressPool: pool.addressPool },
      };
      expect(validateCustomObject(object)).toEqual([]);
    }
  });
});
