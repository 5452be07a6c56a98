#!/usr/bin/env bash
# What a pip user on another Debian 12 x86-64 machine gets from the wheel: installs WHEEL
# (built by scripts/test-python.sh, or `pip wheel --no-deps . -w dist`) into a fresh
# virtual environment that sees nothing of this machine's Python packages, then checks
#   1. the module's shared libraries: each one is in the package (infoflow/_libs, see the
#      Python section of CMakeLists.txt) or one that every Debian system has (glibc,
#      libstdc++, libgcc_s): a machine without a compiler or -dev packages can load it;
#   2. it computes: closed-form entropies, and `python -m infoflow mi` (the OpenBLAS
#      linked into the module) equal to the same call through the Python API;
#   3. python/infoflow/_infoflow.pyi is nanobind.stubgen's rendering of this module, with
#      the nanobind pinned in pyproject.toml. --update-stubs writes it instead.
# Needs the package index (numpy for the venv, nanobind for stubgen).
# Usage: scripts/test-wheel.sh [--update-stubs] WHEEL
set -euo pipefail
cd "$(dirname "$0")/.."
update=0
if [ "${1:-}" = --update-stubs ]; then update=1; shift; fi
wheel=$(realpath "${1:?usage: scripts/test-wheel.sh [--update-stubs] WHEEL}")
PY=${INFOFLOW_TEST_PYTHON:-/usr/bin/python3}
venv=build/python/venv-clean
start=$SECONDS

"$PY" -m venv --clear "$venv" || {
  echo "test-wheel: cannot create a virtual environment with $PY (apt-get install python3-venv)" >&2
  exit 1
}
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --root-user-action=ignore "$wheel"

# From outside the source tree, so that nothing but the installed package can be imported.
(cd "$venv" && env -u LD_LIBRARY_PATH -u PYTHONPATH bin/python - "$OLDPWD" <<'EOF'
import json, math, pathlib, subprocess, sys

import numpy as np
import infoflow

root = pathlib.Path(sys.argv[1])
pkg = pathlib.Path(infoflow.__file__).parent
assert pkg.is_relative_to(pathlib.Path(sys.prefix)), f"imported {pkg}, not the venv's package"

# 1. Shared libraries.
module = next(pkg.glob("_infoflow*.so"))
ldd = subprocess.run(["ldd", str(module)], capture_output=True, text=True, check=True).stdout
print(f"test-wheel: ldd {module.relative_to(sys.prefix)}\n{ldd}", end="")
everywhere = ("linux-vdso.so.", "ld-linux-x86-64.so.", "libc.so.", "libm.so.", "libdl.so.",
              "librt.so.", "libpthread.so.", "libstdc++.so.", "libgcc_s.so.")
foreign = []
for line in ldd.splitlines():
    name, _, where = line.strip().partition(" => ")
    name, path = pathlib.Path(name.split(" (")[0]).name, where.split(" (")[0]
    if "not found" in line or (not name.startswith(everywhere)
                               and not pathlib.Path(path).is_relative_to(pkg)):
        foreign.append(line.strip())
assert not foreign, f"the module needs libraries a bare machine lacks, not bundled: {foreign}"

# 2. Computations. One centre (control variate: exact up to float32), and two centres
# 100 sigma apart (each draw sees one component: h = h(one Gaussian) + log 2).
h1 = infoflow.mixture_entropy(np.array([[0.3, -1.0, 2.0]]), sigma=0.5).entropy
assert abs(h1 - 1.5 * math.log(2 * math.pi * math.e * 0.25)) < 1e-6, h1
h2 = infoflow.mixture_entropy(np.array([[0.0], [100.0]]), sigma=1.0, samples_per_center=100).entropy
assert abs(h2 - (0.5 * math.log(2 * math.pi * math.e) + math.log(2))) < 1e-6, h2

szt = root / "data" / "szt"
args = dict(beta=0.05, samples_per_input=4, mc_queries=512, seed=5)
api = infoflow.mutual_information(root / "examples" / "szt_random_net.safetensors",
                                  np.load(szt / "szt_inputs.npy"), labels=np.load(szt / "szt_labels.npy"),
                                  backend="cpu", **args)
cli = subprocess.run([sys.executable, "-m", "infoflow", "mi", "--json", "--backend", "cpu",
                      "--model", root / "examples" / "szt_random_net.safetensors",
                      "--inputs", szt / "szt_inputs.npy", "--labels", szt / "szt_labels.npy",
                      *[f"--{k.replace('_', '-')}={v}" for k, v in args.items()]],
                     capture_output=True, text=True)
assert cli.returncode == 0, cli.stderr
layers = json.loads(cli.stdout)["layers"]
assert [l["I_XT_nats"] for l in layers] == [l.I_XT for l in api.layers]
assert [l["I_YT_nats"] for l in layers] == [l.I_YT for l in api.layers]
# Layer 1's images of the 4096 distinct inputs barely overlap at beta = 0.05.
assert 8.2 < layers[0]["I_XT_nats"] < math.log(4096) + 0.05, layers[0]
print(f"test-wheel: h = {h1:.6f}, {h2:.6f} nats (closed forms); "
      f"I(X;T_l) = {', '.join(f'{l.I_XT:.4f}' for l in api.layers)}: python -m infoflow = API")
EOF
)
version=$("$venv/bin/infoflow" --version)  # the console script
[ "$version" = "infoflow $(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)" ] || {
  echo "test-wheel: the infoflow console script printed '$version'" >&2
  exit 1
}

# 3. Stubs.
nanobind=$(sed -n 's/.*"\(nanobind==[^"]*\)".*/\1/p' pyproject.toml)
"${pip[@]}" install --root-user-action=ignore "$nanobind"
"$venv/bin/python" -m nanobind.stubgen -q -m infoflow._infoflow -P -o "$venv/_infoflow.pyi"
if [ "$update" = 1 ]; then
  cp "$venv/_infoflow.pyi" python/infoflow/_infoflow.pyi
  echo "test-wheel: wrote python/infoflow/_infoflow.pyi ($nanobind)"
elif ! diff -u python/infoflow/_infoflow.pyi "$venv/_infoflow.pyi"; then
  echo "test-wheel: python/infoflow/_infoflow.pyi does not match the module's bindings (diff above)." >&2
  echo "  Regenerate it from the built wheel and commit it: scripts/test-wheel.sh --update-stubs $1" >&2
  exit 1
fi
echo "test-wheel: clean venv install, libraries, computations and stubs OK in $((SECONDS - start)) s"
