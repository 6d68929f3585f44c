"""Unseen-centre benchmark: PET in other units or calibrations, extreme outliers, and a memory cap.

Every variant is measured against the unshifted run **in the same run**, with the bundled models (or
``--model-dir``), on a small synthetic cohort (default 6 ``small`` cases, seed 1001, never used for
training). Variants of the PET file only (the CT, clinical record and ground truth stay the same):

========================  ===================================================================
``unshifted``             the generator's PET (SUV, float32)
``pet x0.5``, ``pet x2``  calibration shifts (every voxel x 0.5 or x 2)
``Bq/ml``                 SUV x 4000 (a 75 kg patient injected with 300 MBq), float32
``int16 SUV x 1000``      integer storage, ``rint(SUV x 1000)`` as int16
``3e38 outliers``         20 random voxels set to 3e38
========================  ===================================================================

Per variant: GTVp mean Dice, GTVn aggregated Dice and aggregated detection F1 (the evaluation's own
metric code), their differences from ``unshifted``, the largest change of the HPV probability, whether
every risk is finite and inside the range the model gives on the unshifted cases, and the input-check
notes per case. Targets (issue 13): |dDice| <= 0.05, |dp(HPV)| <= 0.15, risk in range.

Memory: one case is run in a child process, first unconstrained (virtual memory after the models are
loaded and the peak, from ``/proc/self/status``), then under ``RLIMIT_AS`` (``ulimit -v``) just below the
peak: ``load + 0.7 (peak - load)`` unless ``--memory-cap-gib`` is given. Reported: exit status, whether
the mask is non-empty, the Dice, and the memory log lines.

Usage (about 3-5 minutes on one core)::

    python -m bench.unseen_centres [--cases 6] [--seed 1001] [--out bench/output/unseen] [--json FILE]

It only uses the public entry points (``algorithm.pipeline.Algorithm``, ``synthetic``,
``hecktor.metrics``), so the same file runs on an older checkout for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "output" / "unseen"
CENTRES = ("CHUM", "CHUS", "HGJ", "HMR", "CHUP", "CHUV", "MDA", "USZ", "CHB", "CHUB", "CHUN")
VARIANTS = ("unshifted", "pet x0.5", "pet x2", "Bq/ml", "int16 SUV x 1000", "3e38 outliers")
BQML_PER_SUV = 4000.0  # 300 MBq / 75 000 g
N_OUTLIERS = 20
OUTLIER_VALUE = 3e38
#: Risks may leave the unshifted range by this fraction of its width (float rounding of unit conversions).
RANGE_SLACK = 0.01
#: The cap lies this far from the post-load level towards the unconstrained peak.
CAP_FRACTION = 0.7


def transform_pet(array: np.ndarray, variant: str, rng: np.random.Generator) -> np.ndarray:
    """The stored PET array of ``variant`` from the SUV array (z, y, x)."""
    if variant == "unshifted":
        return array
    if variant == "pet x0.5":
        return (array * 0.5).astype(np.float32)
    if variant == "pet x2":
        return (array * 2.0).astype(np.float32)
    if variant == "Bq/ml":
        return (array * BQML_PER_SUV).astype(np.float32)
    if variant == "int16 SUV x 1000":
        return np.clip(np.rint(array * 1000.0), -32768, 32767).astype(np.int16)
    if variant == "3e38 outliers":
        out = array.astype(np.float32, copy=True)
        out.ravel()[rng.choice(out.size, N_OUTLIERS, replace=False)] = OUTLIER_VALUE
        return out
    raise ValueError(variant)


def slug(variant: str) -> str:
    return variant.replace(" ", "_").replace("/", "per").replace(".", "p")


def build_cohort(out: Path, n_cases: int, seed: int) -> list[str]:
    """Write every variant of ``n_cases`` synthetic cases under ``out/data/<variant>/<PID>``; return the PIDs."""
    import SimpleITK as sitk

    from hecktor.imageio import find_single_image, write_image
    from synthetic import generate_case
    from synthetic.gc_layout import write_case_inputs

    data = out / "data"
    marker = data / "cohort.json"
    wanted = {"cases": n_cases, "seed": seed, "variants": list(VARIANTS)}
    if marker.is_file() and json.loads(marker.read_text()).get("spec") == wanted:
        return json.loads(marker.read_text())["patients"]
    shutil.rmtree(data, ignore_errors=True)
    pids = []
    for k in range(n_cases):
        pid = f"{CENTRES[k % len(CENTRES)]}-9{k:02d}"
        case = generate_case(pid, seed=seed, size="small", with_primary=True)
        base = write_case_inputs(case, data / slug("unshifted"))
        write_image(case.label, data / "labels" / f"{pid}.mha")
        pet_path = find_single_image(base / "images" / "pet")
        pet = sitk.ReadImage(str(pet_path))
        suv = sitk.GetArrayFromImage(pet)
        for i, variant in enumerate(VARIANTS[1:], 1):
            folder = data / slug(variant) / pid
            shutil.copytree(base, folder)
            image = sitk.GetImageFromArray(transform_pet(suv, variant, np.random.default_rng(seed * 100 + k * 10 + i)))
            image.CopyInformation(pet)
            write_image(image, folder / "images" / "pet" / pet_path.name)
        pids.append(pid)
        print(f"  case {k + 1}/{n_cases} {pid} written", flush=True)
    marker.write_text(json.dumps({"spec": wanted, "patients": pids}))
    return pids


def score_case(label_path: Path, truth_path: Path) -> dict[str, Any]:
    """GTVp and GTVn overlaps (mm^3) and GTVn detection counts of one predicted label file."""
    import SimpleITK as sitk

    return score_label(sitk.ReadImage(str(label_path)), sitk.ReadImage(str(truth_path)))


def score_label(pred_img: Any, truth_img: Any) -> dict[str, Any]:
    """GTVp and GTVn overlaps (mm^3) and GTVn detection counts of a predicted label image (SimpleITK) against
    the ground truth on the same grid (the evaluation's own metric code)."""
    import SimpleITK as sitk

    from hecktor.metrics.lesions import detect_lesions
    from hecktor.metrics.overlap import label_overlaps

    pred, truth = sitk.GetArrayFromImage(pred_img), sitk.GetArrayFromImage(truth_img)
    voxel = float(np.prod(truth_img.GetSpacing()))
    overlaps = label_overlaps(pred, truth, voxel)
    det, _ = detect_lesions(pred == 2, truth == 2)
    return {"overlaps": overlaps, "detection": det, "label_voxels": int(np.count_nonzero(pred))}


def summarise_variant(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """GTVp mean Dice, GTVn aggregated Dice, GTVn F1 and its TP/FP/FN over the rows of :func:`score_label`."""
    from hecktor.metrics.lesions import f1_from_counts
    from hecktor.metrics.overlap import aggregated_dice, dice_with_convention

    gtvp = [dice_with_convention(r["overlaps"][1]) for r in rows]
    counts = sum((r["detection"] for r in rows[1:]), rows[0]["detection"])  # DetectionCounts add up
    return {
        "gtvp_mean_dice": float(np.mean(gtvp)),
        "gtvn_aggregated_dice": aggregated_dice([r["overlaps"][2] for r in rows]),
        "gtvn_f1": f1_from_counts(counts),
        "gtvn_tp": counts.tp,
        "gtvn_fp": counts.fp,
        "gtvn_fn": counts.fn,
    }


def run_variants(out: Path, pids: list[str], model_dir: str | None) -> dict[str, Any]:
    """Run the algorithm on every variant of every case (models loaded once)."""
    from algorithm.pipeline import Algorithm

    algorithm = Algorithm({1, 2, 3}, model_dir=model_dir, device="cpu")
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        rows = []
        t0 = time.perf_counter()
        for pid in pids:
            case_out = out / "runs" / slug(variant) / pid
            shutil.rmtree(case_out, ignore_errors=True)
            case_out.mkdir(parents=True)
            res = algorithm.run(out / "data" / slug(variant) / pid, case_out)
            files = sorted(str(p.relative_to(case_out)) for p in case_out.rglob("*") if p.is_file())
            label = case_out / "images" / "tumor-lymph-node-segmentation" / "output.mha"
            row = score_case(label, out / "data" / "labels" / f"{pid}.mha")
            row.update(
                pid=pid,
                risk=float(json.loads((case_out / "rfs.json").read_text())),
                hpv_probability=float(res.values.get("hpv_probability", math.nan)),
                notes=list(res.notes),
                fallbacks=list(res.fallbacks),
                files=files,
            )
            rows.append(row)
        results[variant] = {"rows": rows, "seconds": time.perf_counter() - t0}
        print(f"  {variant}: {len(pids)} cases in {results[variant]['seconds']:.0f} s", flush=True)
    return results


def table(results: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Markdown lines of the targets table, and its figures."""
    base = results["unshifted"]["rows"]
    base_sum = summarise_variant(base)
    risks = [r["risk"] for r in base]
    low, high = min(risks), max(risks)
    base_notes = {r["pid"]: set(r["notes"]) for r in base}
    lines = [
        "| variant | GTVp mean Dice | dGTVp | GTVn agg. Dice | dGTVn | GTVn F1 | max abs d p(HPV) "
        "| max abs d risk | risks finite and in unshifted range | extra notes per case | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, Any] = {}
    for variant, res in results.items():
        rows = res["rows"]
        s = summarise_variant(rows)
        d_p = max(abs(r["hpv_probability"] - b["hpv_probability"]) for r, b in zip(rows, base, strict=True))
        slack = RANGE_SLACK * (high - low)
        in_range = all(math.isfinite(r["risk"]) and low - slack <= r["risk"] <= high + slack for r in rows)
        d_risk = max(abs(r["risk"] - b["risk"]) for r, b in zip(rows, base, strict=True))
        worst_risk = max(rows, key=lambda r: abs(r["risk"]))["risk"]
        extra = [len(set(r["notes"]) - base_notes[r["pid"]]) for r in rows]
        n_fallbacks = sum(len(r["fallbacks"]) for r in rows)
        d_p_val = s["gtvp_mean_dice"] - base_sum["gtvp_mean_dice"]
        d_n_val = (s["gtvn_aggregated_dice"] or 0.0) - (base_sum["gtvn_aggregated_dice"] or 0.0)
        figures[variant] = {
            **s,
            "d_gtvp": d_p_val,
            "d_gtvn": d_n_val,
            "max_abs_d_hpv_probability": d_p,
            "risk_in_range": in_range,
            "max_abs_d_risk": d_risk,
            "largest_abs_risk": worst_risk,
            "extra_notes_per_case": extra,
            "fallbacks": n_fallbacks,
        }
        lines.append(
            f"| {variant} | {s['gtvp_mean_dice']:.3f} | {d_p_val:+.3f} | {_f(s['gtvn_aggregated_dice'])} "
            f"| {d_n_val:+.3f} | {_f(s['gtvn_f1'])} | {d_p:.3f} | {d_risk:.3g} "
            f"| {'yes' if in_range else f'NO ({worst_risk:.3g})'} "
            f"| {'/'.join(map(str, extra))} | {n_fallbacks} |"
        )
    lines.append(f"\nunshifted risk range [{low:.3f}, {high:.3f}]")
    return lines, figures


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- memory ---------------------------------------------------------------------------------------------


def _status_gib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 2**20
    return math.nan


def child(case_dir: str, out_dir: str, model_dir: str | None) -> int:
    """Run one case in this process and print one JSON line of memory figures (the child side)."""
    import logging

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from algorithm.pipeline import Algorithm

    algorithm = Algorithm({1, 2, 3}, model_dir=model_dir, device="cpu")
    loaded = _status_gib("VmSize")
    res = algorithm.run(case_dir, out_dir)
    print(json.dumps({"vm_after_load_gib": loaded, "vm_peak_gib": _status_gib("VmPeak"), "fallbacks": res.fallbacks}))
    return 0


def run_child(case_dir: Path, out_dir: Path, model_dir: str | None, cap_gib: float | None) -> dict[str, Any]:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "bench.unseen_centres", "--child", str(case_dir), str(out_dir)]
    if model_dir:
        cmd += ["--model-dir", model_dir]

    def limit() -> None:
        if cap_gib is not None:
            cap = int(cap_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, preexec_fn=limit, env=env, timeout=900)
    report: dict[str, Any] = {"rc": proc.returncode}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            report.update(json.loads(line))
            break
    memory_lines = [ln.strip() for ln in proc.stderr.splitlines() if "memory" in ln.lower() or "fallback" in ln.lower()]
    report["memory_log"] = memory_lines[-8:]
    report["last_stderr_line"] = (proc.stderr.strip().splitlines() or [""])[-1][:300]
    return report


def memory_check(out: Path, pid: str, model_dir: str | None, cap_gib: float | None) -> dict[str, Any]:
    case_dir = out / "data" / slug("unshifted") / pid
    truth = out / "data" / "labels" / f"{pid}.mha"
    label_rel = Path("images") / "tumor-lymph-node-segmentation" / "output.mha"
    free = run_child(case_dir, out / "memory" / "free", model_dir, None)
    if cap_gib is None:
        load, peak = free.get("vm_after_load_gib", math.nan), free.get("vm_peak_gib", math.nan)
        cap_gib = load + CAP_FRACTION * (peak - load)
    capped = run_child(case_dir, out / "memory" / "capped", model_dir, cap_gib)
    result = {"free": free, "capped": capped, "cap_gib": cap_gib}
    for name in ("free", "capped"):
        label = out / "memory" / name / label_rel
        if label.is_file():
            scored = score_case(label, truth)
            result[name].update(
                label_voxels=scored["label_voxels"], gtvp_dice=scored["overlaps"][1].dice, rc=result[name]["rc"]
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unseen_centres", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1001)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--model-dir", default=None, help="model folder (default: the bundled models)")
    parser.add_argument("--memory-cap-gib", type=float, default=None, help="virtual-memory cap (default: see doc)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.model_dir)
    import logging

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
    start = time.perf_counter()
    print(f"unseen-centre benchmark: {args.cases} small cases, seed {args.seed}, code {REPO}", flush=True)
    pids = build_cohort(args.out, args.cases, args.seed)
    results = run_variants(args.out, pids, args.model_dir)
    lines, figures = table(results)
    report: dict[str, Any] = {"repo": str(REPO), "cases": pids, "variants": figures}
    if not args.no_memory:
        print("  memory check ...", flush=True)
        mem = memory_check(args.out, pids[0], args.model_dir, args.memory_cap_gib)
        report["memory"] = mem
        free, capped = mem["free"], mem["capped"]
        load, peak = free.get("vm_after_load_gib", math.nan), free.get("vm_peak_gib", math.nan)
        lines += [
            "",
            f"memory ({pids[0]}): unconstrained rc {free['rc']}, VM after load {load:.2f} GiB,"
            f" VM peak {peak:.2f} GiB, mask {free.get('label_voxels', 'none')} voxels",
            f"  under ulimit -v {mem['cap_gib']:.2f} GiB: rc {capped['rc']},"
            f" mask {capped.get('label_voxels', 'none')} voxels, GTVp Dice {_f(capped.get('gtvp_dice'))},"
            f" fallbacks {capped.get('fallbacks', '?')}",
            f"  last stderr line: {capped['last_stderr_line']}",
        ]
    print("\n".join(lines))
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
