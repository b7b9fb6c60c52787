#!/usr/bin/env bash
# The module's main job on an embedded default: installs what is missing, builds, and runs the
# real control-loop hook on examples/ (a small bare-metal cluster), printing the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*" >&2; }
if [ ! -d node_modules ]; then say "installing npm packages"; npm ci --no-audit --no-fund --loglevel=error; fi
if ! command -v jq >/dev/null; then say "installing jq"; apt-get update -qq && apt-get install -y -qq jq >/dev/null; fi
say "building"; npm run build --silent
say "planning examples/cluster.yaml with the settings of examples/module-config.yaml"
exec node dist/bin/l2lb.js plan examples/cluster.yaml --values examples/module-config.yaml "$@"
