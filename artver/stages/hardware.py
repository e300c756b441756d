"""What a stage ran on, and when: the `observed` block of its lock entry.

CPU model and count, memory, OS and kernel, GPUs (model, driver, CUDA version, from
`nvidia-smi` when it is on PATH), the start time (UTC, ISO 8601) and the duration. It is a
record of the run, not part of the stage's identity: `status` never reads it, it is not in
the run-cache key, and two machines that produce the same outputs agree on everything else.

The machine is probed once per process (and only when a stage actually runs); the parsers
of /proc/cpuinfo, /proc/meminfo and nvidia-smi's output are pure.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from typing import Any

NVIDIA_SMI_TIMEOUT_S = 10
_machine: dict[str, Any] | None = None


def cpu_model(cpuinfo: str) -> str | None:
    """The CPU's name in /proc/cpuinfo: `model name` (x86), else `Model`/`Hardware` (ARM
    boards), else the first `cpu` line (POWER)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if sep and value and key not in fields:
            fields[key] = value
    for key in ("model name", "model", "hardware", "cpu"):
        if key in fields and not fields[key].isdigit():
            return fields[key]
    return None


def mem_total(meminfo: str) -> int | None:
    """`MemTotal` of /proc/meminfo, in bytes."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def os_name(os_release: str) -> str | None:
    """`PRETTY_NAME` of /etc/os-release (`Debian GNU/Linux 12 (bookworm)`)."""
    match = re.search(r"^PRETTY_NAME=(.*)$", os_release, re.MULTILINE)
    if match is None:
        return None
    return match.group(1).strip().strip("\"'") or None


def gpus(query: str) -> list[dict[str, str]]:
    """Rows of `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`."""
    found = []
    for line in query.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 1)]
        if len(parts) == 2 and all(parts) and not parts[0].startswith("NVIDIA-SMI has failed"):
            found.append({"name": parts[0], "driver": parts[1]})
    return found


def cuda_version(header: str) -> str | None:
    """`CUDA Version: 12.4` in the banner plain `nvidia-smi` prints."""
    match = re.search(r"CUDA Version:\s*([0-9][0-9.]*)", header)
    return match.group(1) if match else None


def gpu_summary(rows: list[dict[str, str]], cuda: str | None) -> dict[str, Any] | None:
    """One `gpu` mapping: model(s), count, driver(s), CUDA version; None without GPUs."""
    if not rows:
        return None
    summary: dict[str, Any] = {
        "model": ", ".join(sorted({r["name"] for r in rows})),
        "count": len(rows),
        "driver": ", ".join(sorted({r["driver"] for r in rows})),
    }
    if cuda:
        summary["cuda"] = cuda
    return summary


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return ""


def _nvidia_smi(*args: str) -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ""
    try:
        proc = subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def machine() -> dict[str, Any]:
    """This machine, probed once per process."""
    global _machine
    if _machine is None:
        info: dict[str, Any] = {}
        cpu: dict[str, Any] = {"count": os.cpu_count() or 0}
        model = cpu_model(_read("/proc/cpuinfo")) or platform.processor() or None
        if model:
            cpu["model"] = model
        info["cpu"] = cpu
        memory = mem_total(_read("/proc/meminfo"))
        if memory:
            info["memory"] = memory
        info["os"] = os_name(_read("/etc/os-release")) or platform.system()
        info["kernel"] = f"{platform.system()} {platform.release()}".strip()
        rows = gpus(_nvidia_smi("--query-gpu=name,driver_version", "--format=csv,noheader"))
        gpu = gpu_summary(rows, cuda_version(_nvidia_smi()) if rows else None)
        if gpu:
            info["gpu"] = gpu
        _machine = info
    return _machine


def iso_utc(epoch: float) -> str:
    """`2024-06-01T12:34:56Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def observed(
    started: float,
    ended: float,
    gpu_ids: list[str] | None = None,
    python: str | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `observed` block of one run: the machine (`info`, default this one), the GPU ids
    the stage was given, the interpreter its `env.python` inspected, start and duration."""
    block: dict[str, Any] = {"started": iso_utc(started), "duration": round(ended - started, 3)}
    block.update(machine() if info is None else info)
    if gpu_ids and "gpu" in block:
        block["gpu"] = {**block["gpu"], "devices": ",".join(gpu_ids)}
    if python:
        block["python"] = python
    return block
