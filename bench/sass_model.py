#!/usr/bin/python3
"""The dense GPU kernel on paper: its inner loop read from the SASS (issue 17).

Compiles kernels/lse_kernel.cu for sm_90 to a cubin (the build's CUDA flags),
disassembles every lse_gaussian_kernel instantiation with cuobjdump, finds the tile loop
(the innermost loop whose body holds MUFU.EX2) and counts its instructions per class per
pass. One pass folds 64 centres into each thread's query row, so per pair = per pass / 64.
The chunked instantiation (kStageQueries: d > 16) runs its chunk loop (a loop nested in
the tile loop) once per 16 padded dims, so a pass there is the tile part plus
(padded d / 16) chunk passes.

Not counted per pass: the running-sum rescale (a float64 exp2, 67 instructions at
d3605ef) that runs only on the tiles where a query's running maximum rises; it is reported
per occurrence. It is found as the stretch a forward conditional branch skips that holds
float64 multiplies/FMAs and no MUFU.EX2. Everything else in the loop body is counted once per pass, including code
that only some warps run (the log-weight staging: warps 0 and 1).

From the counts, a throughput model gives predicted pairs/s on H100 SXM / H200 (same SMs
and clocks; the kernel reads padded d / 32 bytes per pair, from L2, so their memories do
not matter). The
hardware rates are ASSUMPTIONS, printed with the result and stored in the record:
  * issue: 4 warp-instructions per clock per SM (one per sub-partition scheduler);
  * FP32: 128 lanes per clock per SM (FFMA, FADD, FMUL, FMNMX);
  * MUFU: 16 lanes per clock per SM (a warp's MUFU.EX2 occupies its sub-partition's
    unit for 8 clocks);
  * shared memory: one pipe per SM, 128 B per clock; a broadcast LDS.128 (every lane the
    same address) costs --lds-broadcast-clk clocks (default 2; 4 if the return path
    writes 32 x 16 B at 128 B/clk), a per-thread LDS.128 / STS.128 4 clocks, narrower
    ones 1 clock; global loads are not charged (16 resident warps hide their latency);
  * 132 SMs at --clock-ghz (default 1.755 GHz; NVIDIA's maximum boost for H100 SXM is
    1.98 GHz, which scales every prediction by 1.128: the record has both).
The prediction is the slowest of the issue, FP32, MUFU and shared-memory bounds. No
stall, latency, barrier or occupancy effect beyond these is modelled, and nothing here
has been measured on a GPU.

Usage:
  bench/sass_model.py                  # table + bench/results/sass_model_<date>_<commit>.json
  bench/sass_model.py --rev HEAD       # the same for the committed kernel (a clean record)
  bench/sass_model.py --check          # fail if a per-pair count rose above bench/sass_baseline.json
  bench/sass_model.py --write-baseline # record the current counts as the baseline
cuobjdump and nvdisasm come from PyPI (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm); when
neither PATH nor the CUDA toolkit has them they are installed into ~/.cache/infoflow/cuda-tools.
"""
import argparse
import collections
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NVCC = os.environ.get("NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
TOOLS_VERSION = "13.5.37"  # nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm on PyPI
TOOLS_DIR = os.path.join(os.path.expanduser("~"), ".cache", "infoflow", "cuda-tools")
TILE_C = 64  # kTileC: centres per tile = pairs per thread per pass
DIMS = [3, 8, 10, 16, 32, 64]
SMS = 132
DEFAULT_CLOCK_GHZ = 1.755
MAX_BOOST_GHZ = 1.98
TOLERANCE = 0.5  # instructions per pair
BASELINE = os.path.join(ROOT, "bench", "sass_baseline.json")

FP32 = {"FFMA", "FADD", "FMUL", "FMNMX"}


def nvcc_flags(root):
    """The build's CUDA flags (CMakeLists.txt, Release) for a cubin of sm_90."""
    inc = ["-I" + root, "-I" + os.path.join(root, "host"), "-I" + os.path.join(root, "include")]
    for d in ("/usr/include", "/usr/local/include"):
        if os.path.exists(os.path.join(d, "Random123", "philox.h")):
            inc.append("-I" + d)
            break
    return (["-std=c++17", "-O3", "-DNDEBUG", "-arch=sm_90", "--use_fast_math", "-lineinfo",
             "-Xcompiler=-fopenmp", "-DINFOFLOW_HAVE_CUDA=1", '-DINFOFLOW_VERSION="0.1.0"',
             '-DINFOFLOW_CUBLAS_DIR="/usr/local/cuda/lib"'] + inc)


def find_tool(name):
    cands = [shutil.which(name), os.path.join(os.path.dirname(NVCC), name)]
    cands += glob.glob(os.path.join(TOOLS_DIR, "nvidia", "*", "bin", name))
    try:
        import nvidia  # the pip wheels' namespace package, if installed in this Python
        for p in nvidia.__path__:
            cands += glob.glob(os.path.join(p, "*", "bin", name))
    except ImportError:
        pass
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


def tools():
    """cuobjdump (and the nvdisasm it runs), installed from PyPI when missing."""
    cuobjdump, nvdisasm = find_tool("cuobjdump"), find_tool("nvdisasm")
    if cuobjdump is None or nvdisasm is None:
        print(f"sass_model: installing cuobjdump/nvdisasm {TOOLS_VERSION} into {TOOLS_DIR}",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", TOOLS_DIR,
                        f"nvidia-cuda-cuobjdump=={TOOLS_VERSION}",
                        f"nvidia-cuda-nvdisasm=={TOOLS_VERSION}"], check=True)
        cuobjdump, nvdisasm = find_tool("cuobjdump"), find_tool("nvdisasm")
        if cuobjdump is None or nvdisasm is None:
            sys.exit("sass_model: cuobjdump/nvdisasm still not found after installing them")
    return cuobjdump, nvdisasm


def tool_version(exe):
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release [\d.]+, (V[\d.]+)", out)
    return m.group(1) if m else "unknown"


def compile_cubin(source, cubin, root):
    cmd = [NVCC] + nvcc_flags(root) + ["-cubin", "-o", cubin, source]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("sass_model: nvcc failed:\n" + " ".join(cmd) + "\n" + r.stderr)
    return cmd


def demangle(names):
    if not names:
        return {}
    r = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True,
                       check=True)
    return dict(zip(names, r.stdout.splitlines()))


INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")


def disassemble(cuobjdump, nvdisasm, cubin):
    env = dict(os.environ, PATH=os.path.dirname(nvdisasm) + os.pathsep + os.environ.get("PATH", ""))
    out = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True, env=env,
                         check=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = INSN.search(line)
        if m and cur is not None:
            text = m.group(2)
            pred = None
            pm = re.match(r"(@!?U?P\w+)\s+(.*)", text)
            if pm:
                pred, text = pm.group(1), pm.group(2)
            parts = text.split(None, 1)
            cur.append({"addr": int(m.group(1), 16), "pred": pred, "op": parts[0],
                        "args": parts[1] if len(parts) > 1 else ""})
    return funcs


def branch_target(ins):
    if ins["op"] not in ("BRA", "BRA.U", "BRA.DIV"):
        return None
    m = re.search(r"0x([0-9a-f]+)", ins["args"])
    return int(m.group(1), 16) if m else None


def loops(code):
    """Backward branches: (head address, branch address)."""
    out = []
    for ins in code:
        t = branch_target(ins)
        if t is not None and t <= ins["addr"]:
            out.append((t, ins["addr"]))
    return out


def in_range(code, lo, hi):
    return [i for i in code if lo <= i["addr"] <= hi]


def classify(ins):
    op = ins["op"]
    base = op.split(".")[0]
    if op.startswith("MUFU.EX2"):
        return "MUFU.EX2"
    if base in ("FFMA", "FADD", "FMNMX", "FMUL"):
        return base
    if base == "LDS":
        return "LDS"
    if base == "STS":
        return "STS"
    if base in ("LDG", "LD", "LDC", "ULDC"):
        return "load (global/const)"
    if base in ("DADD", "DMUL", "DFMA", "F2F", "DSETP"):
        return "float64/convert"
    if base in ("BRA", "BAR", "BSSY", "BSYNC", "EXIT", "WARPSYNC", "NOP"):
        return "branch/barrier"
    return "integer/other"


CLASSES = ["FFMA", "FADD", "FMUL", "FMNMX", "MUFU.EX2", "LDS", "STS", "load (global/const)",
           "float64/convert", "branch/barrier", "integer/other"]


def lds_cost(ins, broadcast, lds_bc_clk):
    """Clocks of the SM's shared-memory pipe for one warp-instruction."""
    op = ins["op"]
    wide = ".128" in op
    if broadcast:
        return lds_bc_clk if wide else 1
    return 4 if wide else (2 if ".64" in op else 1)


def base_reg(ins):
    m = re.search(r"\[(R\d+)", ins["args"])
    return m.group(1) if m else None


def analyse(name, code, dc, staged):
    """Counts per pass of the tile loop: the tile part and (staged) the chunk loop."""
    mufu_loops = [lp for lp in loops(code)
                  if any(i["op"].startswith("MUFU.EX2") for i in in_range(code, *lp))]
    if not mufu_loops:
        raise SystemExit(f"sass_model: {name}: no loop holding MUFU.EX2 (the tile loop) found")
    tile = min(mufu_loops, key=lambda lp: lp[1] - lp[0])
    body = in_range(code, *tile)
    inner = [lp for lp in loops(body) if lp != tile and tile[0] <= lp[0] and lp[1] < tile[1]]
    if staged and len(inner) != 1:
        raise SystemExit(f"sass_model: {name}: expected one chunk loop inside the tile loop, "
                         f"found {len(inner)}")
    if not staged and inner:
        raise SystemExit(f"sass_model: {name}: unexpected loop inside the tile loop: {inner}")
    chunk = inner[0] if inner else None
    chunk_body = in_range(code, *chunk) if chunk else []
    chunk_addrs = {i["addr"] for i in chunk_body}
    # The rescale: a forward conditional branch over a stretch of float64 work, no MUFU.EX2.
    cold = set()
    cold_ranges = []
    for ins in body:
        t = branch_target(ins)
        if t is None or t <= ins["addr"] or ins["pred"] is None or ins["addr"] in chunk_addrs:
            continue
        skipped = [i for i in body if ins["addr"] < i["addr"] < t]
        ops = [i["op"] for i in skipped]
        if any(o.startswith(("DFMA", "DMUL")) for o in ops) and not any(
                o.startswith("MUFU.EX2") for o in ops):
            if not any(lo <= ins["addr"] and t <= hi for lo, hi in cold_ranges):
                cold_ranges.append((ins["addr"], t))
    for lo, hi in cold_ranges:
        cold |= {i["addr"] for i in body if lo < i["addr"] < hi}
    tile_part = [i for i in body if i["addr"] not in chunk_addrs and i["addr"] not in cold]
    rescale = [i for i in body if i["addr"] in cold]

    def count(insns):
        c = collections.Counter(classify(i) for i in insns)
        return {k: c.get(k, 0) for k in CLASSES}

    # Shared loads: per-thread (the staged query chunk: the base register used for
    # exactly DC / 4 loads in the chunk loop) or broadcast (centres, log-weights).
    per_thread_regs = set()
    if chunk_body:
        regs = collections.Counter(base_reg(i) for i in chunk_body if i["op"].startswith("LDS"))
        per_thread_regs = {r for r, n in regs.items() if n == dc // 4}
        if len(per_thread_regs) != 1:
            raise SystemExit(f"sass_model: {name}: cannot tell the query loads from the centre "
                             f"loads in the chunk loop (LDS per base register: {dict(regs)})")

    def smem_clk(insns, lds_bc_clk):
        clk = 0
        for i in insns:
            if i["op"].startswith("LDS"):
                clk += lds_cost(i, base_reg(i) not in per_thread_regs, lds_bc_clk)
            elif i["op"].startswith("STS"):
                clk += lds_cost(i, False, lds_bc_clk)
        return clk

    ops = collections.Counter(i["op"] for i in tile_part + chunk_body)
    return {
        "tile_loop": [hex(tile[0]), hex(tile[1])],
        "chunk_loop": [hex(chunk[0]), hex(chunk[1])] if chunk else None,
        "tile_part": count(tile_part),
        "chunk_part": count(chunk_body) if chunk else None,
        "rescale_per_occurrence": len(rescale),
        "_smem": lambda bc: (smem_clk(tile_part, bc), smem_clk(chunk_body, bc)),
        "opcodes": dict(sorted(ops.items(), key=lambda kv: -kv[1])),
    }


def parse_dispatch(source):
    """launch_lse_kernel()'s choice of instantiation by d: [(max d or None, DC, staged)].
    The dim-chunk constants live in kernels/lse_cuda.cuh beside the source."""
    text = open(source).read()
    header = os.path.join(os.path.dirname(source), "lse_cuda.cuh")
    consts_text = text + (open(header).read() if os.path.exists(header) else "")
    consts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"constexpr int (k\w+) = (\d+);", consts_text)}
    m = re.search(r"void launch_lse_kernel\(.*?\n}\n", text, re.S)
    if not m:
        raise SystemExit("sass_model: launch_lse_kernel() not found in " + source)
    out = []
    for b in re.finditer(r"(?:if \(d <= (\w+)\)|else)\s*\n?\s*run\(lse_gaussian_kernel<(\w+), (true|false)>\)",
                         m.group(0)):
        val = lambda s: consts[s] if s in consts else int(s)  # noqa: E731
        out.append((val(b.group(1)) if b.group(1) else None, val(b.group(2)), b.group(3) == "true"))
    if not out or out[-1][0] is not None:
        raise SystemExit("sass_model: could not read launch()'s dispatch on d; update parse_dispatch")
    return out


def instantiation_for(d, dispatch):
    for limit, dc, staged in dispatch:
        if limit is None or d <= limit:
            return dc, staged
    raise AssertionError


def key(dc, staged):
    return f"lse_gaussian_kernel<{dc}, {'true' if staged else 'false'}>"


def predict(a, dc, staged, d, clock_ghz, lds_bc_clk):
    dp = -(-d // dc) * dc if staged else dc  # padded dims: whole row in one chunk, or chunks of DC
    chunks = dp // dc if staged else 0
    per_pass = dict(a["tile_part"])
    if staged:
        for k, v in a["chunk_part"].items():
            per_pass[k] += chunks * v
    total = sum(per_pass.values())
    fp32 = sum(per_pass[k] for k in FP32)
    mufu = per_pass["MUFU.EX2"]
    smem_tile, smem_chunk = a["_smem"](lds_bc_clk)
    smem = smem_tile + chunks * smem_chunk
    # Pairs per clock per SM: per warp-instruction 32 thread-instructions; a pass is 64 pairs.
    pairs_per_pass_warp = 32 * TILE_C
    bounds = {
        "issue": 4 * pairs_per_pass_warp / total,
        "fp32": 128 * TILE_C / fp32,
        "mufu": 16 * TILE_C / mufu,
        "shared memory": pairs_per_pass_warp / smem,
    }
    limit = min(bounds, key=bounds.get)
    rate = bounds[limit] * SMS * clock_ghz * 1e9
    ideal = SMS * 128 * clock_ghz * 1e9 / (2 * d + 3)  # ROOFLINE.md's FP32 limit, 2d + 3 lane-ops
    return {
        "d": d, "instantiation": key(dc, staged), "padded_d": dp, "chunk_passes": chunks,
        "per_pass": per_pass, "per_pass_total": total,
        "per_pair": {k: round(v / TILE_C, 3) for k, v in per_pass.items()},
        "per_pair_total": round(total / TILE_C, 3),
        "smem_clk_per_pass_warp": smem,
        "pairs_per_clk_per_sm": {k: round(v, 3) for k, v in bounds.items()},
        "bound": limit,
        "pairs_per_s": rate,
        "pairs_per_s_at_max_boost": rate * MAX_BOOST_GHZ / clock_ghz,
        "fp32_ideal_pairs_per_s": ideal,
        "share_of_fp32_ideal": rate / ideal,
    }


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", default=os.path.join(ROOT, "kernels", "lse_kernel.cu"),
                    help="kernel source (a copy elsewhere is compiled with the repo's include paths)")
    ap.add_argument("--rev", help="compile kernels/lse_kernel.cu as of this git revision "
                    "(a copy; headers from the working tree), e.g. HEAD for a clean record")
    ap.add_argument("--cubin", help="use this cubin instead of compiling --source")
    ap.add_argument("--clock-ghz", type=float, default=DEFAULT_CLOCK_GHZ)
    ap.add_argument("--lds-broadcast-clk", type=float, default=2.0)
    ap.add_argument("--check", action="store_true",
                    help=f"fail if any per-pair count exceeds the baseline by more than {TOLERANCE}")
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--write-baseline", action="store_true")
    ap.add_argument("--no-record", action="store_true", help="do not write bench/results/*.json")
    ap.add_argument("--json", help="write the record here instead of bench/results/")
    args = ap.parse_args()

    cuobjdump, nvdisasm = tools()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = None
        if args.rev:
            text = git("show", f"{args.rev}:kernels/lse_kernel.cu")
            if text == "unknown":
                sys.exit(f"sass_model: no kernels/lse_kernel.cu at {args.rev}")
            args.source = os.path.join(tmp, "lse_kernel.cu")
            with open(args.source, "w") as f:
                f.write(text + "\n")
            header = git("show", f"{args.rev}:kernels/lse_cuda.cuh")  # its constants, for parse_dispatch
            if header != "unknown":
                with open(os.path.join(tmp, "lse_cuda.cuh"), "w") as f:
                    f.write(header + "\n")
        cubin = args.cubin
        if cubin is None:
            cubin = os.path.join(tmp, "lse_kernel.cubin")
            cmd = [c.replace(tmp, "<tmp>") for c in compile_cubin(args.source, cubin, ROOT)]
        funcs = disassemble(cuobjdump, nvdisasm, cubin)
        dispatch = parse_dispatch(args.source)
    names = demangle(list(funcs))

    analyses = {}
    for mangled, code in funcs.items():
        m = re.search(r"lse_gaussian_kernel<(\d+), (true|false)>", names[mangled])
        if not m:
            continue
        dc, staged = int(m.group(1)), m.group(2) == "true"
        analyses[(dc, staged)] = analyse(key(dc, staged), code, dc, staged)
    if not analyses:
        sys.exit("sass_model: no lse_gaussian_kernel in the cubin")

    rows = []
    for d in DIMS:
        dc, staged = instantiation_for(d, dispatch)
        if (dc, staged) not in analyses:
            sys.exit(f"sass_model: launch() uses {key(dc, staged)} for d = {d}, not in the cubin")
        rows.append(predict(analyses[(dc, staged)], dc, staged, d, args.clock_ghz,
                            args.lds_broadcast_clk))
    # Per instantiation, per pair: whole-row ones per pass / 64; the chunked one as its
    # tile part and its chunk part (per 16 dims), both / 64.
    per_inst = {}
    for (dc, staged), a in sorted(analyses.items()):
        if staged:
            per_inst[key(dc, staged) + " tile part"] = round(sum(a["tile_part"].values()) / TILE_C, 3)
            per_inst[key(dc, staged) + " per chunk"] = round(sum(a["chunk_part"].values()) / TILE_C, 3)
        else:
            per_inst[key(dc, staged)] = round(sum(a["tile_part"].values()) / TILE_C, 3)
    per_d = {f"d={r['d']} {r['instantiation']}": r["per_pair_total"] for r in rows}

    print_table(analyses, rows, args)
    if args.lds_broadcast_clk != 4:
        alt = [predict(analyses[instantiation_for(d, dispatch)], *instantiation_for(d, dispatch), d,
                       args.clock_ghz, 4) for d in DIMS]
        print("if a broadcast LDS.128 costs 4 clocks: "
              + ", ".join(f"d={r['d']} {r['pairs_per_s']:.2e} ({r['bound']})" for r in alt))

    commit = git("rev-parse", "--short", args.rev or "HEAD")
    if args.rev:
        dirty, source = False, f"kernels/lse_kernel.cu at {commit}"
    elif os.path.abspath(args.source).startswith(ROOT + os.sep):
        source = os.path.relpath(args.source, ROOT)
        dirty = bool(git("status", "--porcelain", "--", source))
    else:
        dirty, source = True, args.source
    record = {
        "what": "SASS model of lse_gaussian_kernel's tile loop (static: no GPU run)",
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "source": source + (" (cubin given)" if args.cubin else ""),
        "source_differs_from_commit": dirty,
        "nvcc": tool_version(NVCC), "cuobjdump": tool_version(cuobjdump),
        "nvcc_command": cmd and [os.path.basename(cmd[0])] + [c.replace(ROOT, "<repo>") for c in cmd[1:]],
        "assumptions": {
            "sms": SMS, "clock_ghz": args.clock_ghz, "max_boost_ghz": MAX_BOOST_GHZ,
            "issue_warp_insns_per_clk_per_sm": 4, "fp32_lanes_per_clk_per_sm": 128,
            "fp32_classes": sorted(FP32), "mufu_lanes_per_clk_per_sm": 16,
            "lds128_broadcast_clk": args.lds_broadcast_clk, "lds128_per_thread_clk": 4,
            "sts128_clk": 4, "global_loads": "not charged",
            "rescale": "not counted per pass (only when a running max rises)",
            "gpus": "H100 SXM and H200: same SMs and clocks, so the same prediction",
        },
        "dispatch": [{"max_d": lim, "instantiation": key(dc, st)} for lim, dc, st in dispatch],
        "instantiations": {key(*k): {kk: vv for kk, vv in a.items() if not kk.startswith("_")}
                           for k, a in sorted(analyses.items())},
        "per_pair_by_instantiation": per_inst,
        "per_pair_by_d": per_d,
        "predictions": rows,
        "measured_on_gpu": False,
    }

    if args.write_baseline:
        with open(args.baseline, "w") as f:
            json.dump({"commit": commit, "tolerance_per_pair": TOLERANCE,
                       "note": "instructions per pair, from bench/sass_model.py; "
                               "regenerate with --write-baseline when a rise is intended",
                       "per_pair_by_instantiation": per_inst, "per_pair_by_d": per_d}, f, indent=2)
            f.write("\n")
        print(f"baseline written: {os.path.relpath(args.baseline, ROOT)}")
    if not args.no_record and not args.check:
        path = args.json or os.path.join(
            ROOT, "bench", "results", f"sass_model_{record['date']}_{commit}.json")
        with open(path, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(f"record: {os.path.relpath(path, ROOT) if path.startswith(ROOT) else path}")
    if args.check:
        return check(per_inst, per_d, args.baseline)
    return 0


def check(per_inst, per_d, path):
    if not os.path.exists(path):
        print(f"sass_model --check: FAILED: no baseline {path} (make one with --write-baseline)")
        return 1
    with open(path) as f:
        base = json.load(f)
    tol = base.get("tolerance_per_pair", TOLERANCE)
    bad = []
    for kind, cur in (("per_pair_by_instantiation", per_inst), ("per_pair_by_d", per_d)):
        for k, v in cur.items():
            b = base.get(kind, {}).get(k)
            if b is None:
                print(f"sass_model --check: note: no baseline for '{k}' ({v} per pair)")
            elif v > b + tol:
                bad.append(f"{k}: {v:.3f} instructions per pair, baseline {b:.3f} (+{v - b:.3f} > {tol})")
    if bad:
        print("sass_model --check: FAILED, the inner loop got longer:\n  " + "\n  ".join(bad))
        print(f"(if intended, rerun with --write-baseline and commit {os.path.relpath(path, ROOT) if path.startswith(ROOT) else path})")
        return 1
    print(f"sass_model --check: OK (every per-pair count within {tol} of {os.path.relpath(path, ROOT) if path.startswith(ROOT) else path})")
    return 0


def print_table(analyses, rows, args):
    print("lse_gaussian_kernel tile loop, instructions per pass (64 pairs per thread); "
          "rescale not counted")
    cols = ["FFMA", "FADD", "FMUL", "FMNMX", "MUFU.EX2", "LDS", "STS", "other"]
    print(f"{'instantiation / part':38s}" + "".join(f"{c:>9s}" for c in cols) + f"{'total':>8s}")
    for k, a in sorted(analyses.items()):
        parts = [("tile part" if k[1] else "loop body", a["tile_part"])]
        if a["chunk_part"]:
            parts.append(("chunk loop (per 16 dims)", a["chunk_part"]))
        for label, c in parts:
            other = sum(v for kk, v in c.items() if kk not in cols)
            vals = [c[x] for x in cols[:-1]] + [other]
            print(f"{key(*k) + ' ' + label:38s}" + "".join(f"{v:9d}" for v in vals)
                  + f"{sum(c.values()):8d}")
        print(f"{'':38s}(rescale when the max rises: {a['rescale_per_occurrence']} instructions)")
    print()
    print(f"predicted, H100 SXM = H200 ({SMS} SMs, {args.clock_ghz} GHz, broadcast LDS.128 = "
          f"{args.lds_broadcast_clk:g} clk); NOT MEASURED")
    print(f"{'d':>3s} {'instantiation':32s}{'insn/pair':>10s}{'FP32/pair':>10s}{'LDS/pair':>9s}"
          f"{'bound':>14s}{'pairs/s':>11s}{'@1.98GHz':>10s}{'of 2d+3':>8s}")
    for r in rows:
        fp = sum(r["per_pair"][k] for k in FP32)
        print(f"{r['d']:3d} {r['instantiation']:32s}{r['per_pair_total']:10.2f}{fp:10.2f}"
              f"{r['per_pair']['LDS']:9.2f}{r['bound']:>14s}{r['pairs_per_s']:11.3g}"
              f"{r['pairs_per_s_at_max_boost']:10.3g}{100 * r['share_of_fp32_ideal']:7.0f}%")


if __name__ == "__main__":
    sys.exit(main())
