#!/usr/bin/env bash
# `npm run bench`: every benchmark, each printing its figures. Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
command -v jq >/dev/null && [ -x /usr/bin/time ] && command -v tcpdump >/dev/null || { apt-get update -qq && apt-get install -y -qq jq time tcpdump >/dev/null; }
npm run build --silent
for b in ${BENCHES:-core hooks cluster failover takeover}; do
  if [ -f "bench/$b.ts" ]; then
    printf '\n==> bench/%s.ts\n' "$b"
    npx tsx "bench/$b.ts"
  fi
done
