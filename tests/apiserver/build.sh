#!/bin/bash
# Build kapilite (a test-only Kubernetes API server assembled from the real k8s.io libraries) and
# provide etcd and kubectl, all cached under $BMLB_CACHE (default /var/cache/bmlb):
#
#   $BMLB_CACHE/kapilite/bin/kapilite   the API server (rebuilt when kapilite/*.go or this script change)
#   $BMLB_CACHE/bin/{kapilite,etcd,kubectl}
#
# Sources: Debian sid's Go source packages (golang-k8s-*-dev, golang-go, kube-openapi) and its
# etcd-server and kubernetes-client binary packages, downloaded into a PRIVATE apt state under
# the cache and extracted there (nothing is installed system-wide). No Go module proxy.
#
# usage: tests/apiserver/build.sh [--force | --check]
#   --check  exit 0 if the cache is valid, 3 if a build is needed; builds nothing
# A machine with a valid cache does no work (well under 2 s). A failed build exits non-zero with
# the tail of the log; there is no fallback.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$HERE/kapilite
SRCS=("$SRC_DIR"/*.go)
SUITE=${BMLB_APISERVER_SUITE:-sid}
if [[ -n ${BMLB_CACHE:-} ]]; then
    CACHE=$BMLB_CACHE
elif mkdir -p /var/cache/bmlb 2>/dev/null && [[ -w /var/cache/bmlb ]]; then
    CACHE=/var/cache/bmlb
else
    CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/bmlb
fi
FORCE=0
CHECK=0
case ${1:-} in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    "") ;;
    *) echo "usage: $0 [--force | --check]" >&2; exit 2 ;;
esac

KDIR=$CACHE/kapilite
BIN=$CACHE/bin
WORK=$KDIR/work
LOG=$KDIR/build.log
KEY=$(cat "${SRCS[@]}" "${BASH_SOURCE[0]}" <(echo "$SUITE") | sha256sum | cut -c1-16)
mkdir -p "$KDIR" "$BIN"

say() { echo "[bmlb apiserver build] $*"; }

cached() {
    [[ $FORCE == 0 && -f $KDIR/key && $(cat "$KDIR/key") == "$KEY" ]] || return 1
    local b
    for b in "$KDIR/bin/kapilite" "$BIN/kapilite" "$BIN/etcd" "$BIN/kubectl"; do
        [[ -x $b ]] || return 1
    done
}

if cached; then
    say "cached: $KDIR/bin/kapilite (key $KEY), etcd and kubectl in $BIN"
    exit 0
fi
if [[ $CHECK == 1 ]]; then
    say "a build is needed (key $KEY) in $KDIR"
    exit 3
fi

# One build at a time (parallel test sessions, CI); re-check the cache once we hold the lock.
exec 9>"$KDIR/build.lock"
if ! flock -n 9; then
    say "another build is running; waiting for its lock ($KDIR/build.lock)"
    flock 9
fi
if cached; then
    say "cached (built by another process): $KDIR/bin/kapilite"
    exit 0
fi

START=$SECONDS
: >"$LOG"
CURRENT_STEP=start
fail() {
    local rc=$?
    echo >&2
    echo "[bmlb apiserver build] FAILED (exit $rc) at step: $CURRENT_STEP" >&2
    echo "[bmlb apiserver build] last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2 || true
    echo "[bmlb apiserver build] FAILED: kapilite was NOT built; there is no fallback. Full log: $LOG" >&2
    exit "$rc"
}
trap fail ERR
step() {
    CURRENT_STEP=$*
    say "[$((SECONDS - START))s] $*"
    echo "=== [$((SECONDS - START))s] $*" >>"$LOG"
}
say "building kapilite (key $KEY, suite $SUITE) in $KDIR; log: $LOG"

for tool in apt-get dpkg-deb sha256sum flock; do
    command -v "$tool" >/dev/null || { CURRENT_STEP="checking tools: $tool missing"; false; }
done

# ---------------------------------------------------------------- private apt state
PKGS_WANTED="golang-k8s-apiextensions-apiserver-dev golang-go kube-openapi etcd-server kubectl"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/debs"
touch "$WORK/apt/status"
MIRROR=""
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z $MIRROR && -f /etc/apt/sources.list ]]; then
    MIRROR=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$WORK/apt/sources.list"
APT=(apt-get -o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
    -o "Dir::State::status=$WORK/apt/status" -o APT::Install-Recommends=false
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)

ROOT=$WORK/root
if [[ -f $WORK/root.done && $(cat "$WORK/root.wanted" 2>/dev/null) == "$SUITE $PKGS_WANTED" ]]; then
    step "reusing the extracted Debian $SUITE packages ($(wc -l <"$WORK/root.done") packages)"
else
    step "apt-get update ($SUITE, private state, mirror $MIRROR)"
    "${APT[@]}" update -q >>"$LOG" 2>&1

    step "resolving packages: $PKGS_WANTED"
    # shellcheck disable=SC2086
    "${APT[@]}" -s install $PKGS_WANTED >"$WORK/resolve.txt" 2>>"$LOG"
    PKGS=$(awk '/^Inst/{print $2}' "$WORK/resolve.txt" |
        grep -E '^(golang-|kube-openapi$|etcd-server$|kubectl$)' | sort -u)
    [[ -n $PKGS ]] || { CURRENT_STEP="resolving packages: nothing to download"; false; }
    awk '/^Inst/{gsub(/[()]/,""); print $2, $3}' "$WORK/resolve.txt" |
        grep -E '^(golang-|kube-openapi |etcd-server |kubectl )' | sort -u >"$WORK/versions.txt"

    step "downloading $(echo "$PKGS" | wc -l) packages"
    rm -f "$WORK"/debs/*.deb
    # shellcheck disable=SC2086
    (cd "$WORK/debs" && "${APT[@]}" download -q $PKGS >>"$LOG" 2>&1)

    step "extracting packages"
    rm -rf "$ROOT" "$WORK/root.done"
    mkdir -p "$ROOT"
    for f in "$WORK"/debs/*.deb; do dpkg-deb -x "$f" "$ROOT"; done
    rm -f "$WORK"/debs/*.deb
    cp "$WORK/versions.txt" "$WORK/root.done"
    echo "$SUITE $PKGS_WANTED" >"$WORK/root.wanted"
fi
KNOWN_GOOD=$HERE/kapilite/known-good-versions.txt
if [[ -f $KNOWN_GOOD ]] && ! diff -q "$KNOWN_GOOD" "$WORK/root.done" >/dev/null; then
    say "NOTE: the Debian $SUITE package versions differ from the known-good ones ($KNOWN_GOOD):"
    diff "$KNOWN_GOOD" "$WORK/root.done" | grep '^[<>]' | head -20 || true
fi

# ---------------------------------------------------------------- Go build
GOROOT=$(ls -d "$ROOT"/usr/lib/go-1.* 2>/dev/null | sort -V | tail -1)
[[ -x $GOROOT/bin/go ]] || { CURRENT_STEP="no Go toolchain found under $ROOT/usr/lib/go-1.*"; false; }
export GOROOT GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local GOFLAGS= GOTELEMETRY=off
export GOCACHE=$WORK/gocache GOPATH=$WORK/gopath:$ROOT/usr/share/gocode
export PATH=$GOROOT/bin:$ROOT/usr/bin:$PATH
PKG=$WORK/gopath/src/kapilite
rm -rf "$PKG"
mkdir -p "$PKG/openapi"
cp "${SRCS[@]}" "$PKG/"
: >"$WORK/boilerplate.txt"

step "openapi-gen ($(go version | awk '{print $3}'))"
(cd "$WORK/gopath/src" && openapi-gen --go-header-file "$WORK/boilerplate.txt" \
    --output-dir kapilite/openapi --output-pkg kapilite/openapi \
    --output-file zz_generated.openapi.go --report-filename "$WORK/openapi-violations.txt" \
    k8s.io/api/core/v1 k8s.io/api/discovery/v1 k8s.io/api/coordination/v1 \
    k8s.io/api/rbac/v1 k8s.io/api/admissionregistration/v1 \
    k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/apis/meta/v1 \
    k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version \
    k8s.io/apimachinery/pkg/api/resource) >>"$LOG" 2>&1

K8S_VERSION=$(awk '$1=="golang-k8s-apiserver-dev"{print $2}' "$WORK/root.done" | sed -E 's/^[0-9]+://; s/[-+~].*//')
K8S_VERSION=${K8S_VERSION:-0.0.0}
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
step "go build (k8s.io libraries $K8S_VERSION; ~3 min on 2 cores from a cold Go cache)"
LDFLAGS="-s -X k8s.io/component-base/version.gitVersion=v1.$MINOR.$(echo "$K8S_VERSION" | cut -d. -f3)-kapilite"
LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR"
LDFLAGS+=" -X k8s.io/component-base/version.gitTreeState=clean"
(cd "$PKG" && go build -trimpath -ldflags="$LDFLAGS" -o "$KDIR/kapilite.new" .) >>"$LOG" 2>&1

step "installing binaries into $BIN"
for b in etcd kubectl; do
    [[ -x $ROOT/usr/bin/$b ]] || { CURRENT_STEP="$b missing from the extracted packages"; false; }
done
mkdir -p "$KDIR/bin"
mv -f "$KDIR/kapilite.new" "$KDIR/bin/kapilite"
install -m 0755 "$ROOT/usr/bin/etcd" "$BIN/etcd.new" && mv -f "$BIN/etcd.new" "$BIN/etcd"
install -m 0755 "$ROOT/usr/bin/kubectl" "$BIN/kubectl.new" && mv -f "$BIN/kubectl.new" "$BIN/kubectl"
ln -sfn "$KDIR/bin/kapilite" "$BIN/kapilite"

step "smoke check"
"$KDIR/bin/kapilite" --help >>"$LOG" 2>&1
"$BIN/etcd" --version >>"$LOG" 2>&1
"$BIN/kubectl" version --client >>"$LOG" 2>&1
cp "$WORK/root.done" "$KDIR/versions.txt"
echo "$KEY" >"$KDIR/key"
trap - ERR
say "done in $((SECONDS - START))s: $KDIR/bin/kapilite ($(du -h "$KDIR/bin/kapilite" | cut -f1)), $("$BIN/etcd" --version | head -1), kubectl $("$BIN/kubectl" version --client 2>/dev/null | head -1 | awk '{print $3}')"
