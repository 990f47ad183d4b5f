"""The pure core: every function here is a function of its arguments (no Kubernetes client, no
device I/O, no clock, environment or randomness; time arrives as a parameter). Enforced by
import-linter (pyproject.toml) and ruff (controller/core/ruff.toml, checked by
tests/ci/test_core_purity.py)."""
