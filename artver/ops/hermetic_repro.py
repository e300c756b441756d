"""`artver repro --hermetic` (and `core.hermetic: true`): each stage repro runs goes through
a scratch directory that holds only its declared deps and params files.

repro decides, removes the old outputs and records exactly as it does without `--hermetic`;
this only moves where the command runs (`prepare`) and brings the declared outs back into
the workspace once it succeeded (`finish`), so that they are cached and recorded as usual.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from artver.ops.hermetic import (
    Spec,
    build,
    new_scratch,
    params_from,
    remove_scratch,
    spec_for,
    undeclared_dep,
    undeclared_hint,
)
from artver.ops.hermetic_sources import Sources
from artver.repo import Repo
from artver.stages.lock import LockEntry, Recorded
from artver.stages.schema import Stage
from artver.stages.status import Observed


class HermeticRepro:
    """Scratch directories of the stages a repro is running, by stage name."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._sources = Sources(repo, use_remote=False)  # deps are in the workspace now
        self._running: dict[str, tuple[Path, Spec]] = {}

    def prepare(self, stage: Stage, observed: Observed) -> Path:
        """Build the stage's scratch directory from its inputs as observed now; returns the
        directory its command runs in."""
        from artver.ops.pipeline import relative_to_file

        entry = LockEntry(
            cmd=list(stage.cmd),
            deps=[Recorded(relative_to_file(stage, d), oid) for d, oid in observed.deps.items()],
            params=observed.params,
            seed=stage.seed,
        )
        spec = spec_for(stage, entry)
        spec.outs = [o.path for o in stage.outs]
        self._sources.ensure(spec.deps)
        scratch = new_scratch(self.repo, stage.name.replace("@", "_"))
        self._running[stage.name] = (scratch, spec)
        # persist outs go on from what the workspace holds, as they would in place.
        carry = {
            o.path: self.repo.root / o.path
            for o in stage.outs
            if o.persist and os.path.lexists(self.repo.root / o.path)
        }
        build(self.repo, spec, scratch, params_from(spec, None, self.repo.root), carry)
        return scratch / spec.wdir

    def finish(self, stage: Stage, returncode: int, tail: list[str]) -> list[str]:
        """After the command: on success, move its declared outs into the workspace; on
        failure, the reason to add when it read a file it does not declare."""
        scratch, spec = self._running.pop(stage.name)
        try:
            if returncode != 0:
                found = undeclared_dep(spec, tail, scratch, self.repo.root)
                return [undeclared_hint(spec, found)] if found else []
            for out in stage.outs:
                produced = scratch / out.path
                if not os.path.lexists(produced):
                    continue  # repro reports it: "it did not produce ..."
                dest = self.repo.root / out.path
                if os.path.isdir(dest) and not os.path.islink(dest):
                    shutil.rmtree(dest)  # a persist out, carried into the scratch and on
                elif os.path.lexists(dest):
                    dest.unlink()
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(produced, dest)  # a rename: .artver/tmp is in the repository
            return []
        finally:
            remove_scratch(scratch)

    def close(self) -> None:
        """Remove the scratch directories of stages that did not finish (Ctrl-C, errors)."""
        for scratch, _ in self._running.values():
            remove_scratch(scratch)
        self._running.clear()
