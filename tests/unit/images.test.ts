import {
  deckhouseImage,
  imageReferenceError,
  MODULE_VALUES_KEY,
  standaloneImages,
  VERSION,
} from '../../templates/images';
import { version } from '../../package.json';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** The values addon-operator hands a module hook under Deckhouse, trimmed to the image keys. */
const deckhouseValues = {
  global: {
    modulesImages: {
      registry: { base: 'registry.deckhouse.example/deckhouse/ce' },
      digests: { l2LoadBalancer: { speaker: DIGEST, hooks: DIGEST }, metallb: { speaker: 'sha256:other' } },
    },
  },
  l2LoadBalancer: { internal: {} },
};

describe('image references', () => {
  it('names the module in the values as Deckhouse does: l2-load-balancer becomes l2LoadBalancer', () => {
    expect(MODULE_VALUES_KEY).toBe('l2LoadBalancer');
  });

  it('takes the speaker from the registry base and this module digest in the Deckhouse values', () => {
    expect(deckhouseImage(deckhouseValues, 'speaker')).toBe(
      `registry.deckhouse.example/deckhouse/ce@${DIGEST}`,
    );
  });

  it('gives no Deckhouse image when the values hold none (plain shell-operator, tests)', () => {
    expect(deckhouseImage({ l2LoadBalancer: {} }, 'speaker')).toBeUndefined();
    expect(deckhouseImage(undefined, 'speaker')).toBeUndefined();
    const noDigest = { global: { modulesImages: { registry: { base: 'r.example/x' }, digests: {} } } };
    expect(deckhouseImage(noDigest, 'speaker')).toBeUndefined();
  });

  it('defaults the standalone images to the package version', () => {
    expect(VERSION).toBe(version);
    expect(standaloneImages()).toEqual({
      speaker: `l2lb-speaker:${version}`,
      hooks: `l2lb-hooks:${version}`,
    });
    expect(standaloneImages({ registry: 'registry.example:5000/net', tag: 'v2' }).speaker).toBe(
      'registry.example:5000/net/l2lb-speaker:v2',
    );
  });

  it.each([
    ['l2lb-speaker:0.1.0'],
    ['registry.example:5000/net/l2lb-speaker:v1.2.3'],
    [`registry.example/l2lb-speaker@${DIGEST}`],
  ])('accepts the pinned reference %s', (ref) => {
    expect(imageReferenceError(ref)).toBeUndefined();
  });

  it.each([
    ['l2lb-speaker:latest', /latest/],
    ['l2lb-speaker', /no tag or digest/],
    ['registry.example:5000/l2lb-speaker', /no tag or digest/],
    ['l2lb-speaker@sha256:abc', /64 hex digits/],
    ['', /not an image reference/],
  ])('refuses %j', (ref, message) => {
    expect(imageReferenceError(ref)).toMatch(message);
  });
});
