"""Dataclass settings loaded from YAML, with ``key=value`` overrides; unknown keys are errors.

Every command of the toolkit reads its settings this way, so a recipe is a readable YAML file and any
value can be changed from the command line (``kear retrieve --config x.yaml examples.top_k=3``).

Relative paths in settings are relative to the directory the command runs in, as in every Hugging Face tool.
``${sample:NAME}`` stands for a file of the sample bundled with the package (``${sample:train.jsonl}``), so a
recipe that reads it works from any directory and from an installed wheel.

What is checked, before anything heavy loads:

* **the YAML itself**, of settings files and of override values alike: at most :data:`MAX_SETTINGS_BYTES` per
  file, nesting at most :data:`MAX_DEPTH` levels deep, at most :data:`MAX_ALIASES` aliases (``*name``), none of
  them recursive, and at most :data:`MAX_NODES` values once the aliases are expanded (an "alias bomb" stops at
  once). Values follow YAML 1.2: only ``true``/``false`` are booleans (``mixed_precision: no`` is the text
  ``no``), ``1e-5`` is a number, dates stay text.
* **keys and types**, by OmegaConf against the settings dataclass: unknown keys and values of the wrong type.
* **values**, by each settings dataclass itself in ``__post_init__`` (with the helpers below): choices among the
  known ones, numbers finite and in range. A bad value is a :class:`~retrieval.errors.ConfigError` of one line
  naming the file or override it came from and the setting by its dotted key
  (``override 'training.learning_rate=nan': training.learning_rate must be a finite number > 0, got nan``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .data import sample_file
from .errors import ConfigError, first_line

T = TypeVar("T")

# Limits of the YAML parser: far above what any settings file needs, far below what would hang or crash it.
MAX_SETTINGS_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_ALIASES = 32
MAX_NODES = 10_000


def _sample(name: str) -> str:
    return str(sample_file(name))


# OmegaConf 2.4 renamed register_new_resolver (and deprecated the old name)
getattr(OmegaConf, "register_resolver", OmegaConf.register_new_resolver)("sample", _sample, replace=True)


# ------------------------------------------------------------------------------------------- YAML with limits


class YAMLLimitError(yaml.MarkedYAMLError):
    """Well-formed YAML that goes beyond a limit of :func:`parse_yaml` (reported without "invalid YAML")."""


class _SettingsLoader(yaml.SafeLoader):
    """PyYAML's safe loader (pure Python, so that composing can be watched), with limits.

    Composing counts aliases, refuses an alias inside the node it names (a recursive structure, which would
    recurse without end later) and stops at :data:`MAX_DEPTH` levels, before Python's own recursion limit.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0
        self.open_anchors: list[str | None] = []  # anchors of the nodes being composed (None: no anchor)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if event.anchor in self.open_anchors:
                problem = f"recursive alias *{event.anchor}: it refers to a node that contains it"
                raise YAMLLimitError(None, None, problem, event.start_mark)
            if self.aliases > MAX_ALIASES:
                problem = f"more than {MAX_ALIASES} YAML aliases, the most kear reads in settings"
                raise YAMLLimitError(None, None, problem, event.start_mark)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YAMLLimitError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        anchor = getattr(event, "anchor", None)
        self.open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.open_anchors.pop()


# Scalars as YAML 1.2 reads them (and, but for booleans, as OmegaConf reads override values): booleans only
# true/false, exponents without a dot are numbers (1e-5), no timestamps (OmegaConf cannot hold a date).
_SettingsLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
        |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _expanded_size(node: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_NODES` values or :data:`MAX_DEPTH` levels.

    Counted over the node graph (each node once, memoised), so an alias bomb is measured, never expanded.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) once expanded

    def measure(current: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise YAMLLimitError(
                None, None, f"aliases nest the settings more than {MAX_DEPTH} levels deep", current.start_mark
            )
        known = sizes.get(id(current))
        if known is not None:
            if depth + known[1] - 1 > MAX_DEPTH:
                raise YAMLLimitError(
                    None, None, f"aliases nest the settings more than {MAX_DEPTH} levels deep", current.start_mark
                )
            return known
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [child for pair in current.value for child in pair]
        else:
            children = []
        total, levels = 1, 1
        for child in children:
            size, height = measure(child, depth + 1)
            total, levels = total + size, max(levels, height + 1)
            if total > MAX_NODES:
                raise YAMLLimitError(
                    None, None, f"aliases expand the settings to more than {MAX_NODES} values", current.start_mark
                )
        sizes[id(current)] = (total, levels)
        return total, levels

    measure(node, 1)


def _key_lines(node: yaml.Node | None, prefix: str = "", lines: dict[str, int] | None = None) -> dict[str, int]:
    """Line (1-based) of every mapping key of a composed document, by dotted key: to say where a bad value is."""
    lines = {} if lines is None else lines
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                dotted = f"{prefix}{key.value}"
                lines.setdefault(dotted, key.start_mark.line + 1)
                _key_lines(value, f"{dotted}.", lines)
    return lines


def _no_duplicate_keys(node: yaml.Node) -> None:
    """Refuse a mapping that gives one key twice: YAML would keep the last in silence, and a recipe that sets
    ``learning_rate`` twice is a mistake to point at, not to guess through. Each node is visited once."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in keys:
                        raise yaml.MarkedYAMLError(None, None, f"duplicate key '{key.value}'", key.start_mark)
                    keys.add(key.value)
                stack += [key, value]
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value


def parse_yaml(text: str) -> tuple[Any, dict[str, int]]:
    """One YAML document, parsed safely and within the limits above, and the line of each of its keys.

    Args:
        text: the document.

    Returns:
        The value (``None`` for an empty document) and ``{dotted key: line}`` for its mappings' keys.

    Raises:
        yaml.YAMLError: malformed YAML, or :class:`YAMLLimitError` for YAML beyond a limit; both carry the mark
            (line) where yaml found the problem.
    """
    loader = _SettingsLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _expanded_size(node)
        _no_duplicate_keys(node)
        return loader.construct_document(node), _key_lines(node)
    finally:
        loader.dispose()


def _yaml_problem(error: yaml.YAMLError, where: str, what: str = "invalid YAML") -> ConfigError:
    """One line for a YAML error: the file (and line, where yaml gives a mark) and what is wrong.

    Args:
        error: what yaml raised.
        where: the file, or the override (which gets no line: it is one line).
        what: the words before the problem, for malformed YAML.
    """
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None and what == "invalid YAML":
        where = f"{where}:{mark.line + 1}"
    problem = str(getattr(error, "problem", None) or error).strip().splitlines()[0]
    context = getattr(error, "context", None)
    if context and not isinstance(error, YAMLLimitError):
        problem = f"{problem} {context}"
    if isinstance(error, YAMLLimitError):
        return ConfigError(f"{where}: {problem}")
    return ConfigError(f"{where}: {what} ({problem})")


def read_settings_file(path: str | Path) -> tuple[Any, dict[str, int]]:
    """The YAML of a settings file, read within the limits above, and the line of each key.

    Raises:
        ConfigError: a missing, unreadable, oversized, non-UTF-8 or malformed file, in one line naming it.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SETTINGS_BYTES + 1)  # read no more than the limit, even from a device
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such settings file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a settings file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the settings file ({error.strerror or error})") from None
    if len(data) > MAX_SETTINGS_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_SETTINGS_BYTES >> 20} MiB, the most kear reads as settings")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as error:
        raise _yaml_problem(error, str(path)) from None
    except RecursionError:  # belt and braces: the limits above stop every structure we know of first
        raise ConfigError(f"{path}: YAML nested too deeply") from None


# --------------------------------------------------------------------------------------------- value checks


class SettingError(ValueError):
    """A setting whose value is not allowed, raised by a settings dataclass's ``__post_init__``.

    Args:
        key: the setting's name within its dataclass (dotted below it, as ``head_settings.slots``);
            :func:`load_settings` puts the dataclass's own place in front (``training.`` + ``learning_rate``).
        problem: what is wrong, after the key (``must be a finite number > 0, got nan``); one that starts with a
            colon follows the key directly (``: unknown head 'nope'``).
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(self.text(key))

    def text(self, key: str) -> str:
        """The message, for the setting at ``key`` (its dotted place in the settings loaded)."""
        return f"{key}{self.problem}" if self.problem.startswith(":") else f"{key} {self.problem}"

    def under(self, prefix: str) -> SettingError:
        """The same error, for the dataclass placed at ``prefix`` (a dotted key) in a larger one."""
        return SettingError(f"{prefix}.{self.key}" if prefix else self.key, self.problem)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _bounds(minimum: float | None, maximum: float | None, above: float | None, below: float | None) -> str:
    """``> 0``, ``>= 1``, ``in [0, 1)``, ``between 8 and 8192``: the range in words."""
    low = None if minimum is None and above is None else ("[", minimum) if above is None else ("(", above)
    high = None if maximum is None and below is None else ("]", maximum) if below is None else (")", below)
    if low and high:
        return f"in {low[0]}{_show(low[1])}, {_show(high[1])}{high[0]}"
    if low:
        return f"{'>=' if low[0] == '[' else '>'} {_show(low[1])}"
    if high:
        return f"{'<=' if high[0] == ']' else '<'} {_show(high[1])}"
    return ""


def check_int(
    value: Any, key: str, minimum: int | None = None, maximum: int | None = None, *, optional: bool = False
) -> None:
    """Raise :class:`SettingError` unless ``value`` is an integer (not a boolean) in ``[minimum, maximum]``.

    Args:
        value: the setting's value.
        key: its name, for the message.
        minimum: the smallest value allowed (``None``: no lower bound).
        maximum: the largest value allowed (``None``: no upper bound).
        optional: ``None`` is allowed too (the setting is unset).
    """
    if value is None and optional:
        return
    unset = " (or null)" if optional else ""
    if minimum is not None and maximum is not None:
        wanted = f"an integer between {minimum} and {maximum}"
    else:
        wanted = f"an integer {_bounds(minimum, maximum, None, None)}".rstrip()
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(key, f"must be {wanted}{unset}, got {_show(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(key, f"must be {wanted}{unset}, got {value}")


def check_number(
    value: Any,
    key: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> None:
    """Raise :class:`SettingError` unless ``value`` is a finite number (not a boolean) in the range.

    Args:
        value: the setting's value.
        key: its name, for the message.
        minimum: the value must be ``>= minimum``.
        maximum: the value must be ``<= maximum``.
        above: the value must be ``> above``.
        below: the value must be ``< below``.
        optional: ``None`` is allowed too (the setting is unset).
    """
    if value is None and optional:
        return
    wanted = f"a finite number {_bounds(minimum, maximum, above, below)}".rstrip()
    unset = " (or null)" if optional else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingError(key, f"must be {wanted}{unset}, got {_show(value)}")
    if (
        (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (above is not None and value <= above)
        or (below is not None and value >= below)
    ):
        raise SettingError(key, f"must be {wanted}{unset}, got {_show(value)}")


def check_choice(value: Any, key: str, choices: Iterable[str], *, optional: bool = False) -> None:
    """Raise :class:`SettingError` unless ``value`` is one of ``choices``.

    Args:
        value: the setting's value.
        key: its name, for the message.
        choices: the values allowed.
        optional: ``None`` is allowed too.
    """
    choices = list(choices)
    if (value is None and optional) or (isinstance(value, str) and value in choices):
        return
    raise SettingError(key, f"must be one of {', '.join(choices)}; got {_show(value)}")


def check_bool(value: Any, key: str) -> None:
    """Raise :class:`SettingError` unless ``value`` is ``True`` or ``False`` (settings given as a free-form
    dictionary, such as a head's, are not converted by OmegaConf)."""
    if not isinstance(value, bool):
        raise SettingError(key, f"must be true or false, got {_show(value)}")


def check_text(value: Any, key: str, *, optional: bool = False) -> None:
    """Raise :class:`SettingError` unless ``value`` is a non-blank string (a path, a name).

    Args:
        value: the setting's value.
        key: its name, for the message.
        optional: ``None`` is allowed too (the setting is unset).
    """
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise SettingError(key, f"must be a non-empty string{' (or null)' if optional else ''}, got {_show(value)}")


def check_texts(
    values: Any,
    key: str,
    *,
    choices: Sequence[str] | None = None,
    non_empty: bool = False,
    optional: bool = False,
    what: str = "entry",
) -> None:
    """Raise :class:`SettingError` unless ``values`` is a list of distinct non-blank strings.

    Args:
        values: the setting's value.
        key: its name, for the message.
        choices: if given, every entry must be one of these.
        non_empty: the list must have at least one entry.
        optional: ``None`` is allowed too.
        what: what an entry is, for the message (``source``, ``knowledge segment``).
    """
    if values is None and optional:
        return
    if not isinstance(values, (list, tuple)):
        raise SettingError(key, f"must be a list of strings, got {_show(values)}")
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise SettingError(key, f"entries must be non-empty strings, got {_show(value)}")
        if choices is not None and value not in choices:
            raise SettingError(key, f"has unknown {what} {value!r}; choose from {', '.join(choices)}")
        if value in seen:
            raise SettingError(key, f"lists {value!r} twice")
        seen.add(value)
    if non_empty and not values:
        raise SettingError(key, "must list at least one entry")


# ------------------------------------------------------------------------------------------------ loading


def _explain(error: OmegaConfBaseException, origin: str) -> ConfigError:
    message = str(getattr(error, "msg", None) or error).strip().splitlines()[0]
    key = getattr(error, "full_key", None)
    if key and key not in message:
        message = f"{message} (key '{key}')"
    return ConfigError(f"{origin}: {message}")


def _merge_error(error: Exception, origin: str) -> ConfigError:
    """One line for what OmegaConf's merge raises besides its own errors (a mapping where a list belongs...)."""
    return ConfigError(f"{origin}: {first_line(error)} (a mapping where a list belongs, or the reverse)")


def _failing_section(node: DictConfig, error: Exception, prefix: str = "") -> tuple[str, Exception]:
    """The dotted place of the nested settings dataclass whose own checks raised ``error``, and its error.

    OmegaConf builds nested dataclasses first and lets their errors through without saying which one failed;
    building each section again finds it (only when there is an error, so the cost does not matter).
    """
    for key, child in node.items_ex(resolve=False):
        if not isinstance(child, DictConfig) or not is_dataclass(OmegaConf.get_type(child)):
            continue
        try:
            OmegaConf.to_object(child)
        except (ValueError, TypeError) as inner:
            return _failing_section(child, inner, f"{prefix}{key}.")
        except OmegaConfBaseException:
            continue
    return prefix, error


def _override_key(override: str) -> str:
    return override.partition("=")[0].strip()


def _origin_of(
    key: str | None, overrides: Sequence[str], path: str | Path | None, lines: dict[str, int], values: bool
) -> str:
    """Where a bad value came from: the last override that set it, else the line of the file, else the file."""
    if key:
        for override in reversed(overrides):
            set_key = _override_key(override)
            if key == set_key or key.startswith((f"{set_key}.", f"{set_key}[")) or set_key.startswith(f"{key}."):
                return f"override '{override}'"
    if path is not None:
        line = next((lines[k] for k in _prefixes(key) if k in lines), None) if key else None
        return f"{path}:{line}" if line else str(path)
    return "saved settings" if values else "settings"


def _prefixes(key: str) -> list[str]:
    """``a.b.c``, ``a.b``, ``a``: the key and the sections that hold it, most precise first."""
    parts = key.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def load_settings(
    schema: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: dict[str, Any] | None = None,
    section: str = "",
) -> T:
    """Build settings of type ``schema`` (a dataclass) from its defaults, saved values, a YAML file and overrides.

    Args:
        schema: the settings dataclass; its defaults are the base.
        path: an optional YAML file whose keys replace the defaults (read within the limits of
            :func:`read_settings_file`).
        overrides: ``"dotted.key=value"`` strings applied last (values are parsed as YAML, with the same limits).
        values: settings saved earlier as a dictionary (say, in a model's config), applied before the file.
        section: where these settings sit in a larger whole (``"inputs"``), so that messages name a bad value by
            its full key (``inputs.max_length``).

    Raises:
        ConfigError: a missing, unreadable or malformed file, an unknown key, a value of the wrong type or a value
            the dataclass refuses, in one line naming the file (and line) or the override.
    """
    # a class whose fields depend on what is registered (RetrievalConfig's source sections) names its dataclass
    layers = [OmegaConf.structured(getattr(schema, "settings_class", lambda: schema)())]
    origin = "settings"
    lines: dict[str, int] = {}
    if values:
        origin = "saved settings"
        try:
            layers = [OmegaConf.merge(layers[0], OmegaConf.create(values))]
        except OmegaConfBaseException as error:
            raise _explain(error, "saved settings") from None
        except (TypeError, ValueError) as error:
            raise _merge_error(error, "saved settings") from None
    if path is not None:
        origin = str(path)
        loaded, lines = read_settings_file(path)
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        try:
            layers.append(OmegaConf.create(loaded or {}))
            merged = OmegaConf.merge(*layers)
        except OmegaConfBaseException as error:
            raise _explain(error, origin) from None
        except (TypeError, ValueError) as error:
            raise _merge_error(error, origin) from None
    else:
        merged = layers[0]
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override '{override}' is not of the form key=value")
        key, _, text = override.partition("=")
        try:
            # the value is YAML, read with the same limits as a file (OmegaConf's from_dotlist would read it
            # without them in older versions)
            value, _ = parse_yaml(text)
        except yaml.YAMLError as error:
            raise _yaml_problem(error, f"override '{override}'", "invalid YAML value") from None
        try:
            update = OmegaConf.create()
            OmegaConf.update(update, key.strip(), value, merge=True)
            merged = OmegaConf.merge(merged, update)
        except OmegaConfBaseException as error:
            raise _explain(error, f"override '{override}'") from None
        except (TypeError, ValueError) as error:
            raise _merge_error(error, f"override '{override}'") from None
    try:
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        raise _explain(error, origin) from None
    except (ValueError, TypeError) as error:  # a settings class's own checks (__post_init__)
        prefix, error = _failing_section(merged, error, f"{section}." if section else "")
        if isinstance(error, SettingError):
            key = f"{prefix}{error.key}"
            where = _origin_of(key, overrides, path, lines, bool(values))
            raise ConfigError(f"{where}: {error.text(key)}") from None
        section = prefix.rstrip(".")
        where = _origin_of(section or None, overrides, path, lines, bool(values))
        raise ConfigError(f"{where}: {section + ': ' if section else ''}{error}") from None


def settings_dict(settings: Any) -> dict[str, Any]:
    """Plain dictionary of a settings dataclass, for saving beside outputs and for fingerprints."""
    if not is_dataclass(settings) or isinstance(settings, type):
        raise TypeError("expected a dataclass instance")
    return asdict(settings)


def save_settings(settings: Any, path: str | Path) -> None:
    """Write settings as YAML that :func:`load_settings` reads back."""
    Path(path).write_text(yaml.safe_dump(settings_dict(settings), sort_keys=False), encoding="utf-8")
