#!/usr/bin/env bash
# `npm run images`: builds the module's two images from their Dockerfiles with podman, with no image
# registry, and tags them with the package version:
#   l2lb-speaker:<version>   images/speaker/Dockerfile
#   l2lb-hooks:<version>     images/hooks/Dockerfile
# The Dockerfiles take their base as the build argument BASE_IMAGE. A normal CI passes the public
# debian:bookworm-slim; here the base is made from Debian packages by mmdebstrap (a minbase
# bookworm, the same content), imported into podman, and its tarball is cached in
# ${L2LB_CACHE:-~/.cache/l2-load-balancer}/images, outside the repository.
#
# Installs what it needs (podman, buildah, mmdebstrap, runc) with apt-get when run as root.
# Environment: L2LB_CACHE, L2LB_BASE_IMAGE (use this base instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s; }
t_start=$(now)

CACHE_DIR="${L2LB_CACHE:-${HOME:-/root}/.cache/l2-load-balancer}/images"
# Bump to rebuild the cached base (security updates): the tarball and the podman tag carry it.
BASE_VERSION="bookworm-minbase-1"
BASE_TAR="${CACHE_DIR}/debian-${BASE_VERSION}.tar"
BASE_TAG="localhost/l2lb-debian:${BASE_VERSION}"
VERSION=$(node -p 'require("./package.json").version')
SPEAKER_TAG="localhost/l2lb-speaker:${VERSION}"
HOOKS_TAG="localhost/l2lb-hooks:${VERSION}"

# podman builds and runs containers; mmdebstrap makes the base; runc is the runtime that works with
# the cgroup v1 hierarchy of this kind of machine (crun refuses its hybrid layout; README "Images").
missing=()
for tool in podman buildah mmdebstrap runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
  log "installing ${missing[*]} (Debian packages)..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 1. The base.
base="${L2LB_BASE_IMAGE:-}"
if [[ -z "$base" ]]; then
  base="$BASE_TAG"
  if ! podman image exists "$base"; then
    if [[ ! -s "$BASE_TAR" ]]; then
      t=$(now)
      log "making the base with mmdebstrap (Debian bookworm, minbase; first time only, ~5 min)..."
      mkdir -p "$CACHE_DIR"
      # What debian:bookworm-slim leaves out too: manuals, documentation (but the copyrights), locales.
      mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        bookworm "${BASE_TAR}.tmp" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
      mv "${BASE_TAR}.tmp" "$BASE_TAR"
      log "base tarball: $(du -h "$BASE_TAR" | cut -f1) in $(($(now) - t)) s"
    fi
    podman import --quiet --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$base" >/dev/null
  fi
fi
log "base: ${base}"

# 2. What the Dockerfiles copy: the speaker and hooks binaries, shell-operator.
t=$(now)
node scripts/sea.mjs images/speaker/main.ts dist/images/speaker/l2lb-speaker
node scripts/package.mjs
shop=$(bash scripts/binaries.sh --print-env | sed -n 's/^L2LB_SHELL_OPERATOR=//p')
[[ -x "$shop" ]] || bash scripts/binaries.sh shell-operator >/dev/null
mkdir -p dist/images/hooks
cp "$shop" dist/images/hooks/shell-operator
log "binaries: $(($(now) - t)) s"

# 3. The images. chroot isolation runs the RUN steps without an OCI runtime; the host network lets
# apt-get in them reach the Debian mirrors.
build() {
  local tag=$1 dockerfile=$2 t old
  shift 2
  t=$(now)
  # The image this tag named before: removed after the build, so rebuilds leave no untagged copies.
  old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  podman build --quiet --isolation=chroot --network=host --ulimit nofile=4096:4096 \
    --build-arg "BASE_IMAGE=${base}" "$@" -f "$dockerfile" -t "$tag" . >/dev/null
  if [[ -n "$old" && "$old" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  log "$tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}') ($(($(now) - t)) s)"
}
# The label names the speaker bundle inside: the network tests run the image only if it matches the
# source they test (testbed/speakers.ts).
build "$SPEAKER_TAG" images/speaker/Dockerfile \
  --label "io.l2lb.bundle-sha256=$(cat dist/images/speaker/l2lb-speaker.bundle-sha256)"

build "$HOOKS_TAG" images/hooks/Dockerfile
log "done in $(($(now) - t_start)) s"
