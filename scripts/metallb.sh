#!/usr/bin/env bash
# Builds MetalLB's controller and speaker from the Go module proxy (module go.universe.tf/metallb)
# into the binary cache the cluster tests use, for the side-by-side benchmark (bench/compare.ts).
#
#   scripts/metallb.sh               # build both when missing; print KEY=path lines on stdout
#   scripts/metallb.sh --print-env   # print the KEY=path lines, build nothing
#   scripts/metallb.sh --crds        # print the module directory holding config/crd/bases
#
# Binaries: <cache>/bin/metallb-controller-<ver> and metallb-speaker-<ver>; one that is already
# there is not rebuilt. Environment: L2LB_CACHE (default ~/.cache/l2-load-balancer),
# L2LB_METALLB_VERSION (default v0.15.2).
# The build goes through a throwaway wrapper module that requires go.universe.tf/metallb and
# repeats its non-local replace lines (v0.15.2 has none; a local one would be an error).
# Why v0.15.2 and not the newest v0.16.2: v0.16.2 needs github.com/metallb/frr-k8s v0.0.27, which
# the proxy here refuses (403 "This module version is not available"), and the nearest served one
# (v0.0.26) lacks types v0.16.2 compiles against. v0.15.2 builds unmodified from served modules.
# Progress goes to stderr; stdout carries only the KEY=path lines.
set -euo pipefail

METALLB_VERSION="${L2LB_METALLB_VERSION:-v0.15.2}"
MODULE=go.universe.tf/metallb

CACHE_DIR="${L2LB_CACHE:-${HOME:-/root}/.cache/l2-load-balancer}"
BIN_DIR="${CACHE_DIR}/bin"
WORK_DIR="${CACHE_DIR}/work"
CONTROLLER_BIN="${BIN_DIR}/metallb-controller-${METALLB_VERSION}"
SPEAKER_BIN="${BIN_DIR}/metallb-speaker-${METALLB_VERSION}"

log() { printf '[metallb] %s\n' "$*" >&2; }
die() {
  printf '[metallb] ERROR: %s\n' "$*" >&2
  exit 1
}
now() { date +%s; }
elapsed() { local s=$(($(now) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

print_env() {
  printf 'L2LB_METALLB_CONTROLLER=%s\n' "$CONTROLLER_BIN"
  printf 'L2LB_METALLB_SPEAKER=%s\n' "$SPEAKER_BIN"
}

mod_json() {
  local out
  if ! out=$(cd "$WORK_DIR" && timeout 900 go mod download -json "${MODULE}@${METALLB_VERSION}" 2>&1) ||
    printf '%s' "$out" | grep -q '"Error"'; then
    printf '%s\n' "$out" | tail -n 5 >&2
    die "cannot fetch ${MODULE}@${METALLB_VERSION} from the Go module proxy ($(go env GOPROXY))"
  fi
  printf '%s\n' "$out"
}
json_field() {
  printf '%s\n' "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n 1
}

mkdir -p "$BIN_DIR" "$WORK_DIR"
export GOWORK=off

case "${1:-}" in
  --print-env)
    print_env
    exit 0
    ;;
  --crds)
    command -v go >/dev/null 2>&1 || die "'go' not found on PATH"
    json=$(mod_json)
    printf '%s\n' "$(json_field "$json" Dir)"
    exit 0
    ;;
  -h | --help)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 0
    ;;
  "") ;;
  *) die "unknown argument '$1' (expected --print-env, --crds)" ;;
esac

build() {
  if [[ -x "$CONTROLLER_BIN" && -x "$SPEAKER_BIN" ]]; then
    log "MetalLB ${METALLB_VERSION}: cached at ${CONTROLLER_BIN} and ${SPEAKER_BIN}"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "'go' not found on PATH; install Go >= 1.26 and retry"
  local t0 json gomod w
  t0=$(now)
  log "building MetalLB ${METALLB_VERSION} controller and speaker (first build ~5-10 minutes on 2 cores)..."
  log "  [1/3] downloading ${MODULE}@${METALLB_VERSION}..."
  json=$(mod_json)
  gomod=$(json_field "$json" GoMod)
  [[ -f "$gomod" ]] || die "go mod download gave no go.mod for ${MODULE}@${METALLB_VERSION}"
  if grep -Eq '=>[[:space:]]*\.\.?/' "$gomod"; then
    die "${MODULE}@${METALLB_VERSION} has local replace lines; a wrapper module cannot reproduce them"
  fi

  w="${WORK_DIR}/metallb-${METALLB_VERSION}"
  rm -rf "$w"
  mkdir -p "$w"
  {
    echo "module l2lb.local/build/metallb"
    echo
    awk '/^go [0-9]/ { print }' "$gomod"
    echo
    echo "require ${MODULE} ${METALLB_VERSION}"
    echo
    awk '
      /^replace \(/ { inblk = 1; next }
      inblk && /^\)/ { inblk = 0; next }
      inblk && /=>/ { sub(/^[ \t]+/, ""); print "replace " $0; next }
      /^replace [^(]/ { print }
    ' "$gomod"
  } >"${w}/go.mod"
  if grep -q '^replace ' "${w}/go.mod"; then
    log "  repeating $(grep -c '^replace ' "${w}/go.mod") replace line(s) of its go.mod"
  fi
  log "  [2/3] resolving dependencies..."
  (cd "$w" && timeout 1800 go get "${MODULE}/controller@${METALLB_VERSION}" "${MODULE}/speaker@${METALLB_VERSION}" >&2) ||
    die "resolving ${MODULE}/controller and /speaker failed (see above)"
  local ldflags="-s -w -X ${MODULE}/internal/version.gitCommit=${METALLB_VERSION} -X ${MODULE}/internal/version.gitBranch=proxy"
  local c
  for c in controller speaker; do
    local out="${BIN_DIR}/metallb-${c}-${METALLB_VERSION}"
    if [[ -x "$out" ]]; then
      log "  [3/3] ${c}: cached"
      continue
    fi
    log "  [3/3] compiling ${c} (CGO_ENABLED=0)..."
    (cd "$w" && CGO_ENABLED=0 timeout 3600 nice -n 5 go build -trimpath -ldflags "$ldflags" -o "${out}.tmp" "${MODULE}/${c}" >&2) ||
      die "go build ${MODULE}/${c} failed (see above)"
    mv -f "${out}.tmp" "$out"
    log "  ${c}: $(du -h "$out" | cut -f1) at ${out}"
  done
  log "built MetalLB ${METALLB_VERSION} in $(elapsed "$t0")"
}

exec {lock_fd}>"${CACHE_DIR}/.metallb.lock"
flock -w 3600 "$lock_fd" || die "timed out after 1h waiting for another MetalLB build (${CACHE_DIR}/.metallb.lock)"
build
flock -u "$lock_fd"
print_env
