"""The one strict YAML loader, shared by scenario files, ``--set`` values and manifests.

It parses with PyYAML's safe loader and rejects what YAML would accept but neither a scenario nor a
manifest must contain: duplicate keys (YAML keeps the last silently), non-name keys, explicit tags
(``!foo``, ``!!python/...``), recursive or exploding aliases, absurd nesting, texts over ``MAX_BYTES``,
numbers that are not finite or do not fit 64 bits, and the YAML 1.1 readings that surprise (``yes``/``on``
as booleans, ``1:30`` as 90, ``010`` as 8, ``0x10`` as 16, ``1_000``): those are errors that suggest the
quoted form or the plain decimal. Where YAML 1.1 and 1.2 differ harmlessly, it reads as YAML 1.2 does (and
as Kubernetes does): ``1e7`` is a number, ``2024-01-01`` is a string. It keeps the line of every key path,
so errors can name ``file:line: key``. Streams of several documents (``---``) are read by
``load_documents``; scenario files use ``load_document``.

It must not know what a scenario or a manifest is: the callers validate the data it returns.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

import yaml

from rollsafe.errors import RollsafeError

PathKey = tuple[str | int, ...]

MAX_NODES = 100_000  # a scenario has a few hundred values; more means alias bombs or generated junk
MAX_DEPTH = 32
MAX_BYTES = 1 << 20  # 1 MiB: a scenario is a few kilobytes; more is a mistake (or an attack)
_INT64 = 1 << 63  # Kubernetes numbers are int64; anything wider is a typo

_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT = _TAG + "str", _TAG + "bool", _TAG + "int", _TAG + "float"
_MAP, _SEQ, _NULL = _TAG + "map", _TAG + "seq", _TAG + "null"


class YamlError(RollsafeError):
    """A YAML text is malformed or hostile; the message names the source and, where known, the line."""


@dataclass(frozen=True)
class YamlDocument:
    """One parsed document: its plain data and the line of every key path in it (1-based)."""

    data: Any
    lines: dict[PathKey, int]
    start_line: int  # the line the document starts on


class _Resolver(yaml.resolver.Resolver):
    """PyYAML's YAML 1.1 resolver, less the readings YAML 1.2 and Kubernetes do not make (timestamps, the
    ``=`` value key: both stay strings), plus YAML 1.2's exponent floats (``1e7``, ``2.5E-3``), which
    PyYAML reads as strings. The other 1.1 surprises are resolved as 1.1 does so ``scan`` can refuse them."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in {_TAG + "timestamp", _TAG + "value"}]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers


_RESOLVER = _Resolver()
_PYYAML_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_DECIMAL = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_PLAIN_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_BOOLEANS = {"true", "True", "TRUE", "false", "False", "FALSE"}


def read_limited(stream: BinaryIO, *, source: str, max_bytes: int = MAX_BYTES) -> str:
    """At most ``max_bytes`` of ``stream`` (a file or standard input), decoded as UTF-8. Never reads more
    than one byte past the limit, however large the input."""
    try:
        raw = stream.read(max_bytes + 1)
    except OSError as exc:
        raise YamlError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise YamlError(f"{source}: longer than {max_bytes:,} bytes; refused (a scenario is a few kilobytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(f"{source}:{line}: not UTF-8 text (byte {exc.start + 1})") from None


def load_document(
    text: str, *, source: str, max_nodes: int = MAX_NODES, max_bytes: int = MAX_BYTES
) -> YamlDocument | None:
    """The single document of ``text`` (None when it is empty); more than one document is an error."""
    docs = load_documents(text, source=source, max_nodes=max_nodes, max_bytes=max_bytes)
    if len(docs) > 1:
        raise YamlError(
            f"{source}:{docs[1].start_line}: a second YAML document (---); a scenario file holds one"
        )
    return docs[0] if docs else None


def load_documents(
    text: str, *, source: str, max_nodes: int = MAX_NODES, max_bytes: int = MAX_BYTES
) -> list[YamlDocument]:
    """Every non-empty document of a YAML stream, in order. Raises YamlError on the first bad one."""
    if len(text) > max_bytes:
        raise YamlError(f"{source}: longer than {max_bytes:,} characters; refused")
    out: list[YamlDocument] = []
    try:
        loader = _Loader(text)
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
    """Line numbers by key path; raises YamlError on duplicate keys, non-name keys, explicit tags, YAML 1.1
    surprises, numbers that are not finite or wider than 64 bits, recursive or exploding aliases and absurd
    nesting."""
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
        problem = _node_problem(node)
        if problem is not None:
            raise YamlError(f"{source}:{line}: {_named(path)}: {problem}")
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            continue
        inner = above | {id(node)}
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                    raise YamlError(
                        f"{source}:{key_line}: {dotted(path) or 'top level'}: {_bad_key(key_node)}"
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


@functools.lru_cache(maxsize=1 << 16)  # manifests repeat the same few thousand words
def _implicit_tag(value: str) -> str:
    """The tag a plain scalar gets with no explicit tag."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


@functools.lru_cache(maxsize=1 << 12)
def _pyyaml_tag(value: str) -> str:
    """The tag PyYAML's own resolver gives a plain scalar: a caller may compose with a plain SafeLoader
    (the manifests reader does) and hand the nodes to ``scan``; its timestamps and string ``1e7`` are no
    tags of the user's either."""
    tag: str = _PYYAML_RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _named(path: PathKey) -> str:
    return dotted(path) or "the value"


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _node_problem(node: yaml.Node) -> str | None:
    """What is wrong with one node (an explicit tag, a YAML 1.1 surprise, a number out of range), or None.
    Called for every node of every document: the common cases return first."""
    tag = node.tag
    if not isinstance(node, yaml.ScalarNode):
        if tag in (_MAP, _SEQ):
            return None
        return f"YAML tags ({_short(tag)}) are not allowed; remove the tag"
    value: str = node.value
    if node.style:  # quoted or a block scalar: a string unless tagged
        return None if tag == _STR else _TAG_PROBLEM.format(_short(tag))
    # plain ("" from libyaml's CSafeLoader, None from PyYAML's)
    if tag != _implicit_tag(value) and tag != _pyyaml_tag(value):
        return _TAG_PROBLEM.format(_short(tag))
    if tag in (_STR, _NULL):
        return None
    if tag == _BOOL:
        if value in _BOOLEANS:
            return None
        meant = str(_CONSTRUCTOR.construct_yaml_bool(node)).lower()
        return (
            f"{value!r} is the boolean {meant} in YAML 1.1 but the string {value!r} in YAML 1.2; "
            f"write {meant} for a boolean, or quote it ('{value}') for a string"
        )
    if tag == _INT:
        if _DECIMAL.match(value):
            if len(value) > 18 and (len(value) > 25 or abs(int(value)) >= _INT64):  # 18 digits always fit
                return f"{value[:30]}{'…' if len(value) > 30 else ''} does not fit in 64 bits"
            return None
        what = (
            "a base-60 (clock-style) number"
            if ":" in value
            else "a hexadecimal number"
            if "x" in value
            else "a binary number"
            if "b" in value
            else "a number with digit separators"
            if "_" in value
            else "an octal number"
        )
        number = _CONSTRUCTOR.construct_yaml_int(node) if len(value) < 100 else None
        return (
            f"{value!r} is read by YAML 1.1 as {what}"
            + (f" ({number}); write {number}" if number is not None else "; write it")
            + f" as a plain decimal number, or quote it ('{value}') for a string"
        )
    if tag == _FLOAT:
        if not _PLAIN_FLOAT.match(value):
            if ":" in value or "_" in value:
                what = "a base-60 (clock-style) number" if ":" in value else "a number with digit separators"
                return (
                    f"{value!r} is read by YAML 1.1 as {what}; write it as a plain decimal number, "
                    f"or quote it ('{value}') for a string"
                )
            return (
                f"{value} is not a finite number; rollsafe takes finite numbers only "
                f"(quote it, '{value}', for a string)"
            )
        if not math.isfinite(float(value)):
            return f"{value} is too large for a number"
    return None


_TAG_PROBLEM = "YAML tags ({}) are not allowed; write the plain value (quote it for a string)"


def _bad_key(key_node: yaml.Node) -> str:
    if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "merge":
        return "merge keys (<<) are not supported; write the keys out"
    value = getattr(key_node, "value", "?")
    if isinstance(key_node, yaml.ScalarNode) and not key_node.style:
        return (
            f"keys must be names, found {value!r} (YAML reads it as a {_short(key_node.tag)[2:]}: quote it)"
        )
    return f"keys must be names, found {value!r}"[:200]


def dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)
