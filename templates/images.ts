// Which images the module runs, as references a node can pull: pinned by a version tag or a digest,
// never `:latest` (a moving tag makes two nodes run two speakers, and a rollback roll nothing back).
//
// - Under Deckhouse the module's images are built and pushed by Deckhouse's module build, and the
//   values say where: `global.modulesImages.registry.base` (one repository) and
//   `global.modulesImages.digests.<moduleName>.<imageName>` (helm_lib's `helm_lib_module_image`
//   reads the same two keys and prints `<base>@<digest>`). The image names are the folders under
//   images/ in camelCase: `speaker`, `hooks`.
// - Standalone (`l2lb render --standalone`), the images are what `npm run images` tags locally, or
//   what `--registry`, `--image-tag`, `--speaker-image` and `--hooks-image` name.
import { version } from '../package.json';
import { MODULE_NAME } from '../lib/model';

/** The module's key in the values: its name in camelCase, as Deckhouse derives it (`l2LoadBalancer`). */
export const MODULE_VALUES_KEY = MODULE_NAME.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** The version of this module: the package version, shown by `l2lb --version` and in the package. */
export const VERSION: string = version;

export type ImageName = 'speaker' | 'hooks';
export const IMAGE_NAMES: readonly ImageName[] = ['speaker', 'hooks'];

/** The repositories `npm run images` tags (scripts/images.sh), with no registry in front. */
export const LOCAL_REPOSITORIES: Readonly<Record<ImageName, string>> = {
  speaker: 'l2lb-speaker',
  hooks: 'l2lb-hooks',
};

export type ImageRefs = Record<ImageName, string>;

/**
 * The standalone images: `<registry>/l2lb-<name>:<tag>`, the tag defaulting to this version. Without a
 * registry they are the local tags of `npm run images`.
 */
export function standaloneImages(opts: { registry?: string; tag?: string } = {}): ImageRefs {
  const prefix = opts.registry ? `${opts.registry.replace(/\/+$/, '')}/` : '';
  const tag = opts.tag ?? VERSION;
  return {
    speaker: `${prefix}${LOCAL_REPOSITORIES.speaker}:${tag}`,
    hooks: `${prefix}${LOCAL_REPOSITORIES.hooks}:${tag}`,
  };
}

/** The images rendered when nothing else is said: the local tags of this version. */
export const DEFAULT_IMAGES: Readonly<ImageRefs> = standaloneImages();

/**
 * Why a reference cannot be pulled reproducibly, or undefined when it is pinned: it must end in a
 * tag other than `latest` or in a `@sha256:` digest.
 */
export function imageReferenceError(ref: string): string | undefined {
  if (ref === '' || /\s/.test(ref)) return `"${ref}" is not an image reference`;
  const at = ref.indexOf('@');
  if (at >= 0) {
    return /^sha256:[0-9a-f]{64}$/.test(ref.slice(at + 1))
      ? undefined
      : `"${ref}": a digest is sha256: and 64 hex digits`;
  }
  // A tag is what follows the last colon after the last slash (a registry port is before a slash).
  const name = ref.slice(ref.lastIndexOf('/') + 1);
  const colon = name.lastIndexOf(':');
  if (colon < 0)
    return `"${ref}" has no tag or digest; pin a version (name:1.2.3) or a digest (name@sha256:...)`;
  const tag = name.slice(colon + 1);
  if (tag === 'latest') return `"${ref}" uses the moving tag latest; pin a version or a digest`;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return `"${ref}": "${tag}" is not a valid tag`;
  return undefined;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * An image from the values Deckhouse gives a module (`<registry.base>@<digest>`), or undefined when
 * the values hold none (plain shell-operator, tests, a Deckhouse without this module's images).
 */
export function deckhouseImage(values: unknown, image: ImageName): string | undefined {
  const modulesImages = record(record(record(values)?.global)?.modulesImages);
  const base = record(modulesImages?.registry)?.base;
  const digest = record(record(modulesImages?.digests)?.[MODULE_VALUES_KEY])?.[image];
  if (typeof base !== 'string' || base === '' || typeof digest !== 'string' || digest === '')
    return undefined;
  return `${base}@${digest}`;
}
