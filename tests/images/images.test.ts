// The images `npm run images` builds (scripts/images.sh), run with podman as their Pods run them:
// the Pod's user, a read-only root filesystem, only the Pod's capabilities. The cluster test
// (tests/cluster/standalone.test.ts) runs the hooks image against an API server; this file checks
// what each image is made of.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPEAKER_CAPABILITIES, SPEAKER_UID } from '../../templates/speaker';
import { HOOKS_DIR } from '../../templates/standalone';
import { VERSION } from '../../templates/images';
import { podmanRun, removeContainer, requireBuiltImage } from '../../testbed/podman';
import { ROOT } from '../support/hook-harness';

jest.setTimeout(180_000);

let seq = 0;

/** Runs a container of `image` to completion: --network=none unless the flags say otherwise. */
function run(image: string, flags: string[], args: string[] = []): { status: number | null; out: string } {
  const name = `l2lb-test-image-${process.pid}-${++seq}`;
  try {
    const r = spawnSync('podman', [...podmanRun(name), '--network=none', ...flags, image, ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.error) throw r.error;
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    removeContainer(name);
  }
}

function inspect(image: string, format: string): string {
  const r = spawnSync('podman', ['image', 'inspect', '--format', format, image], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`podman image inspect ${image}: ${r.stderr}`);
  return r.stdout.trim();
}

const POD = ['--read-only', '--cap-drop=ALL'];

describe('the speaker image', () => {
  const image = requireBuiltImage('speaker');

  it('runs the speaker as its non-root user by default', () => {
    expect(inspect(image, '{{.Config.User}}')).toBe(`${SPEAKER_UID}:${SPEAKER_UID}`);
    expect(inspect(image, '{{json .Config.Entrypoint}}')).toBe('["/usr/local/bin/l2lb-speaker"]');
  });

  it('starts on a read-only root with only NET_ADMIN and NET_RAW, and refuses to run without its node name', () => {
    const r = run(image, [...POD, `--cap-add=${SPEAKER_CAPABILITIES.join(',')}`]);
    expect(r.out).toContain('NODE_NAME is required');
    expect(r.status).toBe(2);
  });

  it('carries the file capabilities the DaemonSet relies on, and the tools the speaker runs', () => {
    const r = run(image, [...POD, '--entrypoint=/sbin/getcap'], ['/usr/bin/ip', '/usr/bin/arping']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('/usr/bin/ip cap_net_admin=ep');
    expect(r.out).toContain('/usr/bin/arping cap_net_raw=ep');
  });

  it('sends an unsolicited neighbour advertisement as its user: na6 insists on root, so it is setuid', () => {
    const script = [
      'ip address add 2001:db8::9/128 dev lo nodad',
      'na6 -i lo -s 2001:db8::9 -d ff02::1 -t 2001:db8::9 -o -e',
    ].join(' && ');
    const r = run(
      image,
      [...POD, `--cap-add=${SPEAKER_CAPABILITIES.join(',')}`, '--entrypoint=/bin/sh'],
      ['-c', script],
    );
    expect(r.out).not.toContain('needs root privileges');
    expect(r.status).toBe(0);
  });

  it('lets its user add an address in a network namespace of its own only through those capabilities', () => {
    // --network=none gives the container a namespace of its own, with lo only.
    const add = ['--entrypoint=/usr/bin/ip'];
    const args = ['address', 'add', '203.0.113.9/32', 'dev', 'lo'];
    expect(run(image, [...POD, '--cap-add=NET_ADMIN', ...add], args).status).toBe(0);
    // Without NET_ADMIN in the bounding set the kernel refuses to exec `ip` at all: its file
    // capability cannot be granted (the check for capability-unaware binaries).
    const denied = run(image, [...POD, ...add], args);
    expect(denied.status).not.toBe(0);
    expect(denied.out).toMatch(/operation not permitted/i);
  });
});

describe('the hooks image', () => {
  const image = requireBuiltImage('hooks');
  const asDeployment = [...POD, '--user=65534:65534', '--security-opt=no-new-privileges'];

  it('starts shell-operator with the hooks where the standalone Deployment points it', () => {
    expect(inspect(image, '{{json .Config.Entrypoint}}')).toBe('["/usr/local/bin/shell-operator"]');
    expect(inspect(image, '{{json .Config.Cmd}}')).toBe('["start"]');
    expect(inspect(image, '{{json .Config.Env}}')).toContain(`SHELL_OPERATOR_HOOKS_DIR=${HOOKS_DIR}`);
  });

  it('runs every packaged hook as the Deployment user on a read-only root', () => {
    const r = run(image, [...asDeployment, `--entrypoint=${HOOKS_DIR}/lib/l2lb-hooks`], ['--list']);
    expect(r.status).toBe(0);
    expect(r.out.split('\n').filter(Boolean).sort()).toEqual(['module_objects', 'reconcile']);
    const config = run(image, [...asDeployment, `--entrypoint=${HOOKS_DIR}/reconcile`], ['--config']);
    expect(config.status).toBe(0);
    expect(JSON.parse(config.out)).toHaveProperty('configVersion', 'v1');
  });

  it('carries the shell-operator the cluster tests run, and this version', () => {
    const version = /SHELL_OPERATOR_VERSION="\$\{L2LB_SHELL_OPERATOR_VERSION:-(v[\d.]+)\}"/.exec(
      readFileSync(join(ROOT, 'scripts', 'binaries.sh'), 'utf8'),
    )?.[1];
    expect(version).toBeDefined();
    const r = run(image, [...asDeployment], ['version']);
    expect(r.out).toContain(version!);
    const v = run(image, [...asDeployment, '--entrypoint=/bin/cat'], ['/module/VERSION']);
    expect(v.out).toBe(`${VERSION}\n`);
  });
});
