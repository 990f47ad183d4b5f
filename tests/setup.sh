#!/bin/bash
# Set up everything bmlb's tests and demo need on a Debian machine, idempotently:
# Debian packages, the virtual environment (.venv), and the test API server (cached under
# /var/cache/bmlb, so only a fresh machine pays its ~3.5 min build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "[bmlb setup] $*"; }
SUDO=""
[[ $(id -u) == 0 ]] || SUDO="sudo"

PKGS=(python3 python3-venv python3-dev gcc openssl iproute2 nftables ca-certificates chromium)
# --- install paths (issue 19): what tests/image/build-and-run.sh builds and runs the image with ---
[[ ${BMLB_SKIP_IMAGE:-0} == 1 ]] || PKGS+=(buildah podman runc mmdebstrap)
# --- end install paths ---
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${BMLB_PYTHON:-}
if [[ -z $PY ]]; then
    for cand in python3.13 python3.12 python3.11 python3; do
        if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            PY=$(command -v "$cand")
            break
        fi
    done
fi
[[ -n $PY ]] || { echo "bmlb needs Python >= 3.11" >&2; exit 1; }

stamp=.venv/.bmlb-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    say "creating .venv with $PY and installing bmlb (editable) with its test and demo dependencies"
    [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test,demo]'
    echo "$want" > "$stamp"
fi

bash tests/apiserver/build.sh
say "ready: .venv/bin/bmlb"
