"""One algorithm configuration on one case, in this process alone: per-stage seconds, peak RSS, GPU memory, as JSON.

``python -m bench.algorithm_case --case DIR [--tta] [--folds 5] [--device cpu|cuda] [--precision amp|fp32]
[--tasks 1,2,3] [--model-dir DIR | --seg-config CONFIG.json --random-weights] [--repeat N] [--json-out FILE]``

Run it in a fresh process per configuration (:mod:`bench.run` does): peak RSS is a process-lifetime figure.

What is measured:

- ``load_s``: building :class:`algorithm.pipeline.Algorithm` (models loaded; excluded from per-case latency
  in Grand Challenge's invoke mode) and ``import_s`` (Python, torch, MONAI imports);
- ``timings``: :attr:`CaseResult.timings` of :meth:`Algorithm.run` (stage name -> seconds; with ``--repeat N``
  those of the fastest of N runs, the least disturbed on a shared machine; ``first_total_s`` is the cold run), plus
  ``task 2 model`` / ``task 3 model`` (the prognosis and HPV predictions, timed by wrapping their methods) and
  ``other`` (total minus every named stage: JSON writes, glue). When the Task 2/3 models are absent the case
  runs Task 1 alone and ``features (standalone)`` times :func:`algorithm.features.extract_features` after it;
- ``stage_cpu_s``: CPU seconds (user + system, all threads; :func:`time.process_time`) per stage, far less
  sensitive than wall time to other processes competing for the cores; ``load_average_1min`` at the run's start;
- ``stage_peak_rss_gib``: the peak resident memory *during* each stage, from ``VmHWM`` in
  ``/proc/self/status``, reset at each stage's start (``echo 5 > /proc/self/clear_refs``; the instrumentation
  wraps :func:`hecktor.progress.stage` in this process only); ``peak_rss_gib``: the process's lifetime peak
  (imports and model loading included; the high-water mark is read before every reset), the figure a container
  memory limit sees. In this process :func:`hecktor.progress.peak_rss_gib` in the algorithm's log lines shows the
  peak since the last stage began;
- on CUDA: ``gpu.max_allocated_gib`` (:func:`torch.cuda.max_memory_allocated` over the case, reset after loading)
  and ``gpu.max_reserved_gib`` (what the caching allocator holds; nvidia-smi shows about this plus the CUDA
  context); ``conv_dtype``: the output dtype of the first convolution, which shows the precision really used.

``--folds N`` builds a temporary model folder listing folds 0..N-1; a fold whose weights the model folder
lacks gets a copy of ``fold_0.pt`` (the JSON says how many are copies): the cost of an N-fold ensemble is
measured honestly, its accuracy is not. ``--random-weights`` with ``--seg-config`` builds the network a config
describes with random weights (e.g. the full-size 1 mm production config), to time it where no trained
weights exist.

Exit status: 0 with the JSON; 3 when the segmentation model is missing (the JSON has ``error``); 1 on a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_T_START = time.perf_counter()
GIB = 1024**3
EXIT_NO_MODEL = 3

log = logging.getLogger("bench.algorithm_case")


# ----------------------------------------------------------------------------- memory instrumentation


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_gib() -> float | None:
    """Current resident memory, GiB (None where /proc is unavailable)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024**2


class StagePeaks:
    """Peak RSS per named scope, from VmHWM, which every scope entry resets; nested scopes fold into their parents.

    Resetting VmHWM also resets what ``getrusage(RUSAGE_SELF).ru_maxrss`` reports (Linux derives both from the
    same high-water mark), so the process's lifetime peak is kept here: :meth:`lifetime_peak_gib`.
    """

    def __init__(self) -> None:
        self.open: list[str] = []
        self.cpu_start: list[float] = []
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        self._fold()
        self.resettable = self._reset()

    def lifetime_peak_gib(self) -> float:
        """Peak resident memory since the process started, GiB (imports and model loading included)."""
        self._fold()
        return self.lifetime

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def _fold(self) -> None:
        kib = _status_kib("VmHWM")
        if kib is None:
            return
        gib = kib / 1024**2
        self.lifetime = max(self.lifetime, gib)
        for name in self.open:
            self.peaks[name] = max(self.peaks.get(name, 0.0), gib)

    def enter(self, name: str) -> None:
        self._fold()
        self._reset()
        self.open.append(name)
        self.cpu_start.append(time.process_time())

    def exit(self, name: str) -> None:
        self._fold()
        # The innermost scope of that name (stages may repeat: "map back" is entered twice).
        for k in range(len(self.open) - 1, -1, -1):
            if self.open[k] == name:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - self.cpu_start[k]
                del self.open[k]
                del self.cpu_start[k]
                break

    def clear(self) -> None:
        self.peaks.clear()
        self.cpu.clear()

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.exit(name)

    def wrap(self, original):
        """A drop-in replacement of :func:`hecktor.progress.stage` that also records the stage's peak RSS."""

        @contextmanager
        def stage(name: str, logger: logging.Logger, timings: dict[str, float] | None = None) -> Iterator[None]:
            with self.scope(name), original(name, logger, timings):
                yield

        stage.__doc__ = original.__doc__
        return stage


def instrument_stages(peaks: StagePeaks) -> int:
    """Point every imported ``stage`` (hecktor.progress and the algorithm modules that imported it) at ``peaks``."""
    import importlib

    import hecktor.progress as progress

    for name in (
        "algorithm.pipeline",
        "algorithm.checks",
        "algorithm.segmentation",
        "algorithm.segmentation.segmenter",
        "algorithm.segmentation.preprocess",
        "algorithm.features",
        "algorithm.prognosis",
        "algorithm.hpv",
    ):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module still being written must not stop the benchmark
            log.debug("cannot import %s: %s", name, exc)
    original = progress.stage
    wrapped = peaks.wrap(original)
    patched = 0
    for module_name, module in list(sys.modules.items()):
        if (module_name == "hecktor.progress" or module_name.startswith("algorithm")) and getattr(
            module, "stage", None
        ) is original:
            module.stage = wrapped
            patched += 1
    return patched


# ----------------------------------------------------------------------------- model folders


def build_model_root(
    tmp: Path, model_dir: str | None, folds: int, seg_config: str | None, random_weights: bool
) -> dict[str, Any]:
    """A model root under ``tmp`` (``segmentation/`` with ``folds`` folds; ``prognosis``/``hpv`` linked) and its notes.

    Raises:
        FileNotFoundError: no segmentation config or ``fold_0.pt`` where one is needed.
    """
    import torch

    from algorithm.models import resolve_component_dir
    from algorithm.segmentation.config import CONFIG_FILENAME, FOLD_FILENAME, SegmentationConfig
    from algorithm.segmentation.network import build_network, state_dict_cpu

    root = tmp / "model"
    seg = root / "segmentation"
    seg.mkdir(parents=True)
    info: dict[str, Any] = {"folds": folds}
    if random_weights:
        if not seg_config:
            raise FileNotFoundError("--random-weights needs --seg-config")
        config = SegmentationConfig.load(seg_config)
        torch.manual_seed(0)
        torch.save(state_dict_cpu(build_network(config)), seg / FOLD_FILENAME.format(fold=0))
        info.update(source=str(seg_config), weights="random", fold_copies=folds - 1)
        sources: dict[int, Path] = {}
    else:
        src = resolve_component_dir("segmentation", model_dir)
        config_path = Path(seg_config) if seg_config else src / CONFIG_FILENAME
        if not config_path.is_file() or not (src / FOLD_FILENAME.format(fold=0)).is_file():
            raise FileNotFoundError(f"segmentation model missing: {src} has no {CONFIG_FILENAME} and fold_0.pt")
        config = SegmentationConfig.load(config_path)
        sources = {k: src / FOLD_FILENAME.format(fold=k) for k in range(folds)}
        copies = 0
        for k in range(folds):
            path = sources[k]
            if not path.is_file():
                path, copies = src / FOLD_FILENAME.format(fold=0), copies + 1
            shutil.copyfile(path, seg / FOLD_FILENAME.format(fold=k))
        info.update(source=str(src), weights="trained", fold_copies=copies)
    if random_weights:
        for k in range(1, folds):
            shutil.copyfile(seg / FOLD_FILENAME.format(fold=0), seg / FOLD_FILENAME.format(fold=k))
    config.folds = list(range(folds))
    config.save(seg)
    info["architecture"] = config.architecture
    info["network_kwargs"] = config.network_kwargs
    info["spacing_mm"] = config.spacing_mm
    info["patch_size"] = config.patch_size
    info["crop_size_mm"] = config.crop_size_mm
    info["sw_overlap"] = config.sw_overlap
    info["mirror_axes"] = config.mirror_axes
    for component in ("prognosis", "hpv"):
        target = resolve_component_dir(component, model_dir)
        if target.is_dir():
            (root / component).symlink_to(target.resolve(), target_is_directory=True)
    return {"root": root, "info": info}


def load_algorithm(tasks: set[int], model_root: Path, device: str, tta: bool, model_dir: str | None = None):
    """``Algorithm(tasks)``; Tasks 2/3 whose models cannot load are dropped (reasons returned)."""
    from algorithm.models import resolve_component_dir
    from algorithm.pipeline import Algorithm

    missing: dict[str, str] = {}
    while True:
        try:
            return Algorithm(tasks, model_dir=model_root, device=device, tta=tta), tasks, missing
        except Exception as exc:
            dropped = False
            for task, component, loader in ((2, "prognosis", "PrognosisModel"), (3, "hpv", "HPVModel")):
                if task not in tasks:
                    continue
                try:
                    module = __import__(f"algorithm.{component}", fromlist=[loader])
                    getattr(module, loader).load(model_root / component)
                except Exception as sub:
                    where = resolve_component_dir(component, model_dir)
                    text = str(sub).replace(str(model_root / component), str(where))
                    missing[f"task {task} ({component} model)"] = f"{type(sub).__name__}: {text}"[:300]
                    tasks = tasks - {task}
                    dropped = True
            if not dropped or not tasks:
                raise exc from None


def time_method(obj: Any, method: str, key: str, timings_ref: list[dict[str, float]]) -> None:
    """Wrap ``obj.method`` so that each call adds its seconds to ``timings_ref[0][key]``."""
    original = getattr(obj, method)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings = timings_ref[0]
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start

    setattr(obj, method, timed)


def set_precision(segmenter: Any, precision: str) -> str:
    """Make CUDA inference run in ``precision``: ``amp`` (float16 autocast, the default) or ``fp32``, through the
    segmentation config's ``amp`` switch; the first convolution's output dtype (``conv_dtype``) confirms what ran.
    On the CPU inference is always fp32."""
    if segmenter.device.type != "cuda":
        return "fp32"
    segmenter.config.amp = precision == "amp"
    return precision


def probe_conv_dtype(nets: list[Any]) -> dict[str, str]:
    """Record the output dtype of the first 3-D convolution of the first network on its first call."""
    import torch

    seen: dict[str, str] = {}
    for module in nets[0].modules():
        if isinstance(module, torch.nn.Conv3d):

            def hook(_module, _inputs, output, seen=seen):
                seen.setdefault("dtype", str(output.dtype).replace("torch.", ""))

            module.register_forward_hook(hook)
            break
    return seen


# ----------------------------------------------------------------------------- the run


def run_once(algorithm: Any, case_dir: Path, out_dir: Path, peaks: StagePeaks, cuda: bool) -> dict[str, Any]:
    import torch

    if out_dir.exists():
        shutil.rmtree(out_dir)
    # One holder per Algorithm, made on the first run: the wrapped methods write into holder[0], reset per run.
    timings_ref: list[dict[str, float]] = algorithm.__dict__.setdefault("_bench_model_timings", [{}])
    timings_ref[0] = {}
    for attr, method, key in (("prognosis", "predict_risk", "task 2 model"), ("hpv", "predict", "task 3 model")):
        model = getattr(algorithm, attr, None)
        if model is not None and not hasattr(model, "_bench_timed"):
            time_method(model, method, key, timings_ref)
            model._bench_timed = True
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    peaks.clear()
    load_average = os.getloadavg()[0]
    rss_before = rss_gib()
    start = time.perf_counter()
    with peaks.scope("case"):
        result = algorithm.run(case_dir, out_dir)
    wall = time.perf_counter() - start
    timings = dict(result.timings)
    for key, value in timings_ref[0].items():
        timings[key] = timings.get(key, 0.0) + value
    timings_ref[0] = {}
    run: dict[str, Any] = {
        "wall_s": wall,
        "timings": timings,
        "rss_before_case_gib": rss_before,
        "case_peak_rss_gib": peaks.peaks.get("case"),
        "stage_peak_rss_gib": {k: v for k, v in peaks.peaks.items() if k != "case"},
        "case_cpu_s": peaks.cpu.get("case"),
        "stage_cpu_s": {k: v for k, v in peaks.cpu.items() if k != "case"},
        "load_average_1min": load_average,
        "fallbacks": list(result.fallbacks),
        "outputs": sorted(result.outputs),
    }
    if cuda:
        torch.cuda.synchronize()
        run["gpu"] = {
            "max_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
            "max_reserved_gib": torch.cuda.max_memory_reserved() / GIB,
        }
    return run


def standalone_features(case_dir: Path, out_dir: Path, peaks: StagePeaks) -> tuple[float, float | None, float]:
    """Wall seconds, peak RSS and CPU seconds of :func:`extract_features` on the case and its new segmentation."""
    from algorithm.features import extract_features
    from algorithm.reading import read_case
    from hecktor import interface
    from hecktor.imageio import find_single_image, read_image

    case = read_case(case_dir)
    label = read_image(find_single_image(out_dir / interface.SEGMENTATION.relative_path, "segmentation"))
    start = time.perf_counter()
    with peaks.scope("features (standalone)"):
        extract_features(case.ct, case.pet, label, rt_dose=case.rt_dose)
    return time.perf_counter() - start, peaks.peaks.get("features (standalone)"), peaks.cpu["features (standalone)"]


def summarise(run: dict[str, Any]) -> None:
    """Add ``other`` (total minus named stages) and ``outside_network_fraction`` (1 - infer / total)."""
    timings = run["timings"]
    total = timings.get("total", run["wall_s"])
    named = sum(v for k, v in timings.items() if k not in ("total", "other", "features (standalone)"))
    timings["other"] = max(total - named, 0.0)
    run["outside_network_fraction"] = 1.0 - timings.get("infer", 0.0) / total if total > 0 else None


def missing_segmentation_model(model_dir: str | None, seg_config: str | None, random_weights: bool) -> str | None:
    """Why no segmentation model can be built (None when one can), without importing torch."""
    from algorithm.models import resolve_component_dir

    if random_weights:
        if not seg_config or not Path(seg_config).is_file():
            return f"--random-weights needs an existing --seg-config (got {seg_config})"
        return None
    src = resolve_component_dir("segmentation", model_dir)
    config = Path(seg_config) if seg_config else src / "config.json"
    if not config.is_file() or not (src / "fold_0.pt").is_file():
        return f"segmentation model missing: {src} has no config.json and fold_0.pt"
    return None


def write_report(report: dict[str, Any], json_out: Path | None, code: int) -> int:
    """Write ``report`` as JSON to ``json_out`` (or stdout); returns ``code``."""
    text = json.dumps(report, indent=2, default=str)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    else:
        print(text)
    return code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, required=True, help="a case's input folder (images/ct, images/pet, ...)")
    parser.add_argument("--tasks", default="all", help="1,2,3 or all (Tasks 2/3 without a model are dropped)")
    parser.add_argument("--tta", action="store_true", help="mirror test-time augmentation")
    parser.add_argument("--folds", type=int, default=1, help="number of folds ensembled (missing ones copy fold 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--precision", choices=("amp", "fp32"), default="amp", help="CUDA only (CPU runs fp32)")
    parser.add_argument("--model-dir", default=None, help="model root (segmentation/, prognosis/, hpv/)")
    parser.add_argument("--seg-config", default=None, help="segmentation config.json to use instead of the model's")
    parser.add_argument("--random-weights", action="store_true", help="random network weights (needs --seg-config)")
    parser.add_argument("--threads", type=int, default=None, help="torch and SimpleITK threads (default: all cores)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the case this many times; the JSON holds the fastest run"
    )
    parser.add_argument("--name", default="", help="a label copied into the JSON")
    parser.add_argument("--json-out", type=Path, default=None, help="write the JSON here (default: stdout)")
    parser.add_argument("--verbose", action="store_true", help="log the algorithm's stages to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    missing = missing_segmentation_model(args.model_dir, args.seg_config, args.random_weights)
    if missing:  # before the heavy imports: answer fast
        return write_report({"name": args.name, "case": str(args.case), "error": missing}, args.json_out, EXIT_NO_MODEL)
    import SimpleITK as sitk
    import torch

    from algorithm.pipeline import parse_tasks  # the import cost belongs to import_s

    if args.threads:
        torch.set_num_threads(args.threads)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    peaks = StagePeaks()
    patched = instrument_stages(peaks)
    import_s = time.perf_counter() - _T_START
    report: dict[str, Any] = {
        "name": args.name,
        "case": str(args.case),
        "tta": args.tta,
        "folds": args.folds,
        "device_requested": args.device,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sitk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "import_s": import_s,
        "stage_peaks_resettable": peaks.resettable,
        "stage_functions_instrumented": patched,
    }

    def emit(code: int) -> int:
        report["peak_rss_gib"] = peaks.lifetime_peak_gib()
        return write_report(report, args.json_out, code)

    with tempfile.TemporaryDirectory(prefix="bench_case_") as tmp_name:
        tmp = Path(tmp_name)
        try:
            model = build_model_root(tmp, args.model_dir, args.folds, args.seg_config, args.random_weights)
        except FileNotFoundError as exc:
            report["error"] = str(exc)
            return emit(EXIT_NO_MODEL)
        report["model"] = model["info"]
        start = time.perf_counter()
        with peaks.scope("load models"):
            algorithm, tasks, missing = load_algorithm(
                parse_tasks(args.tasks), model["root"], args.device, args.tta, args.model_dir
            )
        report["load_s"] = time.perf_counter() - start
        report["load_peak_rss_gib"] = peaks.peaks.get("load models")
        report["tasks"] = sorted(tasks)
        report["missing"] = missing
        segmenter = algorithm.segmenter
        cuda = segmenter.device.type == "cuda"
        report["device"] = str(segmenter.device)
        report["precision"] = set_precision(segmenter, args.precision)
        conv = probe_conv_dtype(segmenter.nets)
        report["rss_after_load_gib"] = rss_gib()
        if cuda:
            report["gpu_name"] = torch.cuda.get_device_name(segmenter.device)
            report["gpu_total_gib"] = torch.cuda.get_device_properties(segmenter.device).total_memory / GIB
            report["gpu_after_load_gib"] = torch.cuda.memory_allocated() / GIB
        runs = []
        for k in range(max(args.repeat, 1)):
            run = run_once(algorithm, args.case, tmp / f"out{k}", peaks, cuda)
            summarise(run)
            runs.append(run)
        # Best of the runs (least disturbed by other load on a shared machine); the first run is the cold one.
        best_index = min(range(len(runs)), key=lambda k: runs[k]["timings"]["total"])
        best = runs[best_index]
        if not tasks & {2, 3}:
            seconds, peak, cpu = standalone_features(args.case, tmp / f"out{best_index}", peaks)
            best["timings"]["features (standalone)"] = seconds
            best["stage_cpu_s"]["features (standalone)"] = cpu
            if peak is not None:
                best["stage_peak_rss_gib"]["features (standalone)"] = peak
        report.update(best)
        report["selected_run"] = best_index
        report["run_totals_s"] = [r["timings"]["total"] for r in runs]
        report["first_total_s"] = runs[0]["timings"]["total"]
        report["case_peak_rss_gib"] = max((r["case_peak_rss_gib"] or 0.0) for r in runs)
        if cuda:
            report["gpu"] = {key: max(r["gpu"][key] for r in runs) for key in ("max_allocated_gib", "max_reserved_gib")}
        report["conv_dtype"] = conv.get("dtype")
        report["all_runs"] = [{"timings": r["timings"], "gpu": r.get("gpu")} for r in runs]
    return emit(0)


if __name__ == "__main__":
    sys.exit(main())
