"""Running the rules: the rule table, the ``.rollsafe.yaml`` config, ``rollsafe.io/ignore``, stable order.

Must not run the simulator or decide exit codes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rollsafe.errors import RollsafeError
from rollsafe.lint.model import RANK, SEVERITIES, Finding, Severity
from rollsafe.lint.rules import MODULES
from rollsafe.manifests.facts import WorkloadFacts, from_scenario
from rollsafe.model.scenario import Scenario
from rollsafe.yamlload import YamlError, load_document

CONFIG_NAME = ".rollsafe.yaml"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    doc: str
    check: Callable[[WorkloadFacts], Iterable[Finding]]
    note: bool  # also shown in simulate's report (kill math and keep-alive, once printed as notes)

    @property
    def why(self) -> str:
        return _section(self.doc, "Why")

    @property
    def how_to_fix(self) -> str:
        return _section(self.doc, "Fix")

    def examples(self) -> list[tuple[str, str]]:
        """(PASS|FAIL, manifest text) from the docstring."""
        pattern = r"Example (PASS|FAIL)::\n\n((?:(?: {4}.*)?\n)+)"
        return [
            (m.group(1), inspect.cleandoc("\n" + m.group(2))) for m in re.finditer(pattern, self.doc + "\n")
        ]


def _section(doc: str, name: str) -> str:
    """A docstring paragraph ("Why: …", "Fix: …") as one line, capitalised, with Markdown's `code`."""
    m = re.search(rf"^{name}: (.*?)(?:\n\n|\Z)", doc, flags=re.S | re.M)
    if not m:
        return ""
    text = " ".join(m.group(1).split()).replace("``", "`")
    return text[:1].upper() + text[1:]


RULES: tuple[Rule, ...] = tuple(
    Rule(
        id=m.ID,
        severity=m.SEVERITY,
        summary=m.SUMMARY,
        doc=inspect.getdoc(m) or "",
        check=m.check,
        note=bool(getattr(m, "NOTE", False)),
    )
    for m in MODULES
)
BY_ID = {r.id: r for r in RULES}


@dataclass
class Config:
    """``.rollsafe.yaml``: which rules run and at what severity, and defaults for the command line."""

    disabled: set[str] = field(default_factory=set)
    severity: dict[str, Severity] = field(default_factory=dict)
    fail_on: str | None = None
    app: str | None = None
    readiness_gate_namespaces: frozenset[str] = frozenset()
    source: str | None = None


_CONFIG_KEYS = {"rules", "failOn", "app", "readinessGateNamespaces"}


def load_config(path: str | Path | None) -> Config:
    """The config at ``path``; with None, ``./.rollsafe.yaml`` if it exists, else the defaults."""
    if path is None:
        if not Path(CONFIG_NAME).is_file():
            return Config()
        path = CONFIG_NAME
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RollsafeError(f"{p}: cannot read the config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RollsafeError(f"{p}: the config is not UTF-8 text") from None
    try:
        doc = load_document(text, source=str(p))
    except YamlError as exc:
        raise RollsafeError(str(exc)) from None
    cfg = Config(source=str(p))
    if doc is None:
        return cfg
    data, lines = doc.data, doc.lines

    def where(*key: str | int) -> str:
        return f"{p}:{lines.get(key, 1)}: {'.'.join(map(str, key))}"

    if not isinstance(data, dict):
        raise RollsafeError(
            f"{p}: expected a mapping of config keys (rules, failOn, app, readinessGateNamespaces)"
        )
    for key in data:
        if key not in _CONFIG_KEYS:
            raise RollsafeError(f"{where(key)}: unknown key; known: {', '.join(sorted(_CONFIG_KEYS))}")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise RollsafeError(f"{where('rules')}: expected a mapping of rule id to off|error|warning|info")
    for rid, value in rules.items():
        if rid not in BY_ID:
            raise RollsafeError(f"{where('rules', rid)}: no rule {rid!r} (`rollsafe rules` lists them)")
        if value is False or value in ("off", "disable", "disabled"):
            cfg.disabled.add(rid)
        elif value in SEVERITIES:
            cfg.severity[rid] = value
        else:
            raise RollsafeError(
                f"{where('rules', rid)}: expected off, error, warning or info, found {value!r}"
            )
    fail_on = data.get("failOn")
    if fail_on is not None:
        if fail_on not in (*SEVERITIES, "never"):
            raise RollsafeError(
                f"{where('failOn')}: expected error, warning, info or never, found {fail_on!r}"
            )
        cfg.fail_on = fail_on
    app = data.get("app")
    if app is not None:
        if not isinstance(app, str):
            raise RollsafeError(f"{where('app')}: expected a profile name")
        cfg.app = app
    ns = data.get("readinessGateNamespaces")
    if ns is not None:
        if not isinstance(ns, list) or not all(isinstance(n, str) for n in ns):
            raise RollsafeError(f"{where('readinessGateNamespaces')}: expected a list of namespace names")
        cfg.readiness_gate_namespaces = frozenset(ns)
    return cfg


def run_rules(
    w: WorkloadFacts, config: Config | None = None, *, only: Iterable[Rule] = RULES
) -> list[Finding]:
    """Every finding for one workload, ignores and config applied, in a stable order."""
    cfg = config or Config()
    out: list[Finding] = []
    for rule in only:
        if rule.id in cfg.disabled or rule.id in w.ignored:
            continue
        for f in rule.check(w):
            if rule.id in cfg.severity:
                f = f.with_(severity=cfg.severity[rule.id])  # noqa: PLW2901
            out.append(f)
    out.sort(key=Finding.sort_key)
    return out


def notes_for_scenario(sc: Scenario) -> list[str]:
    """The findings of the note rules for a scenario file, as the lines simulate's report prints."""
    w = from_scenario(sc)
    return [f"{f.message} [{f.rule}]" for f in run_rules(w, only=[r for r in RULES if r.note])]


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    if threshold == "never":
        return []
    return [f for f in findings if RANK[f.severity] <= RANK[threshold]]
