"""The import rules of STYLE.md, checked on the source, and the cost of `artver --version`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "artver"
# The command-line modules: typer lives here, and nothing else imports them.
HEAVY = ("s3fs", "gcsfs", "networkx", "dulwich", "typer", "rich", "sqlite_utils", "fsspec")


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_cli_layer(name: str) -> bool:
    """The artver.cli package (its app and its command modules), the UI and the entry point."""
    return name.startswith("artver.cli") or name in ("artver.ui", "artver.entry", "artver.__main__")


def test_nothing_imports_the_cli_or_ui_layer():
    for name, tree in modules().items():
        if is_cli_layer(name):
            continue
        bad = {m for m in imported(tree) if m.startswith(("artver.cli", "artver.ui"))}
        assert not bad, f"{name} imports {bad}"


def test_cli_command_modules_import_only_the_shared_module():
    """No circle: `main` imports the command modules, they import `common`, and `common`
    imports none of them."""
    found = modules()
    commands = [n for n in found if n.startswith("artver.cli.") and n != "artver.cli.main"]
    assert "artver.cli.common" in commands and len(commands) >= 8, commands
    for name in commands:
        cli_imports = {m for m in imported(found[name]) if m.startswith("artver.cli")}
        allowed = set() if name == "artver.cli.common" else {"artver.cli.common"}
        bad = {
            m for m in cli_imports if m not in allowed and not m.startswith("artver.cli.common.")
        }
        assert not bad, f"{name} imports {bad}"


def test_cache_layer_imports_nothing_above_it():
    above = ("artver.repo", "artver.ops", "artver.stages", "artver.remotes", "artver.state")
    for name, tree in modules().items():
        if name.startswith("artver.cache"):
            bad = {m for m in imported(tree) if m.startswith(above)}
            assert not bad, f"{name} imports {bad}"


def test_core_never_prints_or_exits():
    for name, tree in modules().items():
        if is_cli_layer(name):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = getattr(func, "id", None) or getattr(func, "attr", None)
                assert called not in ("print", "exit"), f"{name}:{node.lineno} calls {called}"


def test_each_third_party_library_lives_behind_one_module():
    owners = {
        "dulwich": {"artver.scm", "artver.history"},
        "networkx": {"artver.stages.graph"},
        "sqlite_utils": {"artver.state"},
        "ruamel": {"artver.yamlio"},
        "typer": {"artver.cli"},
        "rich": {"artver.ui"},
        "pathspec": {"artver.ignore"},
        "vl_convert": {"artver.plots.render"},
    }
    for name, tree in modules().items():
        for lib, allowed in owners.items():
            uses = {m for m in imported(tree) if m == lib or m.startswith(lib + ".")}
            cli_module = lib == "typer" and is_cli_layer(name) and name != "artver.ui"
            assert not uses or name in allowed or cli_module, f"{name} imports {lib}"


def test_filesystem_libraries_live_in_the_remotes_package():
    for name, tree in modules().items():
        for lib in ("fsspec", "s3fs", "gcsfs", "botocore", "aiobotocore", "google"):
            uses = {m for m in imported(tree) if m == lib or m.startswith(lib + ".")}
            assert not uses or name.startswith("artver.remotes."), f"{name} imports {lib}"


def test_version_imports_no_heavy_module():
    code = (
        "import sys; sys.argv = ['artver', '--version']\n"
        "from artver.entry import run_command; run_command()\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith("artver ")
    assert out[1] == "[]"


def test_status_does_not_import_remote_or_graph_libraries(ws):
    ws.write("data/a.txt", "a")
    ws.artver("add", "data")
    code = (
        "import sys; sys.argv = ['artver', 'status']\n"
        "from artver.entry import run_command\n"
        "run_command()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('s3fs', 'gcsfs', 'networkx', 'dulwich', 'fsspec', 'sqlite_utils')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ws.root
    ).stdout.splitlines()
    assert out[0] == "Data is up to date."
    assert out[-1] == "[]"


def _libraries_imported_by(ws, args: list[str], libraries: tuple[str, ...]) -> list[str]:
    """Run `artver ARGS` in a fresh interpreter; which of `libraries` it imported."""
    code = (
        f"import sys; sys.argv = ['artver', *{args!r}]\n"
        "from artver.entry import run_command\n"
        "run_command()\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(libraries)!r}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ws.root
    )
    return eval(proc.stdout.splitlines()[-1])  # a printed list of names


def test_quick_commands_after_init_and_config_need_no_yaml_parser(ws):
    """init and `config KEY VALUE` remember the config's parse in the state DB, so the first
    add and a no-op status read it without importing ruamel.yaml."""
    ws.artver("config", "cache.type", "copy")
    ws.write("data/a.txt", "a")
    assert _libraries_imported_by(ws, ["add", "data"], ("ruamel",)) == []
    assert _libraries_imported_by(ws, ["status"], ("ruamel",)) == []
    (ws.root / ".artver/config.yaml").write_text("cache:\n  type: [hardlink, copy]\n")
    assert _libraries_imported_by(ws, ["status"], ("ruamel",)) == ["ruamel"]  # edited: parsed
    assert ws.artver("config", "cache.type").stdout.strip() == "hardlink,copy"
