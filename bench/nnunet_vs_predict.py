"""The kit's nnU-Net path against nnU-Net's own ``nnUNetv2_predict_from_modelfolder``, same model, same run.

``python -m bench.nnunet_vs_predict [--model NNUNET_FOLDER] [--spacing Z Y X] [--wb-z-mm 1.5] [--quick]
[--json-out FILE]``

Both sides run in a fresh child process each, on the same nnU-Net trained-model folder (one made by nnU-Net
itself: without ``--model``, ``train segmentation --backend nnunet`` with nnU-Net's planner, preprocessing and
``nnUNetTrainer_kitSmoke`` for 1 iteration, cached under ``--cache``):

- **kit**: ``python -m algorithm run --tasks 1 --model-dir M`` on the case as Grand Challenge gives it (CT and PET
  on their own grids): read, check, the kit's head crop, PET onto the CT block, nnU-Net's preprocessing and
  predictor, the mask pasted back onto the CT grid, written.
- **nnU-Net**: nnU-Net's own entry point ``predict_entry_point_modelfolder`` (the ``nnUNetv2_predict_from_modelfolder``
  command, which calls ``nnUNetPredictor.predict_from_files`` as ``nnUNetv2_predict`` does) with its defaults
  (``-npp 3 -nps 3``, mirroring as the checkpoint allows), ``-device cpu``, on ``CASE_0000`` = CT and
  ``CASE_0001`` = PET already on the same grid (nnU-Net requires it; that resampling is done beforehand and not
  timed).

Two comparisons:

(a) **head-and-neck block, network excluded**: nnU-Net gets the block the kit's crop cuts from the head case (CT
    voxels as they are, PET resampled onto it), the kit gets the whole head case. In each child the network time
    is measured by timing nnU-Net's own ``nnUNetPredictor.predict_logits_from_preprocessed_data`` (every fold's
    sliding window; the same function in both paths); ``pre+post`` is the job's time from the entry point's call
    to its return (model load, reading, preprocessing, export/map-back, writing) minus that.
(b) **whole-body case, whole job**: the whole-body case with its CT resampled to ``--wb-z-mm`` slices (512 x 512 x
    ~660 at 1.5 mm), kit vs nnU-Net on the uncropped CT + PET: wall time of the child process (start-up included)
    and peak memory, as the largest resident set of any one process (``wait4``'s ``ru_maxrss``, nnU-Net's worker
    processes included) and as the peak of the process tree's summed RSS (``/proc``, sampled every 0.2 s).

``--spacing`` (default 3.0 2.0 2.0 mm, z y x: HECKTOR's slice spacing and a 2 mm in-plane grid, as a model trained
on resampled HECKTOR PET/CT plans it; the tiny model itself was planned on small synthetic cases) is written into
the model's ``plans.json`` copy so that both sides resample alike; ``--spacing plans`` keeps the plans' own.
``--step-size`` (default 1.0: no window overlap, on both sides; nnU-Net's default 0.5 runs 8 times the windows)
keeps the tiny network's share of (b) small on 2 CPU cores; (a) excludes the network whatever the step.
``--quick``: the small synthetic case for both parts (smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO / "bench" / "output" / "nnunet"
HECKTOR_SPACING_ZYX = (3.0, 2.0, 2.0)
CASE_ID = "CASE"


# ---- the child: one job, nnU-Net's network timed ------------------------------------------------------------


def child(json_out: Path, which: str, argv: list[str]) -> int:
    """Run the kit's ``algorithm`` command line or nnU-Net's entry point in this process, timing the network."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    network: list[float] = []
    real = nnUNetPredictor.predict_logits_from_preprocessed_data

    def timed(self: Any, data: Any) -> Any:
        start = time.perf_counter()
        try:
            return real(self, data)
        finally:
            network.append(time.perf_counter() - start)

    nnUNetPredictor.predict_logits_from_preprocessed_data = timed  # type: ignore[method-assign]
    start = time.perf_counter()
    if which == "kit":
        from algorithm.cli import main

        rc = main(argv)
    else:
        from nnunetv2.inference.predict_from_raw_data import predict_entry_point_modelfolder

        sys.argv = ["nnUNetv2_predict_from_modelfolder", *argv]
        predict_entry_point_modelfolder()
        rc = 0
    entry_s = time.perf_counter() - start
    json_out.write_text(json.dumps({"rc": rc, "entry_s": entry_s, "network_s": sum(network)}))
    return rc


# ---- the parent: children measured ------------------------------------------------------------------------


def _tree_rss_bytes(root: int) -> int:
    """Summed RSS of ``root`` and its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(statm[1]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [p for p, parent in parents.items() if parent == pid]
    return total


def measure(which: str, argv: list[str], work: Path) -> dict[str, Any]:
    """One child job: wall s (start-up included), the entry point's s, network s, peak RSS (GiB) two ways."""
    json_out = work / f"{which}-child.json"
    cmd = [sys.executable, "-m", "bench.nnunet_vs_predict", "--child", str(json_out), which, "--", *argv]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = work / f"{which}.log"
    start = time.perf_counter()
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        peak_tree = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak_tree[0] = max(peak_tree[0], _tree_rss_bytes(proc.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not json_out.is_file():
        tail = log_path.read_text()[-3000:]
        raise SystemExit(f"error: the {which} job failed (exit {proc.returncode}); its log {log_path}:\n{tail}")
    inner = json.loads(json_out.read_text())
    return {
        "wall_s": wall,
        "entry_s": inner["entry_s"],
        "network_s": inner["network_s"],
        "pre_post_s": inner["entry_s"] - inner["network_s"],
        "peak_rss_gib": usage.ru_maxrss / 1024**2,
        "peak_tree_rss_gib": peak_tree[0] / 1024**3,
        "log": str(log_path),
    }


# ---- inputs ------------------------------------------------------------------------------------------------


def tiny_model(cache: Path, log=print) -> Path:
    """An nnU-Net trained-model folder written by nnU-Net itself (planned on 4 small synthetic cases, 1 training
    iteration of ``nnUNetTrainer_kitSmoke``, 64^3 patch, 4 base features); cached."""
    results = cache / "model" / "nnUNet_results" / "Dataset501_HECKTOR"
    folder = results / "nnUNetTrainer_kitSmoke__nnUNetPlans__3d_fullres"
    if (folder / "fold_0" / "checkpoint_final.pth").is_file():
        return folder
    from synthetic import generate_cohort, write_training_layout

    shutil.rmtree(cache / "model", ignore_errors=True)
    data = cache / "model" / "data"
    write_training_layout(generate_cohort(n=4, seed=3, size="small"), data)
    log("training a tiny nnU-Net model (nnU-Net's planning + 1 iteration) ...")
    argv = [sys.executable, "-m", "algorithm", "train", "segmentation", "--backend", "nnunet", "--data", str(data),
            "--out", str(cache / "model"), "--trainer", "nnUNetTrainer_kitSmoke", "--n-folds", "2", "--folds", "0",
            "--patch-size", "64", "64", "64", "--base-features", "4", "--processes", "1", "--device", "cpu",
            "--no-validation"]  # fmt: skip
    env = {**os.environ, "nnUNet_n_proc_DA": "0", "HECKTOR_NNUNET_EPOCHS": "1", "HECKTOR_NNUNET_ITERATIONS": "1"}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: training the tiny nnU-Net model failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return folder


def model_dir_for(
    nnunet_folder: Path, work: Path, spacing: tuple[float, float, float] | None, step_size: float
) -> Path:
    """A kit model folder ``work/model`` whose ``segmentation/`` is a copy of ``nnunet_folder`` (``plans.json``'s
    ``3d_fullres`` spacing set to ``spacing``, z y x mm, unless ``None``) with the kit's ``config.json`` (the
    default crop, no post-processing, ``tile_step_size``: ``step_size``).

    A checkpoint of a trainer other than ``nnUNetTrainer`` is recorded as ``nnUNetTrainer`` in the copy (the same
    network: both build the plans' architecture): nnU-Net's own trainer lookup (``nnUNetv2_predict``) imports its
    Primus trainers, hence timm, before it reaches any other trainer, and timm is not installed (README)."""
    import torch

    model = work / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(nnunet_folder, model / "segmentation", ignore=shutil.ignore_patterns("validation", "*.log"))
    for path in (model / "segmentation").glob("fold_*/checkpoint_*.pth"):
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        if checkpoint.get("trainer_name") != "nnUNetTrainer":
            checkpoint["trainer_name"] = "nnUNetTrainer"
            torch.save(checkpoint, path)
    config = {"tile_step_size": step_size}
    (model / "segmentation" / "config.json").write_text(json.dumps(config) + "\n")
    if spacing is not None:
        path = model / "segmentation" / "plans.json"
        plans = json.loads(path.read_text())
        plans["configurations"]["3d_fullres"]["spacing"] = list(spacing)
        path.write_text(json.dumps(plans, indent=1))
    return model


def nnunet_inputs(ct: Any, pet: Any, channels: tuple[str, ...], folder: Path) -> Path:
    """``folder/CASE_000c.nii.gz``: the model's channels from ``ct`` and ``pet`` (already on one grid)."""
    import SimpleITK as sitk

    from algorithm.segmentation.nnunet.channels import stack_input

    folder.mkdir(parents=True, exist_ok=True)
    image = stack_input(channels, sitk.GetArrayViewFromImage(ct), sitk.GetArrayViewFromImage(pet))
    for c in range(image.shape[0]):
        out = sitk.GetImageFromArray(image[c])
        out.CopyInformation(ct)
        sitk.WriteImage(out, str(folder / f"{CASE_ID}_{c:04d}.nii.gz"), useCompression=True)
    return folder


def harmonised(case_dir: Path) -> tuple[Any, Any]:
    """The case's CT and PET as the kit harmonises them (PET units to SUV, CT offset)."""
    from algorithm.intensity import harmonise_training_pair
    from algorithm.reading import read_case

    case = read_case(case_dir)
    return harmonise_training_pair(case.ct, case.pet, CASE_ID)


def block_inputs(case_dir: Path, segmentation: Path, folder: Path) -> tuple[list[int], Path]:
    """The kit's head-and-neck block of the case (CT voxels, PET on them) as nnU-Net's input files."""
    from algorithm.segmentation.nnunet.block import cut_case
    from algorithm.segmentation.nnunet.folder import dataset_info
    from algorithm.segmentation.nnunet.options import NnUNetOptions

    ct, pet = harmonised(case_dir)
    block = cut_case(ct, pet, NnUNetOptions.load(segmentation))
    nnunet_inputs(block.ct, block.pet, dataset_info(segmentation).channels, folder)
    return list(block.ct.GetSize()), folder


def whole_inputs(case_dir: Path, segmentation: Path, folder: Path) -> Path:
    """The whole case (uncropped CT, PET resampled linearly onto it, 0 outside) as nnU-Net's input files."""
    import SimpleITK as sitk

    from algorithm.segmentation.nnunet.folder import dataset_info
    from algorithm.segmentation.resample import resample_onto
    from hecktor.geometry import Grid

    ct, pet = harmonised(case_dir)
    pet = resample_onto(pet, Grid.of(ct), sitk.sitkLinear, 0.0)
    return nnunet_inputs(ct, pet, dataset_info(segmentation).channels, folder)


def long_whole_body(info: dict[str, Any], z_mm: float, cache: Path) -> tuple[Path, list[int]]:
    """The bench's whole-body case with its CT resampled to ``z_mm`` slices (linear, same extent; PET as it is);
    ``z_mm`` 0: as generated (512 x 512 x 400 at 2.49 mm)."""
    import SimpleITK as sitk

    from hecktor.imageio import write_image

    source = Path(info["input_dir"])
    if z_mm <= 0:
        return source, list(info["ct_size"])
    folder = cache / f"whole-body-z{z_mm:g}" / "input"
    (ct_file,) = sorted((source / "images" / "ct").iterdir())
    target = folder / "images" / "ct" / ct_file.name
    if not target.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder)
        ct = sitk.ReadImage(str(ct_file))
        spacing = (*ct.GetSpacing()[:2], z_mm)
        size = (*ct.GetSize()[:2], round(ct.GetSize()[2] * ct.GetSpacing()[2] / z_mm))
        out = sitk.Resample(ct, size, sitk.Transform(), sitk.sitkLinear, ct.GetOrigin(), spacing,
                            ct.GetDirection(), -1024.0, ct.GetPixelID())  # fmt: skip
        target.unlink()
        write_image(out, target)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(target))
    reader.ReadImageInformation()
    return folder, list(reader.GetSize())


# ---- the comparisons -----------------------------------------------------------------------------------------


def kit_argv(case_dir: Path, out: Path, model: Path) -> list[str]:
    return ["run", "--input", str(case_dir), "--output", str(out), "--tasks", "1", "--device", "cpu",
            "--model-dir", str(model)]  # fmt: skip


def nnunet_argv(inputs: Path, out: Path, segmentation: Path, step_size: float) -> list[str]:
    from algorithm.segmentation.nnunet.folder import fold_dirs

    folds = list(fold_dirs(segmentation))
    return ["-i", str(inputs), "-o", str(out), "-m", str(segmentation), "-f", *folds, "-device", "cpu",
            "-step_size", str(step_size), "--disable_progress_bar"]  # fmt: skip


def compare(name: str, case_dir: Path, inputs: Path, model: Path, work: Path) -> dict:
    """Kit then nnU-Net on one case; their measurements."""
    work.mkdir(parents=True, exist_ok=True)
    segmentation = model / "segmentation"
    step = float(json.loads((segmentation / "config.json").read_text())["tile_step_size"])
    kit = measure("kit", kit_argv(case_dir, work / "kit-out", model), work)
    nnunet = measure("nnunet", nnunet_argv(inputs, work / "nnunet-out", segmentation, step), work)
    return {"case": name, "kit": kit, "nnunet": nnunet}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def kit_case_seconds(log_path: Path) -> float | None:
    """The kit's own per-case time (its ``case done in X s`` log line), or ``None``."""
    import re

    found = re.findall(r"case done in ([\d.]+) s", log_path.read_text()) if log_path.is_file() else []
    return float(found[-1]) if found else None


def report(block: dict, whole: dict, header: list[str]) -> list[str]:
    k, n = block["kit"], block["nnunet"]
    lines = [*header, "", f"(a) {block['case']}: pre+post (job minus network), s", ""]
    lines.append(f"{'':28}{'kit':>10}{'nnU-Net':>10}{'kit/nnU-Net':>13}")
    for key, label in (("pre_post_s", "pre+post (network excluded)"), ("network_s", "network"),
                       ("entry_s", "job (entry point)")):  # fmt: skip
        lines.append(f"{label:28}{k[key]:10.2f}{n[key]:10.2f}{ratio(k[key], n[key]):>13}")
    case_s = kit_case_seconds(Path(k["log"]))
    if case_s is not None:
        per_case = case_s - k["network_s"]
        lines.append(
            f"kit per case (its 'case done': no start-up imports or model load, as in invoke mode): {case_s:.2f} s,"
            f" pre+post {per_case:.2f} s = {ratio(per_case, n['pre_post_s'])} nnU-Net's pre+post"
        )
    k, n = whole["kit"], whole["nnunet"]
    lines += ["", f"(b) {whole['case']}: the whole job", ""]
    lines.append(f"{'':28}{'kit':>10}{'nnU-Net':>10}{'kit/nnU-Net':>13}")
    for key, label, unit in (("wall_s", "wall s (start-up incl.)", ""), ("network_s", "network s", ""),
                             ("peak_rss_gib", "peak RSS, one process GiB", ""),
                             ("peak_tree_rss_gib", "peak RSS, tree sum GiB", "")):  # fmt: skip
        lines.append(f"{label:28}{k[key]:10.2f}{n[key]:10.2f}{ratio(k[key], n[key]):>13}{unit}")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return child(Path(argv[1]), argv[2], argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="an nnU-Net trained-model folder (default: tiny)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--spacing", nargs="+", default=[str(s) for s in HECKTOR_SPACING_ZYX],
                        help="3d_fullres target spacing z y x mm written into the plans copy, or 'plans'")  # fmt: skip
    parser.add_argument("--step-size", type=float, default=1.0, help="sliding-window step (both sides)")
    parser.add_argument(
        "--wb-z-mm", type=float, default=1.5, help="slice spacing of the whole-body CT (mm; 0: as generated, 2.49 mm)"
    )
    parser.add_argument("--quick", action="store_true", help="the small synthetic case for both parts (smoke)")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--report-from", type=Path, default=None, help="reprint the report of a --json-out file")
    args = parser.parse_args(argv)
    if args.report_from:
        saved = json.loads(args.report_from.read_text())
        print("\n".join(report(saved["block"], saved["whole"], saved["lines"][:2])))
        return 0

    from bench import data

    spacing = None if args.spacing == ["plans"] else tuple(float(s) for s in args.spacing)
    if spacing is not None and len(spacing) != 3:
        parser.error("--spacing takes three numbers (z y x mm) or 'plans'")
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    nnunet_folder = args.model.resolve() if args.model else tiny_model(args.cache)
    work = args.cache / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = model_dir_for(nnunet_folder, work, spacing, args.step_size)
    segmentation = model / "segmentation"
    cfg = json.loads((segmentation / "plans.json").read_text())["configurations"]["3d_fullres"]

    head = data.ensure_case("small" if args.quick else "head", args.cache / "data", log=print)
    size, block_dir = block_inputs(Path(head["input_dir"]), segmentation, work / "block-input")
    block = compare(f"{data.describe(head)}; nnU-Net gets the kit's block {'x'.join(map(str, size))}",
                    Path(head["input_dir"]), block_dir, model, work / "block")  # fmt: skip
    if args.quick:
        wb_dir, wb_size = Path(head["input_dir"]), head["ct_size"]
    else:
        wb_dir, wb_size = long_whole_body(data.ensure_case("whole-body", args.cache / "data", log=print),
                                          args.wb_z_mm, args.cache)  # fmt: skip
    whole_dir = whole_inputs(wb_dir, segmentation, work / "whole-input")
    whole = compare(f"whole-body CT {'x'.join(map(str, wb_size))}, uncropped for nnU-Net", wb_dir, whole_dir,
                    model, work / "whole")  # fmt: skip

    import torch

    header = [
        f"model: {nnunet_folder.name} (nnU-Net folder; plans 3d_fullres patch {cfg['patch_size']}, spacing"
        f" {cfg['spacing']} mm z y x{' (set by --spacing)' if spacing else ''}, features"
        f" {cfg['architecture']['arch_kwargs']['features_per_stage']}); sliding-window step {args.step_size}"
        " on both sides",
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f};"
        f" nnU-Net: nnUNetv2_predict_from_modelfolder defaults (-npp 3 -nps 3), -device cpu",
    ]
    lines = report(block, whole, header)
    lines.append(f"\n(benchmark {time.perf_counter() - started:.0f} s; logs under {work})")
    print("\n".join(lines))
    if args.json_out:
        result = {"block": block, "whole": whole, "plans_3d_fullres": cfg, "lines": lines}
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
