"""`artver import-dvc`: convert a DVC project (`.dvc` files, `dvc.yaml`, `dvc.lock`,
`.dvc/config`, `.dvcignore`) into artver's files, in place.

DVC's files are only read: nothing of DVC's is changed, moved or deleted (the user removes
them with the `git rm` the report prints). The modules, in the order a conversion uses them:

- `dvcfiles`: DVC's file formats -> values (pure)
- `md5`: DVC's hashes of workspace data, and reading DVC's cache (read-only)
- `mapping`: what each DVC value becomes in artver: pipeline text, lock decisions, config (pure)
- `plan`: find everything and decide what the conversion does (reads only)
- `fromcache`: an output's artver record and objects, made from DVC's cache
- `apply`: write artver's files, through artver's own add and lock machinery
"""

from __future__ import annotations


def import_dvc(directory, dry_run: bool = False):
    """Convert the DVC project at `directory`; with `dry_run`, only decide what would be done.
    Returns the plan, its items marked done once applied."""
    from pathlib import Path

    from artver.dvcimport.plan import make_plan

    plan = make_plan(Path(directory))
    if not dry_run:
        from artver.dvcimport.apply import apply

        apply(plan)
    return plan
