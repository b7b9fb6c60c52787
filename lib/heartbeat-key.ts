// Where the speakers' heartbeat key comes from, the Deckhouse way: a hook generates it once, keeps it
// in the module's `internal` values (`l2LoadBalancer.internal.heartbeatKey`, openapi/values.yaml)
// and renders the Secret from it. addon-operator keeps values in memory only, so after its restart
// the hook takes the key back from the Secret: the Secret, once it holds a valid key, is never
// rewritten, and speakers started at different times keep agreeing on it.
//
// Under plain shell-operator there are no values: the key lives in the Secret alone, created once
// (CreateIfNotExists with a fresh draw, which never replaces an existing key), and the hooks do not
// read it (their standalone RBAC may create that Secret but read none).
import { VALUES_KEY } from './settings';

/** Where the key sits in the values, as a JSON pointer for a values patch. */
export const HEARTBEAT_KEY_VALUES_PATH = `/${VALUES_KEY}/internal/heartbeatKey`;

/**
 * How many random bytes a new key has, and the fewest a key may have (templates/heartbeat-key.ts
 * renders no shorter one; the speaker would take 16).
 */
export const HEARTBEAT_KEY_BYTES = 32;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether `text` is a usable key: standard base64 of at least HEARTBEAT_KEY_BYTES bytes, at most
 * 1024 characters (the rule of `internal.heartbeatKey` in openapi/values.yaml).
 */
export function isHeartbeatKey(text: unknown): text is string {
  return (
    typeof text === 'string' &&
    text.length <= 1024 &&
    BASE64.test(text) &&
    Buffer.from(text, 'base64').length >= HEARTBEAT_KEY_BYTES
  );
}

export interface HeartbeatKeyInput {
  /**
   * The Secret as the hook's snapshot shows it: absent (no Secret), or the base64 text of its `key`
   * (null when it has none). Undefined when the hook does not watch the Secret (standalone).
   */
  secret?: { present: false } | { present: true; key: string | null };
  /** `internal.heartbeatKey` of the values; undefined when there are no values (standalone). */
  values?: { key: unknown };
  /** A fresh key (base64 of HEARTBEAT_KEY_BYTES random bytes), drawn only when needed. */
  fresh: () => string;
}

export interface HeartbeatKeyPlan {
  /** The key the speakers are to use. */
  key: string;
  /**
   * How the Secret is written: not at all (it holds `key` already), created if it does not exist
   * (a create never replaces a key another run wrote meanwhile), or replaced (it holds no valid key).
   */
  secret: 'none' | 'createIfNotExists' | 'createOrUpdate';
  /** Whether the values must get `key` (a values patch `add` at HEARTBEAT_KEY_VALUES_PATH). */
  patchValues: boolean;
}

export function planHeartbeatKey(input: HeartbeatKeyInput): HeartbeatKeyPlan {
  const inSecret = input.secret?.present === true ? input.secret.key : undefined;
  const inValues = input.values?.key;
  let key: string;
  let secret: HeartbeatKeyPlan['secret'];
  if (isHeartbeatKey(inSecret)) {
    key = inSecret;
    secret = 'none';
  } else {
    key = isHeartbeatKey(inValues) ? inValues : input.fresh();
    // A Secret without a valid key is repaired; otherwise the Secret may exist already without this
    // run's snapshot showing it (or, standalone, without the hooks being allowed to see it).
    secret = input.secret?.present === true ? 'createOrUpdate' : 'createIfNotExists';
  }
  return { key, secret, patchValues: input.values !== undefined && inValues !== key };
}
