#!/usr/bin/env bash
# Builds and installs the Python package into Debian's /usr/bin/python3 with pip (the
# README's install command), then runs tests/python with pytest. ctest runs this as the
# test `python_package`; exit code 77 (no pip, or no package index to fetch the build
# requirements scikit-build-core and nanobind from) is reported there as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
skip() { echo "test-python: SKIPPED: $*"; exit 77; }

[ -x "$PY" ] || skip "$PY not found"
"$PY" -m pip --version >/dev/null 2>&1 || skip "pip is not installed for $PY (apt-get install python3-pip)"
"$PY" -c "import pytest" 2>/dev/null || {
  echo "test-python: pytest is missing for $PY: run ./scripts/install-deps.sh (python3-pytest)" >&2
  exit 1
}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH  # as scripts/build.sh: the CUDA backend is compiled
fi

pip_args=(install --break-system-packages --quiet --root-user-action=ignore)
[ "$(id -u)" = 0 ] || pip_args+=(--user)
if "$PY" -c "import nanobind, scikit_build_core" 2>/dev/null; then
  pip_args+=(--no-build-isolation)  # build requirements already here: no network needed
else
  index=${PIP_INDEX_URL:-$("$PY" -m pip config get global.index-url 2>/dev/null || true)}
  index=${index:-https://pypi.org/simple}
  "$PY" - "${index%/}/scikit-build-core/" <<'EOF' || skip "cannot reach the package index for the build requirements ($index)"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=15).close()
EOF
fi

# The wheel compiles the library again (build/python/, kept between runs): 2 jobs, as CI.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
start=$SECONDS
"$PY" -m pip "${pip_args[@]}" .
echo "test-python: pip install took $((SECONDS - start)) s"
exec "$PY" -m pytest -q -p no:cacheprovider tests/python
