"""Run every benchmark and print one table per section: ``python -m bench.run [--quick] [--device cpu|cuda]``.

Sections:

1. **Evaluation** (``bench/bench_evaluation.py``, run as a subprocess and printed as it prints): per-case read and
   Task 1 scoring seconds, their ratio, the speed-up over a plain SimpleITK/scipy reference, cases/s with 1 and 2
   workers.
2. **Algorithm** (``--device cpu``), the bundled model: per-stage seconds, outside-network fraction
   (1 - infer/total), CPU seconds and peak RSS per stage, model loading, on a head-only and a whole-body (512x512x400)
   case, for TTA off/on and 1/5 folds. Each configuration runs in a fresh process (:mod:`bench.algorithm_case`), so
   each peak RSS is its own, and runs the case ``--repeat`` times (default 3): the tables show the fastest run, the
   one least disturbed on a shared machine, and the total of each run. Configuration (TTA on, 5 folds) runs only
   when its estimated time still fits the budget (``--budget-min``, default 14).
   **2b**: the full-size production network's forward pass on one window (:mod:`bench.network_window`), its
   per-case inference time extrapolated from the number of windows MONAI visits (a whole case would not fit).
3. **GPU** (``--device cuda``, ``make bench-gpu``): the same cases on CUDA with fp32 and mixed precision, TTA
   off/on, 1/5 folds, each run twice (first = cold, best shown), with the GPU memory peak; then the full-size 1 mm
   production architecture (``algorithm/segmentation/configs/hecktor_1mm_segresnet.json``, random weights: the
   timing and memory of that network do not depend on its weights) for a T4 budget. Without CUDA this section
   prints why it was skipped.

Inputs are synthetic, at realistic size, with fixed seeds (:mod:`bench.data`), generated once into ``--cache``
(``bench/output/data``). Everything lands in ``OUT/results.json``, ``OUT/RESULTS.md`` (and ``--results-md``);
each configuration's JSON and log in ``OUT/runs`` and ``OUT/logs``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import data

REPO = Path(__file__).resolve().parents[1]
PROD_CONFIG = REPO / "algorithm" / "segmentation" / "configs" / "hecktor_1mm_segresnet.json"
GIB_PER_GB = 1e9 / 1024**3
#: Grand Challenge limits (docs/hecktor-reference.md): seconds per case for Tasks 1 and 3 (Task 2: 900 s),
#: usable RAM of a T4 job (GiB), T4 memory (GiB).
GC_CASE_S = 600.0
GC_TASK2_CASE_S = 900.0
GC_RAM_GIB = 15.0
T4_GPU_GIB = 15.0
#: The issue's memory target for a whole-body case on 2 CPU cores: 8 GB (decimal), in GiB.
RAM_TARGET_GIB = 8.0 * GIB_PER_GB

#: What the Makefile's targets run (bench/RESULTS.md quotes them).
MAKE_BENCH = "python -m bench.run --out bench/output --results-md bench/RESULTS.md"
#: RESULTS.md from this line on is kept when bench.run rewrites it (other benchmarks' sections).
KEPT_MARKER = "<!-- kept by bench.run: other benchmarks' sections below -->"
MAKE_BENCH_GPU = "python -m bench.run --device cuda --out bench/output/gpu --results-md bench/RESULTS-gpu.md"

STAGE_ORDER = [
    "read inputs",
    "check inputs",
    "locate",
    "crop+resample",
    "normalise",
    "infer",
    "map back",
    "postprocess",
    "write segmentation",
    "features",
    "features (standalone)",
    "task 2 model",
    "task 3 model",
    "other",
    "total",
]


@dataclass(frozen=True)
class Config:
    """One algorithm configuration."""

    tta: bool
    folds: int
    precision: str = "fp32"
    model: str = "bundled"  # or "production (random weights)"

    @property
    def label(self) -> str:
        text = f"TTA {'on' if self.tta else 'off'}, {self.folds} fold{'s' if self.folds > 1 else ''}"
        return text if self.precision == "fp32" and self.model == "bundled" else f"{self.precision}, {text}"

    @property
    def short(self) -> str:
        return f"{'tta' if self.tta else 'no-tta'}/{self.folds}f" + ("" if self.precision == "fp32" else "/amp")


def run_label(run: dict[str, Any]) -> str:
    """A run's column label; CUDA runs always name their precision (and the production network)."""
    config = Config(**run["config"])
    if not str(run.get("device", "")).startswith("cuda"):
        return config.label
    text = f"{config.precision}, TTA {'on' if config.tta else 'off'}, {config.folds}f"
    return text if config.model == "bundled" else f"prod {text}"


CPU_REQUIRED = [Config(False, 1), Config(True, 1), Config(False, 5)]
CPU_OPTIONAL = [Config(True, 5)]


class Clock:
    """Elapsed time since the run started, and the budget left."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def left(self) -> float:
        return self.budget_s - self.elapsed

    def stamp(self) -> str:
        minutes, seconds = divmod(int(self.elapsed), 60)
        return f"[{minutes:2d}:{seconds:02d}]"


def say(clock: Clock, text: str) -> None:
    print(f"{clock.stamp()} {text}", flush=True)


# ----------------------------------------------------------------------------- machine


def machine_description() -> dict[str, Any]:
    """Cores, RAM, CPU model (/proc/cpuinfo), library versions, load average, git commit."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
        info["cpu_model"] = models[0].strip() if models else platform.processor() or "unknown"
        flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, flags=re.MULTILINE)
        if flags:
            info["avx512"] = "avx512f" in flags.group(1).split()
            info["avx2"] = "avx2" in flags.group(1).split()
    except OSError:
        info["cpu_model"] = platform.processor() or "unknown"
    try:
        meminfo = Path("/proc/meminfo").read_text()
        info["ram_gib"] = int(re.search(r"MemTotal:\s*(\d+)", meminfo).group(1)) / 1024**2
    except (OSError, AttributeError):
        info["ram_gib"] = None
    cgroup_limit = Path("/sys/fs/cgroup/memory.max")
    if cgroup_limit.is_file() and cgroup_limit.read_text().strip() not in ("max", ""):
        info["cgroup_memory_limit_gib"] = int(cgroup_limit.read_text()) / 1024**3
    probe = (
        "import json, torch, monai, SimpleITK, numpy, scipy; "
        "print(json.dumps({'torch': torch.__version__, 'monai': monai.__version__, "
        "'simpleitk': SimpleITK.Version.VersionString(), 'numpy': numpy.__version__, 'scipy': scipy.__version__, "
        "'torch_threads': torch.get_num_threads(), 'cuda_available': torch.cuda.is_available(), "
        "'cuda': torch.version.cuda, 'gpus': [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())] "
        "if torch.cuda.is_available() else []}))"
    )
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=REPO)
        info.update(json.loads(out.stdout.strip().splitlines()[-1]))
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        info["versions_error"] = str(exc)
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO)
        info["git_commit"] = sha.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        info["git_commit"] = "unknown"
    return info


def machine_lines(m: dict[str, Any]) -> list[str]:
    lines = [
        f"CPU: {m.get('cpu_model')} ({m.get('usable_cores')} usable cores of {m.get('cpu_count')}"
        + (", AVX-512" if m.get("avx512") else ", AVX2" if m.get("avx2") else "")
        + f"); RAM {m.get('ram_gib', 0):.1f} GiB"
        + (f" (cgroup limit {m['cgroup_memory_limit_gib']:.1f} GiB)" if m.get("cgroup_memory_limit_gib") else ""),
        f"torch {m.get('torch')} ({m.get('torch_threads')} threads), MONAI {m.get('monai')}, "
        f"SimpleITK {m.get('simpleitk')}, numpy {m.get('numpy')}, scipy {m.get('scipy')}, Python {m.get('python')}",
        "GPU: " + (", ".join(m["gpus"]) + f" (CUDA {m.get('cuda')})" if m.get("gpus") else "none"),
        f"load average at start {m['load_average_start'][0]:.1f}"
        + (f", at end {m['load_average_end'][0]:.1f}" if m.get("load_average_end") else "")
        + f" (1 min); platform {m.get('platform')}; commit {m.get('git_commit')}",
    ]
    return lines


# ----------------------------------------------------------------------------- section 1: evaluation


def run_evaluation(clock: Clock, out: Path, quick: bool, extra: list[str], timeout_s: float) -> dict[str, Any]:
    script = REPO / "bench" / "bench_evaluation.py"
    if not script.is_file():
        say(clock, "evaluation benchmark skipped: bench/bench_evaluation.py is not there yet")
        return {"skipped": "bench/bench_evaluation.py is missing"}
    args = ["--cases", "1", "--size", "256", "256", "100", "--e2e-cases", "3"] if quick else ["--cases", "3"]
    cmd = [sys.executable, str(script), *args, *extra]
    say(clock, f"evaluation: {shlex.join([Path(c).name if c == sys.executable else c for c in cmd])}")
    start = time.perf_counter()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            print(f"    {line}", flush=True)
            if time.perf_counter() - start > timeout_s:
                proc.kill()
                lines.append(f"(killed after {timeout_s:.0f} s)")
                break
        code = proc.wait()
    except OSError as exc:
        return {"error": str(exc)}
    result: dict[str, Any] = {"command": cmd, "exit_code": code, "seconds": time.perf_counter() - start}
    result["output"] = lines
    result["parsed"] = parse_evaluation(lines)
    (out / "evaluation.txt").write_text("\n".join(lines) + "\n")
    say(clock, f"evaluation done in {result['seconds']:.0f} s (exit {code})")
    return result


def parse_evaluation(lines: list[str]) -> dict[str, Any]:
    """Best-effort figures from bench_evaluation.py's table (its format belongs to its author)."""
    parsed: dict[str, Any] = {}
    for line in lines:
        fields = line.split()
        if fields[:1] == ["mean"] and len(fields) >= 6:
            with contextlib.suppress(ValueError):
                parsed.update(
                    read_s=float(fields[1]),
                    score_s=float(fields[2]),
                    score_over_read=float(fields[3]),
                    reference_score_s=float(fields[4]),
                    speed_up=float(fields[5].rstrip("x")),
                )
        match = re.match(r"\s*(\d+) worker\(s\)\s+([\d.]+)\s+([\d.]+)", line)
        if match:
            parsed[f"cases_per_s_{match.group(1)}_workers"] = float(match.group(3))
    return parsed


# ----------------------------------------------------------------------------- sections 2 and 3: algorithm


def run_child(
    cmd: list[str], json_out: Path, log_path: Path, timeout_s: float
) -> tuple[dict[str, Any] | None, int | None, float]:
    """Run a benchmark child process (stdout and stderr to ``log_path``) that writes its figures to ``json_out``.

    Returns its JSON (``None`` when it wrote none), its exit code (``None`` when it timed out) and its wall seconds.
    """
    json_out.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    json_out.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        with open(log_path, "w") as log_file:
            proc = subprocess.run(cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.perf_counter() - start
    result = json.loads(json_out.read_text()) if json_out.is_file() else None
    return result, code, seconds


def run_case(
    clock: Clock,
    out: Path,
    case_name: str,
    case_info: dict[str, Any],
    config: Config,
    device: str,
    timeout_s: float,
    model_dir: str | None,
    repeat: int = 1,
) -> dict[str, Any]:
    """One configuration on one case in a fresh process; its JSON (or an ``error``)."""
    tag = f"{device}-{case_name}-{config.short.replace('/', '-')}" + ("-prod" if config.model != "bundled" else "")
    json_out = out / "runs" / f"{tag}.json"
    log_path = out / "logs" / f"{tag}.log"
    cmd = [sys.executable, "-m", "bench.algorithm_case", "--case", case_info["input_dir"], "--device", device]
    cmd += ["--folds", str(config.folds), "--precision", config.precision, "--repeat", str(repeat)]
    cmd += ["--json-out", str(json_out), "--name", f"{case_name} {config.label}", "--verbose"]
    if config.tta:
        cmd.append("--tta")
    if config.model != "bundled":
        cmd += ["--seg-config", str(PROD_CONFIG), "--random-weights", "--tasks", "1"]
    if model_dir:
        cmd += ["--model-dir", model_dir]
    say(clock, f"{device} {case_name:<10} {config.label:<28} ...")
    result, code, seconds = run_child(cmd, json_out, log_path, timeout_s)
    if result is None:
        tail = log_path.read_text().strip().splitlines()[-3:] if log_path.is_file() else []
        reason = f"timed out after {timeout_s:.0f} s" if code is None else f"exit {code}: " + " | ".join(tail)
        result = {"error": reason}
    result.update(process_s=seconds, exit_code=code, config=config.__dict__, case_name=case_name, log=str(log_path))
    if "error" in result:
        say(clock, f"    -> FAILED ({result['error'][:300]}); log {log_path}")
    else:
        t = result["timings"]
        gpu = result.get("gpu")
        say(
            clock,
            f"    -> per case {t['total']:.1f} s (infer {t.get('infer', 0):.1f} s), peak RSS "
            f"{result['peak_rss_gib']:.2f} GiB, load {result['load_s']:.1f} s, process {seconds:.0f} s"
            + (f", GPU peak {gpu['max_allocated_gib']:.2f} GiB" if gpu else "")
            + (f", FALLBACKS: {result['fallbacks']}" if result.get("fallbacks") else ""),
        )
    return result


def estimate_seconds(done: list[dict[str, Any]], case_name: str, config: Config) -> float | None:
    """Process seconds of ``config`` from the same case's measured runs (infer scales with folds)."""
    for r in done:
        c = r.get("config", {})
        if r.get("case_name") != case_name or "error" in r or c.get("tta") != config.tta or c.get("folds") != 1:
            continue
        if c.get("precision") != config.precision or c.get("model") != config.model:
            continue
        extra = config.folds - 1
        repeats = len(r.get("run_totals_s") or [1])
        return r["process_s"] + extra * (repeats * r["timings"].get("infer", 0.0) + r["load_s"])
    return None


def algorithm_section(
    clock: Clock,
    out: Path,
    cases: dict[str, dict[str, Any]],
    device: str,
    required: list[Config],
    optional: list[Config],
    model_dir: str | None,
    repeat: int = 1,
    between=None,
) -> list[dict[str, Any]]:
    """``required`` configurations on every case, then ``between()``, then the ``optional`` ones that fit the budget."""
    runs: list[dict[str, Any]] = []
    margin_s = 30.0
    for case_name, info in cases.items():
        for config in required:
            timeout = max(clock.left - margin_s, 120.0)
            run = run_case(clock, out, case_name, info, config, device, timeout, model_dir, repeat)
            runs.append(run)
            if run.get("exit_code") == 3:
                return runs  # no segmentation model: every other run would say the same
    if between is not None:
        between()
    for case_name, info in cases.items():
        for config in optional:
            estimate = estimate_seconds(runs, case_name, config)
            if estimate is None or estimate > clock.left - margin_s:
                why = "no measurement to estimate from" if estimate is None else f"estimated {estimate:.0f} s"
                say(clock, f"{device} {case_name:<10} {config.label:<28} skipped: {why}, {clock.left:.0f} s left")
                runs.append({"skipped": why, "config": config.__dict__, "case_name": case_name})
                continue
            runs.append(run_case(clock, out, case_name, info, config, device, clock.left, model_dir, repeat))
    return runs


def run_window(clock: Clock, out: Path, timeout_s: float) -> dict[str, Any]:
    """The production network's forward pass on one window, in its own process (:mod:`bench.network_window`)."""
    json_out = out / "runs" / "cpu-production-window.json"
    log_path = out / "logs" / "cpu-production-window.log"
    cmd = [sys.executable, "-m", "bench.network_window", "--config", str(PROD_CONFIG), "--json-out", str(json_out)]
    say(clock, f"cpu production network ({PROD_CONFIG.name}), one window ...")
    result, code, seconds = run_child(cmd, json_out, log_path, timeout_s)
    if result is not None:
        say(
            clock,
            f"    -> one {'x'.join(map(str, result['patch_zyx']))} window {min(result['forward_s']):.1f} s, "
            f"peak RSS {result['peak_rss_gib']:.2f} GiB, process {seconds:.0f} s",
        )
    else:
        result = {"error": f"timed out after {timeout_s:.0f} s" if code is None else f"exit {code}; log {log_path}"}
        say(clock, f"    -> FAILED ({result['error']})")
    result["process_s"] = seconds
    return result


def window_lines(w: dict[str, Any]) -> list[str]:
    """The production-network window figures and the per-case extrapolation."""
    if "error" in w:
        return [f"production network, one window on CPU: {w['error']}"]
    patch = "x".join(map(str, w["patch_zyx"][::-1]))
    crop = "x".join(map(str, w["crop_zyx"][::-1]))
    lines = [
        f"{Path(w['config']).name}: {w['architecture']} {w['network_kwargs']}, {w['parameters_m']:.1f} M parameters, "
        f"random weights, {w['torch_threads']} threads",
        f"one forward pass ({w['sw_batch_size']} window{'s' if w['sw_batch_size'] > 1 else ''} of {patch}): "
        f"{min(w['forward_s']):.1f} s (CPU {min(w['forward_cpu_s']):.1f} s), "
        f"process peak RSS {w['peak_rss_gib']:.2f} GiB",
        f"crop {crop} voxels, overlap {w['sw_overlap']}: {w['windows_per_pass']} windows per pass "
        f"({-(-w['windows_per_pass'] // w['sw_batch_size'])} forward passes); "
        f"mirror TTA: {w['tta_flips']} passes per fold",
        "",
    ]
    header = ["extrapolated per case", "passes", "infer s", "infer min", "GC 10 min"]
    rows = []
    for label, infer_s in w["extrapolated_infer_s"].items():
        folds = 5 if "5 folds" in label else 1
        passes = folds * (w["tta_flips"] if "TTA on" in label else 1)
        verdict = "met" if infer_s < GC_CASE_S else "MISSED"
        rows.append([label, str(passes), f"{infer_s:.0f}", f"{infer_s / 60:.1f}", verdict])
    return lines + table(header, rows)


# ----------------------------------------------------------------------------- tables


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]], first_width: int | None = None) -> list[str]:
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    if first_width:
        widths[0] = max(widths[0], first_width)
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(widths[k]) if k == 0 else str(c).rjust(widths[k]) for k, c in enumerate(r)
    )
    return [line(header), "-" * len(line(header)), *(line(r) for r in rows)]


def stage_names(runs: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for r in runs:
        for name in r.get("timings", {}):
            if name not in seen:
                seen.append(name)
    known = [s for s in STAGE_ORDER if s in seen]
    unknown = [s for s in seen if s not in STAGE_ORDER]
    tail = [s for s in known if s in ("other", "total")]
    return [s for s in known if s not in tail] + unknown + tail


def case_tables(case_name: str, info: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    """Stage seconds (rows) by configuration (columns) for one case, then memory and totals."""
    done = [r for r in runs if "timings" in r]
    lines = [f"{data.describe(info)}"]
    if not done:
        for r in runs:
            lines.append(f"  {run_label(r)}: {r.get('error') or 'skipped: ' + r.get('skipped', '')}")
        return lines
    header = ["stage (s)", *[run_label(r) for r in done]]
    rows = []
    for stage in stage_names(done):
        rows.append([stage, *[fmt(r["timings"].get(stage), 2) for r in done]])
    rows.append(["outside the network", *[f"{100 * (r['outside_network_fraction'] or 0):.0f} %" for r in done]])
    if any(len(r.get("run_totals_s", [])) > 1 for r in done):
        rows.append(["total of each run", *[" / ".join(f"{t:.1f}" for t in r["run_totals_s"]) for r in done]])
    rows.append(["load average at run start", *[fmt(r.get("load_average_1min"), 1) for r in done]])
    rows.append(["model load", *[fmt(r.get("load_s"), 2) for r in done]])
    rows.append(["process wall (start-up incl.)", *[fmt(r.get("process_s"), 1) for r in done]])
    rows.append(["peak RSS, process (GiB)", *[fmt(r.get("peak_rss_gib"), 2) for r in done]])
    rows.append(["RSS after model load (GiB)", *[fmt(r.get("rss_after_load_gib"), 2) for r in done]])
    if any(r.get("gpu") for r in done):
        rows.append(["GPU max allocated (GiB)", *[fmt((r.get("gpu") or {}).get("max_allocated_gib"), 2) for r in done]])
        rows.append(["GPU max reserved (GiB)", *[fmt((r.get("gpu") or {}).get("max_reserved_gib"), 2) for r in done]])
        rows.append(["conv dtype", *[str(r.get("conv_dtype")) for r in done]])
    lines += table(header, rows, 30)
    # CPU seconds per stage (all threads): robust to other processes competing for the cores.
    stages = [s for s in stage_names(done) if any(s in r.get("stage_cpu_s", {}) for r in done)]
    if stages:
        header = ["CPU s in stage (all threads)", *[run_label(r) for r in done]]
        rows = [[s, *[fmt(r.get("stage_cpu_s", {}).get(s), 2) for r in done]] for s in stages]
        rows.append(["case (CPU s / wall s)", *[cpu_ratio(r) for r in done]])
        lines += ["", *table(header, rows, 30)]
    # Peak RSS per stage: which step needs the memory.
    stages = [s for s in stage_names(done) if any(s in r.get("stage_peak_rss_gib", {}) for r in done)]
    header = ["peak RSS in stage (GiB)", *[run_label(r) for r in done]]
    rows = [[s, *[fmt(r.get("stage_peak_rss_gib", {}).get(s), 2) for r in done]] for s in stages]
    lines += ["", *table(header, rows, 30)]
    for r in runs:
        if "timings" not in r:
            lines.append(f"{run_label(r)}: {r.get('error') or 'skipped: ' + r.get('skipped', '')}")
    return lines


def pipeline_extra_gib(runs: list[dict[str, Any]]) -> float:
    """Whole-body peak RSS above the RSS after model loading (images, crops, outputs), worst configuration."""
    extra = [
        r["peak_rss_gib"] - (r.get("rss_after_load_gib") or 0.0)
        for r in runs
        if r.get("case_name") == "whole-body" and "timings" in r
    ]
    return max(extra, default=0.0)


def cpu_ratio(run: dict[str, Any]) -> str:
    """``"14.1 (2.0x)"``: the case's CPU seconds and how many cores it kept busy on average."""
    cpu, wall = run.get("case_cpu_s"), run.get("wall_s") or run["timings"].get("total")
    return "-" if cpu is None or not wall else f"{cpu:.1f} ({cpu / wall:.1f}x)"


def gpu_summary(runs: list[dict[str, Any]]) -> list[str]:
    """One row per GPU configuration: per-case seconds (best run, first run), infer, GPU memory, precision check."""
    header = ["case", "model", "precision", "TTA", "folds", "case s", "cold s", "infer s", "GPU alloc", "GPU resv"]
    header += ["conv", "RSS GiB"]
    rows = []
    for r in runs:
        c = Config(**r["config"])
        model = "bundled" if c.model == "bundled" else "1 mm prod"
        if "timings" not in r:
            rows.append([r["case_name"], model, c.precision, "on" if c.tta else "off", str(c.folds)])
            rows[-1] += [(r.get("error") or f"skipped: {r.get('skipped')}")[:40], "", "", "", "", "", ""]
            continue
        gpu = r.get("gpu") or {}
        rows.append(
            [
                r["case_name"],
                model,
                c.precision,
                "on" if c.tta else "off",
                str(c.folds),
                fmt(r["timings"]["total"], 1),
                fmt(r.get("first_total_s"), 1),
                fmt(r["timings"].get("infer"), 1),
                fmt(gpu.get("max_allocated_gib"), 2),
                fmt(gpu.get("max_reserved_gib"), 2),
                str(r.get("conv_dtype")),
                fmt(r.get("peak_rss_gib"), 2),
            ]
        )
    lines = table(header, rows)
    expected = {"amp": "float16", "fp32": "float32"}
    wrong = [r for r in runs if r.get("conv_dtype") and r["conv_dtype"] != expected[r["config"]["precision"]]]
    for r in wrong:
        lines.append(
            f"WARNING: {run_label(r)} ({r['case_name']}) ran its convolutions in {r['conv_dtype']}: "
            "the precision switch (bench.algorithm_case.set_precision) did not take effect"
        )
    return lines


def target_lines(cpu_runs: list[dict[str, Any]], gpu_runs: list[dict[str, Any]], cores: int | None) -> list[str]:
    """The issue's targets, met or missed, from the measured runs."""
    lines: list[str] = []
    ok = [r for r in cpu_runs if "timings" in r]
    whole = [r for r in ok if r["case_name"] == "whole-body"]
    if whole:
        worst = max(whole, key=lambda r: r["peak_rss_gib"])
        verdict = "MET" if worst["peak_rss_gib"] < RAM_TARGET_GIB else "MISSED"
        lines.append(
            f"whole-body 512x512x400 on {cores} CPU cores, peak RSS < 8 GB ({RAM_TARGET_GIB:.2f} GiB): {verdict} "
            f"(worst {worst['peak_rss_gib']:.2f} GiB, {Config(**worst['config']).label}; process lifetime peak, "
            "imports and models included)"
        )
    if ok:
        for case_name in dict.fromkeys(r["case_name"] for r in ok):
            costs = [
                (r["timings"]["total"] + r.get("load_s", 0) + r.get("import_s", 0), r)
                for r in ok
                if r["case_name"] == case_name
            ]
            cost, slowest = max(costs, key=lambda c: c[0])
            missed = [Config(**r["config"]).label for c, r in costs if c >= GC_CASE_S]
            verdict = f"MISSED by {', '.join(missed)}" if missed else f"MET by all {len(costs)} configurations"
            lines.append(
                f"GC 10 min per case on CPU, {case_name}: {verdict} (slowest: {Config(**slowest['config']).label}, "
                f"{cost:.0f} s incl. start-up and model load, {slowest['timings']['total']:.0f} s per case)"
            )
        worst = max(ok, key=lambda r: r["peak_rss_gib"])
        verdict = "MET" if worst["peak_rss_gib"] < GC_RAM_GIB else "MISSED"
        lines.append(f"GC RAM (~{GC_RAM_GIB:.0f} GiB usable): {verdict} (worst {worst['peak_rss_gib']:.2f} GiB)")
    gpu_ok = [r for r in gpu_runs if "timings" in r]
    for model in ("bundled", "prod"):
        group = [r for r in gpu_ok if r["config"]["model"] == model]
        if not group:
            continue
        name = "bundled model" if model == "bundled" else "production network (1 mm, random weights)"
        worst = max(group, key=lambda r: (r.get("gpu") or {}).get("max_reserved_gib", 0.0))
        resv = (worst.get("gpu") or {}).get("max_reserved_gib", 0.0)
        lines.append(
            f"T4 memory (~{T4_GPU_GIB:.0f} GiB usable), {name}: {'fits' if resv < T4_GPU_GIB else 'DOES NOT FIT'} "
            f"(worst {resv:.2f} GiB reserved by torch, {run_label(worst)}, {worst['case_name']}; "
            "add ~0.3-0.5 GiB of CUDA context)"
        )
        slowest = max(group, key=lambda r: r.get("first_total_s") or r["timings"]["total"])
        cold = slowest.get("first_total_s") or slowest["timings"]["total"]
        gpu_name = slowest.get("gpu_name", "this GPU")
        t4 = "T4" in gpu_name
        lines.append(
            f"GC 10 min per case on {gpu_name}, {name}: "
            f"{('MET' if cold < GC_CASE_S else 'MISSED') if t4 else 'not a T4, see below'} "
            f"(slowest cold case {cold:.0f} s: {run_label(slowest)}, {slowest['case_name']})"
        )
    if gpu_ok and not any("T4" in str(r.get("gpu_name")) for r in gpu_ok):
        lines.append(
            "These GPU seconds are not T4 seconds: a T4 (8 TFLOPS fp32, 65 TFLOPS fp16 tensor cores, 320 GB/s) is "
            "slower than current data-centre GPUs; run `make bench-gpu` on a T4 (e.g. an AWS g4dn instance) for "
            "the 10-minute check. The memory figures carry over."
        )
    return lines


# ----------------------------------------------------------------------------- report


def write_markdown(path: Path, results: dict[str, Any], printed: dict[str, list[str]]) -> None:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{results['command']}` on {results['date']} in {results['elapsed_s'] / 60:.1f} min. "
        f"`make bench` runs `{MAKE_BENCH}`; `make bench-gpu` runs `{MAKE_BENCH_GPU}` on a CUDA machine.",
        "",
        "## Machine",
        "",
        *[f"- {line}" for line in machine_lines(m)],
        "",
        "## Cases (synthetic, fixed seeds: `bench/data.py`)",
        "",
        *[f"- {data.describe(info)}" for info in results["cases"].values()],
        "",
    ]
    for title, key in (
        ("Targets", "targets"),
        ("1. Evaluation (`bench/bench_evaluation.py`)", "evaluation"),
        ("2. Algorithm on CPU", "algorithm"),
        ("2b. Production-size network on CPU (one window measured, per-case infer extrapolated)", "production"),
        ("3. GPU", "gpu"),
    ):
        lines += [f"## {title}", "", "```", *printed.get(key, ["(not run)"]), "```", ""]
    lines += ["## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = path.read_text().split(KEPT_MARKER, 1) if path.is_file() else []
    if len(kept) == 2:  # sections other benchmarks wrote (bench/nnunet_vs_predict.py) stay
        lines += [KEPT_MARKER + kept[1].rstrip("\n"), ""]
    path.write_text("\n".join(lines))


def notes_for(results: dict[str, Any]) -> list[str]:
    notes = [
        "Per-case seconds exclude model loading (Grand Challenge's invoke mode loads once at start-up); "
        "`model load` and `process wall` show it and the Python/torch start-up. Each configuration runs in its own "
        "process, so `peak RSS, process` is that configuration's lifetime peak (imports and models included); "
        "`peak RSS in stage` comes from VmHWM reset at each stage's start.",
        "`outside the network` = 1 - infer / total. `other` = total minus the named stages (JSON writes, glue).",
    ]
    loads = [r["load_average_1min"] for r in results.get("algorithm", []) if "load_average_1min" in r]
    cores = results["machine"].get("usable_cores")
    if loads:
        notes.append(
            f"Wall times are the fastest of each configuration's runs (`total of each run` shows them all) and "
            f"`CPU s` the work done; the {cores} cores were shared with other jobs (1-min load average "
            f"{min(loads):.1f}-{max(loads):.1f} at the runs' starts), so expect up to 2-3x between repeated runs "
            "and between configurations that should be close."
        )
    runs = [r for r in results.get("algorithm", []) + results.get("gpu", []) if "model" in r]
    copies = {
        r["model"].get("fold_copies", 0)
        for r in runs
        if r["model"].get("folds", 1) > 1 and r["model"].get("weights") == "trained"
    }
    if copies and max(copies) > 0:
        notes.append(
            "5 folds: the bundled model has fewer trained folds, so the benchmark's temporary model folder copies "
            "fold_0.pt to the missing fold files and lists folds 0-4 in its config: five networks are loaded and "
            "run, which measures the cost of a 5-fold ensemble honestly (not its accuracy)."
        )
    bundled = next((r["model"] for r in runs if r["model"].get("weights") == "trained"), None)
    if bundled:
        notes.append(
            f"Segmentation model ({bundled['source']}): {bundled['architecture']} {bundled['network_kwargs']}, "
            f"{bundled['spacing_mm']} mm, "
            f"patch {bundled['patch_size']}, crop {bundled['crop_size_mm']} mm, sliding-window overlap "
            f"{bundled['sw_overlap']}, mirror TTA over {bundled['mirror_axes']} "
            f"({2 ** len(bundled['mirror_axes'])} passes per fold)."
        )
    missing: dict[str, str] = {}
    for r in runs:
        missing.update(r.get("missing") or {})
    for what, why in missing.items():
        notes.append(f"Not benchmarked: {what}: {why}.")
    if missing:
        notes.append(
            "Without those models the cases ran the tasks that could load; when neither Task 2 nor 3 ran, "
            "`features (standalone)` times the feature extraction they would run, outside the per-case total."
        )
    if results.get("production_window"):
        notes.append(
            "2b: the bundled model is the small synthetic-data model (2 mm, 8 filters); the production config "
            "(algorithm/segmentation/configs/hecktor_1mm_segresnet.json: 1 mm, 192^3 windows, 32 filters, 5 folds, "
            "8 mirror passes) cannot run a whole case on 2 cores within the budget, so one window's forward pass is "
            "measured (random weights and input: the cost does not depend on them) and multiplied by the windows "
            "MONAI visits; blending, resampling, reading and writing come on top (seconds, see section 2)."
        )
    return notes


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small synthetic case, fewer configurations (minutes)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: the GPU section")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "output", help="results and logs")
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE, help="generated cases (kept between runs)")
    parser.add_argument("--results-md", type=Path, default=None, help="write the Markdown report here too")
    parser.add_argument("--budget-min", type=float, default=None, help="stop adding optional runs past this (min)")
    parser.add_argument(
        "--sections", default="evaluation,algorithm,prod-window,gpu", help="comma-separated subset to run"
    )
    parser.add_argument("--model-dir", default=None, help="model root instead of the bundled/mounted one")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per configuration, fastest reported (default 3; --quick 1)"
    )
    parser.add_argument("--eval-args", default="", help="extra arguments for bench/bench_evaluation.py")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget_min = args.budget_min or (14.0 if args.device == "cpu" else 45.0)
    clock = Clock(budget_min * 60)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.run" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    say(clock, f"{command}: budget {budget_min:.0f} min, output {out}")
    machine = machine_description()
    for line in machine_lines(machine):
        say(clock, line)
    results: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine,
        "budget_min": budget_min,
    }
    printed: dict[str, list[str]] = {}

    if "evaluation" in sections:
        print("\n== 1. Evaluation: Task 1 scoring, ours vs a plain SimpleITK/scipy reference ==", flush=True)
        ev = run_evaluation(clock, out, args.quick, shlex.split(args.eval_args), timeout_s=max(clock.left / 2, 120))
        results["evaluation"] = ev
        printed["evaluation"] = ev.get("output") or [ev.get("skipped") or ev.get("error", "")]

    case_names = ["small"] if args.quick else ["head", "whole-body"]
    cases: dict[str, dict[str, Any]] = {}
    if sections & {"algorithm", "gpu"}:
        for name in case_names:
            cases[name] = data.ensure_case(name, args.cache, log=lambda text: say(clock, text))
            if cases[name]["generate_s"]:
                say(clock, f"{name} case generated in {cases[name]['generate_s']:.0f} s")
    results["cases"] = cases

    cpu_runs: list[dict[str, Any]] = []
    if "algorithm" in sections and args.device == "cpu":
        print("\n== 2. Algorithm on CPU: per-stage seconds and peak RSS, one process per configuration ==", flush=True)
        required = CPU_REQUIRED[:2] if args.quick else CPU_REQUIRED
        optional = [] if args.quick else CPU_OPTIONAL
        repeat = args.repeat or (1 if args.quick else 3)

        def production_window() -> None:
            if "prod-window" in sections and not args.quick:
                results["production_window"] = run_window(clock, out, max(clock.left - 60, 120))

        cpu_runs = algorithm_section(
            clock, out, cases, "cpu", required, optional, args.model_dir, repeat, production_window
        )
        printed["algorithm"] = []
        for name, info in cases.items():
            printed["algorithm"] += ["", *case_tables(name, info, [r for r in cpu_runs if r["case_name"] == name])]
        printed["algorithm"] = printed["algorithm"][1:]
        print("", *printed["algorithm"], sep="\n", flush=True)
        if "production_window" in results:
            printed["production"] = window_lines(results["production_window"])
            print("\n== 2b. Production-size network on CPU: one window, per-case infer extrapolated ==")
            print(*printed["production"], sep="\n", flush=True)
    results["algorithm"] = cpu_runs

    gpu_runs: list[dict[str, Any]] = []
    if "gpu" in sections:
        print("\n== 3. GPU: fp32 vs mixed precision, TTA off/on, GPU memory peak ==", flush=True)
        if args.device != "cuda":
            why = (
                "GPU section skipped: this run is --device cpu. On a CUDA machine run `make bench-gpu` "
                "(python -m bench.run --device cuda), which writes bench/RESULTS-gpu.md."
            )
        elif not machine.get("cuda_available"):
            why = (
                f"GPU section skipped: CUDA is not available here (torch {machine.get('torch')}, "
                f"CUDA build {machine.get('cuda') or 'none'}, {len(machine.get('gpus', []))} GPU(s))."
            )
        else:
            why = ""
        if why:
            say(clock, why)
            results["gpu_skipped"] = why
            printed["gpu"] = [why]
        else:
            gpu_runs = gpu_section(clock, out, cases, args)
            printed["gpu"] = gpu_summary(gpu_runs)
            for name, info in cases.items():
                for model in ("bundled", "prod"):
                    group = [r for r in gpu_runs if r["case_name"] == name and r["config"]["model"] == model]
                    if group:
                        printed["gpu"] += ["", *case_tables(name, info, group)]
            print("", *printed["gpu"], sep="\n", flush=True)
    results["gpu"] = gpu_runs

    printed["targets"] = target_lines(cpu_runs, gpu_runs, machine.get("usable_cores"))
    window = results.get("production_window")
    if window and "error" not in window:
        one = window["extrapolated_infer_s"]["TTA off, 1 fold"]
        full = window["extrapolated_infer_s"]["TTA on, 5 folds"]
        printed["targets"].append(
            f"production network on {machine.get('usable_cores')} CPU cores, GC 10 min per case (extrapolated): "
            f"{'MET' if one < GC_CASE_S else 'MISSED'} with 1 fold and no TTA ({one:.0f} s of network alone), "
            f"{'MET' if full < GC_CASE_S else 'MISSED'} with 5 folds and TTA ({full / 3600:.1f} h)"
        )
        printed["targets"].append(
            f"production network, peak RSS of one forward pass: {window['peak_rss_gib']:.2f} GiB "
            f"(< 8 GB target {'met' if window['peak_rss_gib'] < RAM_TARGET_GIB else 'MISSED'} for the network alone; "
            "the whole-body pipeline around it added about "
            f"{pipeline_extra_gib(cpu_runs):.1f} GiB with the bundled model)"
        )
    machine["load_average_end"] = list(os.getloadavg())
    results["elapsed_s"] = clock.elapsed
    results["notes"] = notes_for(results)
    generated = sum(info.get("generate_s", 0.0) for info in cases.values())
    printed["targets"].append(
        f"make bench under 15 min: {'MET' if clock.elapsed < 15 * 60 else 'MISSED'} ({clock.elapsed / 60:.1f} min; "
        + (f"{generated:.0f} s of it generating the cases" if generated else "cases from the cache: add ~20 s once")
        + ")"
    )
    print("\n== Targets ==", *printed["targets"], sep="\n", flush=True)
    print("\n== Notes ==", *[f"- {n}" for n in results["notes"]], sep="\n", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    write_markdown(out / "RESULTS.md", results, printed)
    if args.results_md:
        write_markdown(args.results_md, results, printed)
    say(clock, f"done: {out / 'results.json'}" + (f", {args.results_md}" if args.results_md else ""))
    failed = [r for r in cpu_runs + gpu_runs if "error" in r]
    return 1 if failed else 0


def gpu_section(clock: Clock, out: Path, cases: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[dict]:
    """Bundled model: precision x TTA x folds on each case (cold + warm run); then the 1 mm production network."""
    bundled = [Config(t, f, p) for p in ("fp32", "amp") for t in (False, True) for f in (1, 5)]
    if args.quick:
        bundled = [Config(False, 1, "fp32"), Config(False, 1, "amp"), Config(True, 1, "amp")]
    runs: list[dict[str, Any]] = []
    for case_name, info in cases.items():
        for config in bundled:
            if clock.left < 60:
                runs.append({"skipped": "budget spent", "config": config.__dict__, "case_name": case_name})
                continue
            run = run_case(clock, out, case_name, info, config, "cuda", clock.left, args.model_dir, args.repeat or 2)
            runs.append(run)
    # The full-size architecture with random weights (its cost does not depend on the weights' values).
    prod_case = "small" if args.quick else "whole-body"
    prod = [
        Config(False, 1, "amp", "prod"),
        Config(False, 1, "fp32", "prod"),
        Config(True, 1, "amp", "prod"),
        Config(True, 5, "amp", "prod"),
        Config(True, 5, "fp32", "prod"),
    ]
    for config in prod[:2] if args.quick else prod:
        if clock.left < 120:
            runs.append({"skipped": "budget spent", "config": config.__dict__, "case_name": prod_case})
            continue
        runs.append(run_case(clock, out, prod_case, cases[prod_case], config, "cuda", clock.left, None, repeat=1))
    return runs


if __name__ == "__main__":
    sys.exit(main())
