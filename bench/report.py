"""The bench's rows, what the measurements hand on to the sizing, and the printed table."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .timing import Samples, duration, markdown_table


@dataclass(frozen=True)
class Row:
    """One line of the table; `limit` is None for a row measured for reference only."""

    measure: str
    median: float | None = None
    p95: float | None = None
    floor: float | None = None
    limit: float | None = None  # the largest ratio allowed, or for an absolute goal the largest median
    absolute: bool = False
    note: str = ""
    check: bool | None = None  # a goal that is a fact, not a time: whether it holds

    @property
    def ratio(self) -> float | None:
        if self.median is None or self.floor is None:
            return None
        return self.median / self.floor

    @property
    def met(self) -> bool | None:
        if self.check is not None:
            return self.check
        if self.limit is None:
            return None
        if self.absolute:
            return self.median is not None and self.median <= self.limit
        return self.ratio is not None and self.ratio <= self.limit

    def cells(self) -> list[str]:
        def shown(value: float | None) -> str:
            return duration(value) if value is not None else "—"

        if self.check is not None:
            goal = "holds"
        elif self.absolute and self.limit is not None:
            goal = f"≤ {duration(self.limit)}"
        elif self.limit is not None:
            goal = f"≤ {self.limit:g}x"
        else:
            goal = "reference"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "—"
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        return [self.measure, shown(self.median), shown(self.p95), shown(self.floor), ratio, goal, met, self.note]


@dataclass
class Results:
    """Everything one run measured: the rows, and the samples the sizing estimates start from."""

    rows: list[Row] = field(default_factory=list)
    warm: dict[str, Samples] = field(default_factory=dict)  # by route, e.g. "authorizer (token seen)"
    cold: dict[str, Samples] = field(default_factory=dict)  # by function, from the artifact
    libraries: dict[str, list[str]] = field(default_factory=dict)  # by function: what its cold start imports

    @property
    def failed(self) -> list[str]:
        return [row.measure for row in self.rows if row.met is False]


def machine(artifact_python: Path) -> str:
    """This machine, and the two Pythons measured: the development environment's and the artifact's."""
    artifact_version = subprocess.run(  # noqa: S603 - the artifact's interpreter
        [str(artifact_python), "-I", "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} (venv) and {artifact_version} (artifact)"
    )


def print_report(results: Results, sizing: str, artifact_python: Path, seconds: float) -> None:
    """The table, goals first, then the libraries each function imports and the sizing."""
    ordered = sorted(results.rows, key=lambda row: row.limit is None and row.check is None)
    print(f"lambda-auth bench, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {machine(artifact_python)}")
    print()
    print(
        markdown_table(
            ["measure", "median", "p95", "floor", "ratio", "goal", "met", "note"], [r.cells() for r in ordered]
        )
    )
    print()
    print("Libraries each function imports at cold start (the artifact, python -X importtime):")
    for name, libraries in results.libraries.items():
        print(f"- {name}: {', '.join(libraries)}")
    print()
    print(sizing)
    print()
    total, failed = len(results.rows), results.failed
    print(f"{total - len(failed)} of {total} rows met or for reference; took {seconds:.0f} s.")
    if failed:
        print("NOT MET: " + "; ".join(failed))
