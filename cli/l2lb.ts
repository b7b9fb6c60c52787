// The module's command line:
//   l2lb plan <state.yaml|dir>... [--values settings.yaml]   run the real control-loop hook on a
//        cluster state file and print the plan: each Service, its addresses and nodes, warnings.
//   l2lb render [--values settings.yaml] [--standalone] [--no-monitoring]   print the module's manifests.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dump, loadAll } from 'js-yaml';
import { CONDITION_ALL_ASSIGNED, L2LB_API_VERSION, L2LBSERVICE_API_VERSION } from '../lib/model';
import { MemoryCluster } from '../lib/sdk/memory-cluster';
import { groupContext, runHookExecutable, type ClusterObject } from '../lib/sdk/simulate';
import { parseSettings } from '../lib/settings';
import { reconcileConfig } from '../lib/controller/bindings';
import { renderModule, moduleValuesFromSettings } from '../templates';

const HOOK = join(__dirname, '..', 'module', 'hooks', 'reconcile');

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

interface Args {
  positional: string[];
  values?: string;
  flags: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { positional: [], flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--values' || x === '-f') a.values = argv[++i] ?? fail(`${x} needs a file`);
    else if (x.startsWith('--')) a.flags.add(x.slice(2));
    else a.positional.push(x);
  }
  return a;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path)
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function plan(args: Args): void {
  if (args.positional.length === 0)
    fail('plan needs a cluster state file or directory, e.g. `l2lb plan examples/`');
  const settings = loadSettings(args.values);
  const checked = parseSettings(settings);
  if (!checked.ok) fail(`settings are invalid:\n  ${checked.errors.join('\n  ')}`);
  const objects = loadObjects(args.positional);
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

  const children = state
    .filter((o) => o.apiVersion === L2LBSERVICE_API_VERSION && o.kind === 'L2LBService')
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

  const services = state.filter((o) => o.apiVersion === 'v1' && o.kind === 'Service');
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
  if (args.flags.has('output-state')) console.log('---\n' + state.map((o) => dump(o)).join('---\n'));
}

function render(args: Args): void {
  const raw = loadSettings(args.values);
  const checked = parseSettings(raw);
  if (!checked.ok) fail(`settings are invalid:\n  ${checked.errors.join('\n  ')}`);
  const values = moduleValuesFromSettings(checked.settings);
  // --no-monitoring leaves out the PodMonitor, PrometheusRule and dashboard, for clusters without
  // the prometheus-operator CRDs (kubectl apply would refuse those kinds).
  const objects = renderModule(values, {
    standalone: args.flags.has('standalone'),
    podMonitor: !args.flags.has('no-monitoring'),
  });
  process.stdout.write(objects.map((o) => dump(o, { noRefs: true })).join('---\n'));
}

const [command, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
switch (command) {
  case 'plan':
    plan(args);
    break;
  case 'render':
    render(args);
    break;
  default:
    process.stderr.write(
      'usage:\n  l2lb plan <cluster-state.yaml|dir>... [--values settings.yaml] [--output-state]\n  l2lb render [--values settings.yaml] [--standalone] [--no-monitoring]\n',
    );
    process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2);
}
