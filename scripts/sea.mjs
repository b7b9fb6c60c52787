// Turns one CommonJS bundle into a Node.js single-executable application (SEA): the node binary that
// runs this script, with the bundle injected as its SEA blob. The hooks (scripts/package.mjs) and the
// speaker image (scripts/images.sh) both ship one, so neither needs a Node.js package on its base:
// Debian bookworm's nodejs is v18 and this code needs 20 or newer.
//
// The binary is built for the platform this runs on, its libc included.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// The SEA sentinel that Node.js looks for (docs: "Single executable applications").
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// postject is a devDependency (package.json), so this works offline.
const POSTJECT = join(root, 'node_modules', '.bin', 'postject');

/**
 * The esbuild options of every bundle of this project (scripts/esbuild-options.json). Its `define`
 * turns off ws's optional native add-ons (bufferutil, utf-8-validate; ws comes with
 * @kubernetes/client-node): ws tries to require them at load, and in a single-executable binary a
 * require() of anything but a built-in prints a warning on stderr at every start.
 */
export const ESBUILD_OPTIONS = JSON.parse(
  readFileSync(join(root, 'scripts', 'esbuild-options.json'), 'utf8'),
);

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

/**
 * Writes `binary`: node with `bundle` as its main script (and V8's code cache, which shortens every
 * start). `scratch` holds the SEA config and blob.
 */
export function buildSea({ bundle, binary, scratch }) {
  const seaConfig = join(scratch, 'sea-config.json');
  const blob = join(scratch, 'sea.blob');
  writeFileSync(
    seaConfig,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  run(process.execPath, ['--experimental-sea-config', seaConfig]);
  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  // Debug symbols are most of the difference between node's 99 MB and 87 MB; strip is optional.
  if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) run('strip', [binary]);
  run(POSTJECT, [binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, '--overwrite']);
}

// `node scripts/sea.mjs <entry.ts> <binary>`: bundle one entry point and make it a SEA binary.
if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [entry, binary] = process.argv.slice(2);
  if (!entry || !binary) {
    process.stderr.write('usage: node scripts/sea.mjs <entry.ts> <binary>\n');
    process.exit(2);
  }
  const { build } = await import('esbuild');
  const { mkdirSync, mkdtempSync, renameSync, rmSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  mkdirSync(dirname(binary), { recursive: true });
  const scratch = mkdtempSync(`${binary}.build-`);
  try {
    const bundle = join(scratch, 'main.js');
    await build({ ...ESBUILD_OPTIONS, entryPoints: [entry], outfile: bundle });
    // Built beside and renamed, so an image build never copies half a binary.
    buildSea({ bundle, binary: join(scratch, 'binary'), scratch });
    renameSync(join(scratch, 'binary'), binary);
    // The bundle's digest beside the binary: scripts/images.sh labels the image with it, and the
    // tests (testbed/speakers.ts) run the image only when it was built from the source they test.
    const { createHash } = await import('node:crypto');
    writeFileSync(
      `${binary}.bundle-sha256`,
      `${createHash('sha256').update(readFileSync(bundle)).digest('hex')}\n`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
