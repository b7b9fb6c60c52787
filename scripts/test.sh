#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, builds, lints, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }
step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
step "type check"; npx tsc --noEmit -p tsconfig.json
step "lint"; npx eslint . && npx prettier --check . --log-level warn
step "build"; npm run build --silent
step "binaries: kube-apiserver, kine, shell-operator, kubectl (first build ~15 min on 2 cores, then cached)"; bash scripts/binaries.sh >/dev/null
# The tests run the built images (tests/images, tests/cluster/standalone.test.ts, and the speakers of
# tests/net, which refuse an image not built from this source under CI=true): first time ~7 min.
step "images: l2lb-speaker, l2lb-hooks (podman; the Debian base is cached)"; bash scripts/images.sh
step "tests"; npx jest --ci --testPathIgnorePatterns /tests/net/ "$@"; step "network tests, alone (failover timing is starved when cluster tests run beside them)"; npx jest --ci --runInBand tests/net
