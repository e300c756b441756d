"""What the machine offers (cpus, memory, GPUs) and a pool that hands it out to stages."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from artver.errors import ArtverError
from artver.stages.schema import Resources


class ResourceError(ArtverError):
    pass


def _memory_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fobj:
            for line in fobj:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _gpu_ids(override: str | None) -> list[str]:
    """GPU ids: ARTVER_GPUS (a count, or a comma list: `1,` is GPU 1) wins; else what
    nvidia-smi lists."""
    if override is not None:
        override = override.strip()
        if override.isdigit():
            return [str(i) for i in range(int(override))]
        return [g for g in (x.strip() for x in override.split(",")) if g]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


@dataclass
class ResourcePool:
    cpus: float
    memory: int
    gpus: list[str]
    _free_gpus: list[str] = field(default_factory=list)
    _used_cpus: float = 0
    _used_memory: int = 0

    def __post_init__(self) -> None:
        self._free_gpus = list(self.gpus)

    @classmethod
    def of_machine(cls, gpu_override: str | None) -> ResourcePool:
        return cls(float(os.cpu_count() or 1), _memory_total(), _gpu_ids(gpu_override))

    def missing(self, want: Resources) -> list[str]:
        """What the machine lacks for `want` even when nothing else runs."""
        lacks = []
        if want.cpus > self.cpus:
            lacks.append(f"{want.cpus:g} cpus (this machine has {self.cpus:g})")
        if want.memory and self.memory and want.memory > self.memory:
            lacks.append(
                f"{want.memory / 2**30:.1f} GiB of memory (this machine has "
                f"{self.memory / 2**30:.1f} GiB)"
            )
        if want.gpus > len(self.gpus):
            lacks.append(f"{want.gpus} GPUs (this machine has {len(self.gpus)})")
        return lacks

    def take(self, want: Resources) -> list[str] | None:
        """Reserve `want`; the GPU ids given to the stage, or None when it must wait."""
        if want.cpus and self._used_cpus + want.cpus > self.cpus:
            return None
        if want.memory and self.memory and self._used_memory + want.memory > self.memory:
            return None
        if want.gpus > len(self._free_gpus):
            return None
        self._used_cpus += want.cpus
        self._used_memory += want.memory
        given, self._free_gpus = self._free_gpus[: want.gpus], self._free_gpus[want.gpus :]
        return given

    def give_back(self, want: Resources, gpus: list[str]) -> None:
        self._used_cpus -= want.cpus
        self._used_memory -= want.memory
        self._free_gpus = sorted(self._free_gpus + gpus)
