// Jest runs TypeScript through swc (fast, no type-check: `npm run typecheck` does that).
// execa and its helpers ship ESM only, so they are transformed too.
const esmOnly = [
  'execa',
  '@sindresorhus',
  'figures',
  'get-stream',
  'human-signals',
  'is-plain-obj',
  'is-stream',
  'npm-run-path',
  'path-key',
  'pretty-ms',
  'parse-ms',
  'strip-final-newline',
  'unicorn-magic',
  'yoctocolors',
  'is-unicode-supported',
  '@sec-ant',
  // @kubernetes/client-node 2 and its ESM-only dependencies.
  '@kubernetes/client-node',
  'jsonpath-plus',
  'rfc4648',
  'socks-proxy-agent',
  'openid-client',
  'oauth4webapi',
  'jose',
  'agent-base',
];
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest'] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  globalSetup: '<rootDir>/tests/support/global-setup.js',
  // unicorn-magic (via execa) exports only an `import` condition, which jest's require-mode resolver skips.
  moduleNameMapper: { '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};
