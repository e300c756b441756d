"""Results of a benchmark group: samples, medians, targets, the printed table and its JSON form.

A group records `Samples` under keys such as ("artver", "add-cold"), ("dvc", "add-cold") and
("floor", "stat"). Its `RowSpec`s then say which keys form a table row and which targets the
artver figure must meet; targets compare figures of the same run only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from harness import Measurement


@dataclass
class Summary:
    median: float
    peak_mb: float | None
    samples: list[float]
    peaks_mb: list[float | None]

    @classmethod
    def of(cls, ms: list[Measurement]) -> Summary:
        peaks = [m.peak_mb for m in ms if m.peak_mb is not None]
        return cls(
            median=statistics.median(m.wall for m in ms),
            peak_mb=max(peaks) if peaks else None,
            samples=[m.wall for m in ms],
            peaks_mb=[m.peak_mb for m in ms],
        )


class Samples(dict):
    """{(who, operation): [Measurement, ...]} collected over all rounds."""

    def add(self, who: str, op: str, m: Measurement) -> None:
        self.setdefault((who, op), []).append(m)

    def summary(self, who: str, op: str) -> Summary | None:
        ms = self.get((who, op))
        return Summary.of(ms) if ms else None


# --- Targets ------------------------------------------------------------------------------


@dataclass
class Faster:
    """artver at least `factor` times faster than DVC (speedup = DVC / artver)."""

    factor: float

    def describe(self) -> str:
        return f">={self.factor:g}x DVC"

    def check(self, artver: Summary, dvc: Summary | None, samples: Samples) -> tuple[bool, str]:
        speedup = dvc.median / artver.median
        return speedup >= self.factor, f"{speedup:.1f}x faster"


@dataclass
class WithinFloor:
    """artver at most `factor` times the median of floor `floor`."""

    floor: str
    factor: float

    def describe(self) -> str:
        return f"<={self.factor:g}x {self.floor} floor"

    def check(self, artver: Summary, dvc: Summary | None, samples: Samples) -> tuple[bool, str]:
        floor = samples.summary("floor", self.floor)
        ratio = artver.median / floor.median
        return ratio <= self.factor, f"{ratio:.2f}x floor"


@dataclass
class RowSpec:
    label: str
    op: str  # artver key; the DVC key too unless `dvc_op` says otherwise
    targets: tuple = ()
    dvc_op: str | None = None


@dataclass
class FloorSpec:
    key: str
    label: str
    in_process: bool = False  # report the script's own timing (extra["seconds"]) too


@dataclass
class GroupResult:
    name: str
    title: str
    samples: Samples
    rows: list[RowSpec]
    floors: list[FloorSpec]
    notes: list[str] = field(default_factory=list)
    # op -> why artver's command failed or gave a wrong result: its row is reported as FAIL
    failures: dict[str, str] = field(default_factory=dict)

    def evaluate(self) -> list[dict]:
        """One dict per row: medians, ratios, peaks, target text and PASS/FAIL."""
        out = []
        for spec in self.rows:
            a = self.samples.summary("artver", spec.op)
            d = self.samples.summary("dvc", spec.dvc_op or spec.op)
            row = {
                "operation": spec.label,
                "artver": vars(a) if a else None,
                "dvc": vars(d) if d else None,
                "ratio": a.median / d.median if a and d else None,
                "speedup": d.median / a.median if a and d else None,
                "target": "; ".join(t.describe() for t in spec.targets) or "-",
                "passed": None,
                "detail": "",
            }
            if a and spec.targets:
                results = [t.check(a, d, self.samples) for t in spec.targets]
                row["passed"] = all(ok for ok, _ in results)
                row["detail"] = "; ".join(text for _, text in results)
            if spec.op in self.failures:
                row["passed"] = False
                row["detail"] = "; ".join(filter(None, ["artver failed", row["detail"]]))
            out.append(row)
        return out

    def evaluate_floors(self) -> list[dict]:
        out = []
        for spec in self.floors:
            ms = self.samples.get(("floor", spec.key), [])
            if not ms:
                continue
            s = Summary.of(ms)
            row = {"floor": spec.label, "key": spec.key, **vars(s)}
            if spec.in_process:
                row["in_process_median"] = statistics.median(m.extra["seconds"] for m in ms)
            out.append(row)
        return out


# --- Text output --------------------------------------------------------------------------


def _s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _mb(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}" if x < 1 else f"{x:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), "-+-".join("-" * w for w in widths), *map(line, rows)])


def render(result: GroupResult) -> str:
    rows = []
    for r in result.evaluate():
        a, d = r["artver"] or {}, r["dvc"] or {}
        verdict = {True: "PASS", False: "FAIL", None: "-"}[r["passed"]]
        rows.append(
            [
                r["operation"],
                _s(a.get("median")),
                _s(d.get("median")),
                _x(r["ratio"]),
                _x(r["speedup"]),
                _mb(a.get("peak_mb")),
                _mb(d.get("peak_mb")),
                r["target"],
                f"{verdict} ({r['detail']})" if r["detail"] else verdict,
            ]
        )
    header = [
        "operation",
        "artver s",
        "DVC s",
        "artver/DVC",
        "DVC/artver",
        "artver MB",
        "DVC MB",
        "target",
        "result",
    ]
    parts = [f"== {result.title} ==", _table(header, rows)]
    floors = []
    for f in result.evaluate_floors():
        inproc = f.get("in_process_median")
        floors.append([f["floor"], _s(f["median"]), _s(inproc), _mb(f["peak_mb"])])
    if floors:
        parts += ["", _table(["floor", "median s", "in-process s", "peak MB"], floors)]
    parts += [f"note: {n}" for n in result.notes]
    return "\n".join(parts)


def to_json(result: GroupResult) -> dict:
    return {
        "title": result.title,
        "rows": result.evaluate(),
        "floors": result.evaluate_floors(),
        "notes": result.notes,
        "failures": result.failures,
    }
