"""`artver ls`: the tracked artifacts with their size, file count and state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from artver.ops.status import artifact_status
from artver.repo import Repo


@dataclass
class Listed:
    path: str
    pointer: str
    kind: str
    oid: str
    size: int
    nfiles: int
    state: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def ls(repo: Repo, targets: list[str], cwd: Path) -> list[Listed]:
    listed = []
    for pointer in repo.pointers(targets, cwd):
        out = pointer.out
        st = artifact_status(repo, pointer, cwd)
        listed.append(
            Listed(
                st.path,
                st.pointer,
                st.kind,
                out.oid,
                out.size,
                out.nfiles if out.nfiles is not None else 1,
                st.state,
            )
        )
    return listed
