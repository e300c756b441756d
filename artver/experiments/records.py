"""What an experiment is in Git, as pure functions: its refs, its commit message, its name.

An experiment is a commit whose parent is its baseline (the commit it ran on top of), holding
the params files it changed, the `artver.lock` files of its run and the metrics kept in Git:
as reproducible as any commit. Its ref says where it belongs:

    refs/artver/exps/<baseline sha>/<name>   a finished experiment (succeeded or failed)
    refs/artver/queue/<name>                 a queued one: params applied, not run yet

The commit message carries what `exp show` needs besides the files, as Git trailers.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

from artver.errors import UsageError

EXPS = "refs/artver/exps/"
QUEUE = "refs/artver/queue/"
SUCCESS, FAILED, QUEUED = "success", "failed", "queued"
_TRAILER = re.compile(r"^Artver-Exp-([A-Za-z]+): (.*)$")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}")
# Names are two words, as DVC gives them: short enough to type, many enough not to repeat.
_ADJECTIVES = (  # noqa: SIM905 - a word list reads better as text
    "amber agile bold brisk calm clever crisp daring eager fair fleet gentle glad grand hardy "
    "keen kind lively lucid merry mild neat nimble noble plain proud quick quiet rapid ready "
    "sharp shy sleek smart snug solid spry stark steady stout sunny swift tidy vivid warm wise "
    "witty young zesty brave"
).split()
_NOUNS = (  # noqa: SIM905
    "alder aspen badger birch brook cedar comet crane delta dune eagle ember falcon fern fjord "
    "gecko glade heron hill ibis iris jay kestrel lark lynx maple marsh moth newt oak orca otter "
    "owl pine plover quail raven reed robin sage seal shale spruce stork swan tern thrush vole "
    "willow wren yak"
).split()


class Experiment(NamedTuple):
    name: str
    sha: str
    baseline: str
    status: str
    overrides: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    log: str = ""  # a failed run's last lines
    created: int = 0  # commit time (seconds since the epoch)
    ref: str = ""
    order: int = 0  # when it was queued (ns since the epoch): the queue runs in this order
    snapshot: str = ""  # the tree of the workspace it started from (uncommitted changes in)


def exp_ref(baseline: str, name: str) -> str:
    return f"{EXPS}{baseline}/{name}"


def queue_ref(name: str) -> str:
    return f"{QUEUE}{name}"


def split_ref(ref: str) -> tuple[str | None, str] | None:
    """(baseline or None for a queued one, name) of an experiment ref; None for another ref."""
    if ref.startswith(QUEUE):
        return None, ref[len(QUEUE) :]
    if ref.startswith(EXPS):
        baseline, _, name = ref[len(EXPS) :].partition("/")
        if baseline and name:
            return baseline, name
    return None


def check_name(name: str) -> str:
    """A name the user gave: one Git ref component of letters, digits, `-`, `_` and `.`."""
    if (
        not _NAME.fullmatch(name)
        or ".." in name
        or name.endswith((".lock", "."))
        or name in ("HEAD", "workspace")
    ):
        raise UsageError(
            f"{name!r} cannot name an experiment: use letters, digits, '-', '_' and '.' "
            "(at most 100, not starting with '-' or '.')"
        )
    return name


def new_name(taken: set[str], rng: random.Random | None = None) -> str:
    """A two-word name no experiment has yet."""
    rng = rng or random.Random()
    for _ in range(100):
        name = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
        if name not in taken:
            return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def message(
    name: str,
    status: str,
    baseline: str,
    overrides: list[str],
    stages: list[str],
    log: str = "",
    order: int = 0,
    snapshot: str = "",
) -> str:
    lines = [f"artver exp {name}" + (" (failed)" if status == FAILED else ""), ""]
    if log:
        lines += ["The run failed; its last lines:", "", *log.splitlines(), ""]
    lines.append(f"Artver-Exp-Name: {name}")
    lines.append(f"Artver-Exp-Status: {status}")
    lines.append(f"Artver-Exp-Baseline: {baseline}")
    lines += [f"Artver-Exp-Set: {o}" for o in overrides]
    if stages:
        lines.append(f"Artver-Exp-Stages: {' '.join(stages)}")
    if order:
        lines.append(f"Artver-Exp-Queued: {order}")
    if snapshot:
        lines.append(f"Artver-Exp-Snapshot: {snapshot}")
    return "\n".join(lines) + "\n"


def parse_message(text: str, sha: str, created: int = 0, ref: str = "") -> Experiment | None:
    """The experiment a commit message describes; None for a commit artver did not write."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _TRAILER.match(line)
        if match:
            fields.setdefault(match.group(1).lower(), []).append(match.group(2))
    if "name" not in fields or "status" not in fields or "baseline" not in fields:
        return None
    log = ""
    if "The run failed; its last lines:" in text:
        body = text.split("The run failed; its last lines:", 1)[1]
        log = body.split("\nArtver-Exp-Name:", 1)[0].strip("\n")
    stages = tuple(fields.get("stages", [""])[0].split())
    order = fields.get("queued", ["0"])[0]
    return Experiment(
        fields["name"][0],
        sha,
        fields["baseline"][0],
        fields["status"][0],
        tuple(fields.get("set", [])),
        stages,
        log,
        created,
        ref,
        int(order) if order.isdigit() else 0,
        fields.get("snapshot", [""])[0],
    )
