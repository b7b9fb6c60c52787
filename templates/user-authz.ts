// Who may see and change the module's resources, by Deckhouse's and Kubernetes' own role models:
// - user-authz access levels: ClusterRoles named `d8:user-authz:<module>:<level>` and annotated
//   `user-authz.deckhouse.io/access-level`, which Deckhouse's user-authz module folds into the access
//   level a ClusterAuthorizationRule grants (each level includes the ones below it);
// - the Kubernetes aggregation labels, which fold a ClusterRole into the built-in `view`, `edit` and
//   `admin` roles, so a user bound to one of them in a namespace reads the L2LBServices there.
// L2LBServices are written by the hooks and the speakers only: no role here may change them, since a
// hand-edited one would move or free an address behind the control loop's back.
import { GROUP, INTERNAL_GROUP, MODULE_NAME } from '../lib/model';
import { clusterName, moduleLabels } from './meta';
import type { PolicyRule } from './rbac';
import type { KubernetesObject } from './types';

export const ACCESS_LEVEL_ANNOTATION = 'user-authz.deckhouse.io/access-level';
const READ = ['get', 'list', 'watch'];
const CHANGE = ['create', 'update', 'patch', 'delete', 'deletecollection'];

/** Read the L2LBServices of a namespace: what `view`, `edit` and `admin` gain there. */
export const NAMESPACE_READ_RULES: readonly PolicyRule[] = [
  { apiGroups: [INTERNAL_GROUP], resources: ['l2lbservices'], verbs: READ },
];

/** Deckhouse access levels, lowest first, and what each adds for this module. */
export const ACCESS_LEVEL_RULES = {
  // Anyone with cluster-wide read sees the pools and where every address went.
  User: [
    { apiGroups: [INTERNAL_GROUP], resources: ['l2lbservices'], verbs: READ },
    { apiGroups: [GROUP], resources: ['l2loadbalancers'], verbs: READ },
  ],
  // The pools are cluster infrastructure, like Deckhouse's IngressNginxController: edited at ClusterEditor.
  ClusterEditor: [{ apiGroups: [GROUP], resources: ['l2loadbalancers'], verbs: CHANGE }],
} as const satisfies Record<string, readonly PolicyRule[]>;

export type AccessLevel = keyof typeof ACCESS_LEVEL_RULES;

/** `ClusterEditor` -> `cluster-editor`, as Deckhouse names these roles. */
const kebab = (level: string): string => level.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();

export function userAuthzRoleName(level: AccessLevel): string {
  return `d8:user-authz:${MODULE_NAME}:${kebab(level)}`;
}

export const AGGREGATED_READ_ROLE = clusterName('l2lbservices-viewer');

function clusterRole(
  name: string,
  rules: readonly PolicyRule[],
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> },
): KubernetesObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {
      name,
      labels: { ...moduleLabels('user-authz'), ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    rules: rules.map((r) => ({
      ...r,
      apiGroups: [...r.apiGroups],
      resources: [...r.resources],
      verbs: [...r.verbs],
    })),
  };
}

export function userAuthzRoles(): KubernetesObject[] {
  const levels = Object.keys(ACCESS_LEVEL_RULES) as AccessLevel[];
  return [
    ...levels.map((level) =>
      clusterRole(userAuthzRoleName(level), ACCESS_LEVEL_RULES[level], {
        annotations: { [ACCESS_LEVEL_ANNOTATION]: level },
      }),
    ),
    clusterRole(AGGREGATED_READ_ROLE, NAMESPACE_READ_RULES, {
      labels: {
        'rbac.authorization.k8s.io/aggregate-to-view': 'true',
        'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
        'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
      },
    }),
  ];
}
