"""`artver exp diff A [B]`: params and metrics of two experiments (or revisions)."""

from __future__ import annotations

from typing import Any

from artver.repo import Repo


def diff(repo: Repo, a: str, b: str | None = None) -> dict[str, Any]:
    """{old, new, params: [...], metrics: [...]}: rows that differ (file, key, old, new,
    change). With one side, an experiment against its baseline."""
    from artver.ops.metrics import metrics_diff, params_diff_revisions

    if b is None:
        from artver.experiments.show import find

        exp = find(repo, a)
        old, new, old_label, new_label = exp.baseline, exp.sha, exp.baseline[:7], exp.name
    else:
        old, new, old_label, new_label = a, b, a, b
    _, _, params = params_diff_revisions(repo, old, new)
    _, _, metrics = metrics_diff(repo, old, new)
    for row in metrics:
        row["file"] = row.pop("path")
    return {"old": old_label, "new": new_label, "params": params, "metrics": metrics}
