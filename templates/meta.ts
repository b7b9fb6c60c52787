// Names and labels shared by every template.
import { MODULE_NAME, MODULE_NAMESPACE } from '../lib/model';
import type { ObjectMeta } from './types';

export const SPEAKER_NAME = 'speaker';
export const HOOKS_NAME = 'hooks';
/** The speaker's metrics and health endpoint (host network, so a port on every balancer node). */
export const SPEAKER_METRICS_PORT = 9474;

/** Labels by Deckhouse's conventions: `heritage` and `module` on everything the module owns. */
export function moduleLabels(app?: string): Record<string, string> {
  return { heritage: 'deckhouse', module: MODULE_NAME, ...(app ? { app } : {}) };
}

/** Metadata of an object in the module namespace. */
export function namespacedMeta(name: string, app?: string, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  return { name, namespace: MODULE_NAMESPACE, ...extra, labels: { ...moduleLabels(app), ...extra.labels } };
}

/** The name of a cluster-scoped object of a component, with the Deckhouse `d8:<module>:` prefix. */
export function clusterName(component: string): string {
  return `d8:${MODULE_NAME}:${component}`;
}

export function clusterMeta(component: string, app?: string): ObjectMeta {
  return { name: clusterName(component), labels: moduleLabels(app) };
}
