// The Secret with the key that signs the speakers' heartbeats (lib/speaker/heartbeat/wire.ts).
// The hook creates it once (CreateIfNotExists, with 32 random bytes it draws each run): a later
// run never replaces the key, so speakers started at different times agree on it. The speaker
// mounts it as a file; nothing reads it through the API.
import { namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

export const HEARTBEAT_KEY_SECRET = 'l2lb-heartbeat-key';
/** The data key in the Secret, and so the file name under the mount. */
export const HEARTBEAT_KEY_FIELD = 'key';
export const HEARTBEAT_KEY_DIR = '/etc/l2lb/heartbeat';

export function heartbeatKeySecret(key: Buffer): KubernetesObject {
  if (key.length < 32) throw new Error(`heartbeat key: want at least 32 bytes, got ${key.length}`);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: namespacedMeta(HEARTBEAT_KEY_SECRET, SPEAKER_NAME),
    type: 'Opaque',
    data: { [HEARTBEAT_KEY_FIELD]: key.toString('base64') },
  };
}
