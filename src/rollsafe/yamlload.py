"""The one strict YAML loader, shared by scenario files and manifests.

It parses with PyYAML's safe loader and rejects what YAML would accept but neither a scenario nor a
manifest must contain: duplicate keys (YAML keeps the last silently), non-name keys, recursive or exploding
aliases, and absurd nesting. It keeps the line of every key path, so errors can name ``file:line: key``.
Streams of several documents (``---``) are read by ``load_documents``; scenario files use ``load_document``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from rollsafe.errors import RollsafeError

PathKey = tuple[str | int, ...]

MAX_NODES = 100_000  # a scenario has a few hundred values; more means alias bombs or generated junk
MAX_DEPTH = 32


class YamlError(RollsafeError):
    """A YAML text is malformed or hostile; the message names the source and, where known, the line."""


@dataclass(frozen=True)
class YamlDocument:
    """One parsed document: its plain data and the line of every key path in it (1-based)."""

    data: Any
    lines: dict[PathKey, int]
    start_line: int  # the line the document starts on


def load_document(text: str, *, source: str, max_nodes: int = MAX_NODES) -> YamlDocument | None:
    """The single document of ``text`` (None when it is empty); more than one document is an error."""
    docs = load_documents(text, source=source, max_nodes=max_nodes)
    if len(docs) > 1:
        raise YamlError(
            f"{source}:{docs[1].start_line}: a second YAML document (---); a scenario file holds one"
        )
    return docs[0] if docs else None


def load_documents(text: str, *, source: str, max_nodes: int = MAX_NODES) -> list[YamlDocument]:
    """Every non-empty document of a YAML stream, in order. Raises YamlError on the first bad one."""
    out: list[YamlDocument] = []
    try:
        loader = yaml.SafeLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                lines = scan(node, source, max_nodes=max_nodes)
                data = loader.construct_document(node)
                out.append(YamlDocument(data=data, lines=lines, start_line=node.start_mark.line + 1))
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise YamlError(f"{source}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise YamlError(f"{source}: nested too deeply") from None
    return out


def scan(root: yaml.Node, source: str, *, max_nodes: int = MAX_NODES) -> dict[PathKey, int]:
    """Line numbers by key path; raises YamlError on duplicate keys, non-name keys, recursive or exploding
    aliases and absurd nesting."""
    lines: dict[PathKey, int] = {}
    # (node, path, ids of the nodes above it)
    stack: list[tuple[yaml.Node, PathKey, frozenset[int]]] = [(root, (), frozenset())]
    seen = 0
    while stack:
        node, path, above = stack.pop()
        seen += 1
        line = node.start_mark.line + 1
        if seen > max_nodes:
            raise YamlError(f"{source}: more than {max_nodes:,} values (aliases expanded); refused")
        if id(node) in above:
            raise YamlError(f"{source}:{line}: {dotted(path)}: an alias refers to itself")
        if len(path) > MAX_DEPTH:
            raise YamlError(f"{source}:{line}: {dotted(path)}: nested too deeply")
        lines.setdefault(path, line)
        inner = above | {id(node)}
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    raise YamlError(
                        f"{source}:{key_line}: {dotted(path) or 'top level'}: keys must be names, found "
                        f"{getattr(key_node, 'value', '?')!r}"
                    )
                key = key_node.value
                if key in first_line:
                    raise YamlError(
                        f"{source}:{key_line}: {dotted((*path, key))}: duplicate key (first given on line "
                        f"{first_line[key]}); YAML would silently keep only the last one"
                    )
                first_line[key] = key_line
                lines[(*path, key)] = key_line
                stack.append((value_node, (*path, key), inner))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i), inner) for i, item in enumerate(node.value))
    return lines


def dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)
