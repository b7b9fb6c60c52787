// lib/heartbeat-key.ts: which key the speakers get, and how the Secret and the values are written,
// on plain typed input; the rule for a usable key agrees with `internal.heartbeatKey` in
// openapi/values.yaml byte length by byte length.
import { isHeartbeatKey, planHeartbeatKey } from '../../lib/heartbeat-key';
import { valuesSchema } from '../../lib/settings-schema';

const KEY_A = Buffer.alloc(32, 0xa1).toString('base64');
const KEY_B = Buffer.alloc(32, 0xb2).toString('base64');
const FRESH = Buffer.alloc(32, 0xc3).toString('base64');
const fresh = (): string => FRESH;

describe('isHeartbeatKey', () => {
  const internal = (
    valuesSchema.properties as Record<string, { properties: Record<string, { pattern: string }> }>
  ).internal!;
  const pattern = new RegExp(internal.properties.heartbeatKey!.pattern);

  it('takes base64 of 32 bytes or more, exactly as the pattern of openapi/values.yaml does', () => {
    for (let n = 0; n <= 70; n++) {
      const text = Buffer.alloc(n, n).toString('base64');
      expect(`${n} bytes: ${isHeartbeatKey(text)}`).toBe(`${n} bytes: ${n >= 32}`);
      expect(`${n} bytes: ${pattern.test(text)}`).toBe(`${n} bytes: ${n >= 32}`);
    }
  });

  it('refuses what is not standard base64 or not a string', () => {
    for (const bad of [`${KEY_A.slice(0, -2)}-_`, `${KEY_A} `, KEY_A.replace('=', ''), 42, null, undefined]) {
      expect(isHeartbeatKey(bad)).toBe(false);
      if (typeof bad === 'string') expect(pattern.test(bad)).toBe(false);
    }
  });
});

describe('planHeartbeatKey', () => {
  it('a fresh install under addon-operator: a fresh key, created if absent, patched into the values', () => {
    expect(planHeartbeatKey({ secret: { present: false }, values: { key: undefined }, fresh })).toEqual({
      key: FRESH,
      secret: 'createIfNotExists',
      patchValues: true,
    });
  });

  it('the Secret holds a key: it is kept and the values follow it', () => {
    expect(
      planHeartbeatKey({ secret: { present: true, key: KEY_A }, values: { key: KEY_B }, fresh }),
    ).toEqual({
      key: KEY_A,
      secret: 'none',
      patchValues: true,
    });
    expect(
      planHeartbeatKey({ secret: { present: true, key: KEY_A }, values: { key: KEY_A }, fresh }),
    ).toEqual({
      key: KEY_A,
      secret: 'none',
      patchValues: false,
    });
  });

  it('the Secret is gone: it comes back with the key of the values', () => {
    expect(planHeartbeatKey({ secret: { present: false }, values: { key: KEY_A }, fresh })).toEqual({
      key: KEY_A,
      secret: 'createIfNotExists',
      patchValues: false,
    });
  });

  it('a Secret without a usable key is replaced, with the key of the values or a fresh one', () => {
    expect(
      planHeartbeatKey({ secret: { present: true, key: 'c2hvcnQ=' }, values: { key: KEY_A }, fresh }),
    ).toEqual({
      key: KEY_A,
      secret: 'createOrUpdate',
      patchValues: false,
    });
    expect(planHeartbeatKey({ secret: { present: true, key: null }, values: { key: 'bad' }, fresh })).toEqual(
      {
        key: FRESH,
        secret: 'createOrUpdate',
        patchValues: true,
      },
    );
  });

  it('standalone (no values, Secret not watched): a fresh key, created only if no Secret exists, no values patch', () => {
    expect(planHeartbeatKey({ fresh })).toEqual({
      key: FRESH,
      secret: 'createIfNotExists',
      patchValues: false,
    });
  });
});
