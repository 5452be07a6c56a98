# Sourced by scripts/test-sanitizers.sh and scripts/fuzz.sh: the one configuration of the
# clang sanitizer builds, so the ASan suite and the fuzzers share build-hardening/.
# -O1 with line tables: a third faster to build than -O2 -g (1.9 vs 2.5 min here), the
# suite no slower, and every report still has file:line. The CLI and the tests that drive
# it at -O0, 3x faster to compile still, their run time being the library's (CMakeLists.txt
# says more, at INFOFLOW_FRONT_END_COMPILE_OPTIONS). SIMD: AVX3, AVX2 and EMU128 only
# (CMakeLists.txt, INFOFLOW_SIMD_DISABLED_TARGETS, says why that loses no vector width).
configure_sanitized() {  # SANITIZERS DIR [more cmake arguments]
  local san=$1 dir=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
    -DCMAKE_CXX_COMPILER=clang++ -DINFOFLOW_ENABLE_CUDA=OFF -DINFOFLOW_BUILD_BENCH=OFF \
    -DINFOFLOW_SANITIZE="$san" -DINFOFLOW_SIMD_DISABLED_TARGETS="HWY_SSSE3|HWY_SSE4" \
    -DINFOFLOW_FRONT_END_COMPILE_OPTIONS=-O0 "$@" >/dev/null
}

# ASan + UBSan (findings abort: -fno-sanitize-recover) with the libFuzzer harnesses, and
# the CUDA backend on the emulated device (cuda_emulation/), so the kernels' device-memory
# reads and writes are checked too. INFOFLOW_CUDA_EMULATION_DEVICES=0 hides that device
# where a run should see a machine without a GPU (the suite but its `cuda` label, fuzzing).
hardening_dir=build-hardening
configure_hardening() {
  configure_sanitized address,undefined "$hardening_dir" -DINFOFLOW_FUZZ=ON -DINFOFLOW_CUDA_EMULATION=ON \
    -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined"
}
