#!/usr/bin/env node
// Bundles every entry point into one self-contained JavaScript file with esbuild:
//   hooks/<name>.ts        -> dist/module/hooks/<name>   (executable, answers --config)
//   images/speaker/main.ts -> dist/speaker/speaker.js
//   cli/l2lb.ts            -> dist/bin/l2lb.js          (render, plan)
// One file per entry keeps a hook's start-up to a single module load, which is most of its run
// time on a single-Service event.
import { build } from 'esbuild';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { ESBUILD_OPTIONS } from './sea.mjs';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'dist');

const common = ESBUILD_OPTIONS;

const entries = [];
const hooksDir = join(root, 'hooks');
for (const f of readdirSync(hooksDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
  entries.push({ in: join(hooksDir, f), out: join(out, 'module', 'hooks', basename(f, '.ts')), exec: true });
}
if (existsSync(join(root, 'images/speaker/main.ts'))) {
  entries.push({
    in: join(root, 'images/speaker/main.ts'),
    out: join(out, 'speaker', 'speaker.js'),
    exec: true,
  });
}
if (existsSync(join(root, 'cli/l2lb.ts'))) {
  entries.push({ in: join(root, 'cli/l2lb.ts'), out: join(out, 'bin', 'l2lb.js'), exec: true });
}

await Promise.all(
  entries.map(async (e) => {
    mkdirSync(join(e.out, '..'), { recursive: true });
    const result = await build({
      ...common,
      entryPoints: [e.in],
      outfile: e.out,
      write: false,
      banner: { js: '#!/usr/bin/env node' },
    });
    // Write beside and rename: a test running the previous build never sees a half-written file.
    const tmp = `${e.out}.${process.pid}.tmp`;
    writeFileSync(tmp, result.outputFiles[0].contents, { mode: e.exec ? 0o755 : 0o644 });
    if (e.exec) chmodSync(tmp, 0o755);
    renameSync(tmp, e.out);
  }),
);

// The module directory as addon-operator expects it, next to the built hooks.
for (const d of ['crds', 'openapi']) {
  if (existsSync(join(root, d))) cpSync(join(root, d), join(out, 'module', d), { recursive: true });
}
if (existsSync(join(root, 'module.yaml')))
  cpSync(join(root, 'module.yaml'), join(out, 'module', 'module.yaml'));
console.error(`built ${entries.length} entry points into dist/`);
