#!/bin/bash
# Build bmlb's image from the unchanged Dockerfile with Debian's buildah and run it with podman,
# as CI does (tests/run.sh). No container registry is reachable here, so the Dockerfile's BASE
# is a local image made from Debian packages with mmdebstrap (python3, python3-venv, kmod,
# nftables, ca-certificates), cached under $BMLB_CACHE (default /var/cache/bmlb) with the image store
# ($BMLB_IMAGE_STORAGE: overlay or vfs; chosen by the cache's file system when unset).
# The image then runs as its non-root user on a read-only root filesystem without network:
# `bmlb --help` (the ENTRYPOINT), `bmlb validate` on the examples shipped in the image (the
# checkout's verdicts), `bmlb controller --help` and `bmlb agent --help`. Prints the image size
# and how long each step took. Needs root and the packages tests/setup.sh installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

say() { echo "[bmlb image] $*"; }
die() { echo "[bmlb image] error: $*" >&2; exit 1; }
(( $(id -u) == 0 )) || die "building and running images here needs root (buildah and podman with a system image store)"
for tool in buildah podman mmdebstrap runc; do
    command -v "$tool" >/dev/null || die "$tool is missing: run bash tests/setup.sh"
done

CACHE=${BMLB_CACHE:-/var/cache/bmlb}
SUITE=${BMLB_IMAGE_SUITE:-bookworm}
PKGS=python3,python3-venv,kmod,nftables,ca-certificates
IMAGE=localhost/bmlb:ci
# The kernel's overlay driver where the cache's file system allows it (layers shared, a cached
# build in seconds); vfs (a full copy per layer and per container: minutes) on overlayfs itself.
if [[ -n ${BMLB_IMAGE_STORAGE:-} ]]; then
    DRIVER=$BMLB_IMAGE_STORAGE
elif [[ $(stat -f -c %T "$CACHE" 2>/dev/null) == overlayfs ]]; then
    DRIVER=vfs
else
    DRIVER=overlay
fi
STORE=(--root "$CACHE/containers/$DRIVER" --runroot "$CACHE/containers/run-$DRIVER" --storage-driver "$DRIVER")
BUILDAH=(buildah "${STORE[@]}")
# cgroupfs and runc: this machine's cgroups are v1 without systemd; limits it may not raise are
# set below its own.
PODMAN=(podman "${STORE[@]}" --cgroup-manager cgroupfs --events-backend file --runtime runc)
mkdir -p "$CACHE/image" "$CACHE/containers"
t0=$SECONDS
step() { say "$1 ($((SECONDS - t0)) s so far)"; }

# --- the base image, from Debian packages (cached by suite and package list) ---
key=$(printf '%s %s v1' "$SUITE" "$PKGS" | sha256sum | cut -c1-12)
BASE=localhost/bmlb-base:$SUITE-$key
if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
    tar=$CACHE/image/base-$SUITE-$key.tar
    if [[ ! -s $tar ]]; then
        step "making the base from Debian $SUITE packages: $PKGS"
        mmdebstrap --quiet --variant=minbase --include="$PKGS" \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' "$SUITE" "$tar.tmp"
        mv "$tar.tmp" "$tar"
    fi
    step "importing the base as $BASE"
    ctr=$("${BUILDAH[@]}" from scratch)
    "${BUILDAH[@]}" add "$ctr" "$tar" / >/dev/null
    "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$ctr"
    "${BUILDAH[@]}" commit -q --rm "$ctr" "$BASE" >/dev/null
fi

# --- the image, from the unchanged Dockerfile ---
# The build's RUN steps see this machine's pip configuration (index mirrors, wheel folders, CA
# bundle) read-only, so `pip install` reaches the same packages the host does; with a normal
# network none of that is needed.
mounts=()
declare -A seen=()
for f in /etc/pip.conf /etc/xdg/pip "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf"; do
    [[ -e $f ]] || continue
    # A file:// index's pages (.../simple) point at files beside them: its parent is mounted.
    for p in "$f" $(grep -ho '/[^ ,"'"'"']*' "$f" /dev/null 2>/dev/null | sed 's|^//*|/|; s|/simple/*$||' || true); do
        [[ -e $p && -z ${seen[$p]:-} && $p != / ]] || continue
        seen[$p]=1
        mounts+=(-v "$p:$p:ro")
    done
done
step "building $IMAGE with BASE=$BASE"
log=$CACHE/image/build.log
if ! "${BUILDAH[@]}" bud --isolation chroot --layers "${mounts[@]}" --build-arg "BASE=$BASE" -t "$IMAGE" . \
        >"$log" 2>&1; then
    grep -v "^WARNING: Location 'file:" "$log" | tail -40 >&2
    die "buildah bud failed (whole log: $log)"
fi
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE")
say "image $IMAGE: $size (base $("${BUILDAH[@]}" images --format '{{.Size}}' "$BASE"))"

# --- run it: non-root, read-only root filesystem, no network ---
RUN=("${PODMAN[@]}" run --rm --read-only --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
step "running the image"
"${RUN[@]}" "$IMAGE" --help | grep -q "bmlb: Kubernetes LoadBalancer" || die "bmlb --help (the ENTRYPOINT) failed"
want_valid=$("${BMLB_VENV_PYTHON:-.venv/bin/python}" -m controller.cli validate -f examples 2>&1 | tail -1)
"${RUN[@]}" --entrypoint /bin/sh "$IMAGE" -ec '
    test "$(id -u):$(id -g)" = 65532:65532 || { echo "runs as $(id -u), not 65532" >&2; exit 1; }
    if touch /opt/bmlb/written 2>/dev/null; then echo "the root filesystem is writable" >&2; exit 1; fi
    bmlb validate -f /usr/share/bmlb/examples
    if bmlb validate -f /usr/share/bmlb/examples/invalid >/dev/null 2>&1; then
        echo "validate passed examples/invalid" >&2; exit 1
    fi
    bmlb controller --help | grep -q -- --webhook-port
    bmlb agent --help | grep -q -- --mode
    echo "image checks passed as $(id -u) on a read-only root"
' 2>&1 | sed 's/^/    /' | tee /tmp/bmlb-image-run.$$
grep -q "image checks passed" /tmp/bmlb-image-run.$$ || { rm -f /tmp/bmlb-image-run.$$; die "the image checks failed"; }
got_valid=$(grep "objects, " /tmp/bmlb-image-run.$$ | tail -1 | sed 's/^ *//')
rm -f /tmp/bmlb-image-run.$$
[[ $got_valid == "$want_valid" ]] || die "validate in the image says '$got_valid', the checkout '$want_valid'"

# Past 12 GiB the layers of earlier builds go (which costs the next build its layer cache); the
# base and this image stay.
if (( $(du -sk "$CACHE/containers" | cut -f1) > 12 * 1024 * 1024 )); then
    say "pruning the layers of earlier builds"
    "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
fi
say "done in $((SECONDS - t0)) s: image $IMAGE, $size"
