// Running the module's built images (`npm run images`) with podman, as root, on this kind of machine:
// runc (crun refuses the hybrid cgroup v1/v2 layout), and rlimits no higher than the caller's (root
// here lacks CAP_SYS_RESOURCE, so podman's default of raising nofile and nproc fails). README.md
// "Images" says what was tried.
import { spawnSync } from 'node:child_process';
import { LOCAL_REPOSITORIES, VERSION, type ImageName } from '../templates/images';

/** The local tag `npm run images` gives an image of this version. */
export function builtImage(name: ImageName): string {
  return `localhost/${LOCAL_REPOSITORIES[name]}:${VERSION}`;
}

/** Throws, saying how to build it, unless podman has the image. */
export function requireBuiltImage(name: ImageName): string {
  const ref = builtImage(name);
  const r = spawnSync('podman', ['image', 'exists', ref], { stdio: 'ignore', timeout: 60_000 });
  if (r.error || r.status !== 0) {
    throw new Error(
      `the ${name} image ${ref} is not built (${r.error?.message ?? `podman image exists: exit ${r.status}`}): run \`npm run images\``,
    );
  }
  return ref;
}

/** `podman run` and the flags every container of the tests needs here. */
export function podmanRun(name: string): string[] {
  return [
    'run',
    '--rm',
    `--name=${name}`,
    '--runtime=runc',
    '--ulimit=nofile=4096:4096',
    '--ulimit=nproc=4096:4096',
  ];
}

/** Removes a container left behind by a podman client that was killed before it could. */
export function removeContainer(name: string): void {
  spawnSync('podman', ['rm', '--force', '--ignore', name], { stdio: 'ignore', timeout: 60_000 });
}

/** `-e NAME=value` for each variable. */
export function envFlags(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
}
