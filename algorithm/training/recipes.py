"""Recipes: named option sets of the three trainers, one mechanism (``--config NAME|PATH``).

A recipe is a JSON file. Where the bundled ones live and what they hold:

- Task 1, ``algorithm/segmentation/configs/``: a segmentation config (:mod:`algorithm.segmentation.config`),
  its ``training`` block included;
- Tasks 2 and 3, ``algorithm/training/recipes/``:
  ``{"task": 2, "description": "...", "options": {argparse destination: value}}``.

Any recipe may say ``"extends": "<name or path>"``: the base recipe (looked up beside the recipe first, then
like a ``--config`` value) is loaded the same way and the recipe is merged over it (objects key by key,
anything else replaced; chains allowed, cycles refused). The resolved recipe carries no ``extends``.

**Explicit flags always win**: an option the command line gives is never replaced by the recipe, even
when it equals its default. For Tasks 2/3 the options some recipe may set default to :data:`UNSET`
(:func:`add_recipe_argument`), so :func:`apply_recipe` can tell "given" from "left at the default"; the
segmentation trainer's overrides default to ``None`` and replace the recipe's ``training`` values.

The bundled Task 2/3 recipes reproduce the dataset paper's benchmarks (arXiv 2509.00367):

| name | task | options | the paper's setting |
|---|---|---|---|
| ``paper_coxph_clinical`` | 2 | ``--model cox --features clinical`` | CoxPH, EHR only |
| ``paper_coxph_ehr_ct_pet`` | 2 | ``--model cox --features clinical+imaging`` | CoxPH, EHR + CT + PET |
| ``paper_deephit_ehr_ct_pet`` | 2 | ``--model deephit --features clinical+imaging`` | DeepHit, EHR + CT + PET |
| ``paper_mtlr_ehr_ct_pet`` | 2 | ``--model mtlr --features clinical+imaging`` | MTLR, EHR + CT + PET |
| ``paper_icare_ehr_ct_pet`` | 2 | ``--model icare --features clinical+imaging`` | ICARE, EHR+CT+PET (best, C 0.67) |
| ``paper_icare_ehr_ct_pet_dose`` | 2 | ``--model icare --features clinical+imaging+dose`` | ICARE with RT dose |
| ``paper_hpv_resnet18_clinical`` | 3 | ``--model cnn --encoder resnet18`` | ResNet18 + clinical MLP (best) |
| ``paper_hpv_densenet121_clinical`` | 3 | ``--model cnn --encoder densenet121`` | DenseNet121 + clinical MLP |

Our imaging features are hand-crafted PET/CT features of the segmented lesions (not the paper's
radiomics / deep features), so figures are comparable in setting, not in implementation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hecktor.errors import UsageError

_ALGORITHM = Path(__file__).resolve().parents[1]
#: Folder of each task's bundled recipes.
RECIPE_DIRS: dict[int, Path] = {
    1: _ALGORITHM / "segmentation" / "configs",
    2: _ALGORITHM / "training" / "recipes",
    3: _ALGORITHM / "training" / "recipes",
}
#: A recipe may name its base recipe under this key.
EXTENDS = "extends"
#: Keys of a Task 2/3 recipe.
TABULAR_KEYS = ("task", "description", "options")


class RecipeError(UsageError):
    """A recipe is missing, not a JSON object, extends itself, or belongs to another task (exit status 2)."""


def bundled_names(task: int) -> list[str]:
    """Names of the bundled recipes of ``task`` (relative paths without ``.json``)."""
    folder = RECIPE_DIRS[task]
    names = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.json"))
    if task == 1:
        return names
    return [n for n in names if _read_json(folder / f"{n}.json").get("task") == task]


def resolve_recipe(name: str | Path, task: int, beside: Path | None = None) -> Path:
    """The file of a recipe: ``name`` as a path, else ``beside/name[.json]`` (an ``extends``), else a bundled
    recipe ``<RECIPE_DIRS[task]>/name[.json]``; a folder stands for its ``config.json``.

    Raises:
        RecipeError: none exists (the bundled names are listed).
    """
    path = Path(name)
    folders = [*([beside] if beside is not None else []), RECIPE_DIRS[task]]
    candidates = [path, *(c for f in folders for c in (f / path, f / f"{path}.json"))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.is_dir() and (candidate / "config.json").is_file():
            return candidate / "config.json"
    kind = "segmentation config" if task == 1 else f"Task {task} configuration"
    raise RecipeError(f"{kind} {str(name)!r} not found; bundled: {', '.join(bundled_names(task))}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeError(f"{path}: recipe cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecipeError(f"{path}: recipe is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: recipe must be a JSON object, found {type(data).__name__}")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged onto ``base``: objects key by key (recursively), anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_recipe(path: str | Path, task: int, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The recipe in ``path`` with its ``extends`` chain resolved (see the module docstring).

    Raises:
        RecipeError: a recipe of the chain is missing or unusable, or the chain is a cycle.
    """
    path = Path(path).resolve()
    if path in _chain:
        raise RecipeError(f"{path}: recipe extends itself ({' -> '.join(p.name for p in (*_chain, path))})")
    data = _read_json(path)
    base_name = data.pop(EXTENDS, None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name:
        raise RecipeError(f"{path}: {EXTENDS!r} must name a recipe, found {base_name!r}")
    base = load_recipe(resolve_recipe(base_name, task, beside=path.parent), task, (*_chain, path))
    return merge(base, data)


def tabular_options(name: str | Path, task: int) -> dict[str, Any]:
    """The options of the Task 2/3 recipe ``name`` (extends resolved).

    Raises:
        RecipeError: unknown recipe, unknown keys, or a recipe of another task.
    """
    path = resolve_recipe(name, task)
    recipe = load_recipe(path, task)
    unknown = sorted(set(recipe) - set(TABULAR_KEYS))
    if unknown:
        raise RecipeError(f"{path}: unknown recipe keys {', '.join(unknown)} (known: {', '.join(TABULAR_KEYS)})")
    if recipe.get("task") != task:
        raise RecipeError(f"configuration {str(name)!r} is for Task {recipe.get('task')}, not Task {task}")
    options = recipe.get("options", {})
    if not isinstance(options, dict):
        raise RecipeError(f"{path}: 'options' must be a JSON object")
    return dict(options)


class _Unset:
    """Marker of an option a recipe may set that was not given on the command line."""

    def __repr__(self) -> str:
        return "<not given>"


#: Parser default of the options a recipe may set (see :func:`add_recipe_argument`).
UNSET: Any = _Unset()


def configurable_options(task: int) -> set[str]:
    """The options (argparse destinations) some bundled recipe of Task ``task`` (2 or 3) sets."""
    return {key for name in bundled_names(task) for key in tabular_options(name, task)}


def add_recipe_argument(parser: argparse.ArgumentParser, task: int) -> None:
    """Add ``--config`` to a Task 2/3 trainer; the options a recipe may set default to :data:`UNSET` (call
    after adding them), so that :func:`apply_recipe` tells an option given on the command line from one
    left at its default."""
    parser.add_argument(
        "--config",
        default=None,
        metavar="NAME|PATH",
        help=f"recipe: a JSON file or a bundled name ({', '.join(bundled_names(task))}); options given explicitly win",
    )
    parser.set_defaults(**dict.fromkeys(sorted(configurable_options(task)), UNSET))


def apply_recipe(args: argparse.Namespace, task: int, defaults: dict[str, Any]) -> argparse.Namespace:
    """Resolve the options of ``args.config``: an option given explicitly always wins (even when it equals its
    default); an option not given (:data:`UNSET`, ``None`` or absent) takes the recipe's value, else its
    value in ``defaults``. Returns ``args``.

    Raises:
        RecipeError: unknown recipe, or one of another task.
    """
    name = getattr(args, "config", None)
    options = tabular_options(name, task) if name else {}
    for key in sorted(configurable_options(task) | set(options) | set(defaults)):
        value = getattr(args, key, None)
        if value is UNSET or value is None:
            setattr(args, key, options.get(key, defaults.get(key)))
    return args
