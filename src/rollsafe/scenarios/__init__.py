"""Scenario files: loading with line numbers, ``--set`` overrides, and the built-in scenarios.

Turns YAML and pydantic errors into ScenarioError messages that name the file, the line and the key path.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rollsafe.errors import ScenarioError
from rollsafe.model.scenario import Scenario

PathKey = tuple[str | int, ...]


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
        data = yaml.safe_load(builtin_text(name))
        out.append((name, str(data.get("description", "")).strip()))
    return out


def load_file(path: str | Path, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read: {exc}") from None
    return load_text(text, source=str(p), overrides=overrides)


def load_builtin(name: str, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    return load_text(builtin_text(name), source=f"builtin:{name}", overrides=overrides)


MAX_NODES = 100_000  # a scenario has a few hundred; more means alias bombs or generated junk
MAX_DEPTH = 32


def load_text(text: str, *, source: str, overrides: list[str] = ()) -> Scenario:  # type: ignore[assignment]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ScenarioError(f"{source}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to be a scenario") from None
    if node is None:
        raise ScenarioError(
            f"{source}: the scenario is empty; write at least one key "
            "(an empty mapping {} runs every default)"
        )
    lines = _scan(node, source)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario keys at the top, found {_kind(data)}")
    for item in overrides:
        _apply_override(data, item)
    return _validate(data, source=source, lines=lines, overridden={_override_path(o) for o in overrides})


def _scan(root: yaml.Node, source: str) -> dict[PathKey, int]:
    """Line numbers by key path; rejects what YAML would accept but a scenario must not contain:
    duplicate keys (YAML keeps the last silently), non-name keys, recursive or exploding aliases, and
    absurd nesting."""
    lines: dict[PathKey, int] = {}
    # (node, path, ids of the nodes above it)
    stack: list[tuple[yaml.Node, PathKey, frozenset[int]]] = [(root, (), frozenset())]
    seen = 0
    while stack:
        node, path, above = stack.pop()
        seen += 1
        line = node.start_mark.line + 1
        if seen > MAX_NODES:
            raise ScenarioError(
                f"{source}: more than {MAX_NODES:,} values (aliases expanded); not a scenario"
            )
        if id(node) in above:
            raise ScenarioError(f"{source}:{line}: {_dotted(path)}: an alias refers to itself")
        if len(path) > MAX_DEPTH:
            raise ScenarioError(f"{source}:{line}: {_dotted(path)}: nested too deeply to be a scenario")
        lines.setdefault(path, line)
        inner = above | {id(node)}
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    raise ScenarioError(
                        f"{source}:{key_line}: {_dotted(path) or 'top level'}: keys must be names, found "
                        f"{getattr(key_node, 'value', '?')!r}"
                    )
                key = key_node.value
                if key in first_line:
                    raise ScenarioError(
                        f"{source}:{key_line}: {_dotted((*path, key))}: duplicate key (first given on line "
                        f"{first_line[key]}); YAML would silently keep only the last one"
                    )
                first_line[key] = key_line
                lines[(*path, key)] = key_line
                stack.append((value_node, (*path, key), inner))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i), inner) for i, item in enumerate(node.value))
    return lines


def _dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "nothing"


def _override_path(item: str) -> PathKey:
    return tuple(item.partition("=")[0].strip().split("."))


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {item!r}: expected key.path=value, e.g. workload.replicas=20")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node: dict[str, Any] = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ScenarioError(f"--set {item!r}: {where} is {_kind(child)}, not a mapping of keys")
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


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list):
        return f"a {type(value).__name__} {value!r}"[:120]
    return repr(value)[:120]
