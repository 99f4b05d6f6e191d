"""Running a file import in chunks with a progress bar and a summary (for management commands)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.rowcheck import FormatError
from core.upsert import BatchOutcome

Upsert = Callable[[Sequence[dict[str, Any]]], BatchOutcome]

CHUNK_SIZE = 2000


@dataclass
class ImportSummary:
    counts: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.rejected_rows

    @property
    def rejected_rows(self) -> int:
        return len({line for line, _, _ in self.rejected})

    def lines(self, *, limit: int = 20) -> list[str]:
        out = [
            f"created {self.counts['created']}, updated {self.counts['updated']}, "
            f"unchanged {self.counts['unchanged']}, stale {self.counts['stale']}, "
            f"rejected {self.rejected_rows} (of {self.total} rows)"
        ]
        if self.rejected:
            reasons = Counter(f"{f}: {m}" for _, f, m in self.rejected)
            out.append("rejections by reason:")
            out += [f"  {n} × {reason}" for reason, n in reasons.most_common(limit)]
            out.append("first rejected lines:")
            out += [f"  line {line}: {f}: {m}" for line, f, m in self.rejected[:limit]]
        return out


def run_import(
    numbered_rows: Iterable[tuple[int, dict[str, Any]]],
    upsert: Upsert,
    *,
    total: int | None = None,
    progress_to: TextIO | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportSummary:
    """Feed ``(line, row)`` pairs to ``upsert`` in chunks; good rows are written, bad ones reported.

    Each chunk is its own transaction, so an interrupted import keeps what it finished and a
    re-run picks up where it stopped (already written rows come back as unchanged).
    """
    summary = ImportSummary()
    iterator = iter(numbered_rows)
    with tqdm(total=total, unit="row", file=progress_to, disable=progress_to is None) as bar:
        while chunk := list(islice(iterator, chunk_size)):
            lines = [line for line, _ in chunk]
            outcome = upsert([row for _, row in chunk])
            if outcome.result is not None:
                summary.counts.update(outcome.result.statuses)
            summary.rejected += [(lines[e.index], e.field, e.message) for e in outcome.errors]
            bar.update(len(chunk))
    return summary


def count_data_lines(path: Any) -> int:
    """Data lines of a CSV file (for the progress bar's total); quoted newlines may overcount."""
    with open(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


class FileImportCommand(BaseCommand):
    """A management command that imports one file in a registered format through a bulk upsert."""

    formats: Mapping[str, Callable[[Path], Iterable[tuple[int, dict[str, Any]]]]] = {}
    # The bulk upsert service the rows go through, called with rows=, actor=, atomic=False.
    service: Callable[..., BatchOutcome]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=sorted(self.formats))
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true", help="Do not show a progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file: {path} does not exist or is not a file")
        actor = f"import:{options['format']}"
        try:
            summary = run_import(
                self.formats[options["format"]](path),
                lambda rows: type(self).service(rows=rows, actor=actor, atomic=False),
                total=count_data_lines(path),
                progress_to=None if options["no_progress"] else sys.stderr,
            )
        except FormatError as exc:
            raise CommandError(str(exc)) from exc
        for line in summary.lines():
            self.stdout.write(line)
