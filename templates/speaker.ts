// The speaker DaemonSet: one Pod per balancer node (the nodes the hooks label as members).
import { LABEL_MEMBER, type ModuleSettings } from '../lib/model';
import { HEARTBEAT_KEY_DIR, HEARTBEAT_KEY_FIELD, HEARTBEAT_KEY_SECRET } from './heartbeat-key';
import { namespacedMeta, SPEAKER_METRICS_PORT, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

/** The only capabilities the speaker holds: addresses on interfaces, and raw ARP/NDP packets. */
export const SPEAKER_CAPABILITIES = ['NET_ADMIN', 'NET_RAW'] as const;
/** The user of the speaker image. */
export const SPEAKER_UID = 65532;

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef: { fieldPath: string } };
}

/** The speaker's environment: its identity from the downward API, its tuning from the settings. */
export function speakerEnv(speaker: ModuleSettings['speaker']): EnvVar[] {
  const field = (name: string, fieldPath: string): EnvVar => ({
    name,
    valueFrom: { fieldRef: { fieldPath } },
  });
  const value = (name: string, v: string | number): EnvVar => ({ name, value: String(v) });
  return [
    field('NODE_NAME', 'spec.nodeName'),
    field('NAMESPACE', 'metadata.namespace'),
    // The node's primary address (host network): the heartbeats are bound to it.
    field('NODE_IP', 'status.hostIP'),
    value('LEASE_DURATION_SECONDS', speaker.leaseDurationSeconds),
    value('RENEW_INTERVAL_SECONDS', speaker.renewIntervalSeconds),
    value('GARP_COUNT', speaker.garp.count),
    value('GARP_INTERVAL_MS', speaker.garp.intervalMilliseconds),
    value('GARP_REFRESH_SECONDS', speaker.garp.refreshSeconds),
    value('HEARTBEAT_INTERVAL_MS', speaker.heartbeat.intervalMilliseconds),
    value('HEARTBEAT_MISS_COUNT', speaker.heartbeat.missCount),
    value('HEARTBEAT_PORT', speaker.heartbeat.port),
    value('HEARTBEAT_KEY_FILE', `${HEARTBEAT_KEY_DIR}/${HEARTBEAT_KEY_FIELD}`),
    value('LOG_LEVEL', speaker.logLevel),
    value('METRICS_ADDRESS', `0.0.0.0:${SPEAKER_METRICS_PORT}`),
  ];
}

function httpProbe(path: string, periodSeconds: number): Record<string, unknown> {
  return {
    httpGet: { path, port: SPEAKER_METRICS_PORT },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  };
}

export function speakerDaemonSet(speaker: ModuleSettings['speaker'], image: string): KubernetesObject {
  const selector = { app: SPEAKER_NAME };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: namespacedMeta(SPEAKER_NAME, SPEAKER_NAME),
    spec: {
      selector: { matchLabels: selector },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: namespacedMeta(SPEAKER_NAME, SPEAKER_NAME).labels },
        spec: {
          serviceAccountName: SPEAKER_NAME,
          // Announcing means owning addresses on the node's own interfaces.
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          nodeSelector: { [LABEL_MEMBER]: '' },
          tolerations: [...speaker.tolerations],
          // The key file is group-readable for the speaker's group only.
          securityContext: { fsGroup: SPEAKER_UID },
          volumes: [
            {
              name: 'heartbeat-key',
              secret: { secretName: HEARTBEAT_KEY_SECRET, defaultMode: 0o440 },
            },
          ],
          // On SIGTERM the speaker keeps its addresses until the new owners announce them.
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: SPEAKER_NAME,
              image,
              imagePullPolicy: 'IfNotPresent',
              env: speakerEnv(speaker),
              ports: [
                { name: 'metrics', containerPort: SPEAKER_METRICS_PORT, protocol: 'TCP' },
                { name: 'heartbeat', containerPort: speaker.heartbeat.port, protocol: 'UDP' },
              ],
              volumeMounts: [{ name: 'heartbeat-key', mountPath: HEARTBEAT_KEY_DIR, readOnly: true }],
              livenessProbe: httpProbe('/healthz', 10),
              readinessProbe: httpProbe('/readyz', 5),
              resources: speaker.resources,
              // The image (images/speaker/Dockerfile) runs as a non-root user and carries the two
              // capabilities as file capabilities on `ip` and `arping` (`na6` is setuid: it insists on
              // root). They take effect only while the bounding set holds them (hence add) and
              // no_new_privs is off (hence allowPrivilegeEscalation: true); everything else is dropped.
              securityContext: {
                runAsNonRoot: true,
                runAsUser: SPEAKER_UID,
                runAsGroup: SPEAKER_UID,
                privileged: false,
                allowPrivilegeEscalation: true,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'], add: [...SPEAKER_CAPABILITIES] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}
