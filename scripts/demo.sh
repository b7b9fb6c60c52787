#!/usr/bin/env bash
# The module's main job, on a fresh machine: installs what is missing, builds and packages the
# module, starts a local control plane (kube-apiserver over kine) and addon-operator (the engine
# under Deckhouse) with the packaged module, hands it ModuleConfig examples/module-config.yaml as
# deckhouse-controller would (through addon-operator's ConfigMap; the demo says so), applies
# examples/cluster.yaml (nodes, an L2LoadBalancer, Services), waits until the control loop has
# converged, brings the balancer nodes up as network namespaces running the speakers with a client
# that reaches every public address and sees one node fail (scripts/demo-wire.ts; needs root), and
# prints what an operator looks at: Services with their EXTERNAL-IPs, L2LBServices,
# L2LoadBalancers, Events. --standalone runs plain shell-operator on the built hooks instead.
# The cluster stays up until Ctrl-C; with --once, or when stdin is not a terminal, it exits after
# printing.
#
#   bash scripts/demo.sh [--standalone] [--once] [--verbose] [--state FILE] [--values FILE]
#   bash scripts/demo.sh --plan [l2lb plan arguments]    # the offline plan, no cluster
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*" >&2; }
if [ ! -d node_modules ]; then say "installing npm packages"; npm ci --no-audit --no-fund --loglevel=error; fi
if ! command -v jq >/dev/null; then say "installing jq"; apt-get update -qq && apt-get install -y -qq jq >/dev/null; fi
say "building"; npm run build --silent
if [ "${1:-}" = "--plan" ]; then
  shift
  say "planning examples/cluster.yaml with the settings of examples/module-config.yaml (offline)"
  exec node dist/bin/l2lb.js plan examples/cluster.yaml --values examples/module-config.yaml "$@"
fi
case " $* " in
  *" --standalone "*) ;;
  *) say "packaging the module for addon-operator (dist/package/l2-load-balancer)"; npm run package --silent ;;
esac
say "kube-apiserver, kine, shell-operator, addon-operator and kubectl (built once from the Go module proxy, then cached)"
bash scripts/binaries.sh >/dev/null
# In this process, not under tsx's runner: that one SIGKILLs a child that has not reported Ctrl-C
# within 60 ms, before it could remove its namespaces and processes.
exec node --import tsx scripts/cluster-demo.ts "$@"
