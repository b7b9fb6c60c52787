// The speaker's heartbeat settings, from the environment the DaemonSet sets (templates/speaker.ts).
import { canonicalAddress } from '../../address/pool';
import { DEFAULT_HEARTBEAT_PORT } from './peers';

export interface HeartbeatConfig {
  intervalMs: number;
  missCount: number;
  port: number;
  /** The node's own addresses the sockets bind to (NODE_IPS, else NODE_IP). */
  bind: string[];
  /** The mounted Secret's key file; heartbeats are off without one. */
  keyFile?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Heartbeat settings; `errors` name the variable and the value, and the default is used instead. */
export function parseHeartbeatConfig(env: Env): { config: HeartbeatConfig; errors: string[] } {
  const errors: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) {
      errors.push(`${name}=${JSON.stringify(raw)}: want an integer from ${min} to ${max}`);
      return fallback;
    }
    return v;
  };
  const bind: string[] = [];
  for (const raw of (env.NODE_IPS?.trim() || env.NODE_IP?.trim() || '').split(',')) {
    if (!raw.trim()) continue;
    const address = canonicalAddress(raw.trim());
    if (address) bind.push(address);
    else errors.push(`NODE_IP(S): ${JSON.stringify(raw.trim())} is not an IP address`);
  }
  const keyFile = env.HEARTBEAT_KEY_FILE?.trim();
  return {
    config: {
      intervalMs: integer('HEARTBEAT_INTERVAL_MS', 50, 10, 1000),
      missCount: integer('HEARTBEAT_MISS_COUNT', 10, 3, 100),
      port: integer('HEARTBEAT_PORT', DEFAULT_HEARTBEAT_PORT, 1, 65535),
      bind,
      ...(keyFile ? { keyFile } : {}),
    },
    errors,
  };
}
