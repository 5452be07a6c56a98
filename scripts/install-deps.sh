#!/usr/bin/env bash
# Installs everything infoflow needs on a fresh Debian 12 machine (run as root).
# The CUDA toolkit (nvcc) is expected from the machine image; without it the build is
# CPU-only. Python tools (bench/, tests) use Debian's /usr/bin/python3 and its packages.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and benchmarks
  libhwy-dev                                   # SIMD with runtime dispatch and vector exp
  librandom123-dev                             # Philox: same random stream on every backend
  nlohmann-json3-dev libcli11-dev              # CLI, safetensors headers
  libopenblas-dev                              # GEMM of the noisy forward passes
  libopenmpi-dev openmpi-bin                   # infoflow entropy/mi across processes and machines (mpirun)
  python3 python3-numpy python3-scipy python3-sklearn   # peers in bench/ and tests
  python3-dev python3-pip python3-pytest       # the Python package (pip install .) and its tests
  python3-venv                                 # the wheel installed into a clean virtual environment (scripts/test-wheel.sh)
  python3-matplotlib                           # infoflow plot
  python3-torch                                # infoflow.torch and examples/mnist (CPU)
  clang libclang-rt-14-dev libomp-14-dev       # hardening: sanitizers, libFuzzer, TSan with Archer
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all ${#packages[@]} packages present"
