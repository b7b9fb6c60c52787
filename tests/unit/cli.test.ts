// The command line as a user meets it: the built CLI (`npm run build`, as the hook tests need too),
// its exit status, what it prints on stdout and stderr.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { version } from '../../package.json';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'bin', 'l2lb.js');

jest.setTimeout(60_000);

function l2lb(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Obj {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec?: { containers?: Array<{ image: string }> } } };
}

const objects = (text: string): Obj[] =>
  (loadAll(text) as Obj[]).filter((o) => o !== null && typeof o === 'object');
const images = (objs: Obj[]): string[] =>
  objs.flatMap((o) => o.spec?.template?.spec?.containers?.map((c) => c.image) ?? []);

describe('l2lb refuses what it does not know', () => {
  it.each([
    ['a mistyped flag', ['render', '--standlone'], /Unknown option '--standlone'/],
    ['an argument render does not take', ['render', 'standalone'], /Unexpected argument 'standalone'/],
    ['an unknown command', ['rendre'], /unknown command "rendre"/],
    ['no command at all', [], /which command\?/],
    ['a flag without its value', ['render', '--values'], /--values/],
    ['the moving tag latest', ['render', '--speaker-image', 'l2lb-speaker:latest'], /moving tag latest/],
    [
      'an image with neither tag nor digest',
      ['render', '--speaker-image', 'registry.example/l2lb-speaker'],
      /no tag or digest/,
    ],
    [
      'a hooks image outside standalone',
      ['render', '--hooks-image', 'l2lb-hooks:1.0.0'],
      /needs --standalone/,
    ],
    ['a plan without a state', ['plan'], /needs a cluster state/],
  ])('%s: exit 2, the message and the usage on stderr, nothing on stdout', (_what, args, message) => {
    const r = l2lb(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: l2lb/);
    expect(r.stdout).toBe('');
  });
});

describe('l2lb --help and --version on every command', () => {
  it.each([[[]], [['plan']], [['render']], [['version']]])(
    '%j --help prints its usage and exits 0',
    (cmd) => {
      const r = l2lb(...cmd, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: l2lb ${cmd[0] ?? '<command>'}`));
    },
  );

  it.each([[[]], [['plan']], [['render']], [['version']]])(
    '%j --version prints the package version',
    (cmd) => {
      const r = l2lb(...cmd, '--version');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    },
  );
});

describe('l2lb render', () => {
  it('renders the standalone set without monitoring kinds unless asked, so a plain cluster takes it', () => {
    const plain = objects(l2lb('render', '--standalone').stdout);
    const kinds = new Set(plain.map((o) => o.kind));
    expect(kinds).toContain('CustomResourceDefinition');
    expect(kinds).toContain('Deployment');
    for (const k of ['PodMonitor', 'PrometheusRule']) expect(kinds).not.toContain(k);
    const withMonitoring = new Set(
      objects(l2lb('render', '--standalone', '--monitoring').stdout).map((o) => o.kind),
    );
    expect(withMonitoring).toContain('PodMonitor');
    expect(withMonitoring).toContain('PrometheusRule');
  });

  it('renders monitoring for Deckhouse, which always has the Prometheus operator, unless told not to', () => {
    expect(objects(l2lb('render').stdout).map((o) => o.kind)).toContain('PrometheusRule');
    expect(objects(l2lb('render', '--no-monitoring').stdout).map((o) => o.kind)).not.toContain(
      'PrometheusRule',
    );
  });

  it('pins both images to the package version by default, never latest', () => {
    expect(images(objects(l2lb('render', '--standalone').stdout)).sort()).toEqual([
      `l2lb-hooks:${version}`,
      `l2lb-speaker:${version}`,
    ]);
  });

  it('takes a registry and a tag, or whole references', () => {
    const tagged = images(
      objects(
        l2lb('render', '--standalone', '--registry', 'registry.example/net/', '--image-tag', '1.2.3').stdout,
      ),
    );
    expect(tagged.sort()).toEqual([
      'registry.example/net/l2lb-hooks:1.2.3',
      'registry.example/net/l2lb-speaker:1.2.3',
    ]);
    const digest = `registry.example/l2lb-speaker@sha256:${'a'.repeat(64)}`;
    expect(images(objects(l2lb('render', '--speaker-image', digest).stdout))).toEqual([digest]);
  });
});

describe('l2lb plan', () => {
  it('shows only the Services of the namespace it is given', () => {
    const args = ['plan', 'examples/cluster.yaml', '--values', 'examples/module-config.yaml'];
    const all = l2lb(...args);
    expect(all.status).toBe(0);
    expect(all.stdout).toMatch(/default\/web/);
    const other = l2lb(...args, '--namespace', 'no-such-namespace');
    expect(other.status).toBe(0);
    expect(other.stdout).not.toMatch(/default\/web/);
  });
});
