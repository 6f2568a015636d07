"""The recipes kear ships: YAML settings files installed with the package, so that every documented command runs
from any directory and from an installed wheel, not only from a clone of the repository.

A recipe is named by its path under the package's ``recipes/`` folder without ``.yaml``: ``train/tiny``,
``retrieval/csqa``, ``accelerate/cpu-2proc``, ``study/csqa-dev``. Every ``--config`` takes a file path or a recipe's
name (a path that exists wins); ``kear recipe list``, ``show``, ``copy`` and ``path`` find, print, copy and locate
them (``accelerate launch --config_file "$(kear recipe path accelerate/cpu-2proc)" ...``).
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from retrieval.errors import KearError
from retrieval.outputs import atomic_path

RECIPES = Path(__file__).resolve().parent / "recipes"
SUFFIX = ".yaml"
RECIPE = "recipe"  # the kind of output ``kear recipe copy`` writes (retrieval.outputs)
LISTED = "'kear recipe list' shows them all"


def recipe_names() -> list[str]:
    """The names of every recipe kear ships, sorted."""
    return sorted(path.relative_to(RECIPES).with_suffix("").as_posix() for path in RECIPES.rglob(f"*{SUFFIX}"))


def _close_matches(name: str, names: list[str]) -> list[str]:
    """Recipes ``name`` may have meant: the same last part (``tiny``, ``configs/train/tiny.yaml``), or a near
    spelling."""
    key = name.replace("\\", "/").removesuffix(SUFFIX).strip("/")
    same_end = [n for n in names if key == n or key.endswith(f"/{n}") or n.endswith(f"/{key}")]
    if same_end:  # the old path of a recipe (configs/...) or its last part: that one, and no guesses
        return same_end[:3]
    near = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    by_last: dict[str, list[str]] = {}  # a near spelling of the last part alone: tinny for train/tiny
    for known in names:
        by_last.setdefault(known.rsplit("/", 1)[-1], []).append(known)
    near_last = difflib.get_close_matches(key.rsplit("/", 1)[-1], list(by_last), n=3, cutoff=0.75)
    return list(dict.fromkeys([*near, *(n for last in near_last for n in by_last[last])]))[:3]


def _unknown(name: str, names: list[str]) -> str:
    """The end of a one-line message about a name that is no recipe: close matches, and where to see them all."""
    matches = _close_matches(name, names)
    hint = f"did you mean {' or '.join(matches)}? " if matches else ""
    return f"{hint}{LISTED}"


def recipe_path(name: str) -> Path:
    """The installed file of the recipe ``name``.

    Args:
        name: a recipe's name, as ``kear recipe list`` shows it (``train/tiny``).

    Raises:
        KearError: no recipe has that name, in one line with the close matches.
    """
    names = recipe_names()
    if name not in names:  # found by name only, so that no name reaches a file outside the folder
        raise KearError(f"no recipe '{name}': {_unknown(name, names)}")
    return RECIPES / f"{name}{SUFFIX}"


def settings_file(value: str | Path, setting: str = "--config") -> Path:
    """A settings file given as a path or as the name of a recipe kear ships: the path when it exists, else the
    recipe of that name.

    Args:
        value: what the user gave: a file path (``my.yaml``) or a recipe's name (``train/tiny``).
        setting: the option or setting it was given as, named in the error (``--config``, ``recipe``).

    Raises:
        KearError: neither a path that exists nor a recipe's name, in one line with the close matches.
    """
    path = Path(value)
    if path.exists():
        return path
    names = recipe_names()
    if str(value) in names:
        return RECIPES / f"{value}{SUFFIX}"
    raise KearError(f"{setting} {value}: no such file, and no recipe of that name; {_unknown(str(value), names)}")


def description(name: str) -> str:
    """The first comment line of a recipe: what it is, in a line, without the colon that introduces a command
    (empty when the recipe starts with no comment).

    Args:
        name: the recipe's name.
    """
    for line in recipe_path(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            return ""
        if text := line.lstrip("#").strip():
            return text.removesuffix(":")
    return ""


def copy_recipe(name: str, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a recipe into ``folder`` (made if need be) under its own file name, to edit it there; return the copy.

    The output rule (:mod:`retrieval.outputs`) applies: a file there is replaced only if it is an unchanged copy
    kear made, or with ``overwrite``; never a link, a folder or the recipe itself; written atomically.

    Args:
        name: the recipe's name (``train/tiny`` is copied as ``tiny.yaml``).
        folder: where to put the copy.
        overwrite: replace a file of that name that is not kear's unchanged copy.
    """
    source = recipe_path(name)
    target = Path(folder) / source.name
    with atomic_path(target, kind=RECIPE, overwrite=overwrite, inputs=[source]) as staging:
        shutil.copyfile(source, staging)
    return target
