#!/bin/bash
# Run bmlb's whole test suite: lint and layering, the host suite (unit, property, PAN-OS
# simulator over HTTPS, the real test API server), then the real-kernel IPVS suite in ONE
# qemu VM. Sets up what is missing first (tests/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tests/setup.sh

echo "[bmlb tests] ruff and import layering"
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache

echo "[bmlb tests] host suite"
.venv/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/kernel

if [[ -x tests/kernel/run-in-vm.sh && ${BMLB_SKIP_KERNEL:-0} != 1 ]]; then
    echo "[bmlb tests] kernel suite (real IPVS in a qemu VM)"
    tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q -p no:cacheprovider tests/kernel
fi
