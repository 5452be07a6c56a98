#!/usr/bin/env bash
# Builds the Python package's wheel once (`pip wheel`, as the README), installs that wheel
# into Debian's /usr/bin/python3 and runs tests/python with pytest, then installs the same
# wheel into a clean virtual environment (scripts/test-wheel.sh: bundled libraries,
# computations, type stubs). ctest runs this as the test `python_package`; exit code 77
# (no pip, or no package index to fetch the build requirements scikit-build-core and
# nanobind from) is reported there as skipped. INFOFLOW_TEST_PYTHON: another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${INFOFLOW_TEST_PYTHON:-/usr/bin/python3}
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
index=${PIP_INDEX_URL:-$("$PY" -m pip config get global.index-url 2>/dev/null || true)}
index=${index:-https://pypi.org/simple}
online=1
"$PY" - "${index%/}/scikit-build-core/" <<'EOF' || online=0
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=15).close()
EOF

# pyproject.toml's build requirements, installed once into build/python/ and used with
# --no-build-isolation: pip's isolated environment is a new directory every run, and
# scikit-build-core then clears the build tree (a full 2-3 minute compile each time).
reqs=build/python/build-requirements
requires=$("$PY" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"])')
if [ "$(cat "$reqs/.requires" 2>/dev/null)" != "$requires" ]; then
  [ "$online" = 1 ] || skip "cannot reach the package index for the build requirements ($index)"
  rm -rf "$reqs"
  # shellcheck disable=SC2086  # one word per requirement
  "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$reqs" $requires
  echo "$requires" >"$reqs/.requires"
fi

# The wheel compiles the library again (build/python/, kept between runs): 2 jobs, as CI.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
start=$SECONDS
dist=build/python/dist
rm -rf "$dist"
PYTHONPATH=$PWD/$reqs "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$dist" .
wheel=$(echo "$dist"/infoflow-*.whl)
echo "test-python: pip wheel took $((SECONDS - start)) s: $wheel, $(du -k "$wheel" | cut -f1) KiB"
# --force-reinstall: an installed infoflow of the same version would be kept otherwise;
# --no-deps: numpy stays Debian's.
"$PY" -m pip "${pip_args[@]}" --force-reinstall --no-deps "$wheel"
"$PY" -m pytest -q -p no:cacheprovider tests/python
# The clean venv installs numpy (and nanobind for the stubs) from the index.
[ "$online" = 1 ] || skip "pytest passed; the clean-venv check needs the package index ($index)"
./scripts/test-wheel.sh "$wheel"
