#!/usr/bin/env bash
# Builds the binaries the cluster tests run (kube-apiserver, kine as the etcd, shell-operator,
# addon-operator) from the Go module proxy into a cache directory outside the repository, and
# installs the Debian packages the tests call (arping, na6, ip, nft, ping, openssl, python3, kubectl) when missing.
#
#   scripts/binaries.sh                      # everything
#   scripts/binaries.sh kube-apiserver kine  # only these (also: shell-operator, addon-operator, packages)
#   scripts/binaries.sh --print-env          # print L2LB_*=path lines, build nothing
#
# Binaries are keyed by version (kube-apiserver-v1.36.3, ...); one that is already in the cache
# is not rebuilt. Environment: L2LB_CACHE (default ~/.cache/l2-load-balancer),
# L2LB_KUBE_VERSION, L2LB_KINE_VERSION, L2LB_SHELL_OPERATOR_VERSION, L2LB_ADDON_OPERATOR_VERSION.
# Progress goes to stderr; stdout carries only the KEY=path lines.
set -euo pipefail

KUBE_VERSION="${L2LB_KUBE_VERSION:-v1.36.3}"
KINE_VERSION="${L2LB_KINE_VERSION:-v0.17.5}"
SHELL_OPERATOR_VERSION="${L2LB_SHELL_OPERATOR_VERSION:-v1.20.2}"
# addon-operator: the newest version whose whole module graph the Go module proxy serves (checked
# 2026-12-03; the proxy lists no versions of it, so each tag was tried newest first):
# - v1.24.6 and v1.24.5 are refused (403); v1.24.4 is served, but not what it needs:
#   github.com/werf/nelm v1.26.2 is refused, the served v1.27.1 needs a github.com/werf/kubedog
#   pseudo-version that is refused, and the served kubedog v0.13.0 lacks pkg/informer;
#   github.com/deckhouse/module-sdk v0.12.0 is refused too (v0.12.2 is served).
# - v1.20.x to v1.23.x are refused; v1.19.0 is served with everything it requires (module-sdk
#   v0.9.1, shell-operator v1.14.0, nelm v1.21.0), so no stand-in is needed for module-sdk.
ADDON_OPERATOR_VERSION="${L2LB_ADDON_OPERATOR_VERSION:-v1.19.0}"

CACHE_DIR="${L2LB_CACHE:-${HOME:-/root}/.cache/l2-load-balancer}"
BIN_DIR="${CACHE_DIR}/bin"
WORK_DIR="${CACHE_DIR}/work"

KUBE_APISERVER_BIN="${BIN_DIR}/kube-apiserver-${KUBE_VERSION}"
KINE_BIN="${BIN_DIR}/kine-${KINE_VERSION}"
SHELL_OPERATOR_BIN="${BIN_DIR}/shell-operator-${SHELL_OPERATOR_VERSION}"
ADDON_OPERATOR_BIN="${BIN_DIR}/addon-operator-${ADDON_OPERATOR_VERSION}"

log() { printf '[binaries] %s\n' "$*" >&2; }
die() {
  printf '[binaries] ERROR: %s\n' "$*" >&2
  exit 1
}

print_env() {
  printf 'L2LB_KUBE_APISERVER=%s\n' "${KUBE_APISERVER_BIN}"
  printf 'L2LB_KINE=%s\n' "${KINE_BIN}"
  printf 'L2LB_SHELL_OPERATOR=%s\n' "${SHELL_OPERATOR_BIN}"
  printf 'L2LB_ADDON_OPERATOR=%s\n' "${ADDON_OPERATOR_BIN}"
}

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
want_kube=0 want_kine=0 want_shop=0 want_aop=0 want_pkgs=0
if [[ $# -eq 0 ]]; then
  want_kube=1 want_kine=1 want_shop=1 want_aop=1 want_pkgs=1
fi
for arg in "$@"; do
  case "$arg" in
    --print-env) print_env; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    kube-apiserver) want_kube=1 ;;
    kine | etcd) want_kine=1 ;;
    shell-operator) want_shop=1 ;;
    addon-operator) want_aop=1 ;;
    packages) want_pkgs=1 ;;
    all) want_kube=1 want_kine=1 want_shop=1 want_aop=1 want_pkgs=1 ;;
    *) usage; die "unknown argument '${arg}' (expected kube-apiserver, kine, shell-operator, addon-operator, packages, all, --print-env)" ;;
  esac
done

now() { date +%s; }
elapsed() { local s=$(($(now) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
size_of() { du -h "$1" 2>/dev/null | cut -f1; }

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------
ensure_packages() {
  local -a missing=()
  command -v arping >/dev/null 2>&1 || [[ -x /usr/sbin/arping ]] || missing+=(iputils-arping)
  command -v na6 >/dev/null 2>&1 || [[ -x /usr/sbin/na6 ]] || missing+=(ipv6toolkit)
  command -v ndisc6 >/dev/null 2>&1 || [[ -x /usr/bin/ndisc6 ]] || missing+=(ndisc6)
  command -v ip >/dev/null 2>&1 || [[ -x /usr/sbin/ip ]] || missing+=(iproute2)
  command -v nft >/dev/null 2>&1 || [[ -x /usr/sbin/nft ]] || missing+=(nftables)
  command -v ping >/dev/null 2>&1 || [[ -x /usr/bin/ping ]] || missing+=(iputils-ping)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  [[ -x /usr/bin/time ]] || missing+=(time)
  # tests/net/heartbeat.test.ts: packet loss on a link (nft numgen, above: netem is not in every
  # kernel) and a capture of real heartbeats (an AF_PACKET socket in python3) to replay them.
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  local want_kubectl=0
  command -v kubectl >/dev/null 2>&1 || want_kubectl=1
  if [[ ${#missing[@]} -eq 0 && $want_kubectl -eq 0 ]]; then
    log "packages: arping, na6, ip, nft, ping, openssl, jq, time, python3, kubectl already present"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "WARNING: apt-get not found; install by hand: ${missing[*]} $([[ $want_kubectl -eq 1 ]] && echo kubectl)"
    return 0
  fi
  local -a sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "packages missing (${missing[*]}) and not root, no sudo"
    sudo=(sudo)
  fi
  local t0
  t0=$(now)
  log "packages: apt-get update (missing: ${missing[*]:-none}$([[ $want_kubectl -eq 1 ]] && echo ', kubectl'))..."
  "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
  if [[ $want_kubectl -eq 1 ]]; then
    if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      missing+=(kubectl)
    else
      log "packages: apt has no kubectl; tests that need kubectl will be skipped or fail"
    fi
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "packages: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
  log "packages: done in $(elapsed "$t0")"
}

# ---------------------------------------------------------------------------------------------
# Go
# ---------------------------------------------------------------------------------------------
GO_CHECKED=0
check_go() {
  [[ $GO_CHECKED -eq 1 ]] && return 0
  command -v go >/dev/null 2>&1 ||
    die "'go' not found on PATH. Install Go >= 1.26.4 (https://go.dev/dl/ or apt golang-go from backports) and retry."
  local gv
  gv=$(go env GOVERSION 2>/dev/null || true)
  log "using $(command -v go) (${gv:-unknown version}), GOPROXY=$(go env GOPROXY)"
  GO_CHECKED=1
}

# go_mod_download MODULE@VERSION -> prints the JSON of `go mod download -json`; fails clearly.
go_mod_download() {
  local out
  if ! out=$(cd "$WORK_DIR" && timeout 900 go mod download -json "$1" 2>&1); then
    printf '%s\n' "$out" | tail -n 5 >&2
    die "cannot fetch $1 from the Go module proxy ($(go env GOPROXY)). Is the proxy reachable (network, GOPROXY, GOFLAGS=-mod=mod)? Does the version exist?"
  fi
  if printf '%s' "$out" | grep -q '"Error"'; then
    printf '%s\n' "$out" | grep '"Error"' >&2
    die "cannot fetch $1 from the Go module proxy ($(go env GOPROXY))"
  fi
  printf '%s\n' "$out"
}

# json_field JSON KEY -> value of a top-level string field of go's indented JSON output.
json_field() {
  printf '%s\n' "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n 1
}

# go_header GOMOD_FILE -> its `go` line and `godebug` lines/blocks (toolchain is left to us).
go_header() {
  awk '
    /^go [0-9]/ { print; next }
    /^godebug \(/ { inblk = 1; print; next }
    inblk { print; if ($0 ~ /^\)/) inblk = 0; next }
    /^godebug / { print }
  ' "$1"
}

# Lock a component so concurrent callers (parallel jest workers) build it once.
with_lock() {
  local name=$1
  shift
  mkdir -p "$CACHE_DIR"
  exec {lock_fd}>"${CACHE_DIR}/.${name}.lock"
  if ! flock -w 3600 "$lock_fd"; then
    die "timed out after 1h waiting for another build of ${name} (lock ${CACHE_DIR}/.${name}.lock)"
  fi
  "$@"
  flock -u "$lock_fd"
  exec {lock_fd}>&-
}

# ---------------------------------------------------------------------------------------------
# kube-apiserver: wrapper module around k8s.io/kubernetes (kubernetes/kubernetes#79384)
# ---------------------------------------------------------------------------------------------
build_kube_apiserver() {
  if [[ -x "$KUBE_APISERVER_BIN" ]]; then
    log "kube-apiserver ${KUBE_VERSION}: cached at ${KUBE_APISERVER_BIN}"
    return 0
  fi
  check_go
  local t0 json gomod w staging_version minor
  t0=$(now)
  log "building kube-apiserver ${KUBE_VERSION} (first build takes ~10-15 minutes on 2 cores; later builds are cached)..."
  log "  [1/3] downloading k8s.io/kubernetes@${KUBE_VERSION} (a ~50 MB module)..."
  json=$(go_mod_download "k8s.io/kubernetes@${KUBE_VERSION}")
  gomod=$(json_field "$json" GoMod)
  [[ -f "$gomod" ]] || die "go mod download gave no go.mod for k8s.io/kubernetes@${KUBE_VERSION}"

  staging_version="v0.${KUBE_VERSION#v1.}"
  minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local -a staging
  mapfile -t staging < <(sed -n -E 's#^[[:space:]]*(replace[[:space:]]+)?([^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$gomod" | sort -u)
  [[ ${#staging[@]} -gt 10 ]] || die "found only ${#staging[@]} staging replace lines in ${gomod}; the wrapper technique needs them"

  w="${WORK_DIR}/kube-apiserver-${KUBE_VERSION}"
  rm -rf "$w"
  mkdir -p "$w"
  {
    echo "module l2lb.local/build/kube-apiserver"
    echo
    go_header "$gomod"
    echo
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do
      echo "	${m} => ${m} ${staging_version}"
    done
    echo ")"
  } >"${w}/go.mod"
  log "  [2/3] resolving dependencies (${#staging[@]} staging modules at ${staging_version})..."
  (cd "$w" && timeout 1800 go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" >&2) ||
    die "resolving k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION} failed (see above)"

  local vpkg ldflags=("-s" "-w")
  for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=("-X" "${vpkg}.gitVersion=${KUBE_VERSION}" "-X" "${vpkg}.gitMajor=1" "-X" "${vpkg}.gitMinor=${minor}"
      "-X" "${vpkg}.gitTreeState=clean" "-X" "${vpkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  done
  log "  [3/3] compiling (CGO_ENABLED=0)..."
  (cd "$w" && CGO_ENABLED=0 timeout 5400 go build -trimpath -ldflags "${ldflags[*]}" \
    -o "${KUBE_APISERVER_BIN}.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2) ||
    die "go build k8s.io/kubernetes/cmd/kube-apiserver failed (see above)"
  mv -f "${KUBE_APISERVER_BIN}.tmp" "$KUBE_APISERVER_BIN"
  log "built kube-apiserver ${KUBE_VERSION} in $(elapsed "$t0") ($(size_of "$KUBE_APISERVER_BIN")): ${KUBE_APISERVER_BIN}"
}

# ---------------------------------------------------------------------------------------------
# kine (etcd API over memory/SQLite; no replace lines, so plain `go install` works)
# ---------------------------------------------------------------------------------------------
build_kine() {
  if [[ -x "$KINE_BIN" ]]; then
    log "kine ${KINE_VERSION}: cached at ${KINE_BIN}"
    return 0
  fi
  check_go
  local t0 gobin
  t0=$(now)
  log "building kine ${KINE_VERSION} (first build takes ~2-4 minutes on 2 cores)..."
  go_mod_download "github.com/k3s-io/kine@${KINE_VERSION}" >/dev/null
  gobin="${WORK_DIR}/kine-${KINE_VERSION}-bin"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  (cd "$WORK_DIR" && GOBIN="$gobin" CGO_ENABLED=0 timeout 3600 go install -trimpath -ldflags "-s -w" \
    "github.com/k3s-io/kine@${KINE_VERSION}" >&2) ||
    die "go install github.com/k3s-io/kine@${KINE_VERSION} failed (see above)"
  mv -f "${gobin}/kine" "$KINE_BIN"
  rm -rf "$gobin"
  log "built kine ${KINE_VERSION} in $(elapsed "$t0") ($(size_of "$KINE_BIN")): ${KINE_BIN}"
}

# ---------------------------------------------------------------------------------------------
# shell-operator: wrapper module repeating its replace lines (go-openapi/validate fork)
# ---------------------------------------------------------------------------------------------
# shell-operator's object_patch package imports four interfaces from github.com/deckhouse/module-sdk/pkg.
# Some proxies refuse every module-sdk version (403); then build against a local module that declares
# just those interfaces, with the method sets shell-operator itself calls and implements.
stub_module_sdk_if_unavailable() {
  local gomod=$1 w=$2 sdk_version
  sdk_version=$(sed -n -E 's#^[[:space:]]*(require[[:space:]]+)?github\.com/deckhouse/module-sdk[[:space:]]+(v[^[:space:]]+).*#\2#p' "$gomod" | head -n 1)
  [[ -n "$sdk_version" ]] || return 0
  if (cd "$WORK_DIR" && timeout 300 go mod download "github.com/deckhouse/module-sdk@${sdk_version}" >/dev/null 2>&1); then
    return 0
  fi
  log "  github.com/deckhouse/module-sdk@${sdk_version} is not served by the proxy: using a local stub of the 4 interfaces shell-operator uses from it"
  mkdir -p "${w}/module-sdk-stub/pkg"
  printf 'module github.com/deckhouse/module-sdk\n\ngo 1.22\n' >"${w}/module-sdk-stub/go.mod"
  cat >"${w}/module-sdk-stub/pkg/patch.go" <<'GO'
// Package pkg is a build-time stand-in for github.com/deckhouse/module-sdk/pkg, written by
// l2-load-balancer's scripts/binaries.sh: only the interfaces shell-operator's object_patch uses.
package pkg

type PatchCollectorOperation interface {
	Description() string
}

type PatchCollectorOptionApplier interface {
	WithSubresource(subresource string)
	WithIgnoreMissingObject(ignore bool)
	WithIgnoreHookError(ignore bool)
}

type PatchCollectorOption interface {
	Apply(PatchCollectorOptionApplier)
}

type PatchCollector interface {
	Create(object any)
	CreateIfNotExists(object any)
	CreateOrUpdate(object any)
	Delete(apiVersion string, kind string, namespace string, name string)
	DeleteInBackground(apiVersion string, kind string, namespace string, name string)
	DeleteNonCascading(apiVersion string, kind string, namespace string, name string)
	JSONPatch(jsonPatch any, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	MergePatch(mergePatch any, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	JQFilter(jqfilter string, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	PatchWithJSON(jsonPatch any, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	PatchWithMerge(mergePatch any, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	PatchWithJQ(jqfilter string, apiVersion string, kind string, namespace string, name string, opts ...PatchCollectorOption)
	Operations() []PatchCollectorOperation
}
GO
  printf '\nreplace github.com/deckhouse/module-sdk => ./module-sdk-stub\n' >>"${w}/go.mod"
}

# nonlocal_replaces GOMOD_FILE -> its replace lines (single-line or block form) that point to another
# module rather than a local directory, each as a single `replace` line.
nonlocal_replaces() {
  awk '
    /^replace \(/ { inblk = 1; next }
    inblk && /^\)/ { inblk = 0; next }
    inblk && /=>/ && $0 !~ /=>[ \t]*\.\.?\// { sub(/^[ \t]+/, ""); print "replace " $0; next }
    /^replace [^(]/ && $0 !~ /=>[ \t]*\.\.?\// { print }
  ' "$1"
}

build_shell_operator() {
  if [[ -x "$SHELL_OPERATOR_BIN" ]]; then
    log "shell-operator ${SHELL_OPERATOR_VERSION}: cached at ${SHELL_OPERATOR_BIN}"
    return 0
  fi
  check_go
  local t0 json gomod w
  t0=$(now)
  log "building shell-operator ${SHELL_OPERATOR_VERSION} (first build takes ~3-5 minutes on 2 cores)..."
  json=$(go_mod_download "github.com/flant/shell-operator@${SHELL_OPERATOR_VERSION}")
  gomod=$(json_field "$json" GoMod)
  [[ -f "$gomod" ]] || die "go mod download gave no go.mod for github.com/flant/shell-operator@${SHELL_OPERATOR_VERSION}"
  w="${WORK_DIR}/shell-operator-${SHELL_OPERATOR_VERSION}"
  rm -rf "$w"
  mkdir -p "$w"
  {
    echo "module l2lb.local/build/shell-operator"
    echo
    go_header "$gomod"
    echo
    echo "require github.com/flant/shell-operator ${SHELL_OPERATOR_VERSION}"
    echo
    # Its non-local replace lines, e.g. the go-openapi/validate fork.
    nonlocal_replaces "$gomod"
  } >"${w}/go.mod"
  grep -q '^replace ' "${w}/go.mod" || log "  note: shell-operator ${SHELL_OPERATOR_VERSION} go.mod has no replace lines"
  stub_module_sdk_if_unavailable "$gomod" "$w"
  (cd "$w" && timeout 1800 go get "github.com/flant/shell-operator/cmd/shell-operator@${SHELL_OPERATOR_VERSION}" >&2) ||
    die "resolving github.com/flant/shell-operator/cmd/shell-operator@${SHELL_OPERATOR_VERSION} failed (see above)"
  (cd "$w" && CGO_ENABLED=0 timeout 3600 go build -trimpath \
    -ldflags "-s -w -X github.com/flant/shell-operator/pkg/app.Version=${SHELL_OPERATOR_VERSION}" \
    -o "${SHELL_OPERATOR_BIN}.tmp" github.com/flant/shell-operator/cmd/shell-operator >&2) ||
    die "go build github.com/flant/shell-operator/cmd/shell-operator failed (see above)"
  mv -f "${SHELL_OPERATOR_BIN}.tmp" "$SHELL_OPERATOR_BIN"
  log "built shell-operator ${SHELL_OPERATOR_VERSION} in $(elapsed "$t0") ($(size_of "$SHELL_OPERATOR_BIN")): ${SHELL_OPERATOR_BIN}"
}

# ---------------------------------------------------------------------------------------------
# addon-operator: wrapper module repeating its replace lines (go-openapi/swag)
# ---------------------------------------------------------------------------------------------
build_addon_operator() {
  if [[ -x "$ADDON_OPERATOR_BIN" ]]; then
    log "addon-operator ${ADDON_OPERATOR_VERSION}: cached at ${ADDON_OPERATOR_BIN}"
    return 0
  fi
  check_go
  local t0 json gomod w
  t0=$(now)
  log "building addon-operator ${ADDON_OPERATOR_VERSION} (first build takes ~10 minutes on 2 cores: it links Helm)..."
  json=$(go_mod_download "github.com/flant/addon-operator@${ADDON_OPERATOR_VERSION}")
  gomod=$(json_field "$json" GoMod)
  [[ -f "$gomod" ]] || die "go mod download gave no go.mod for github.com/flant/addon-operator@${ADDON_OPERATOR_VERSION}"
  w="${WORK_DIR}/addon-operator-${ADDON_OPERATOR_VERSION}"
  rm -rf "$w"
  mkdir -p "$w"
  {
    echo "module l2lb.local/build/addon-operator"
    echo
    go_header "$gomod"
    echo
    echo "require github.com/flant/addon-operator ${ADDON_OPERATOR_VERSION}"
    echo
    nonlocal_replaces "$gomod"
  } >"${w}/go.mod"
  (cd "$w" && timeout 1800 go get "github.com/flant/addon-operator/cmd/addon-operator@${ADDON_OPERATOR_VERSION}" >&2) ||
    die "resolving github.com/flant/addon-operator/cmd/addon-operator@${ADDON_OPERATOR_VERSION} failed (see above)"
  (cd "$w" && CGO_ENABLED=0 timeout 3600 go build -trimpath \
    -ldflags "-s -w -X github.com/flant/addon-operator/pkg/app.Version=${ADDON_OPERATOR_VERSION}" \
    -o "${ADDON_OPERATOR_BIN}.tmp" github.com/flant/addon-operator/cmd/addon-operator >&2) ||
    die "go build github.com/flant/addon-operator/cmd/addon-operator failed (see above)"
  mv -f "${ADDON_OPERATOR_BIN}.tmp" "$ADDON_OPERATOR_BIN"
  log "built addon-operator ${ADDON_OPERATOR_VERSION} in $(elapsed "$t0") ($(size_of "$ADDON_OPERATOR_BIN")): ${ADDON_OPERATOR_BIN}"
}

# ---------------------------------------------------------------------------------------------
mkdir -p "$BIN_DIR" "$WORK_DIR"
# The wrapper modules live under WORK_DIR; make sure no go.work or GOFLAGS from the caller
# redirects the build into the repository.
export GOWORK=off

T_ALL=$(now)
[[ $want_pkgs -eq 1 ]] && ensure_packages
[[ $want_kine -eq 1 ]] && with_lock kine build_kine
[[ $want_shop -eq 1 ]] && with_lock shell-operator build_shell_operator
[[ $want_aop -eq 1 ]] && with_lock addon-operator build_addon_operator
[[ $want_kube -eq 1 ]] && with_lock kube-apiserver build_kube_apiserver
log "done in $(elapsed "$T_ALL")"

[[ $want_kube -eq 1 ]] && printf 'L2LB_KUBE_APISERVER=%s\n' "$KUBE_APISERVER_BIN"
[[ $want_kine -eq 1 ]] && printf 'L2LB_KINE=%s\n' "$KINE_BIN"
[[ $want_shop -eq 1 ]] && printf 'L2LB_SHELL_OPERATOR=%s\n' "$SHELL_OPERATOR_BIN"
[[ $want_aop -eq 1 ]] && printf 'L2LB_ADDON_OPERATOR=%s\n' "$ADDON_OPERATOR_BIN"
exit 0
