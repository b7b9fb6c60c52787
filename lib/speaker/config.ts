// The speaker's settings, from the environment the DaemonSet sets.
import { MODULE_NAMESPACE, type GarpSettings } from '../model';
import { ANNOUNCE_CONCURRENCY } from './queue';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SpeakerConfig {
  node: string;
  namespace: string;
  leaseDurationSeconds: number;
  renewIntervalSeconds: number;
  garp: GarpSettings;
  logLevel: LogLevel;
  metricsHost: string;
  metricsPort: number;
  kubeconfig?: string;
  /** Run every `ip`/`arping`/`na6` as `ip netns exec <netns> ...` (tests). */
  netns?: string;
  handoverTimeoutMs: number;
  shutdownTimeoutMs: number;
  statusSettleMs: number;
  /** How often each held address is probed for a duplicate on the link (0 = never). */
  conflictCheckSeconds: number;
  /** How often each held address is probed while the view is stale (0 = never). */
  staleProbeMs: number;
  /**
   * The kernel lifetime of an added address (valid_lft and preferred_lft): the addresses of a
   * speaker that is killed or frozen leave by themselves that long after their last renewal
   * (default 4 s). It does not follow the lease: peers take a dead speaker's addresses by heartbeat
   * in well under a second, so a killed speaker's node must stop answering for them soon too,
   * whatever the lease duration.
   */
  addressLifetimeSeconds: number;
  /**
   * Whether only the Services' ports answer on the public addresses (nftables table `inet l2lb`,
   * images/speaker/firewall.ts). Off (`PORT_FILTER=off`) for a node whose own firewall does it.
   */
  portFilter: boolean;
  /** Addresses announced at once, at most (0 = no cap; for comparisons, see bench/takeover.ts). */
  announceConcurrency: number;
  /** How often the held addresses' lifetime is renewed: four times per lifetime. */
  addressRenewMs: number;
}

/** Defaults of the Lease: one renewal per 15 s, so the API sees ~0.07 writes per second per node. */
export const DEFAULT_LEASE_DURATION_SECONDS = 30;
export const DEFAULT_RENEW_INTERVAL_SECONDS = 15;
export const DEFAULT_ADDRESS_LIFETIME_SECONDS = 4;

type Env = Readonly<Record<string, string | undefined>>;

export function parseSpeakerConfig(env: Env): { config?: SpeakerConfig; errors: string[] } {
  const errors: string[] = [];
  const text = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const number = (name: string, fallback: number, min: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) {
      errors.push(`${name}=${JSON.stringify(raw)}: want a number >= ${min}`);
      return fallback;
    }
    return v;
  };
  const node = text('NODE_NAME');
  if (!node) errors.push('NODE_NAME is required');
  const leaseDurationSeconds = number('LEASE_DURATION_SECONDS', DEFAULT_LEASE_DURATION_SECONDS, 1);
  const renewIntervalSeconds = number('RENEW_INTERVAL_SECONDS', DEFAULT_RENEW_INTERVAL_SECONDS, 0.1);
  if (renewIntervalSeconds >= leaseDurationSeconds) {
    errors.push(
      `RENEW_INTERVAL_SECONDS (${renewIntervalSeconds}) must be below LEASE_DURATION_SECONDS (${leaseDurationSeconds})`,
    );
  }
  const garp: GarpSettings = {
    count: Math.floor(number('GARP_COUNT', 4, 1)),
    intervalMilliseconds: number('GARP_INTERVAL_MS', 1000, 10),
    refreshSeconds: number('GARP_REFRESH_SECONDS', 60, 0),
  };
  const level = (text('LOG_LEVEL') ?? 'info').toLowerCase();
  const logLevel: LogLevel = ['debug', 'info', 'warn', 'error'].includes(level)
    ? (level as LogLevel)
    : 'info';
  if (logLevel !== level) errors.push(`LOG_LEVEL=${JSON.stringify(level)}: want debug, info, warn or error`);
  const metrics = text('METRICS_ADDRESS') ?? '0.0.0.0:9474';
  const m = /^(.*):(\d+)$/.exec(metrics);
  const metricsHost = (m?.[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  const metricsPort = Number(m?.[2]);
  if (!m || !metricsHost || !(metricsPort >= 0 && metricsPort < 65536)) {
    errors.push(`METRICS_ADDRESS=${JSON.stringify(metrics)}: want host:port`);
  }
  const filter = (text('PORT_FILTER') ?? 'on').toLowerCase();
  if (filter !== 'on' && filter !== 'off')
    errors.push(`PORT_FILTER=${JSON.stringify(filter)}: want on or off`);
  const addressLifetimeSeconds = Math.ceil(
    number('ADDRESS_LIFETIME_SECONDS', DEFAULT_ADDRESS_LIFETIME_SECONDS, 2),
  );
  const kubeconfig = text('KUBECONFIG');
  const netns = text('L2LB_NETNS');
  if (errors.length > 0 || !node) return { errors };
  return {
    config: {
      node,
      namespace: text('NAMESPACE') ?? MODULE_NAMESPACE,
      leaseDurationSeconds,
      renewIntervalSeconds,
      garp,
      logLevel,
      metricsHost,
      metricsPort,
      ...(kubeconfig ? { kubeconfig } : {}),
      ...(netns ? { netns } : {}),
      handoverTimeoutMs: number('HANDOVER_TIMEOUT_MS', 2000, 0),
      shutdownTimeoutMs: number('SHUTDOWN_TIMEOUT_MS', 3000, 0),
      statusSettleMs: number('STATUS_SETTLE_MS', 100, 0),
      conflictCheckSeconds: number('CONFLICT_CHECK_SECONDS', 60, 0),
      staleProbeMs: number('STALE_PROBE_MS', 1000, 0),
      addressLifetimeSeconds,
      addressRenewMs: (addressLifetimeSeconds * 1000) / 4,
      portFilter: filter !== 'off',
      announceConcurrency: Math.floor(number('ANNOUNCE_CONCURRENCY', ANNOUNCE_CONCURRENCY, 0)),
    },
    errors,
  };
}
