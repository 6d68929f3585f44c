"""``--report DIR``: PNG figures and a small ``index.html`` (matplotlib, Agg backend; for organisers).

- Task 1: per-case Dice distributions (GTVp, GTVn) and predicted vs true GTVp volume (mL).
- Task 2: Kaplan-Meier curves of the predicted low- and high-risk groups, split at the median risk
  (risk > median = high), with the log-rank p-value (:func:`sksurv.compare.compare_survival`).
  Patients without a usable risk are left out of the figure.
- Task 3: ROC curve when probabilities were given, else the confusion matrix.

The page (issue 19) lists the leaderboard metrics first, in leaderboard order with their definitions,
then every other aggregate; a per-centre table and a per-case table (click a column header to sort;
no external script or style); count axes have integer ticks.

The report shows ground truth; it is for organisers and for participants' own cross-validation, not
for publishing next to a leaderboard.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.results import TaskScore

#: Leaderboard metrics of each task, in the leaderboard's order, with their definitions.
LEADERBOARD: dict[int, list[tuple[str, str]]] = {
    1: [
        ("GTVp_mean_dice", "mean over cases of the GTVp (label 1) Dice 2|P∩G|/(|P|+|G|)"),
        ("GTVn_aggregated_dice", "GTVn (label 2) Dice with intersections and volumes summed over all cases"),
        ("GTVn_aggregated_f1", "GTVn lesion detection F1 = 2TP/(2TP+FP+FN), lesions matched by IoU, summed"),
    ],
    2: [("c_index", "Harrell's concordance index of the risk (higher = earlier recurrence) with RFS")],
    3: [
        ("balanced_accuracy", "mean of sensitivity and specificity of the HPV call"),
        ("sensitivity", "HPV-positive patients called positive / HPV-positive patients"),
        ("specificity", "HPV-negative patients called negative / HPV-negative patients"),
        ("auc", "area under the ROC curve of the HPV probability (0.5 when none was given)"),
    ],
}

#: Per-case columns that are bookkeeping, not figures (left out of the per-case table).
_HIDDEN_COLUMNS = {"task", "job_pk", "CenterID"}

#: Click-to-sort for every table of class "sortable" (numbers numerically, blanks last).
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.dataset.order !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = asc ? "asc" : "desc";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === "") return 1; if (y === "") return -1;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(scores: list[TaskScore], metrics: dict[str, Any], out_dir: str | Path) -> Path:
    """Write the figures and ``index.html`` into ``out_dir``; returns the index path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    for score in sorted(scores, key=lambda s: s.task):
        if score.task == 1:
            figures += task1_figures(score, out_dir)
            figures += task1_worst_overlays(score, out_dir)
        elif score.task == 2:
            figures += task2_figures(score, out_dir)
        elif score.task == 3:
            figures += task3_figures(score, out_dir)
    index = out_dir / "index.html"
    index.write_text(render_index(metrics, figures), encoding="utf-8")
    return index


def task1_figures(score: TaskScore, out_dir: Path) -> list[tuple[str, str]]:
    plt = _pyplot()
    rows = [r for r in score.rows if r["prediction_status"] != "gt_error"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    bins = np.linspace(0, 1, 21)
    for ax, name in zip(axes[:2], ("GTVp", "GTVn"), strict=True):
        values = [r[f"{name}_dice"] for r in rows if r[f"{name}_dice"] is not None]
        ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
        mean = f"mean {np.mean(values):.3f}" if values else "no case"
        ax.set(title=f"{name} per-case Dice (n={len(values)}, {mean})", xlabel="Dice", ylabel="cases")
        _integer_ticks(ax.yaxis)
    truth = np.array([r["GTVp_true_volume_mm3"] or 0.0 for r in rows]) / 1000.0
    pred = np.array([r["GTVp_pred_volume_mm3"] or 0.0 for r in rows]) / 1000.0
    ax = axes[2]
    ax.scatter(truth, pred, s=12)
    top = max(float(truth.max(initial=0.0)), float(pred.max(initial=0.0)), 1.0)
    ax.plot([0, top], [0, top], color="grey", linewidth=1)
    ax.set(title="GTVp volume", xlabel="true (mL)", ylabel="predicted (mL)")
    fig.tight_layout()
    name = "task1_dice.png"
    fig.savefig(out_dir / name, dpi=100)
    plt.close(fig)
    return [(name, "Task 1: per-case Dice and GTVp volumes")]


def _scan_next_to(label_path: Path, suffix: str, label: Any) -> np.ndarray | None:
    """``<PID>__<suffix>`` beside a label of the organisers' layout, resampled (linear) onto the label's grid."""
    import SimpleITK as sitk

    from hecktor.imageio import is_image_file, read_image, strip_image_suffix

    pid = strip_image_suffix(label_path.name)
    for path in sorted(label_path.parent.iterdir()):
        if is_image_file(path) and strip_image_suffix(path.name) == f"{pid}__{suffix}":
            scan = sitk.Resample(sitk.Cast(read_image(path, suffix), sitk.sitkFloat32), label, sitk.Transform(),
                                 sitk.sitkLinear, 0.0)  # fmt: skip
            return sitk.GetArrayFromImage(scan)
    return None


def task1_worst_overlays(score: TaskScore, out_dir: Path, n: int = 3) -> list[tuple[str, str]]:
    """Axial slices of the ``n`` cases with the lowest GTVp Dice: CT and PET (when they lie beside the truth,
    as in the organisers' layout; else the truth mask as background) with truth (green) and prediction (red)
    contours of GTVp (solid) and GTVn (dashed), on the slice with the most true lesion voxels."""
    import SimpleITK as sitk

    from hecktor.errors import InputError
    from hecktor.imageio import read_image

    paths = score.extras.get("label_paths") or {}
    rows = [r for r in score.rows if r.get("GTVp_dice") is not None and r["PatientID"] in paths]
    figures = []
    plt = _pyplot()
    for k, row in enumerate(sorted(rows, key=lambda r: r["GTVp_dice"])[:n], 1):
        pid = row["PatientID"]
        pred_path, truth_path = paths[pid]
        try:
            truth_image = read_image(truth_path, "truth")
            truth = sitk.GetArrayFromImage(truth_image)
            pred = np.zeros_like(truth) if pred_path is None else sitk.GetArrayFromImage(read_image(pred_path))
        except InputError:
            continue
        if pred.shape != truth.shape:
            continue
        lesion = truth > 0 if (truth > 0).any() else pred > 0
        z = int(np.argmax(lesion.reshape(lesion.shape[0], -1).sum(axis=1)))
        backgrounds = [(name, _scan_next_to(truth_path, suffix, truth_image)) for name, suffix in (("CT", "CT"),
                       ("PET", "PT"))]  # fmt: skip
        backgrounds = [(name, a) for name, a in backgrounds if a is not None] or [("truth mask", truth > 0)]
        fig, axes = plt.subplots(1, len(backgrounds), figsize=(5 * len(backgrounds), 5), squeeze=False)
        for ax, (name, array) in zip(axes[0], backgrounds, strict=True):
            window = {"CT": (-250, 250), "truth mask": (0, 4)}.get(name, (None, None))  # the mask as dark grey
            ax.imshow(array[z], cmap="gray", vmin=window[0], vmax=window[1])
            for mask, colour in ((truth[z], "lime"), (pred[z], "red")):
                for value, style in ((1, "solid"), (2, "dashed")):
                    if (mask == value).any():
                        ax.contour(mask == value, levels=[0.5], colors=colour, linestyles=style, linewidths=1)
            ax.set(title=f"{pid} {name}, slice {z}")
            ax.axis("off")
        fig.tight_layout()
        name = f"task1_worst_{k}.png"
        fig.savefig(out_dir / name, dpi=80)
        plt.close(fig)
        caption = (
            f"Task 1 worst case {k}: {pid}, GTVp Dice {row['GTVp_dice']:.3f} (truth green, prediction red;"
            " GTVp solid, GTVn dashed)"
        )
        figures.append((name, caption))
    return figures


def _integer_ticks(axis: Any) -> None:
    """Integer ticks on a count axis (no "2.5 cases")."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def task2_figures(score: TaskScore, out_dir: Path) -> list[tuple[str, str]]:
    from sksurv.nonparametric import kaplan_meier_estimator

    plt = _pyplot()
    time, event, risk = score.extras["time"], score.extras["event"], score.extras["risk"]
    ok = np.isfinite(risk)
    time, event, risk = time[ok], event[ok], risk[ok]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    title = "Task 2: Kaplan-Meier by predicted risk"
    if len(risk) >= 2:
        median = float(np.median(risk))
        high = risk > median
        for mask, label, colour in ((~high, "low risk", "tab:blue"), (high, "high risk", "tab:red")):
            if mask.sum() == 0:
                continue
            t, s = kaplan_meier_estimator(event[mask], time[mask])
            ax.step(
                np.concatenate([[0.0], t]),
                np.concatenate([[1.0], s]),
                where="post",
                color=colour,
                label=f"{label} (n={int(mask.sum())})",
            )
        p_value = logrank_p_value(time, event, high)
        if p_value is not None:
            title += f" (log-rank p = {p_value:.3g})"
        ax.legend()
    ax.set(title=title, xlabel="days", ylabel="recurrence-free probability", ylim=(0, 1.05))
    fig.tight_layout()
    name = "task2_kaplan_meier.png"
    fig.savefig(out_dir / name, dpi=100)
    plt.close(fig)
    return [(name, "Task 2: Kaplan-Meier curves of the predicted risk groups (split at the median)")]


def logrank_p_value(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float | None:
    """Two-group log-rank test p-value; ``None`` when a group is empty or there is no event."""
    if group.all() or (~group).all() or not event.any():
        return None
    from sksurv.compare import compare_survival

    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    _, p_value = compare_survival(y, group.astype(int))
    return float(p_value)


def task3_figures(score: TaskScore, out_dir: Path) -> list[tuple[str, str]]:
    plt = _pyplot()
    truth = score.extras["truth"]
    probability = score.extras["probability"]
    predicted = score.extras["predicted"]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ok = np.isfinite(probability)
    if ok.any() and len(set(truth[ok].tolist())) == 2:
        from sklearn.metrics import roc_auc_score, roc_curve

        fpr, tpr, _ = roc_curve(truth[ok], probability[ok])
        auc = roc_auc_score(truth[ok], probability[ok])
        ax.plot(fpr, tpr, label=f"AUC {auc:.3f} (n={int(ok.sum())})")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=1)
        ax.set(title="Task 3: ROC (HPV positive)", xlabel="1 - specificity", ylabel="sensitivity")
        ax.legend(loc="lower right")
        name, caption = "task3_roc.png", "Task 3: ROC curve of the HPV probability"
    else:
        matrix = np.zeros((2, 3), dtype=int)  # rows: truth neg/pos; cols: called neg/pos/missing
        for t, p in zip(truth, predicted, strict=True):
            matrix[int(t), 2 if p is None else int(p)] += 1
        ax.imshow(matrix, cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_xticks([0, 1, 2], ["called -", "called +", "missing"])
        ax.set_yticks([0, 1], ["HPV -", "HPV +"])
        ax.set_title("Task 3: confusion matrix")
        name, caption = "task3_confusion.png", "Task 3: confusion matrix (no probabilities given)"
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=100)
    plt.close(fig)
    return [(name, caption)]


def _cell(value: Any) -> str:
    """A table cell whose ``data-v`` is the sort key (raw number or text; blank when missing)."""
    if value is None:
        return '<td data-v=""></td>'
    if isinstance(value, bool):
        return f'<td data-v="{int(value)}">{str(value).lower()}</td>'
    if isinstance(value, float):
        return f'<td data-v="{value!r}">{value:.4f}</td>'
    text = html.escape(str(value))
    return f'<td data-v="{text}">{text}</td>'


def _table(columns: list[str], rows: list[dict[str, Any]], caption: str) -> str:
    head = "".join(f"<th title='click to sort'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return (
        f"<table class='sortable'><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _leaderboard_table(metrics: dict[str, Any]) -> str:
    agg = metrics["aggregates"]
    rows = []
    for task in metrics["conventions"].get("tasks") or sorted(LEADERBOARD):
        for rank, (key, definition) in enumerate(LEADERBOARD.get(int(task), []), 1):
            if key in agg:
                rows.append({"task": task, "order": rank, "metric": key, "value": agg[key], "definition": definition})
    return _table(["task", "order", "metric", "value", "definition"], rows, "Leaderboard metrics, leaderboard order")


def _centre_table(metrics: dict[str, Any]) -> str:
    by_centre = metrics["aggregates"].get("by_centre") or {}
    if not by_centre:
        return "<p>No per-centre figures.</p>"
    columns = ["centre", *sorted({k for v in by_centre.values() for k in v})]
    rows = [{"centre": c, **v} for c, v in sorted(by_centre.items())]
    return _table(columns, rows, "Per centre (centre = PatientID prefix)")


def _case_table(metrics: dict[str, Any]) -> str:
    results = metrics.get("results") or []
    if not results:
        return "<p>No per-case rows.</p>"
    keys = {k for r in results for k in r} - _HIDDEN_COLUMNS
    first = [k for k in ("PatientID", "centre", "prediction_status") if k in keys]
    columns = [*first, *sorted(keys - set(first))]
    return _table(columns, results, f"Per case ({len(results)} rows)")


def render_index(metrics: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    """A self-contained HTML page: leaderboard metrics with definitions, other aggregates, per-centre and
    per-case tables (sortable), figures, problems."""
    agg = metrics["aggregates"]
    shown = {key for rows in LEADERBOARD.values() for key, _ in rows}
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        if isinstance(v, float)
        else f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(agg.items())
        if k != "by_centre" and k not in shown
    )
    images = "".join(
        f'<figure><img src="{html.escape(n)}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>'
        for n, c in figures
    )
    problems = "".join(
        f"<li>[{html.escape(p['severity'])}] {html.escape(p['PatientID'] or '-')}: {html.escape(p['message'])}</li>"
        for p in metrics["problems"][:200]
    )
    more = len(metrics["problems"]) - 200
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>HECKTOR evaluation report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 12px}img{max-width:100%}"
        "table.sortable th{cursor:pointer;background:#eee}caption{text-align:left;font-weight:bold}</style>"
        "</head><body>"
        f"<h1>HECKTOR evaluation report</h1><p>evaluation version {html.escape(str(metrics['version']))}, "
        f"task(s) {metrics['conventions']['tasks']}</p>"
        f"<h2>Leaderboard metrics</h2>{_leaderboard_table(metrics)}"
        f"<h2>Other aggregates</h2><table>{rows}</table>"
        f"<h2>Per centre</h2>{_centre_table(metrics)}"
        f"<h2>Per case</h2>{_case_table(metrics)}"
        f"<h2>Figures</h2>{images}<h2>Problems ({len(metrics['problems'])})</h2><ul>{problems}</ul>"
        + (f"<p>... and {more} more (see metrics.json)</p>" if more > 0 else "")
        + f"<script>{_SORT_SCRIPT}</script></body></html>\n"
    )
