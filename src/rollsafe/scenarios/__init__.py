"""Scenario files: loading with line numbers, ``--set`` overrides, and the built-in scenarios.

Turns YAML and pydantic errors into ScenarioError messages that name the file, the line and the key path.
Files, standard input and ``--set`` values all go through the one strict loader (rollsafe.yamlload), so
the same size, alias and YAML 1.1 rules apply to each.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from rollsafe.errors import ScenarioError
from rollsafe.model.scenario import CrossKeyError, Scenario
from rollsafe.yamlload import PathKey, YamlError, load_document, read_limited


def builtin_names() -> list[str]:
    files = resources.files("rollsafe.scenarios")
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise ScenarioError(
            f"no built-in scenario {name!r}; `rollsafe scenarios` lists them: {', '.join(builtin_names())}"
        )
    return (resources.files("rollsafe.scenarios") / f"{name}.yaml").read_text(encoding="utf-8")


def builtin_descriptions() -> list[tuple[str, str]]:
    out = []
    for name in builtin_names():
        doc = load_document(builtin_text(name), source=f"builtin:{name}")
        data = doc.data if doc is not None else {}
        out.append((name, str(data.get("description", "")).strip()))
    return out


def load_file(path: str | Path, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return load_stream(fh, source=str(p), overrides=overrides)
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such file") from None
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror or exc}") from None


def load_stream(stream: BinaryIO, *, source: str, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    """A scenario from a binary stream (a file, standard input), read up to yamlload.MAX_BYTES."""
    try:
        text = read_limited(stream, source=source)
    except YamlError as exc:
        raise ScenarioError(str(exc)) from None
    return load_text(text, source=source, overrides=overrides)


def load_builtin(name: str, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    return load_text(builtin_text(name), source=f"builtin:{name}", overrides=overrides)


def load_text(text: str, *, source: str, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    try:
        doc = load_document(text, source=source)
    except YamlError as exc:
        raise ScenarioError(str(exc)) from None
    if doc is None:
        raise ScenarioError(
            f"{source}: the scenario is empty; write at least one key "
            "(an empty mapping {} runs every default)"
        )
    data, lines = doc.data, doc.lines
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario keys at the top, found {_kind(data)}")
    for item in overrides:
        _apply_override(data, item)
    return _validate(data, source=source, lines=lines, overridden={_override_path(o) for o in overrides})


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "nothing"


def _override_path(item: str) -> PathKey:
    return tuple(item.partition("=")[0].strip().split("."))


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {item[:80]!r}: expected key.path=value, e.g. workload.replicas=20")
    # the same strict loader, and the same limits, as a scenario file
    try:
        doc = load_document(raw, source=f"--set {key}")
    except YamlError as exc:
        raise ScenarioError(str(exc)) from None
    value = doc.data if doc is not None else None
    node: dict[str, Any] = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ScenarioError(f"--set {item[:80]!r}: {where} is {_kind(child)}, not a mapping of keys")
        node = child
    node[parts[-1]] = value


def _validate(
    data: dict[str, Any], *, source: str, lines: dict[PathKey, int], overridden: set[PathKey]
) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic adds the union member or validator name to loc for some types; keep the key path
            loc = tuple(p for p in loc if p not in {"int", "str", "float", "ReadinessProbe"})
            path = ".".join(str(p) for p in loc)
            error = err.get("ctx", {}).get("error")
            if isinstance(error, CrossKeyError):
                # name the line of the later of the keys involved (the one to look at)
                where = _where_any(source, [(*loc, *k.split(".")) for k in error.keys], lines, overridden)
            else:
                where = _where(source, loc, lines, overridden)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; docs/scenario.md lists every key)"
                close = _close_key(loc)
                if close:
                    msg += f"; did you mean {close!r}?"
            elif err["type"] in {"model_type", "dict_type", "model_attributes_type"}:
                msg = f"expected a mapping of keys, found {_show(err.get('input'))}"
            elif err["type"] != "value_error" and "input" in err and "found" not in msg:
                msg = f"{msg}; found {_show(err['input'])}"
            messages.append(f"{where}{path + ': ' if path else ''}{msg}")
        raise ScenarioError("\n".join(messages)) from None


def _close_key(loc: PathKey) -> str | None:
    """The known key nearest to a misspelt one, at the same place in the scenario."""
    import difflib

    from pydantic import BaseModel

    model: type[BaseModel] = Scenario
    for part in loc[:-1]:
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    names = [f.alias or n for n, f in model.model_fields.items()]
    found = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return found[0] if found else None


def _where(source: str, loc: PathKey, lines: dict[PathKey, int], overridden: set[PathKey]) -> str:
    key = tuple(str(p) for p in loc)
    for path in overridden:
        n = min(len(path), len(key))
        if n and path[:n] == key[:n]:
            return f"{source} (--set): "
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines and n > 0:
            return f"{source}:{lines[loc[:n]]}: "
    return f"{source}: "


def _where_any(source: str, locs: list[PathKey], lines: dict[PathKey, int], overridden: set[PathKey]) -> str:
    """Where to point for an error about several keys: a --set among them (given last), else the line of
    the key given latest in the file, else the file."""
    keys = [tuple(str(p) for p in loc) for loc in locs]
    if any(path[: len(key)] == key[: len(path)] for path in overridden for key in keys):
        return f"{source} (--set): "
    given = [lines[key] for key in keys if key in lines]
    return f"{source}:{max(given)}: " if given else f"{source}: "


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list):
        return f"a {type(value).__name__} {value!r}"[:120]
    return repr(value)[:120]
