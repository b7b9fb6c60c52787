#!/usr/bin/env node
// Packages the module directory that addon-operator (Deckhouse) or the standalone hooks image runs:
//
//   dist/package/l2-load-balancer/
//     module.yaml  VERSION  openapi/  crds/  docs/
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
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSea, ESBUILD_OPTIONS, run } from './sea.mjs';

const root = new URL('..', import.meta.url).pathname;
const MODULE = 'l2-load-balancer';
const BINARY = 'l2lb-hooks';
const packageDir = join(root, 'dist', 'package');
const target = join(packageDir, MODULE);
// Built beside and renamed over the previous package, so a reader never sees half of one.
const work = join(packageDir, `.${MODULE}.${process.pid}.tmp`);

const say = (msg) => process.stderr.write(`package: ${msg}\n`);

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
    ...ESBUILD_OPTIONS,
    entryPoints: [join(root, 'templates', 'dashboard.ts')],
    outfile: bundle,
    format: 'esm',
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
    ...ESBUILD_OPTIONS,
    entryPoints: [join(root, 'images', 'hooks', 'entry.ts')],
    outfile: bundle,
  });
  const dispatched = run(process.execPath, [bundle, '--list']).split('\n').filter(Boolean).sort();
  const missing = hookNames().filter((h) => !dispatched.includes(h));
  if (missing.length > 0) {
    throw new Error(`images/hooks/entry.ts does not dispatch to ${missing.join(', ')}: add them to HOOKS`);
  }

  // 2. The SEA binary.
  const binary = join(libDir, BINARY);
  buildSea({ bundle, binary, scratch });
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
  // The version a user can name (`l2lb --version` prints the same): package.json's.
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  writeFileSync(join(work, 'VERSION'), `${version}\n`);
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
