#!/usr/bin/env bash
# What can be checked of the CUDA kernels without a GPU (issue 17), in well under a minute:
#   1. every kernels/*.cu compiles for sm_90 with the build's CUDA flags (CMakeLists.txt,
#      Release), and ptxas -v reports per kernel: registers, spill bytes, static shared memory;
#   2. FAILS if a hot kernel (every lse_gaussian_kernel instantiation, list_tiles_kernel,
#      bias_act_noise_kernel, every backward_sweep_kernel instantiation) spills (stores or loads > 0), or if any kernel's static
#      shared memory exceeds 48 KiB (the static limit; more needs dynamic shared memory;
#      ptxas 13.0 already refuses it, and the table shows how close each kernel is);
#   3. bench/sass_model.py --check: FAILS if the dense kernel's tile loop got longer than
#      bench/sass_baseline.json records (instructions per pair, tolerance 0.5).
# Python: /usr/bin/python3 (the parsing and the SASS model; standard library only). The
# model's cuobjdump/nvdisasm come from PyPI and are installed on first use (sass_model.py).
# Usage: scripts/check-kernels.sh   (NVCC=... to use another nvcc)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  echo "check-kernels: no nvcc (looked on PATH and in /usr/local/cuda/bin)" >&2
  exit 1
fi
echo "check-kernels: $NVCC ($("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')), python $PYTHON"

# Random123's headers: where CMake's find_path(RANDOM123_INCLUDE_DIR Random123/philox.h) finds them.
R123=""
for d in /usr/include /usr/local/include; do
  if [ -f "$d/Random123/philox.h" ]; then R123=$d; break; fi
done
if [ -z "$R123" ]; then
  echo "check-kernels: Random123 headers not found (apt-get install librandom123-dev)" >&2
  exit 1
fi
# The flags of the infoflow target's CUDA sources (Release: -O3 -DNDEBUG; sm_90; the same
# definitions). -cubin: device code only, so no host compile and one ptxas run per file.
FLAGS=(-std=c++17 -O3 -DNDEBUG -arch=sm_90 --use_fast_math -lineinfo -Xcompiler=-fopenmp
       -DINFOFLOW_HAVE_CUDA=1 -DINFOFLOW_VERSION=\"0.1.0\" -DINFOFLOW_CUBLAS_DIR=\"/usr/local/cuda/lib\"
       -I. -Ihost -Iinclude -I"$R123" -Xptxas -v)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in kernels/*.cu; do
  b=$(basename "$f" .cu)
  if ! "$NVCC" "${FLAGS[@]}" -cubin -o "$tmp/$b.cubin" "$f" >"$tmp/$b.ptxas" 2>&1; then
    cat "$tmp/$b.ptxas" >&2
    if grep -q "uses too much shared data" "$tmp/$b.ptxas"; then
      # ptxas itself refuses more than 48 KiB of static shared memory per kernel.
      echo "check-kernels: FAILED: a kernel in $f has more than 48 KiB of static shared memory" >&2
    else
      echo "check-kernels: FAILED: $f does not compile for sm_90" >&2
    fi
    exit 1
  fi
done

status=0
"$PYTHON" - "$tmp" <<'EOF' || status=1
import glob, os, re, subprocess, sys

HOT = ("lse_gaussian_kernel<", "list_tiles_kernel<", "bias_act_noise_kernel(", "backward_sweep_kernel<")
STATIC_SMEM_LIMIT = 48 * 1024
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.ptxas"))):
    src = "kernels/" + os.path.basename(path)[:-len(".ptxas")] + ".cu"
    cur = None
    for line in open(path):
        m = re.search(r"Compiling entry function '(\S+)' for 'sm_\d+'", line)
        if m:
            cur = {"file": src, "mangled": m.group(1), "regs": None, "spill_st": 0, "spill_ld": 0,
                   "smem": 0}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"Function properties for (\S+)", line)
        if m and m.group(1) != cur["mangled"]:
            cur = None  # a device function's properties, not the entry's
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["spill_st"], cur["spill_ld"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            cur["smem"] = int(s.group(1)) if s else 0
            cur = None
if not rows:
    sys.exit("check-kernels: no kernels found in the ptxas output")
names = subprocess.run(["c++filt"], input="\n".join(r["mangled"] for r in rows),
                       capture_output=True, text=True, check=True).stdout.splitlines()
for r, n in zip(rows, names):
    n = re.sub(r"\(anonymous namespace\)::", "", n)
    n = re.sub(r"^infoflow::detail::", "", n)
    n = re.sub(r"^cub::CUB_\d+_SM_\d+::", "cub::", n)
    r["name"] = n
    r["hot"] = any(h in n for h in HOT)

def short(n, width=64):
    n = re.sub(r"\(.*\)$", "", n)  # drop the parameter list
    return n if len(n) <= width else n[:width - 3] + "..."

print(f"{'kernel':64s} {'file':22s} {'regs':>4s} {'spill st/ld':>11s} {'smem':>6s}  hot")
for r in rows:
    print(f"{short(r['name']):64s} {r['file']:22s} {r['regs']!s:>4s} "
          f"{str(r['spill_st']) + '/' + str(r['spill_ld']):>11s} {r['smem']:6d}  {'*' if r['hot'] else ''}")
fail = []
for r in rows:
    if r["hot"] and (r["spill_st"] or r["spill_ld"]):
        fail.append(f"{short(r['name'], 200)} ({r['file']}) spills: {r['spill_st']} bytes stored, "
                    f"{r['spill_ld']} bytes loaded (hot kernels must not spill)")
    if r["smem"] > STATIC_SMEM_LIMIT:
        fail.append(f"{short(r['name'], 200)} ({r['file']}): {r['smem']} bytes of static shared "
                    f"memory > {STATIC_SMEM_LIMIT} (48 KiB)")
for want in HOT:
    if not any(want in r["name"] for r in rows):
        fail.append(f"no kernel named {want.rstrip('<(')} found: update the hot list in scripts/check-kernels.sh")
if fail:
    print("check-kernels: FAILED:\n  " + "\n  ".join(fail), file=sys.stderr)
    sys.exit(1)
print(f"check-kernels: {len(rows)} kernels, no spills in the hot ones, static shared memory <= 48 KiB")
EOF

# The SASS model's regression check reuses the cubin compiled above.
"$PYTHON" bench/sass_model.py --check --cubin "$tmp/lse_kernel.cubin" || status=1
exit $status
