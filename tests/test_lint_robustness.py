"""Odd values anywhere in a manifest never crash the linker, the fact reader, the rules or the scenario
builder: every value of the realistic sets is replaced, in turn, by values of the wrong type."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rollsafe.lint.engine import run_rules
from rollsafe.manifests.build import build
from rollsafe.manifests.facts import Source, from_manifests
from rollsafe.manifests.link import link
from rollsafe.manifests.reader import K8sObject, read_paths
from rollsafe.model.scenario import App

ODD: tuple[Any, ...] = (None, "x", -3, True, [], {}, 2.5, ["a"], {"a": "b"}, "25%", 0)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _replaced(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


def _lint(objects: list[K8sObject]) -> int:
    app = App()
    n = 0
    for lw in link(objects).workloads:
        facts = from_manifests(lw, app=app, app_source=Source("profile", "test"))
        n += len(run_rules(facts))
        build(facts, rps=100)
    return n


def test_wrong_types_anywhere_never_crash() -> None:
    base = read_paths(
        ["tests/data/manifests/shop", "tests/data/manifests/tgb", "tests/data/manifests/legacy"]
    )
    objects = base.objects
    assert _lint(objects) > 0
    tried = 0
    for i, obj in enumerate(objects):
        for path in _paths(obj.data):
            if path[:2] == ("metadata", "name") or path in {("kind",), ("apiVersion",)}:
                continue  # the reader refuses those before linking
            for value in ODD[(len(path) + i) % len(ODD) :][:3]:  # three odd values per place, varied
                changed = dataclasses.replace(obj, data=_replaced(obj.data, path, value))
                _lint([*objects[:i], changed, *objects[i + 1 :]])
                tried += 1
    assert tried > 700
