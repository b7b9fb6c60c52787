// The module's command line (USAGE below says what each command takes). Every command parses its
// arguments strictly with node:util's parseArgs: a mistyped flag is refused with the usage and exit
// status 2, never read as something else (`render --standlone` once rendered the Deckhouse set).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { dump, loadAll } from 'js-yaml';
import { CONDITION_ALL_ASSIGNED, L2LB_API_VERSION, L2LBSERVICE_API_VERSION } from '../lib/model';
import { MemoryCluster } from '../lib/sdk/memory-cluster';
import { groupContext, runHookExecutable, type ClusterObject } from '../lib/sdk/simulate';
import { parseSettings } from '../lib/settings';
import { reconcileConfig } from '../lib/controller/bindings';
import { renderModule, moduleValuesFromSettings } from '../templates';
import { imageReferenceError, standaloneImages, VERSION, type ImageRefs } from '../templates/images';

const HOOK = join(__dirname, '..', 'module', 'hooks', 'reconcile');

const USAGE: Record<Command, string> = {
  plan: `usage: l2lb plan <cluster-state.yaml|dir>... [options]

Runs the module's control-loop hook on a cluster state (YAML files as \`kubectl get -o yaml\` prints
them) until it converges, and prints each L2LoadBalancer, each Service's addresses and ranked nodes,
and the warnings.

options:
  -f, --values <file>     the settings: a ModuleConfig, a values file or the bare settings
  -n, --namespace <ns>    show only the Services of this namespace
      --output-state      also print the converged state as YAML
  -h, --help              this text
      --version           the module version
`,
  render: `usage: l2lb render [options]

Prints the module's Kubernetes objects as YAML, ready for \`kubectl apply -f -\`.

options:
  -f, --values <file>        the settings: a ModuleConfig, a values file or the bare settings
      --standalone           for a cluster without Deckhouse: add the CRDs, the settings ConfigMap and
                             shell-operator running the hooks (Deployment hooks)
      --monitoring           add the PodMonitors, PrometheusRule and Grafana dashboard (their kinds
                             need the Prometheus operator); the default without --standalone
      --no-monitoring        leave them out; the default with --standalone
      --registry <prefix>    pull the images from <prefix>/l2lb-speaker and <prefix>/l2lb-hooks
      --image-tag <tag>      the images' tag (default: this version, ${VERSION})
      --speaker-image <ref>  the speaker image, a whole reference (name:tag or name@sha256:...)
      --hooks-image <ref>    the hooks image, likewise (standalone only)
  -h, --help                 this text
      --version              the module version
`,
  version: `usage: l2lb version

Prints the module version (${VERSION}).
`,
};

const COMMANDS = ['plan', 'render', 'version'] as const;
type Command = (typeof COMMANDS)[number];

const GENERAL_USAGE = `usage: l2lb <command> [options]

commands:
  plan      run the control loop on a cluster state file and print the plan
  render    print the module's manifests
  version   print the module version

\`l2lb <command> --help\` says what a command takes; \`l2lb --version\` prints the version (${VERSION}).
`;

/** A usage error: the message and the usage of the command, exit status 2. */
function usageError(msg: string, command?: Command): never {
  process.stderr.write(`l2lb: ${msg}\n\n${command ? USAGE[command] : GENERAL_USAGE}`);
  process.exit(2);
}

/** A failure of the work itself (a file, the settings, the hook). */
function fail(msg: string): never {
  process.stderr.write(`l2lb: ${msg}\n`);
  process.exit(2);
}

function yamlFiles(path: string): string[] {
  if (!existsSync(path)) fail(`${path}: no such file or directory`);
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

function loadObjects(paths: string[]): ClusterObject[] {
  const out: ClusterObject[] = [];
  for (const file of paths.flatMap(yamlFiles)) {
    for (const doc of loadAll(readFileSync(file, 'utf8'))) {
      if (doc === null || doc === undefined) continue;
      const o = doc as {
        kind?: string;
        items?: unknown[];
        apiVersion?: string;
        metadata?: { name?: string };
      };
      const items = o.kind === 'List' && Array.isArray(o.items) ? o.items : [o];
      for (const item of items) {
        const it = item as ClusterObject;
        if (!it.apiVersion || !it.kind || !it.metadata?.name)
          fail(`${file}: every object needs apiVersion, kind and metadata.name`);
        out.push(it);
      }
    }
  }
  return out;
}

function loadSettings(path: string | undefined): unknown {
  if (!path) return {};
  const doc = loadAll(readFileSync(path, 'utf8'))[0] ?? {};
  const rec = doc as Record<string, unknown>;
  // Accept a ModuleConfig, a values file ({l2LoadBalancer: ...}) or the bare settings.
  if (rec.kind === 'ModuleConfig') return (rec.spec as Record<string, unknown> | undefined)?.settings ?? {};
  return rec.l2LoadBalancer ?? rec;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path)
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};
const VALUES: Options = { values: { type: 'string', short: 'f' } };

const OPTIONS: Record<Command, Options> = {
  plan: {
    ...COMMON,
    ...VALUES,
    namespace: { type: 'string', short: 'n' },
    'output-state': { type: 'boolean' },
  },
  render: {
    ...COMMON,
    ...VALUES,
    standalone: { type: 'boolean' },
    monitoring: { type: 'boolean' },
    'no-monitoring': { type: 'boolean' },
    registry: { type: 'string' },
    'image-tag': { type: 'string' },
    'speaker-image': { type: 'string' },
    'hooks-image': { type: 'string' },
  },
  version: COMMON,
};

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(command: Command, argv: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: OPTIONS[command],
      strict: true,
      allowPositionals: command === 'plan',
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err), command);
  }
}

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function plan(args: Parsed): void {
  if (args.positionals.length === 0)
    usageError('plan needs a cluster state file or directory, e.g. `l2lb plan examples/`', 'plan');
  const namespace = str(args.values.namespace);
  const settings = loadSettings(str(args.values.values));
  const checked = parseSettings(settings);
  if (!checked.ok) fail(`settings are invalid:\n  ${checked.errors.join('\n  ')}`);
  const objects = loadObjects(args.positionals);
  const cluster = new MemoryCluster(objects);
  const maxRuns = 5;
  let runs = 0;
  let converged = false;
  const warnings = new Set<string>();
  for (; runs < maxRuns && !converged; runs++) {
    const run = runHookExecutable(HOOK, groupContext(reconcileConfig, cluster.list()), {
      values: { l2LoadBalancer: settings },
    });
    if (run.exitCode !== 0) fail(`the hook failed (exit ${run.exitCode}):\n${run.stderr}`);
    for (const line of run.stderr.split('\n')) if (line.includes('"object skipped"')) warnings.add(line);
    const meaningful = run.patches.filter(
      (p) => !(p.operation === 'CreateIfNotExists' && p.object.kind === 'Event'),
    );
    converged = meaningful.length === 0;
    const errors = cluster.apply(run.patches);
    if (errors.length) fail(`the patches do not apply: ${errors.join('; ')}`);
  }
  const state = cluster.list();

  const balancers = state.filter((o) => o.apiVersion === L2LB_API_VERSION && o.kind === 'L2LoadBalancer');
  const rows = [['L2LOADBALANCER', 'POOL', 'TOTAL', 'ALLOCATED', 'NODES', 'READY']];
  for (const b of balancers) {
    const pool = (get(b, 'spec', 'addressPool') as string[] | undefined) ?? [];
    const ready = (
      (get(b, 'status', 'conditions') as Array<{ type: string; status: string }> | undefined) ?? []
    ).find((c) => c.type === 'Ready');
    rows.push([
      b.metadata.name,
      pool.join(','),
      String(get(b, 'status', 'addressesTotal') ?? '?'),
      String(get(b, 'status', 'addressesAllocated') ?? '?'),
      String(get(b, 'status', 'eligibleNodes') ?? '?'),
      ready?.status ?? 'Unknown',
    ]);
  }
  console.log(table(rows) + '\n');

  const inNamespace = (o: ClusterObject): boolean =>
    namespace === undefined || o.metadata.namespace === namespace;
  const children = state
    .filter((o) => o.apiVersion === L2LBSERVICE_API_VERSION && o.kind === 'L2LBService' && inNamespace(o))
    .sort(
      (a, b) =>
        `${a.metadata.namespace}/${String(get(a, 'spec', 'serviceRef', 'name'))}`.localeCompare(
          `${b.metadata.namespace}/${String(get(b, 'spec', 'serviceRef', 'name'))}`,
        ) ||
        Number(a.metadata.labels?.['network.deckhouse.io/index']) -
          Number(b.metadata.labels?.['network.deckhouse.io/index']),
    );
  const srows = [['SERVICE', 'L2LOADBALANCER', 'INDEX', 'ADDRESS', 'NODES (preferred first)']];
  for (const c of children) {
    srows.push([
      `${c.metadata.namespace}/${String(get(c, 'spec', 'serviceRef', 'name'))}`,
      c.metadata.labels?.['network.deckhouse.io/l2-load-balancer'] ?? '',
      c.metadata.labels?.['network.deckhouse.io/index'] ?? '',
      String(get(c, 'spec', 'loadBalancerIP') ?? ''),
      ((get(c, 'spec', 'nodes') as string[] | undefined) ?? []).join(', '),
    ]);
  }
  console.log(table(srows) + '\n');

  const services = state.filter((o) => o.apiVersion === 'v1' && o.kind === 'Service' && inNamespace(o));
  const svrows = [['SERVICE', 'EXTERNAL-IP', 'ALL ASSIGNED', 'MESSAGE']];
  for (const s of services) {
    const cond = ((get(s, 'status', 'conditions') as Array<Record<string, string>> | undefined) ?? []).find(
      (c) => c.type === CONDITION_ALL_ASSIGNED,
    );
    if (!cond) continue;
    const ingress = (
      (get(s, 'status', 'loadBalancer', 'ingress') as Array<{ ip: string }> | undefined) ?? []
    ).map((i) => i.ip);
    svrows.push([
      `${s.metadata.namespace}/${s.metadata.name}`,
      ingress.join(',') || '<pending>',
      cond.status ?? '',
      (cond.message ?? '').split(';')[0] ?? '',
    ]);
  }
  console.log(table(svrows) + '\n');

  const events = state.filter((o) => o.apiVersion === 'v1' && o.kind === 'Event');
  const warn = events.filter((e) => e.type === 'Warning');
  console.log(`Warnings (${warn.length + warnings.size}):`);
  for (const e of warn) {
    console.log(
      `  ${String(get(e, 'involvedObject', 'kind'))} ${e.metadata.namespace === 'default' && get(e, 'involvedObject', 'kind') === 'L2LoadBalancer' ? '' : `${e.metadata.namespace}/`}${String(get(e, 'involvedObject', 'name'))}  ${String(e.reason)}: ${String(e.message)}`,
    );
  }
  for (const w of warnings) console.log(`  ${w}`);
  console.log(
    `\n${converged ? `Converged after ${runs - 1} run(s) of the hook; one more run changed nothing.` : `Not converged after ${maxRuns} runs.`}`,
  );
  if (args.values['output-state'] === true) console.log('---\n' + state.map((o) => dump(o)).join('---\n'));
}

/** The images to render: whole references win over --registry/--image-tag; every one pinned. */
function renderImages(args: Parsed): ImageRefs {
  const tag = str(args.values['image-tag']);
  const registry = str(args.values.registry);
  const images = standaloneImages({
    ...(registry !== undefined ? { registry } : {}),
    ...(tag !== undefined ? { tag } : {}),
  });
  const speaker = str(args.values['speaker-image']) ?? images.speaker;
  const hooks = str(args.values['hooks-image']) ?? images.hooks;
  for (const [flag, ref] of [
    ['--speaker-image', speaker],
    ['--hooks-image', hooks],
  ] as const) {
    const error = imageReferenceError(ref);
    if (error)
      usageError(
        `${flag === '--speaker-image' ? 'the speaker image' : 'the hooks image'} ${error}`,
        'render',
      );
  }
  return { speaker, hooks };
}

function render(args: Parsed): void {
  const standalone = args.values.standalone === true;
  if (args.values.monitoring === true && args.values['no-monitoring'] === true)
    usageError('--monitoring and --no-monitoring contradict each other', 'render');
  if (args.values['hooks-image'] !== undefined && !standalone)
    usageError(
      '--hooks-image needs --standalone: under Deckhouse the hooks run in Deckhouse itself',
      'render',
    );
  const image = renderImages(args);
  const raw = loadSettings(str(args.values.values));
  const checked = parseSettings(raw);
  if (!checked.ok) fail(`settings are invalid:\n  ${checked.errors.join('\n  ')}`);
  const values = moduleValuesFromSettings(checked.settings);
  // Monitoring objects are kinds of the Prometheus operator: Deckhouse always has it, a plain cluster
  // may not, and `kubectl apply` refuses a whole input with a kind the cluster does not know.
  const monitoring =
    args.values.monitoring === true || (!standalone && args.values['no-monitoring'] !== true);
  const objects = renderModule(values, { standalone, podMonitor: monitoring, image });
  process.stdout.write(objects.map((o) => dump(o, { noRefs: true })).join('---\n'));
}

function main(argv: string[]): void {
  const [first, ...rest] = argv;
  if (first === undefined) usageError('which command?');
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(GENERAL_USAGE);
    return;
  }
  if (first === '--version') {
    if (rest.length > 0) usageError(`--version takes no arguments, got ${rest.join(' ')}`);
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (!(COMMANDS as readonly string[]).includes(first))
    usageError(`unknown command ${JSON.stringify(first)}`);
  const command = first as Command;
  const args = parse(command, rest);
  if (args.values.help === true) {
    process.stdout.write(USAGE[command]);
    return;
  }
  if (args.values.version === true || command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (command === 'plan') plan(args);
  else render(args);
}

main(process.argv.slice(2));
