"""The DuckDB store: one normalised table per source, UTC timestamps (``TIMESTAMP`` columns hold UTC),
target IP and port split, plus the account of every input file. docs/diagnose.md documents the schema.

ALB access logs load through DuckDB's own CSV reader (space-separated, double-quoted fields, gzip
detected), so a day of them loads without Python touching each line; every row is checked in SQL, and
a file with any row that fails the check, or that DuckDB cannot read (a damaged gzip), goes through the
streaming Python parser instead, which counts its bad lines one by one. The other three sources are
small and go through their Python parsers. Nothing here decides a cause.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from rollsafe.errors import RollsafeError
from rollsafe.logs.parsers import alb, audit, cloudtrail, controller
from rollsafe.logs.parsers.common import FileReport
from rollsafe.logs.parsers.sniff import SOURCES, sniff

ALB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("lb_node", "VARCHAR"),
    ("type", "VARCHAR"),
    ("time", "TIMESTAMP"),
    ("created", "TIMESTAMP"),
    ("elb", "VARCHAR"),
    ("client_ip", "VARCHAR"),
    ("client_port", "INTEGER"),
    ("target_ip", "VARCHAR"),
    ("target_port", "INTEGER"),
    ("request_s", "DOUBLE"),
    ("target_s", "DOUBLE"),
    ("response_s", "DOUBLE"),
    ("elb_status", "INTEGER"),
    ("target_status", "INTEGER"),
    ("received_bytes", "BIGINT"),
    ("sent_bytes", "BIGINT"),
    ("request", "VARCHAR"),
    ("user_agent", "VARCHAR"),
    ("target_group_arn", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("error_reason", "VARCHAR"),
    ("target_list", "VARCHAR"),
    ("target_status_list", "VARCHAR"),
    ("conn_trace_id", "VARCHAR"),
)
LBC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("time", "TIMESTAMP"),
    ("phase", "VARCHAR"),
    ("arn", "VARCHAR"),
    ("target_id", "VARCHAR"),
    ("target_port", "INTEGER"),
    ("az", "VARCHAR"),
)
CT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("time", "TIMESTAMP"),
    ("event_name", "VARCHAR"),
    ("event_id", "VARCHAR"),
    ("arn", "VARCHAR"),
    ("target_id", "VARCHAR"),
    ("target_port", "INTEGER"),
    ("error_code", "VARCHAR"),
    ("user_agent", "VARCHAR"),
)
AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("time", "TIMESTAMP"),
    ("audit_id", "VARCHAR"),
    ("verb", "VARCHAR"),
    ("resource", "VARCHAR"),
    ("username", "VARCHAR"),
    ("level", "VARCHAR"),
    ("what", "VARCHAR"),
    ("object", "VARCHAR"),
    ("namespace", "VARCHAR"),
    ("ip", "VARCHAR"),
    ("value", "VARCHAR"),
    ("ready", "BOOLEAN"),
    ("serving", "BOOLEAN"),
    ("terminating", "BOOLEAN"),
)
_INPUT_FILES: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR"),
    ("source", "VARCHAR"),
    ("lines", "BIGINT"),
    ("records", "BIGINT"),
    ("skipped", "BIGINT"),
    ("bad", "BIGINT"),
    ("fault", "VARCHAR"),
)
_BAD_LINES: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("count", "BIGINT"),
    ("example_line", "BIGINT"),
    ("example", "VARCHAR"),
)
TABLES = {
    "alb_requests": ALB_COLUMNS,
    "lbc_events": LBC_COLUMNS,
    "cloudtrail_events": CT_COLUMNS,
    "audit_facts": AUDIT_COLUMNS,
}
TYPES_SQL = "('http','https','h2','grpcs','ws','wss')"
_RAW_COLUMNS = 40  # 29 documented fields, 4 newer ones, room for fields AWS appends later
_NODE_RE = r"_([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})_[^_/]+\.log(\.gz)?$"
_NODE = re.compile(_NODE_RE)
MEMORY_LIMIT = "1GB"  # DuckDB's own budget; it spills to disk beyond it (make bench checks the peak RSS)
Progress = Callable[[str, int], None]  # (what, bytes done)


@dataclass
class LoadReport:
    files: list[FileReport] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # source -> duplicated records dropped
    duplicate_files: list[tuple[str, str]] = field(default_factory=list)  # (copy, original)
    timings_s: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (make bench)

    def by_source(self) -> dict[str, list[FileReport]]:
        out: dict[str, list[FileReport]] = {s: [] for s in SOURCES}
        for f in self.files:
            if f.source in out:
                out[f.source].append(f)
        return out

    def usable(self) -> bool:
        return any(f.records > 0 for f in self.files)


def expand(paths: Sequence[Path]) -> tuple[list[Path], list[FileReport]]:
    """Files and directory trees (sorted, hidden files skipped) -> files; paths that do not exist or
    cannot be read are reported, not dropped."""
    out: list[Path] = []
    problems = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                problems.append(FileReport(str(p), fault="an empty directory"))
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif p.exists():
            problems.append(FileReport(str(p), fault="not a regular file"))
        else:
            problems.append(FileReport(str(p), fault="no such file or directory"))
    return out, problems


def _identity(path: Path) -> str:
    """Two copies of one object (the same S3 file downloaded twice) have the same identity: size plus
    hashes of its first and last MiB."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(size - (1 << 20))
            h.update(fh.read())
    return h.hexdigest()


class Store:
    def __init__(self, db: Path | None = None, *, full: bool | None = None) -> None:
        # every access log column when the database is kept for SQL; else what the diagnosis reads
        self.full = db is not None if full is None else full
        self._tmp = tempfile.TemporaryDirectory(prefix="rollsafe-")
        try:
            if db is not None and db.exists():
                with db.open("rb") as fh:
                    head = fh.read(12)
                if head and head[8:12] != b"DUCK":
                    # never delete what may be the user's own file (an access log given as --db by mistake)
                    self._tmp.cleanup()
                    raise RollsafeError(f"--db {db}: exists and is not a DuckDB database; not replacing it")
                db.unlink()  # a fresh database each run: --db keeps this run's tables for later SQL
            if db is not None:
                self.con = duckdb.connect(str(db))
            else:
                # in memory, compressed (a day of access logs takes a fraction of its text), spilling to
                # the temporary directory past the memory limit
                self.con = duckdb.connect()
                self.con.execute("ATTACH ':memory:' AS store (COMPRESS)")
                self.con.execute("USE store")
        except (duckdb.Error, OSError) as exc:
            self._tmp.cleanup()
            raise RollsafeError(f"--db {db}: cannot create the database: {exc}") from None
        self.db = db
        self.con.execute("SET enable_progress_bar = false")  # never write to the user's terminal
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order = false")  # tables are read with ORDER BY
        self.con.execute(f"SET temp_directory = '{Path(self._tmp.name) / 'spill'}'")
        for table, cols in TABLES.items():
            self.con.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in cols)})")

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()

    # -- loading -------------------------------------------------------------------------------------
    def load(
        self,
        paths: Sequence[Path],
        *,
        force: str | None = None,
        progress: Progress | None = None,
    ) -> LoadReport:
        report = LoadReport()
        start = time.perf_counter()
        files, problems = expand(paths)
        report.files.extend(problems)
        seen: dict[str, str] = {}
        groups: dict[str, list[tuple[Path, FileReport]]] = {s: [] for s in SOURCES}
        for path in files:
            fr = FileReport(str(path))
            report.files.append(fr)
            try:
                ident = _identity(path)
            except OSError as exc:
                fr.fault = f"cannot read: {exc.strerror or exc}"
                continue
            if ident in seen:
                fr.fault = f"a copy of {seen[ident]} (same size and content): read once"
                report.duplicate_files.append((str(path), seen[ident]))
                continue
            seen[ident] = str(path)
            if force is not None:
                fr.source = force
            else:
                source, why = sniff(path)
                if source is None:
                    fr.fault = why
                    continue
                fr.source = source
            groups[fr.source].append((path, fr))
        clock = start

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            report.timings_s[stage] = now - clock
            clock = now

        lap("identify")
        self._load_alb(groups["alb"], progress)
        lap("alb")
        self._load_python(groups["controller"], "lbc_events", self._lbc_rows, progress)
        self._load_python(groups["cloudtrail"], "cloudtrail_events", self._ct_rows, progress)
        self._load_python(groups["audit"], "audit_facts", self._audit_rows, progress)
        lap("controller+cloudtrail+audit")
        self._dedupe(report)
        self._account(report)
        lap("dedupe+account")
        return report

    def _load_alb(self, items: list[tuple[Path, FileReport]], progress: Progress | None) -> None:
        if not items:
            return
        paths = [str(p) for p, _ in items]
        reports = {str(p): fr for p, fr in items}
        python: list[str] = []
        nodes = [m.group(1) if (m := _NODE.search(p)) else None for p in paths]
        self.con.execute(
            "CREATE TEMP TABLE alb_files AS SELECT unnest($f::VARCHAR[]) AS filename, "
            "unnest($n::VARCHAR[]) AS lb_node",
            {"f": paths, "n": nodes},
        )
        # every row carries ``ok`` (it passed the checks) until the files with a failing row are found
        self.con.execute("ALTER TABLE alb_requests ADD COLUMN ok BOOLEAN")
        try:
            self.con.execute(self._bulk_sql(), {"files": paths})
        except duckdb.Error:
            # one file spoils the batch (a damaged gzip, say): read them one by one to find it
            for p in paths:
                try:
                    self.con.execute(self._bulk_sql(), {"files": [p]})
                except duckdb.Error:
                    python.append(p)
        bad = [
            r[0] for r in self.con.execute("SELECT DISTINCT file FROM alb_requests WHERE NOT ok").fetchall()
        ]
        if bad:
            self.con.execute(
                "DELETE FROM alb_requests WHERE file IN (SELECT unnest($b::VARCHAR[]))", {"b": bad}
            )
        self.con.execute("ALTER TABLE alb_requests DROP COLUMN ok")
        self.con.execute("DROP TABLE alb_files")
        python = sorted({*python, *bad})
        for fname, lines in self.con.execute("SELECT file, count(*) FROM alb_requests GROUP BY 1").fetchall():
            reports[fname].lines = reports[fname].records = int(lines)
        if progress:
            progress("alb", sum(os.path.getsize(p) for p in paths if p not in python))
        # the files DuckDB's reader could not take, or with rows that failed the check: line by line
        for p in python:
            fr = reports[p]
            fr.lines = fr.records = 0
            fr.notes.append("read line by line (the bulk reader refused it or some of its lines)")
            self._insert(
                "alb_requests",
                ALB_COLUMNS,
                (self._alb_row(p, n, r) for n, r in alb.parse_file(Path(p), fr)),
            )
            if progress:
                progress("alb", os.path.getsize(p))

    def _bulk_sql(self) -> str:
        """One pass of DuckDB's CSV reader over the files: typed columns, and whether the row is a
        well-formed access log line. String functions and casts only (no regular expressions): this is
        the hot loop of a day of logs. Each column taken costs about as much as the next, so without
        ``--db`` only the columns the diagnosis reads are taken (the others stay NULL)."""
        cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(_RAW_COLUMNS)) + "}"
        reader = (
            "read_csv($files, delim=' ', quote='\"', escape='', header=false, "
            f"columns={cols}, null_padding=true, filename=true, auto_detect=false, strict_mode=false, "
            "max_line_size=1048576, compression='auto')"
        )

        def ts(c: str) -> str:
            return f"CASE WHEN {c} = '-' THEN NULL ELSE TRY_CAST(rtrim({c}, 'Z') AS TIMESTAMP) END"

        def ip(c: str) -> str:
            return (
                f"CASE WHEN {c} = '-' OR {c} IS NULL THEN NULL WHEN starts_with({c}, '[') "
                f"THEN {c}[2:strpos({c}, ']') - 1] ELSE split_part({c}, ':', 1) END"
            )

        def port(c: str) -> str:
            return f"CASE WHEN {c} = '-' THEN NULL ELSE TRY_CAST(string_split({c}, ':')[-1] AS INTEGER) END"

        core = [
            "r.filename AS file",
            "f.lb_node AS lb_node",
            "c0 AS type",
            f"{ts('c1')} AS time",
            f"{ts('c21')} AS created",
            f"{ip('c4')} AS target_ip",
            f"{port('c4')} AS target_port",
            "TRY_CAST(c5 AS DOUBLE) AS request_s",
            "TRY_CAST(c8 AS INTEGER) AS elb_status",
            "TRY_CAST(c9 AS INTEGER) AS target_status",
            "NULLIF(c16, '-') AS target_group_arn",
        ]
        rest = [
            "c2 AS elb",
            f"{ip('c3')} AS client_ip",
            f"{port('c3')} AS client_port",
            "TRY_CAST(c6 AS DOUBLE) AS target_s",
            "TRY_CAST(c7 AS DOUBLE) AS response_s",
            "TRY_CAST(c10 AS BIGINT) AS received_bytes",
            "TRY_CAST(c11 AS BIGINT) AS sent_bytes",
            "c12 AS request",
            "c13 AS user_agent",
            "c17 AS trace_id",
            "c24 AS error_reason",
            "c25 AS target_list",
            "c26 AS target_status_list",
            "c29 AS conn_trace_id",
        ]
        taken = core + rest if self.full else core
        inner = ", ".join(
            [
                *taken,
                "c1 AS raw_time",
                "c4 AS raw_target",
                "c9 AS raw_tstatus",
                "c16 AS raw_tg",
                "c21 AS raw_created",
                "c28 AS raw_last",
            ]
        )
        ok = (
            f"coalesce(type IN {TYPES_SQL} AND time IS NOT NULL "
            "AND (raw_target = '-' OR (target_ip IS NOT NULL AND target_port IS NOT NULL)) "
            "AND request_s IS NOT NULL "
            + ("AND target_s IS NOT NULL AND response_s IS NOT NULL " if self.full else "")
            + "AND elb_status IS NOT NULL AND (raw_tstatus = '-' OR target_status IS NOT NULL) "
            "AND (raw_tg = '-' OR starts_with(raw_tg, 'arn:')) AND raw_last IS NOT NULL "
            "AND (raw_created = '-' OR created IS NOT NULL) AND ends_with(raw_time, 'Z'), false)"
        )
        names = ", ".join(t.rsplit(" AS ", 1)[1] for t in taken)
        return (
            f"INSERT INTO alb_requests BY NAME SELECT {names}, NULL::BIGINT AS line, {ok} AS ok "
            f"FROM (SELECT {inner} FROM {reader} r JOIN alb_files f ON f.filename = r.filename)"
        )

    @staticmethod
    def _alb_row(path: str, lineno: int, r: alb.AlbRecord) -> tuple[Any, ...]:
        m = _NODE.search(path)
        return (
            path, lineno, m.group(1) if m else None, r.type, _naive(r.time), _naive(r.created), r.elb,
            r.client_ip, r.client_port, r.target_ip, r.target_port, r.request_s, r.target_s, r.response_s,
            r.elb_status, r.target_status, r.received, r.sent, r.request, r.user_agent, r.target_group_arn,
            r.trace_id, r.error_reason, r.target_list, r.target_status_list, r.conn_trace_id,
        )  # fmt: skip

    # -- the small sources ---------------------------------------------------------------------------
    def _load_python(
        self,
        items: list[tuple[Path, FileReport]],
        table: str,
        rows: Callable[[Path, FileReport], Iterable[tuple[Any, ...]]],
        progress: Progress | None,
    ) -> None:
        for path, fr in items:
            self._insert(table, TABLES[table], rows(path, fr))
            if progress:
                progress(fr.source or "", path.stat().st_size)

    @staticmethod
    def _lbc_rows(path: Path, fr: FileReport) -> Iterable[tuple[Any, ...]]:
        for n, r in controller.parse_file(path, fr):
            if r.targets is None or not r.targets:
                yield (str(path), n, _naive(r.time), r.phase, r.arn, None, None, None)
            else:
                for t in r.targets:
                    yield (str(path), n, _naive(r.time), r.phase, r.arn, t.id, t.port, t.az)

    @staticmethod
    def _ct_rows(path: Path, fr: FileReport) -> Iterable[tuple[Any, ...]]:
        for n, r in cloudtrail.parse_file(path, fr):
            targets: tuple[tuple[str | None, int | None], ...] = r.targets or ((None, None),)
            for tid, port in targets:
                yield (
                    str(path),
                    n,
                    _naive(r.time),
                    r.name,
                    r.event_id,
                    r.arn,
                    tid,
                    port,
                    r.error,
                    r.user_agent,
                )

    @staticmethod
    def _audit_rows(path: Path, fr: FileReport) -> Iterable[tuple[Any, ...]]:
        for n, r in audit.parse_file(path, fr):
            for f in r.facts:
                yield (
                    str(path), n, _naive(f.time), r.audit_id, r.verb, r.resource, r.user, r.level, f.what,
                    f.object, f.namespace, f.ip, f.value, f.ready, f.serving, f.terminating,
                )  # fmt: skip

    def _insert(self, table: str, cols: tuple[tuple[str, str], ...], rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows through a temporary JSON-lines file and DuckDB's reader: far faster than row-by-row
        inserts, and JSON carries any string (control characters, NUL) unharmed."""
        path = Path(self._tmp.name) / f"{table}.jsonl"
        names = [c for c, _ in cols]
        n = 0
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=True))
                fh.write("\n")
                n += 1
        if n == 0:
            return
        types = "{" + ", ".join(f"'{c}': '{t}'" for c, t in cols) + "}"
        self.con.execute(
            f"INSERT INTO {table} SELECT * FROM read_json(?, format='newline_delimited', columns={types}, "
            "maximum_object_size=16777216)",
            [str(path)],
        )

    # -- duplicates and the account --------------------------------------------------------------------
    def _dedupe(self, report: LoadReport) -> None:
        """The same event in two exports is one event: controller lines by content, CloudTrail by
        eventID, audit events by auditID (the ALB copies are whole files, caught by their identity)."""
        keys = {
            "lbc_events": "time, phase, arn, target_id, target_port",
            "cloudtrail_events": "event_id, target_id, target_port, event_name, time",
            "audit_facts": "audit_id, what, object, ip, value, ready, serving, terminating, time",
        }
        for table, key in keys.items():
            before = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
            # rows of one line share (file, line): a key seen again in a later line is a copy
            self.con.execute(
                f"CREATE TEMP TABLE d AS SELECT * EXCLUDE (rk) FROM (SELECT *, dense_rank() OVER "
                f"(PARTITION BY {key} ORDER BY file, line) AS rk FROM {table}) WHERE rk = 1"
            )
            after = self.con.execute("SELECT count(*) FROM d").fetchone()
            dropped = int(before[0] if before else 0) - int(after[0] if after else 0)
            if dropped:
                self.con.execute(f"DELETE FROM {table}")
                self.con.execute(f"INSERT INTO {table} SELECT * FROM d")
                report.duplicates[table] = dropped
            self.con.execute("DROP TABLE d")

    def _account(self, report: LoadReport) -> None:
        for table, cols in (("input_files", _INPUT_FILES), ("bad_lines", _BAD_LINES)):
            self.con.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in cols)})")
        rows = [(f.path, f.source, f.lines, f.records, f.skipped, f.bad_total, f.fault) for f in report.files]
        self._insert("input_files", _INPUT_FILES, rows)
        bad = []
        for f in report.files:
            for reason, count in f.bad.items():
                ex = f.examples.get(reason, [])
                first = ex[0] if ex else (None, None)
                bad.append((f.path, reason, count, first[0], first[1]))
        self._insert("bad_lines", _BAD_LINES, bad)


def _naive(at: datetime | None) -> str | None:
    """A UTC instant as DuckDB TIMESTAMP text."""
    if at is None:
        return None
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
