"""README.md's quickstart works as written: every `sh` block from the quickstart on runs, in
order, in one shell in a fresh directory, and the outputs the README shows are what it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
MARK = "@@ block {} @@"


def blocks() -> list[tuple[str, str, bool]]:
    """(language, text, in the quickstart) of every fenced block from the quickstart up to the
    project's status, in order; the first one (putting .venv/bin on PATH) is what the test
    does itself. Comments in the later sections explain rather than show output."""
    text = README.read_text(encoding="utf-8")
    start, later = text.index("## Quickstart"), text.index("## Going back in time")
    end = text.index("## Status of the project")
    found = [(m.group(1), m.group(2), m.start() < later) for m in BLOCK.finditer(text, start, end)]
    assert found[0][1].startswith("export PATH="), found[0]
    return found[1:]


def expected_in_comments(script: str) -> list[str]:
    """What a `# comment` after an artver or tail command says it prints: `artver status  #
    Data is up to date.`, `tail ... # 0.5,0.5`."""
    found = []
    for line in script.splitlines():
        if re.match(r"(artver (status|repro)|tail) ", line) and "  # " in line:
            found.append(line.split("  # ", 1)[1].strip())
    return found


def test_every_quickstart_command_runs_and_prints_what_the_readme_shows(tmp_path):
    parts = blocks()
    scripts = [(i, text) for i, (lang, text, _) in enumerate(parts) if lang == "sh"]
    assert len(scripts) >= 6, [lang for lang, _ in parts]
    # One stream, so that messages (stderr) and results (stdout) stay in order per block.
    program = "set -e\nexec 2>&1\n"
    program += "".join(f"echo '{MARK.format(i)}'\n{text}" for i, text in scripts)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"the README's commands failed:\n{proc.stdout}"
    pieces = re.split(r"@@ block (\d+) @@\n", proc.stdout)[1:]
    printed = {int(n): text for n, text in zip(pieces[::2], pieces[1::2], strict=True)}
    assert sorted(printed) == [i for i, _ in scripts]
    last_script = None
    for i, (lang, text, in_quickstart) in enumerate(parts):
        if lang == "sh":
            last_script = i
            for words in expected_in_comments(text) if in_quickstart else []:
                shown = words if words in printed[i] else words.split(" (")[0]
                assert shown in printed[i], (
                    f"README says {words!r}; block {i} printed:\n{printed[i]}"
                )
        elif lang == "" and last_script is not None:
            for line in text.splitlines():
                assert line.strip() in printed[last_script], (
                    f"README shows {line!r}; block {last_script} printed:\n{printed[last_script]}"
                )
