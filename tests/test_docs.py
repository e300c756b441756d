"""The docs stay honest: every command and option is documented, links resolve, the demo parses."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.main import get_command

from artver.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
# The pages whose links this test checks (docs/benchmarks.md has its own owner).
PAGES = [
    ROOT / "README.md",
    DOCS / "api.md",
    DOCS / "concepts.md",
    DOCS / "experiments.md",
    DOCS / "file-formats.md",
    DOCS / "history.md",
    DOCS / "import-dvc.md",
    DOCS / "imports.md",
    DOCS / "import-url.md",
    DOCS / "pipelines.md",
    DOCS / "plots.md",
    DOCS / "remotes.md",
    DOCS / "reproducibility.md",
    DOCS / "security.md",
    CLI_MD,
]
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def command_name(info) -> str:
    """The name typer gives a registered command: its own, or the function's with dashes."""
    return info.name or info.callback.__name__.replace("_", "-")


def documented_commands() -> list[tuple[str, object]]:
    """(full name, typer CommandInfo) for every command, including those of sub-apps. Hidden
    commands (`git-hook`, which the installed Git hooks call) are not part of the reference."""
    found = [(command_name(info), info) for info in app.registered_commands if not info.hidden]
    for group in app.registered_groups:
        group_name = group.name or group.typer_instance.info.name
        found += [
            (f"{group_name} {command_name(info)}", info)
            for info in group.typer_instance.registered_commands
            if not info.hidden
        ]
    return found


def headings(path: Path) -> list[tuple[int, str]]:
    found, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            found.append((len(match.group(1)), match.group(2)))
    return found


def section(path: Path, title_re: str) -> str:
    """The text under the first heading matching `title_re`, up to the next heading at its
    level or above."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = level = None
    for i, line in enumerate(lines):
        match = HEADING.match(line)
        if not match:
            continue
        if start is None and re.search(title_re, match.group(2)):
            start, level = i, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return "\n".join(lines[start:i])
    assert start is not None, f"no heading matching {title_re!r} in {path.name}"
    return "\n".join(lines[start:])


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def heading_pattern(name: str) -> str:
    return rf"^`?artver {re.escape(name)}`?$"


@pytest.mark.parametrize("name", [name for name, _ in documented_commands()])
def test_every_command_has_a_heading_in_cli_md(name):
    titles = [title for _, title in headings(CLI_MD)]
    assert any(re.match(heading_pattern(name), t) for t in titles), (
        f"docs/cli.md has no heading for `artver {name}`: add a section `## \\`artver {name}\\``"
    )


@pytest.mark.parametrize("name,info", documented_commands())
def test_every_command_has_help_text(name, info):
    text = info.help or (info.callback.__doc__ or "")
    assert text.strip(), f"`artver {name}` has no help text (give its function a docstring)"


def test_every_option_is_documented_in_its_section():
    root = get_command(app)
    sections = [("global", root, section(CLI_MD, r"^Global options$"))]
    for name, command in root.commands.items():
        # A group's subcommands have their own sections; hidden commands have none.
        if not hasattr(command, "commands") and not command.hidden:
            sections.append((name, command, section(CLI_MD, heading_pattern(name))))
    missing = []
    for name, command, text in sections:
        for param in command.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            if not any(f"`{opt}" in text or f" {opt}" in text for opt in param.opts):
                missing.append(f"{name} {'/'.join(param.opts)}")
    assert not missing, f"options not documented in docs/cli.md: {missing}"


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


def test_relative_links_point_to_existing_files_and_headings():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, mailto: ...
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif (
                anchor
                and dest.suffix == ".md"
                and anchor not in {slug(title) for _, title in headings(dest)}
            ):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_demo_script_is_valid_bash():
    script = ROOT / "demo" / "walkthrough.sh"
    assert script.is_file()
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the demo"
    proc = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
