// The module's Kubernetes objects as plain functions of the module values: no Helm, no Go templates.
// `renderModule` composes the small templates beside it; each can be rendered and tested alone.
import type { ModuleSettings, ModuleValues } from '../lib/model';
import { admissionPolicies } from './admission';
import { DEFAULT_IMAGES } from './images';
import { DECKHOUSE_METALLB_NAMESPACE, ipAddressPools, UPSTREAM_METALLB_NAMESPACE } from './metallb';
import { alertsAndDashboard, hooksPodMonitor, speakerPodMonitor } from './monitoring';
import { namespace } from './namespace';
import { hooksRbac, speakerRbac } from './rbac';
import { speakerDaemonSet } from './speaker';
import { customResourceDefinitions, hooksDeployment, settingsConfigMap } from './standalone';
import type { KubernetesObject } from './types';
import { userAuthzRoles } from './user-authz';

export type { KubernetesObject, ObjectMeta } from './types';
export { moduleValuesFromSettings } from './values';
export { DEFAULT_IMAGES, VERSION } from './images';

export interface RenderOptions {
  /** Outside Deckhouse: add the CRDs, and shell-operator running the hooks. */
  standalone?: boolean;
  image?: { speaker: string; hooks?: string };
  /** Render the PodMonitor (needs the prometheus-operator CRDs). Default true. */
  podMonitor?: boolean;
  /** Where MetalLB reads its IPAddressPools. Default `d8-metallb`, or `metallb-system` standalone. */
  metallbNamespace?: string;
  /**
   * Render the user-authz and view/edit/admin roles (templates/user-authz.ts). Default true. The
   * hooks under plain shell-operator leave them to the install manifest: RBAC lets nobody create a
   * role granting more than they hold, and the hooks hold no write access to L2LoadBalancers.
   */
  userAuthz?: boolean;
  /** The dashboard as Deckhouse's GrafanaDashboardDefinition instead of the sidecar ConfigMap. Default false. */
  grafanaDashboardDefinition?: boolean;
}

/**
 * Every object of the module, in an order `kubectl apply` can take in one go: CRDs and the namespace
 * before what lives in them.
 */
export function renderModule(values: ModuleValues, opts: RenderOptions = {}): KubernetesObject[] {
  const standalone = opts.standalone ?? false;
  const settings: ModuleSettings = withoutInternal(values);
  const metallbNamespace =
    opts.metallbNamespace ?? (standalone ? UPSTREAM_METALLB_NAMESPACE : DECKHOUSE_METALLB_NAMESPACE);
  const speakerImage = opts.image?.speaker ?? DEFAULT_IMAGES.speaker;
  return [
    ...(standalone ? customResourceDefinitions() : []),
    namespace(),
    ...admissionPolicies(settings),
    ...speakerRbac(),
    ...(opts.userAuthz === false ? [] : userAuthzRoles()),
    speakerDaemonSet(values.speaker, speakerImage),
    ...(opts.podMonitor === false ? [] : [speakerPodMonitor()]),
    ...(opts.podMonitor === false
      ? []
      : alertsAndDashboard(opts.grafanaDashboardDefinition ? 'definition' : 'configmap')),
    // Standalone: shell-operator's hook metrics (in Deckhouse, addon-operator's are scraped already).
    ...(opts.podMonitor === false || !standalone ? [] : [hooksPodMonitor()]),
    ...(standalone
      ? [
          ...hooksRbac(),
          settingsConfigMap(settings),
          hooksDeployment({
            image: opts.image?.hooks ?? DEFAULT_IMAGES.hooks,
            speakerImage,
            metallbNamespace,
          }),
        ]
      : []),
    ...ipAddressPools(values.internal, metallbNamespace),
  ];
}

function withoutInternal(values: ModuleValues): ModuleSettings {
  const { internal: _internal, ...settings } = values;
  return settings;
}
