"""What every parser shares: reading a file line by line whatever its compression, with a bound on line
length, and the account of what could not be read (per file, per reason, the first few kept).

A line that does not parse is data, not an exception: it is counted and the run goes on. A whole file
that cannot be read (binary, truncated gzip, unreadable) is reported as such, with the lines read before
the fault kept. Nothing here raises on bad content. It knows nothing of the simulator.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

MAX_LINE = 1 << 20  # a log line over 1 MiB is not a log line we know; it is counted, not parsed
EXAMPLES = 3  # examples kept per file and reason
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class FileReport:
    """The account of one input file."""

    path: str
    source: str | None = None  # alb | controller | cloudtrail | audit, once recognised
    lines: int = 0  # lines read
    records: int = 0  # records taken (a CloudTrail file holds many per line)
    skipped: int = 0  # read and understood, but not about a rollout (other messages, reads, watches)
    bad: dict[str, int] = field(default_factory=dict)  # reason -> count
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # reason -> (line no, excerpt)
    fault: str | None = None  # the whole file, or its rest, could not be read
    notes: list[str] = field(default_factory=list)  # e.g. timestamps converted from other zones
    converted_zones: int = 0

    def bad_line(self, lineno: int, reason: str, text: str | bytes) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES:
            if isinstance(text, bytes):
                text = text[:200].decode("utf-8", "replace")
            kept.append((lineno, text[:200]))

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source": self.source,
            "lines": self.lines,
            "records": self.records,
            "skipped": self.skipped,
            "bad": dict(sorted(self.bad.items())),
            "examples": {k: [{"line": n, "text": t} for n, t in v] for k, v in sorted(self.examples.items())},
            "fault": self.fault,
            "notes": self.notes
            + (
                [f"{self.converted_zones} timestamps carried a non-UTC offset and were converted to UTC"]
                if self.converted_zones
                else []
            ),
        }


def is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == GZIP_MAGIC
    except OSError:
        return False


def _open(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def head_bytes(path: Path, n: int = 65536) -> tuple[bytes, str | None]:
    """The first ``n`` bytes of the file's content (decompressed), and the fault that cut them short."""
    try:
        with _open(path) as fh:
            return fh.read(n), None
    except (OSError, EOFError, zlib.error) as exc:
        return b"", _fault(exc)


def _fault(exc: BaseException) -> str:
    if isinstance(exc, EOFError | gzip.BadGzipFile | zlib.error):
        return f"damaged or truncated gzip ({exc})"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc)


def read_lines(path: Path, report: FileReport) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, decoded as UTF-8 (invalid bytes replaced, and counted). Lines
    over MAX_LINE are counted as bad and skipped; a fault mid-file ends the iteration and is recorded in
    ``report.fault`` after the lines read before it."""
    lineno = 0
    try:
        with _open(path) as fh:
            while True:
                chunk = fh.readline(MAX_LINE + 1)
                if not chunk:
                    return
                lineno += 1
                report.lines += 1
                if len(chunk) > MAX_LINE and not chunk.endswith(b"\n"):
                    size = len(chunk)
                    while chunk and not chunk.endswith(b"\n"):  # the rest of the long line
                        chunk = fh.readline(MAX_LINE + 1)
                        size += len(chunk)
                    report.bad_line(
                        lineno, f"line longer than {MAX_LINE // (1 << 20)} MiB", f"({size} bytes)"
                    )
                    continue
                if b"\x00" in chunk:
                    report.bad_line(lineno, "binary data (NUL bytes)", chunk)
                    continue
                try:
                    text = chunk.decode("utf-8")
                except UnicodeDecodeError:
                    text = chunk.decode("utf-8", "replace")
                    report.notes.append(f"line {lineno}: bytes that are not UTF-8 were replaced")
                yield lineno, text.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        report.fault = f"{_fault(exc)} after {lineno} lines"


def parse_time(value: Any, report: FileReport | None = None) -> datetime | None:
    """An RFC 3339 timestamp (any zone; converted to UTC, and counted when it was not UTC) or an epoch
    number, as an aware UTC datetime; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not 0 <= value < 1e11:
            return None
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str) or len(value) < 19 or len(value) > 40:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # fromisoformat takes up to 6 fractional digits; Go writes up to 9
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        text = head + ("." + digits[:6] if digits else "") + rest[len(digits) :]
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None  # a time without a zone is ambiguous: refuse it rather than guess
    if at.utcoffset() and report is not None:
        report.converted_zones += 1
    return at.astimezone(UTC)
