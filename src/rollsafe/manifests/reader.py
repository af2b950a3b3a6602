"""Reading manifests: files, directories (recursively) and stdin into Kubernetes objects.

Every file is split into its YAML documents before parsing, so one bad document costs only itself; the
line numbers stay those of the whole file. Parsing is yamlload's strict rules (duplicate keys, alias
bombs, depth) on libyaml's parser when PyYAML has it: 50 MB of manifests must lint in seconds. Must not
raise on bad input: every problem is a Problem naming the file and, where known, the line.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollsafe.yamlload import PathKey, YamlDocument, YamlError, scan

SUFFIXES = (".yaml", ".yml", ".json")
MAX_LINE_CHARS = 1 << 20  # a manifest line of a megabyte is generated junk or a binary blob
MAX_DOC_NODES = 200_000  # values in one document, aliases expanded; a real object has hundreds
BINARY_SNIFF = 8192

# libyaml's parser when present (PyYAML wheels ship it): about ten times faster than the pure-Python one,
# with the same nodes and marks, so yamlload.scan applies unchanged.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolve = yaml.resolver.Resolver.resolve
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar -> its tag: manifests repeat the same few hundred words


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """SafeLoader's resolution, faster: a plain scalar's tag depends on its text alone (SafeLoader has no
    path resolvers), so it is looked up once per distinct text; the path-resolver hooks do nothing."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = _resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(_PLAIN_TAGS) < 50_000 and len(value) < 64:
                    _PLAIN_TAGS[value] = tag
            return tag
        return _resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_DOC_START = re.compile(r"(?m)^---(?=[ \t\r\n]|$)")
_TEMPLATE = re.compile(r"\{\{|\$\{")
_DEPRECATED_DEPLOYMENT = {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"}

KINDS: dict[str, frozenset[str]] = {
    "Deployment": frozenset({"apps/v1"}),
    "Service": frozenset({"v1"}),
    "Ingress": frozenset({"networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"}),
    "IngressClass": frozenset({"networking.k8s.io/v1", "networking.k8s.io/v1beta1"}),
    "TargetGroupBinding": frozenset({"elbv2.k8s.aws/v1beta1", "elbv2.k8s.aws/v1alpha1"}),
    "Namespace": frozenset({"v1"}),
    # an HPA's minReplicas stands in for spec.replicas that charts leave out when an HPA scales them
    "HorizontalPodAutoscaler": frozenset({"autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1"}),
}


@dataclass(frozen=True)
class Problem:
    """Input that could not be read or used. ``fatal`` problems lose a file or document; the others are
    notices (an unknown reference, a skipped old API version)."""

    file: str
    line: int | None
    message: str
    fatal: bool = True
    column: int | None = None

    def where(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object as read, with the line of every key path (of the document it sits in)."""

    kind: str
    api_version: str
    name: str
    namespace: str  # "default" when the manifest gives none
    data: dict[str, Any]
    file: str
    lines: dict[PathKey, int] = field(repr=False)
    base: PathKey = ()  # where the object sits in its document (("items", 3) inside a List)

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def line(self, *path: str | int) -> int:
        """The line of ``path`` inside the object, or of its nearest ancestor that has one."""
        full = (*self.base, *path)
        for n in range(len(full), -1, -1):
            got = self.lines.get(full[:n])
            if got is not None:
                return got
        return 1

    def get(self, *path: str | int) -> Any:
        node: Any = self.data
        for p in path:
            if isinstance(p, int):
                if not isinstance(node, list) or p >= len(node):
                    return None
            elif not isinstance(node, dict):
                return None
            node = node[p] if isinstance(p, int) else node.get(p)
            if node is None:
                return None
        return node

    @property
    def annotations(self) -> dict[str, Any]:
        got = self.get("metadata", "annotations")
        return got if isinstance(got, dict) else {}

    @property
    def labels(self) -> dict[str, Any]:
        got = self.get("metadata", "labels")
        return got if isinstance(got, dict) else {}


@dataclass
class ReadResult:
    objects: list[K8sObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # "apiVersion kind" -> count
    files: int = 0
    documents: int = 0

    def extend(self, other: ReadResult) -> None:
        self.objects.extend(other.objects)
        self.problems.extend(other.problems)
        self.skipped.update(other.skipped)
        self.files += other.files
        self.documents += other.documents


def expand_paths(paths: list[str]) -> tuple[list[str], list[Problem]]:
    """Files in the order given; directories walked recursively in sorted order (hidden ones skipped)."""
    files: list[str] = []
    problems: list[Problem] = []
    for raw in paths:
        if raw == "-":
            files.append("-")
            continue
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in SUFFIXES
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                problems.append(Problem(raw, None, "no *.yaml, *.yml or *.json files in this directory"))
            files.extend(str(f) for f in found)
        elif p.exists():
            files.append(raw)
        else:
            problems.append(Problem(raw, None, "no such file or directory"))
    return files, problems


# Batches of documents parsed in one go; with --jobs and above PARALLEL_CHARS of input they go to a process
# pool (PyYAML holds the GIL) and come back in input order, so the output does not change.
BATCH_CHARS = 1 << 20
PARALLEL_CHARS = 4 << 20

Batch = tuple[str, list[tuple[int, str]]]  # (source, [(line offset, document text), ...])


def read_paths(paths: list[str], *, stdin: str | None = None, workers: int | None = None) -> ReadResult:
    """Everything in ``paths``; ``-`` is ``stdin`` (the text the caller read). ``workers``: processes
    for parsing large input (``lint --jobs``; default one, this process). Files are read whole by a
    worker each; standard input is cut into batches of documents. Results merge in input order."""
    files, problems = expand_paths(paths)
    out = ReadResult(problems=problems)
    jobs: list[Job] = []
    size = 0
    for f in files:
        if f == "-":
            text, done = _prepare(stdin or "", "<stdin>")
            out.extend(done)
            if text is not None:
                if not _DOC_CONTENT.search(text):
                    out.problems.append(_EMPTY("<stdin>"))
                jobs.extend(("batch", b) for b in _batches(text, "<stdin>"))
                size += len(text)
        else:
            jobs.append(("file", f))
            size += _size(f)
    # worth a pool only for large input, and only on idle cores: on a busy machine it is slower
    n = workers if workers is not None and size > PARALLEL_CHARS else 1
    import multiprocessing

    if n > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
        from concurrent.futures import ProcessPoolExecutor

        # fork: the workers need nothing but this module, already imported (spawn would re-import it all)
        ctx = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        )
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            results = list(pool.map(_run_job, jobs))
    else:
        results = [_run_job(j) for j in jobs]
    for r in results:
        out.extend(r)
    return out


_DOC_CONTENT = re.compile(
    r"(?m)^(?!\s*(#|---\s*$|\.\.\.\s*$))\s*\S"
)  # a line that is not a comment or marker
Job = tuple[str, Any]  # ("file", path) or ("batch", Batch)


def _run_job(job: Job) -> ReadResult:
    kind, arg = job
    return read_file(arg) if kind == "file" else _read_batch(arg)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _EMPTY(source: str) -> Problem:  # noqa: N802 - a constructor of one kind of Problem
    return Problem(source, None, "no YAML documents in it (empty or only comments)", fatal=False)


def read_file(path: str) -> ReadResult:
    text, out = _prepare_file(path)
    return _read_all(text, path, out)


def read_text(text: str, *, source: str) -> ReadResult:
    body, out = _prepare(text, source)
    return _read_all(body, source, out)


def _read_all(text: str | None, source: str, out: ReadResult) -> ReadResult:
    if text is not None:
        for batch in _batches(text, source):
            out.extend(_read_batch(batch))
        if not out.documents and not out.problems:
            out.problems.append(_EMPTY(source))
    return out


def _prepare_file(path: str) -> tuple[str | None, ReadResult]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, ReadResult(
            problems=[Problem(path, None, f"cannot read: {exc.strerror or exc}")], files=1
        )
    if b"\0" in raw[:BINARY_SNIFF]:
        return None, ReadResult(
            problems=[Problem(path, None, "a binary file, not a manifest; skipped")], files=1
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, ReadResult(problems=[Problem(path, line, "not UTF-8 text; skipped")], files=1)
    return _prepare(text, path)


def _prepare(text: str, source: str) -> tuple[str | None, ReadResult]:
    """Checks on the whole text; JSON is read here. The text back when its YAML documents remain to read."""
    out = ReadResult(files=1)
    long = _long_line(text)
    if long is not None:
        out.problems.append(
            Problem(
                source, long[0], f"a line of {long[1] / 1e6:.1f} million characters; not a manifest (refused)"
            )
        )
        return None, out
    if source.lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        docs = _json_fallback(text, source)
        if docs is not None:
            for doc in docs:
                out.documents += 1
                _objects(doc, source, out)
            return None, out
    return text, out


def _long_line(text: str) -> tuple[int, int] | None:
    """(line number, length) of the first line over MAX_LINE_CHARS. A line that long spans a whole
    aligned window of half that size, so only windows without a newline need a closer look."""
    w = MAX_LINE_CHARS // 2
    for start in range(0, len(text) - w + 1, w):
        if text.find("\n", start, start + w) < 0:
            first = text.rfind("\n", 0, start) + 1
            end = text.find("\n", start)
            length = (len(text) if end < 0 else end) - first
            if length > MAX_LINE_CHARS:
                return text.count("\n", 0, first) + 1, length
    return None


def _batches(text: str, source: str) -> Iterator[Batch]:
    items: list[tuple[int, str]] = []
    size = 0
    for offset, chunk in _chunks(text):
        items.append((offset, chunk))
        size += len(chunk)
        if size >= BATCH_CHARS:
            yield source, items
            items, size = [], 0
    if items:
        yield source, items


_TOP_KIND = re.compile(r"(?m)^kind:[ \t]*[\"']?([A-Za-z0-9]+)[\"']?[ \t]*(?:#.*)?$")
_TOP_API = re.compile(r"(?m)^apiVersion:[ \t]*[\"']?([A-Za-z0-9./-]+)[\"']?[ \t]*(?:#.*)?$")


def _plainly_other(chunk: str) -> str | None:
    """'apiVersion kind' of a document that is plainly of a kind not read here, from its text: its
    top-level ``kind:`` and ``apiVersion:`` (document text is split at ``---`` and nothing nested, not
    even a block scalar's content, starts at column 0, so a key there is a top-level key). Such
    documents are counted, not parsed: a render is mostly ConfigMaps, Secrets and CRDs, and parsing
    them is most of the time."""
    kind_m = _TOP_KIND.search(chunk)
    api_m = _TOP_API.search(chunk)
    if kind_m is None or api_m is None:
        return None
    kind, api = kind_m.group(1), api_m.group(1)
    if kind.endswith("List") or kind == "Deployment" or api in KINDS.get(kind, ()):
        return None
    return f"{api} {kind}"


def _read_batch(batch: Batch) -> ReadResult:
    source, items = batch
    out = ReadResult()
    for offset, chunk in items:
        other = _plainly_other(chunk)
        if other is not None:
            out.documents += 1
            out.skipped[other] += 1
            continue
        try:
            docs = _parse(chunk, source=source, offset=offset, skip=True)
        except YamlError as exc:
            msg = str(exc)
            first = _first_template_line(chunk)
            if first is not None:
                msg += (
                    f" (line {offset + first} holds an unrendered template; render it first, "
                    "e.g. `helm template … | rollsafe lint -`)"
                )
            out.problems.append(_problem_from(msg, source))
            continue
        for doc in docs:
            out.documents += 1
            if isinstance(doc, str):
                out.skipped[doc] += 1
            else:
                _objects(doc, source, out, templated=_TEMPLATE.search(chunk) is not None)
    return out


def _json_fallback(text: str, source: str) -> list[YamlDocument] | None:
    """A JSON file's documents: read as YAML (to keep line numbers) or, for the JSON that YAML 1.1 refuses
    (tabs, some escapes), as plain JSON without them. None: let the YAML path report the error."""
    import json

    try:
        return [d for d in _parse(text, source=source, offset=0) if isinstance(d, YamlDocument)]
    except YamlError:
        pass

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return [YamlDocument(data=data, lines={(): 1}, start_line=1)]


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(line offset, text) of each document: split at ``---`` lines, so a bad one loses only itself."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    offset = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end]
        yield offset, chunk
        offset += chunk.count("\n")


def _parse(chunk: str, *, source: str, offset: int, skip: bool = False) -> list[YamlDocument | str]:
    """The documents of ``chunk``; with ``skip``, a document of a kind nobody reads is only parsed (its
    YAML must still be valid) and returned as its "apiVersion kind", without building its data."""
    out: list[YamlDocument | str] = []
    try:
        loader = _Loader(chunk)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                other = _other_kind(node) if skip else None
                if other is not None:
                    out.append(other)
                    continue
                lines = scan(node, source, max_nodes=MAX_DOC_NODES)
                data = _construct(loader, node)
                if offset:
                    lines = {k: v + offset for k, v in lines.items()}
                out.append(YamlDocument(data=data, lines=lines, start_line=node.start_mark.line + 1 + offset))
        finally:
            loader.dispose()
    except YamlError as exc:
        raise YamlError(_shift(str(exc), source, offset)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1 + offset}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise YamlError(f"{source}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise YamlError(f"{source}:{offset + 1}: nested too deeply") from None
    return out


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS = yaml.SafeLoader.yaml_constructors


class _FallbackError(Exception):
    """A node the fast path leaves to PyYAML's constructor (merge keys, tags beyond the core schema)."""


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """The document's data, as SafeLoader.construct_document would build it, without its per-node
    generator machinery (a third of the reading time). Runs after yamlload.scan, so keys are plain
    strings, there are no recursive aliases and the depth is bounded; anything else goes to PyYAML."""
    try:
        return _value(loader, node)
    except _FallbackError:
        return loader.construct_document(node)


def _value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR:
            return node.value
        make = _SCALARS.get(tag)
        if make is None or tag in (_MAP, _SEQ):
            raise _FallbackError
        return make(loader, node)
    if isinstance(node, yaml.MappingNode):
        if tag != _MAP:
            raise _FallbackError
        out = {}
        for k, v in node.value:
            if k.tag != _STR:  # merge keys (<<) and the like
                raise _FallbackError
            out[k.value] = _value(loader, v)
        return out
    if tag != _SEQ:
        raise _FallbackError
    return [_value(loader, item) for item in node.value]


def _other_kind(node: yaml.Node) -> str | None:
    """'apiVersion kind' of a document that is plainly of a kind not read here, judged on its top-level
    nodes before anything is built (a 50 MB render is mostly ConfigMaps, Secrets and CRDs)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    kind = api = None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode):
            if k.value == "kind":
                kind = v.value
            elif k.value == "apiVersion":
                api = v.value
    if not kind or not api or kind.endswith("List") or kind == "Deployment" or api in KINDS.get(kind, ()):
        return None
    return f"{api} {kind}"


def _shift(message: str, source: str, offset: int) -> str:
    """yamlload numbers lines within the document it was given; make them lines of the file."""
    prefix = source + ":"
    if offset and message.startswith(prefix):
        m = re.match(r"(\d+)", message[len(prefix) :])
        if m:
            return f"{prefix}{int(m.group(1)) + offset}{message[len(prefix) + len(m.group(1)) :]}"
    return message


def _problem_from(message: str, source: str) -> Problem:
    prefix = source + ":"
    if message.startswith(prefix):
        m = re.match(r"(\d+)(?::(\d+))?: ", message[len(prefix) :])
        if m:
            column = int(m.group(2)) if m.group(2) else None
            return Problem(source, int(m.group(1)), message[len(prefix) + m.end() :], column=column)
    return Problem(source, None, message.removeprefix(source + ": "))


def _first_template_line(chunk: str) -> int | None:
    m = _TEMPLATE.search(chunk)
    return chunk.count("\n", 0, m.start()) + 1 if m else None


def _objects(doc: YamlDocument, source: str, out: ReadResult, *, templated: bool = True) -> None:
    data = doc.data
    if data is None:
        return
    if not isinstance(data, dict):
        out.problems.append(
            Problem(
                source,
                doc.start_line,
                f"this document is a {type(data).__name__}, not a Kubernetes object (a mapping with "
                "apiVersion and kind)",
            )
        )
        return
    _object(data, (), doc, source, out, templated=templated)


def _object(
    data: dict[str, Any], base: PathKey, doc: YamlDocument, source: str, out: ReadResult, *, templated: bool
) -> None:
    line = doc.lines.get(base, doc.start_line)
    kind, api = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str):
        out.problems.append(
            Problem(source, line, "not a Kubernetes object: apiVersion and kind must both be given")
        )
        return
    if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
        items = data.get("items")
        if not isinstance(items, list):
            out.problems.append(Problem(source, line, f"a {kind} without a list of items"))
            return
        for i, item in enumerate(items):
            if isinstance(item, dict):
                _object(item, (*base, "items", i), doc, source, out, templated=templated)
            else:
                where = doc.lines.get((*base, "items", i), line)
                out.problems.append(Problem(source, where, f"items[{i}] of the {kind} is not an object"))
        return
    if kind == "Deployment" and api in _DEPRECATED_DEPLOYMENT:
        out.problems.append(
            Problem(
                source,
                line,
                f"Deployment in {api} (removed in Kubernetes 1.16); only apps/v1 is read: skipped",
                fatal=False,
            )
        )
        out.skipped[f"{api} {kind}"] += 1
        return
    if api not in KINDS.get(kind, ()):
        out.skipped[f"{api} {kind}"] += 1
        return
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        out.problems.append(Problem(source, line, f"{kind} without metadata.name; skipped"))
        return
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    obj = K8sObject(
        kind=kind,
        api_version=api,
        name=name,
        namespace=str(ns) if ns else "default",
        data=data,
        file=source,
        lines=doc.lines,
        base=base,
    )
    bad = _unrendered(obj) if templated else None  # no {{ or ${ anywhere in its text: nothing to find
    if bad is not None:
        out.problems.append(
            Problem(
                source,
                obj.line(*bad[0]),
                f"{obj.ref}: {'.'.join(str(p) for p in bad[0])} is an unrendered template ({bad[1]!r}); "
                "render it first (e.g. `helm template … | rollsafe lint -`); skipped",
            )
        )
        return
    out.objects.append(obj)


# Keys where ${VAR} and {{ }} are normal content (shell, env, images, config), not settings we read.
_FREE_TEXT = frozenset({"env", "envFrom", "command", "args", "image", "data", "stringData", "volumes"})


def _unrendered(obj: K8sObject) -> tuple[PathKey, str] | None:
    """The first value in a place that matters that is still a template placeholder."""
    stack: list[tuple[PathKey, Any]] = [((), obj.data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in _FREE_TEXT or (path[-1:] == ("annotations",) and not _ours(k)):
                    continue
                if _TEMPLATE.search(k):
                    return ((*path, k), k)
                stack.append(((*path, k), v))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and _TEMPLATE.search(node):
            if "lifecycle" in path:  # a preStop script; judged by the preStop reader
                continue
            return (path, node)
    return None


def _ours(annotation: str) -> bool:
    return annotation.startswith(
        ("alb.ingress.kubernetes.io/", "kubernetes.io/ingress.class", "rollsafe.io/")
    )
