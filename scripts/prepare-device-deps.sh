#!/usr/bin/env bash
# The device machines lent for GPU work (H100/H200, see bench/gpu/README.md) have nvcc,
# CMake and PyTorch but no Debian -dev packages and no network. This downloads the .debs
# infoflow builds against and unpacks them into .deps/ (git-ignored) so that a device run
# can carry that folder and build with CMAKE_PREFIX_PATH=.deps/usr.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(libhwy-dev libhwy1 librandom123-dev nlohmann-json3-dev libcli11-dev libgtest-dev
      libbenchmark-dev libbenchmark1debian libopenblas-dev libopenblas0-pthread
      libopenblas-pthread-dev libgomp1)
rm -rf .deps && mkdir -p .deps/debs
(cd .deps/debs && apt-get download "${pkgs[@]}" >/dev/null)
for f in .deps/debs/*.deb; do dpkg -x "$f" .deps; done
rm -rf .deps/debs .deps/usr/share/doc .deps/usr/share/man
# The static OpenBLAS archive alone is ~60 MB: the carry limit is 64 MiB in all.
find .deps -name "libopenblas*.a" -delete
# .deps/ is in .gitignore
du -sh .deps
