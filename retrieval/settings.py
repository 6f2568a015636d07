"""Dataclass settings loaded from YAML, with ``key=value`` overrides; unknown keys are errors.

Every command of the toolkit reads its settings this way, so a recipe is a readable YAML file and any
value can be changed from the command line (``kear retrieve --config x.yaml train.top_k=3``).

Relative paths in settings are relative to the directory the command runs in, as in every Hugging Face tool.
``${sample:NAME}`` stands for a file of the sample bundled with the package (``${sample:train.jsonl}``), so a
recipe that reads it works from any directory and from an installed wheel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .data import sample_file
from .errors import ConfigError

T = TypeVar("T")


def _sample(name: str) -> str:
    return str(sample_file(name))


# OmegaConf 2.4 renamed register_new_resolver (and deprecated the old name)
getattr(OmegaConf, "register_resolver", OmegaConf.register_new_resolver)("sample", _sample, replace=True)


def _explain(error: OmegaConfBaseException, origin: str) -> ConfigError:
    message = str(getattr(error, "msg", None) or error).strip().splitlines()[0]
    key = getattr(error, "full_key", None)
    if key and key not in message:
        message = f"{message} (key '{key}')"
    return ConfigError(f"{origin}: {message}")


def load_settings(
    schema: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: dict[str, Any] | None = None,
) -> T:
    """Build settings of type ``schema`` (a dataclass) from its defaults, saved values, a YAML file and overrides.

    Args:
        schema: the settings dataclass; its defaults are the base.
        path: an optional YAML file whose keys replace the defaults.
        overrides: ``"dotted.key=value"`` strings applied last (values are parsed as YAML).
        values: settings saved earlier as a dictionary (say, in a model's config), applied before the file.

    Raises:
        ConfigError: a missing or unreadable file, an unknown key or a value of the wrong type, in one line.
    """
    layers = [OmegaConf.structured(schema)]
    origin = "settings"
    if values:
        try:
            layers = [OmegaConf.merge(layers[0], OmegaConf.create(values))]
        except OmegaConfBaseException as error:
            raise _explain(error, "saved settings") from None
    if path is not None:
        origin = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such settings file") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: invalid YAML ({getattr(error, 'problem', error)})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        try:
            layers.append(OmegaConf.create(loaded or {}))
            merged = OmegaConf.merge(*layers)
        except OmegaConfBaseException as error:
            raise _explain(error, origin) from None
    else:
        merged = layers[0]
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override '{override}' is not of the form key=value")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([override]))
        except OmegaConfBaseException as error:
            raise _explain(error, f"override '{override}'") from None
        except yaml.YAMLError as error:  # the value is parsed as YAML: say where it is malformed
            problem = getattr(error, "problem", error)
            raise ConfigError(f"override '{override}': invalid YAML value ({problem})") from None
    try:
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        raise _explain(error, origin) from None
    except (ValueError, TypeError) as error:  # a settings class's own checks (__post_init__)
        raise ConfigError(f"{origin}: {error}") from None


def settings_dict(settings: Any) -> dict[str, Any]:
    """Plain dictionary of a settings dataclass, for saving beside outputs and for fingerprints."""
    if not is_dataclass(settings) or isinstance(settings, type):
        raise TypeError("expected a dataclass instance")
    return asdict(settings)


def save_settings(settings: Any, path: str | Path) -> None:
    """Write settings as YAML that :func:`load_settings` reads back."""
    Path(path).write_text(yaml.safe_dump(settings_dict(settings), sort_keys=False), encoding="utf-8")
