// What the speakers act on may be written only by the module itself. A speaker announces the address
// of an L2LBService whose `spec.nodes` names its node first while its Lease is fresh, so whoever can
// write an L2LBService or a speaker Lease can make a node answer ARP for an address of their choosing
// (the speaker still refuses addresses outside every pool, lib/speaker/pools.ts). RBAC alone cannot
// say this: a namespace admin may be granted `*` on every resource of their namespace. These
// ValidatingAdmissionPolicies (CEL, in the API server, no webhook to run) say it for everyone.
//
// Members of `system:masters` pass: that group bypasses RBAC and is the break-glass identity of a
// cluster; no namespace user is in it.
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_IPS,
  ANNOTATION_LB_NAME,
  INTERNAL_GROUP,
  LABEL_L2LB,
  LEASE_PREFIX,
  MODULE_NAME,
  MODULE_NAMESPACE,
} from '../lib/model';
import { HOOKS_NAME, moduleLabels, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

const serviceAccountUser = (namespace: string, name: string): string =>
  `system:serviceaccount:${namespace}:${name}`;

/** The hooks: under plain shell-operator their own ServiceAccount, under Deckhouse the deckhouse one. */
export const HOOKS_USERS: readonly string[] = [
  serviceAccountUser(MODULE_NAMESPACE, HOOKS_NAME),
  serviceAccountUser('d8-system', 'deckhouse'),
];
export const SPEAKER_USER = serviceAccountUser(MODULE_NAMESPACE, SPEAKER_NAME);
/**
 * Who deletes on the module's behalf: the garbage collector (an L2LBService is owned by its Service)
 * and the namespace controller, with per-controller credentials or kube-controller-manager's own.
 */
export const CLEANUP_USERS: readonly string[] = [
  serviceAccountUser('kube-system', 'generic-garbage-collector'),
  serviceAccountUser('kube-system', 'namespace-controller'),
  'system:kube-controller-manager',
];

export const L2LBSERVICE_POLICY = 'd8-l2-load-balancer-l2lbservices';
export const SPEAKER_LEASE_POLICY = 'd8-l2-load-balancer-speaker-leases';
export const SERVICE_ANNOTATIONS_POLICY = 'd8-l2-load-balancer-service-annotations';
export const IPADDRESSPOOL_POLICY = 'd8-l2-load-balancer-ipaddresspools';
/** The standalone hooks' own ServiceAccount (under Deckhouse the hooks run as Deckhouse itself). */
export const STANDALONE_HOOKS_USER = serviceAccountUser(MODULE_NAMESPACE, HOOKS_NAME);
/** Set on a bound ServiceAccount token of a Pod: the node the Pod runs on (Kubernetes 1.32+). */
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

const cel = (s: string): string => `'${s}'`;
const celList = (xs: readonly string[]): string => `[${xs.map(cel).join(', ')}]`;

const NOT_BREAK_GLASS = {
  name: 'not-system-masters',
  expression: "!(has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups)",
};
const CLEANUP = `(request.operation == 'DELETE' && request.userInfo.username in ${celList(CLEANUP_USERS)})`;

function policy(name: string, spec: Record<string, unknown>): KubernetesObject[] {
  const apiVersion = 'admissionregistration.k8s.io/v1';
  const metadata = { name, labels: moduleLabels() };
  return [
    { apiVersion, kind: 'ValidatingAdmissionPolicy', metadata, spec: { failurePolicy: 'Fail', ...spec } },
    {
      apiVersion,
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata,
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

/** L2LBServices: the hooks write them, the speakers only their status. */
function l2lbServicePolicy(): KubernetesObject[] {
  return policy(L2LBSERVICE_POLICY, {
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: [INTERNAL_GROUP],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: ['l2lbservices', 'l2lbservices/status'],
        },
      ],
    },
    matchConditions: [NOT_BREAK_GLASS],
    // The admission request leaves out an empty subResource.
    variables: [{ name: 'subresource', expression: "has(request.subResource) ? request.subResource : ''" }],
    validations: [
      {
        expression: [
          `request.userInfo.username in ${celList(HOOKS_USERS)}`,
          `(variables.subresource == 'status' && request.userInfo.username == ${cel(SPEAKER_USER)})`,
          CLEANUP,
        ].join(' || '),
        messageExpression:
          "'l2-load-balancer: ' + request.userInfo.username + ' may not ' + request.operation + ' L2LBService ' + " +
          "request.namespace + '/' + request.name + (variables.subresource == '' ? '' : '/' + variables.subresource) + " +
          "': only the module writes these objects (its hooks the object, its speakers the status). " +
          'Ask for addresses with the Service annotations network.deckhouse.io/l2-load-balancer-name, ' +
          "network.deckhouse.io/l2-load-balancer-external-ips-count and network.deckhouse.io/load-balancer-ips.'",
        reason: 'Forbidden',
      },
    ],
  });
}

/**
 * Speaker Leases (`l2lb-speaker-<node>` in the module namespace): only the speakers write them, and a
 * speaker whose token is bound to a Pod on a node only the Lease of that node.
 */
function speakerLeasePolicy(): KubernetesObject[] {
  return policy(SPEAKER_LEASE_POLICY, {
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: ['coordination.k8s.io'],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: ['leases'],
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MODULE_NAMESPACE } },
    },
    matchConditions: [
      { name: 'speaker-lease', expression: `request.name.startsWith(${cel(LEASE_PREFIX)})` },
      NOT_BREAK_GLASS,
    ],
    variables: [
      {
        name: 'node',
        expression:
          `has(request.userInfo.extra) && ${cel(NODE_NAME_EXTRA)} in request.userInfo.extra && ` +
          `size(request.userInfo.extra[${cel(NODE_NAME_EXTRA)}]) > 0 ? ` +
          `request.userInfo.extra[${cel(NODE_NAME_EXTRA)}][0] : ''`,
      },
    ],
    validations: [
      {
        expression: `request.userInfo.username == ${cel(SPEAKER_USER)} || ${CLEANUP}`,
        messageExpression:
          "'l2-load-balancer: ' + request.userInfo.username + ' may not ' + request.operation + ' Lease ' + " +
          "request.namespace + '/' + request.name + ': speaker Leases decide which node announces an address; " +
          "only the speakers write them.'",
        reason: 'Forbidden',
      },
      {
        expression: `variables.node == '' || request.name == ${cel(LEASE_PREFIX)} + variables.node`,
        messageExpression:
          "'l2-load-balancer: the speaker on node ' + variables.node + ' may write only its own Lease " +
          `${LEASE_PREFIX}' + variables.node + ', not ' + request.name`,
        reason: 'Forbidden',
      },
    ],
  });
}

/** The longest text of one address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`), a comma and a space. */
const PINNED_ENTRY_CHARS = 47;
/** How much of a refused value a message quotes: the API server's limits are far away. */
const QUOTED_CHARS = 64;

const annotation = (key: string): string => `object.metadata.annotations[${cel(key)}]`;
const hasAnnotation = (key: string): string =>
  `(has(object.metadata.annotations) && ${cel(key)} in object.metadata.annotations)`;
/** An update that leaves the annotation as it was: what got in before stays the hooks' business. */
const unchanged = (key: string): string =>
  `(request.operation == 'UPDATE' && has(oldObject.metadata.annotations) && ${cel(key)} in oldObject.metadata.annotations && ` +
  `oldObject.metadata.annotations[${cel(key)}] == ${annotation(key)})`;
const quoted = (key: string): string =>
  `'"' + (${annotation(key)}.size() > ${QUOTED_CHARS} ? ${annotation(key)}.substring(0, ${QUOTED_CHARS}) + '...' : ${annotation(key)}) + '"'`;

/** One rule on one annotation of a Service: holds when the annotation is absent or unchanged. */
function annotationRule(key: string, check: string, problem: string): Record<string, string> {
  return {
    expression: `!${hasAnnotation(key)} || ${unchanged(key)} || (${check})`,
    messageExpression:
      `'l2-load-balancer: Service ' + object.metadata.namespace + '/' + object.metadata.name + ': annotation ${key} is ' + ` +
      `${quoted(key)} + '; ${problem}'`,
    reason: 'Invalid',
  };
}

/**
 * Services: the module's annotations, checked for what needs no other object (whether the named
 * L2LoadBalancer exists or lets the namespace in is the hooks' to say, in the Service's condition).
 * A tenant learns of a typo when writing it, and no Service can carry a value too large to quote or
 * ask for more than `maxExternalIPsPerService` addresses. Parameterised by that setting: the rendered
 * policy changes with it.
 */
function serviceAnnotationsPolicy(maxExternalIPsPerService: number): KubernetesObject[] {
  const max = maxExternalIPsPerService;
  const pinned = `${annotation(ANNOTATION_LB_IPS)}.split(',').map(e, e.trim()).filter(e, e != '')`;
  return policy(SERVICE_ANNOTATIONS_POLICY, {
    matchConstraints: {
      resourceRules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['services'] },
      ],
    },
    matchConditions: [
      {
        name: 'module-annotations',
        expression: [ANNOTATION_LB_NAME, ANNOTATION_IPS_COUNT, ANNOTATION_LB_IPS]
          .map(hasAnnotation)
          .join(' || '),
      },
      NOT_BREAK_GLASS,
    ],
    validations: [
      annotationRule(
        ANNOTATION_LB_NAME,
        `${annotation(ANNOTATION_LB_NAME)}.size() <= 63 && ${annotation(ANNOTATION_LB_NAME)}.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')`,
        'it must be the name of an L2LoadBalancer: at most 63 lower-case letters, digits, "-" and ".".',
      ),
      annotationRule(
        ANNOTATION_IPS_COUNT,
        `${annotation(ANNOTATION_IPS_COUNT)} == 'all' || (${annotation(ANNOTATION_IPS_COUNT)}.matches('^[1-9][0-9]{0,5}$') && int(${annotation(ANNOTATION_IPS_COUNT)}) <= ${max})`,
        `it must be "all" or a whole number from 1 to ${max} (maxExternalIPsPerService).`,
      ),
      annotationRule(
        ANNOTATION_LB_IPS,
        `${annotation(ANNOTATION_LB_IPS)}.size() <= ${max * PINNED_ENTRY_CHARS} && ${pinned}.size() <= ${max} && ${pinned}.all(e, isIP(e))`,
        `it must be at most ${max} IP addresses (maxExternalIPsPerService), separated by commas.`,
      ),
    ],
  });
}

/**
 * MetalLB IPAddressPools: the hooks' ServiceAccount needs create, update and delete on them (one pool
 * per L2LoadBalancer, templates/metallb.ts), and RBAC cannot limit a create to names it does not know
 * yet. This limits it to the module's own pools: named `l2-load-balancer-<name>`, labelled with the
 * module and the L2LoadBalancer, before and after the write, so it can neither change, adopt nor
 * delete a pool someone else wrote. Only the standalone hooks' ServiceAccount is held: under Deckhouse
 * the hooks run as Deckhouse, which writes other modules' pools too.
 */
function ipAddressPoolPolicy(): KubernetesObject[] {
  const ours = (o: string): string =>
    `(has(${o}.metadata.labels) && 'module' in ${o}.metadata.labels && ${o}.metadata.labels['module'] == ${cel(MODULE_NAME)} && ` +
    `${cel(LABEL_L2LB)} in ${o}.metadata.labels && ${o}.metadata.name.startsWith(${cel(`${MODULE_NAME}-`)}))`;
  return policy(IPADDRESSPOOL_POLICY, {
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: ['metallb.io'],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: ['ipaddresspools'],
        },
      ],
    },
    matchConditions: [
      { name: 'the-module-hooks', expression: `request.userInfo.username == ${cel(STANDALONE_HOOKS_USER)}` },
    ],
    validations: [
      {
        expression:
          `(request.operation == 'DELETE' || ${ours('object')}) && ` +
          `(request.operation == 'CREATE' || ${ours('oldObject')})`,
        messageExpression:
          "'l2-load-balancer: the hooks may ' + request.operation + ' only their own IPAddressPools (named " +
          `${MODULE_NAME}-<L2LoadBalancer>, labelled module=${MODULE_NAME} and ${LABEL_L2LB}), not ' + ` +
          "request.namespace + '/' + request.name",
        reason: 'Forbidden',
      },
    ],
  });
}

export function admissionPolicies(settings: { maxExternalIPsPerService: number }): KubernetesObject[] {
  return [
    ...l2lbServicePolicy(),
    ...speakerLeasePolicy(),
    ...serviceAnnotationsPolicy(settings.maxExternalIPsPerService),
    ...ipAddressPoolPolicy(),
  ];
}
