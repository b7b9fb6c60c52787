#!/usr/bin/env node
// Packages the module directory that addon-operator (Deckhouse) or the standalone hooks image runs:
//
//   dist/package/l2-load-balancer/
//     module.yaml  openapi/  crds/  docs/
//     monitoring/grafana-dashboards/<folder>/<name>.json   the dashboard of templates/dashboard.ts, where
//                                                          Deckhouse modules keep their dashboards
//     hooks/<hook>          one POSIX sh entry per hooks/<hook>.ts: `exec lib/l2lb-hooks <hook> "$@"`
//     hooks/lib/l2lb-hooks  every hook in one Node.js single-executable application (SEA)
//
// addon-operator's container has no Node.js, so the hooks carry their own: the node binary running
// this script, with images/hooks/entry.ts (bundled by esbuild) injected as its SEA blob. Operators
// skip directories named `lib` when they look for hooks, so only the sh entries are hooks.
//
// The binary is built for the platform this runs on (its libc included): build the package on the
// platform the hooks run on, as images/hooks/Dockerfile does.
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const MODULE = 'l2-load-balancer';
const BINARY = 'l2lb-hooks';
const packageDir = join(root, 'dist', 'package');
const target = join(packageDir, MODULE);
// Built beside and renamed over the previous package, so a reader never sees half of one.
const work = join(packageDir, `.${MODULE}.${process.pid}.tmp`);
// The SEA sentinel and resource name that Node.js looks for (docs: "Single executable applications").
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// postject is a devDependency (package.json), so packaging works offline.
const POSTJECT = join(root, 'node_modules', '.bin', 'postject');

const say = (msg) => process.stderr.write(`package: ${msg}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

function hookNames() {
  return readdirSync(join(root, 'hooks'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => basename(f, '.ts'))
    .sort();
}

/** The sh entry of one hook: no Node.js, no dirname, only the shell that runs it. */
function entryScript(hook) {
  return [
    '#!/bin/sh',
    `# The ${hook} hook of ${MODULE}: every hook is one binary in lib/, which operators do not run as a hook.`,
    'case "$0" in */*) dir=${0%/*} ;; *) dir=. ;; esac',
    `exec "$dir/lib/${BINARY}" ${hook} "$@"`,
    '',
  ].join('\n');
}

/** The dashboard file, from templates/dashboard.ts (bundled to plain JS, since this script is not TypeScript). */
async function writeDashboard(scratch, work) {
  const bundle = join(scratch, 'dashboard.mjs');
  await build({
    entryPoints: [join(root, 'templates', 'dashboard.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'warning',
  });
  const { DASHBOARD_FILE, dashboardJson } = await import(pathToFileURL(bundle).href);
  mkdirSync(dirname(join(work, DASHBOARD_FILE)), { recursive: true });
  writeFileSync(join(work, DASHBOARD_FILE), dashboardJson());
}

async function main() {
  const t0 = Date.now();
  rmSync(work, { recursive: true, force: true });
  const hooksDir = join(work, 'hooks');
  const libDir = join(hooksDir, 'lib');
  const scratch = join(work, '.build');
  mkdirSync(libDir, { recursive: true });
  mkdirSync(scratch, { recursive: true });

  // 1. One CommonJS bundle with every hook, dispatched by name.
  const bundle = join(scratch, 'entry.js');
  await build({
    entryPoints: [join(root, 'images', 'hooks', 'entry.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    legalComments: 'none',
    logLevel: 'warning',
    external: ['@aws-sdk/*', 'openid-client'],
  });
  const dispatched = run(process.execPath, [bundle, '--list']).split('\n').filter(Boolean).sort();
  const missing = hookNames().filter((h) => !dispatched.includes(h));
  if (missing.length > 0) {
    throw new Error(`images/hooks/entry.ts does not dispatch to ${missing.join(', ')}: add them to HOOKS`);
  }

  // 2. The SEA blob (with V8's code cache, which shortens every hook start) and the binary.
  const seaConfig = join(scratch, 'sea-config.json');
  const blob = join(scratch, 'sea.blob');
  writeFileSync(
    seaConfig,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  run(process.execPath, ['--experimental-sea-config', seaConfig]);
  const binary = join(libDir, BINARY);
  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  // Debug symbols are most of the difference between node's 99 MB and 87 MB; strip is optional.
  if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) run('strip', [binary]);
  run(POSTJECT, [binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, '--overwrite']);
  const listed = run(binary, ['--list']).split('\n').filter(Boolean).sort();
  if (listed.join() !== dispatched.join()) {
    throw new Error(`${BINARY} lists ${listed.join(', ')}, the bundle ${dispatched.join(', ')}`);
  }

  // 3. One sh entry per hook, and the rest of the module directory.
  for (const hook of dispatched) writeFileSync(join(hooksDir, hook), entryScript(hook), { mode: 0o755 });
  for (const d of ['openapi', 'crds', 'docs']) {
    if (existsSync(join(root, d))) cpSync(join(root, d), join(work, d), { recursive: true });
  }
  copyFileSync(join(root, 'module.yaml'), join(work, 'module.yaml'));
  await writeDashboard(scratch, work);
  rmSync(scratch, { recursive: true, force: true });

  // Another packaging run (a parallel test) may swap in its own package meanwhile: from the same
  // sources, so whichever lands is as good, and a reader holding the old one keeps it until done.
  const old = `${work}.old`;
  if (existsSync(target)) renameSync(target, old);
  try {
    renameSync(work, target);
  } catch (err) {
    if (!['ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
    rmSync(work, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
  const mb = (statSync(join(target, 'hooks', 'lib', BINARY)).size / 2 ** 20).toFixed(1);
  const du = execFileSync('du', ['-sh', target], { encoding: 'utf8' }).split('\t')[0];
  say(
    `${target}: hooks ${dispatched.join(', ')}; ${BINARY} ${mb} MiB (node ${process.version}), ` +
      `${du} in all, ${Date.now() - t0} ms`,
  );
}

try {
  await main();
} catch (err) {
  rmSync(work, { recursive: true, force: true });
  say(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
