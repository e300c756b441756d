"""Benchmark group `plots`: `artver plots show` of 10 plot files of 10,000 rows each.

One repo: 10 CSV files (`epoch`, `loss`, `acc`, 10,000 rows each), each a top-level plot with
`x: epoch` and `y: [loss, acc]` (the linear template), committed. Timed: `artver plots show` in
a fresh copy (the first page of a repository: vl-convert builds its JavaScript bundle, ~2 s,
and artver keeps it in `.artver/tmp/plots/`), then the same command again (the bundle read
back). Each run's page is checked: one chart per file, each file's last row in it, no script
loaded from the network. The target is absolute (< 3 s): DVC's `plots show` writes a page that
loads Vega from a CDN, so the two pages are not the same work, and DVC is not run here.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from group_pipelines import Under
from groups import Context, group, new_repo
from harness import CommandFailed, git_commit_all, measure, remove_tree, settle
from report import GroupResult, RowSpec, Samples

FILES, ROWS = 10, 10_000


def write_plots(repo: Path, files: int, rows: int, seed: int) -> dict[str, str]:
    """The CSV files and artver.yaml; each file's last `acc` value, as the page must hold it."""
    rng = random.Random(seed)
    last = {}
    lines = ["plots:"]
    for i in range(files):
        name = f"eval/run{i:02d}.csv"
        body = ["epoch,loss,acc"]
        loss, acc = 2.0, 0.1
        for epoch in range(rows):
            loss = max(0.01, loss * 0.9995 + rng.uniform(-0.002, 0.002))
            acc = min(0.999, acc + rng.uniform(0, 0.0002))
            body.append(f"{epoch},{loss:.6f},{acc:.6f}")
        (repo / "eval").mkdir(exist_ok=True)
        (repo / name).write_text("\n".join(body) + "\n")
        last[name] = f"{acc:.6f}".rstrip("0")
        lines += [f"  - {name}:", "      x: epoch", "      y: [loss, acc]"]
    (repo / "artver.yaml").write_text("\n".join(lines) + "\n")
    return last


def check_page(repo: Path, last: dict[str, str]) -> str | None:
    page = repo / "artver_plots" / "index.html"
    try:
        html = page.read_text(encoding="utf-8")
    except OSError as exc:
        return f"no page: {exc}"
    for name, value in last.items():
        if f"<h2>{name}</h2>" not in html:
            return f"no chart for {name}"
        if f'"acc":{value}' not in html:
            return f"the page lacks {name}'s last acc ({value})"
    if re.search(r"<(?:script|link)\b[^>]*(?:src|href)=[\"']?(?:https?:)?//", html):
        return "the page loads from the network"
    return None


@group("plots", "plots show of 10 CSV files of 10,000 rows (linear, two y fields)", needs_dvc=False)
def plots_group(ctx: Context) -> GroupResult:
    files = max(1, round(FILES * min(ctx.scale, 1.0)))
    rows = max(100, round(ROWS * ctx.scale))
    samples, failures = Samples(), {}
    root = ctx.runs / "plots"
    for r in range(ctx.rounds):
        ctx.start_round("plots", r)
        repo = new_repo(ctx, "artver", root / f"r{r}")
        last = write_plots(repo.path, files, rows, ctx.seed + r)
        git_commit_all(repo.path, "plots")
        for op in ("show", "show-again"):
            settle()
            try:
                m = measure([repo.exe, "plots", "show"], repo.path, repo.env)
            except CommandFailed as exc:
                failures[op] = (exc.stderr or exc.stdout).strip()[-200:]
                ctx.log(f"  {op}: artver FAILED ({failures[op]})")
                continue
            problem = check_page(repo.path, last)
            if problem:
                failures[op] = f"wrong result: {problem}"
            samples.add("artver", op, m)
            ctx.log(
                f"  {op}: artver {m.wall:.3f}s/{m.peak_mb:.0f}MB" + (" WRONG" if problem else "")
            )
    remove_tree(root)
    size = f"{files} files x {rows:,} rows"
    rows_spec = [
        RowSpec(f"plots show ({size}; first page: bundle built)", "show", (Under(3.0),)),
        RowSpec("  the same show again (bundle kept in .artver/tmp)", "show-again", (Under(3.0),)),
    ]
    notes = [
        f"{size}, each a linear plot of two y fields: {2 * files * rows:,} points on one page",
        "the page is checked: a chart per file, each file's last row in it, nothing loaded "
        "from the network; DVC is not run (its page loads Vega from a CDN)",
    ]
    notes += [f"artver {key} FAILED: {msg}" for key, msg in failures.items()]
    return GroupResult("plots", f"plots show: {size}", samples, rows_spec, [], notes, failures)
