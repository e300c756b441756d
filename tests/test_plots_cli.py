"""`artver plots show` and `artver plots diff` on real Git repositories, through the real CLI.

Drawing costs time (vl-convert builds its JavaScript bundle once per repository, ~2 s, and each
PNG takes ~0.1 s), so one repository is built and drawn once per module, and the tests check
what those runs wrote. The mistakes each get one run in a second repository.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, Result, Workspace

PY = shlex.quote(sys.executable)
TRAIN_NOW = "epoch,loss,acc\n0,0.9,0.111\n1,0.5,0.222\n2,0.25,0.333\n"
TRAIN_HEAD = "epoch,loss,acc\n0,0.9,0.444\n1,0.6,0.555\n2,0.4,0.666\n"
PIPELINE = f"""\
stages:
  curve:
    cmd: {PY} -c "open('curve.csv', 'w').write('a,b\\n1,' + open('level.txt').read())"
    deps: [level.txt]
    plots:
      - curve.csv: {{cache: true, x: a, y: b, template: scatter}}
plots:
  - eval/train.csv:
      x: epoch
      y: [loss, acc]
      title: Training
  - confusion:
      template: confusion
      x: actual
      y: {{dvclive/plots/custom/confusion.json: predicted}}
  - dvclive/plots/metrics:
      x: step
  - eval/importance.png
  - eval/empty.csv
  - eval/odd.json: {{x: t, y: v, template: simple}}
"""


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (a red rectangle)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "ARTVER_")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    return {**env, **GIT_ENV, "HOME": str(home)}


@dataclass
class Repo:
    ws: Workspace
    env: dict[str, str]

    def artver(self, *args: str, expect: int = 0, env: dict | None = None) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "artver", *args],
            cwd=self.ws.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            input="",
            timeout=300,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        assert result.code == expect, f"artver {' '.join(args)}: {result.code}\n{result.output}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.ws.root, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def new_repo(tmp_path_factory, name: str) -> Repo:
    home = tmp_path_factory.mktemp("home")
    root = tmp_path_factory.mktemp(name) / "repo"
    root.mkdir()
    repo = Repo(Workspace(root), _env(home))
    repo.git("init", "-q", "-b", "main")
    repo.artver("init")
    return repo


@dataclass
class Drawn:
    repo: Repo
    show: Result  # `plots show`
    page: str  # the index.html it wrote
    diff: Result  # `plots diff --png --svg -o diff --targets ...`
    diff_json: dict  # `plots diff --json`
    diff_json_stderr: str
    show_json: dict  # `plots show --json`
    show_json_text: str


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> Drawn:
    """A repository with every kind of plot, committed once; then the workspace changes
    (eval/train.csv, and the cached stage output curve.csv), and each command runs once."""
    repo = new_repo(tmp_path_factory, "plots")
    ws = repo.ws
    ws.write("artver.yaml", PIPELINE)
    ws.write("level.txt", "7")
    ws.write("eval/train.csv", TRAIN_HEAD)
    ws.write(
        "dvclive/plots/custom/confusion.json",
        json.dumps([{"actual": a, "predicted": p} for a, p in ["zz", "zy", "yy", "yy", "yz"]]),
    )
    ws.write("dvclive/plots/metrics/loss.tsv", "timestamp\tstep\tloss\n1\t0\t0.876\n2\t1\t0.765\n")
    ws.write("dvclive/plots/metrics/old.tsv", "step\told\n0\t0.5\n")  # removed after the commit
    ws.write("eval/importance.png", png_bytes())
    ws.write("eval/empty.csv", "fpr,tpr\n")
    ws.write("eval/odd.json", '[{"t": 1, "v": NaN}, {"t": 2, "v": Infinity}, {"t": 3, "v": 4.5}]')
    repo.artver("repro")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", "plots")
    ws.write("eval/train.csv", TRAIN_NOW)
    ws.write("level.txt", "8")
    ws.write("artver.yaml", PIPELINE + "  - eval/new.csv\n")  # a plot HEAD does not have
    ws.write("eval/new.csv", "x,y\n1,2\n")
    (ws.root / "dvclive/plots/metrics/old.tsv").unlink()
    repo.artver("repro")

    show = repo.artver("plots", "show")
    page = (ws.root / "artver_plots" / "index.html").read_text(encoding="utf-8")
    targets = ["--targets", "eval/train.csv", "--targets", "confusion"]
    diff = repo.artver("plots", "diff", *targets, "--png", "--svg", "-o", "diff")
    diff_json = repo.artver("plots", "diff", "--json")
    shown = repo.artver("plots", "show", "--json").stdout
    return Drawn(
        repo,
        show,
        page,
        diff,
        json.loads(diff_json.stdout),
        diff_json.stderr,
        json.loads(shown),
        shown,
    )


def plot_of(doc: dict, plot_id: str) -> dict:
    (found,) = [p for p in doc["plots"] if p["id"] == plot_id]
    return found


def values(doc: dict, plot_id: str) -> list[dict]:
    return plot_of(doc, plot_id)["spec"]["data"]["values"]


def test_show_writes_one_page_with_every_plot_and_its_data(drawn):
    index = drawn.repo.ws.root / "artver_plots" / "index.html"
    assert drawn.show.stdout.strip() == index.as_uri()
    for heading in (
        "eval/train.csv",
        "confusion",
        "dvclive/plots/metrics/loss.tsv",
        "eval/importance.png",
        "eval/empty.csv",
        "eval/odd.json",
        "curve.csv",
    ):
        assert f"<h2>{heading}</h2>" in drawn.page, heading
    for datum in ('"acc":0.333', '"loss":0.876', '"predicted":"y"', '"b":8', '"v":4.5'):
        assert datum in drawn.page, datum
    assert '"title":{"text":"Training"' in drawn.page
    assert '"renderer":"svg"' in drawn.page


def test_the_page_loads_nothing_from_the_network(drawn):
    remote = re.findall(
        r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)=["']?(?:https?:)?//[^>]*>""",
        drawn.page,
    )
    assert not remote
    assert "<link" not in drawn.page and "@import" not in drawn.page
    assert "vegaEmbed" in drawn.page and len(drawn.page) > 500_000  # the libraries are inlined
    assert "NaN" not in re.sub(r"<script>\n.*?\n</script>", "", drawn.page, flags=re.DOTALL)


def test_images_are_embedded_in_the_page(drawn):
    encoded = base64.b64encode(png_bytes()).decode()
    assert f'<img src="data:image/png;base64,{encoded}"' in drawn.page


def test_png_and_svg_files_are_written_next_to_the_page(drawn):
    out = drawn.repo.ws.root / "diff"
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion.png",
        "confusion.svg",
        "eval_train.csv.png",
        "eval_train.csv.svg",
        "index.html",
    ]
    for name in ("confusion.png", "eval_train.csv.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, name
    assert 'class="mark-line' in (out / "eval_train.csv.svg").read_text()
    confusion = (out / "confusion.svg").read_text()
    assert confusion.startswith("<svg") and 'class="mark-rect' in confusion
    assert 'class="mark-text' in confusion
    assert f"wrote {os.path.join('diff', 'confusion.png')}" in drawn.diff.stderr


def test_diff_draws_head_and_the_workspace_on_the_same_axes(drawn):
    doc = drawn.diff_json
    assert doc["revisions"] == ["workspace", "HEAD"]
    train = plot_of(doc, "eval/train.csv")
    assert train["revisions"] == ["workspace", "HEAD"]
    rows = train["spec"]["data"]["values"]
    acc = {(r["rev"], r["epoch"]): r["acc"] for r in rows if r["field"] == "acc"}
    assert acc[("workspace", 2)] == 0.333 and acc[("HEAD", 2)] == 0.666
    legend = train["spec"]["encoding"]["color"]["scale"]["domain"]
    assert legend == [
        "workspace::eval/train.csv::loss",
        "workspace::eval/train.csv::acc",
        "HEAD::eval/train.csv::loss",
        "HEAD::eval/train.csv::acc",
    ]
    assert "HEAD::eval/train.csv::acc" in (drawn.repo.ws.root / "diff" / "index.html").read_text()


def test_a_plot_one_revision_lacks_is_drawn_for_the_others_with_a_note(drawn):
    assert plot_of(drawn.diff_json, "eval/new.csv")["revisions"] == ["workspace"]
    assert plot_of(drawn.diff_json, "dvclive/plots/metrics/old.tsv")["revisions"] == ["HEAD"]
    assert drawn.diff_json_stderr == (
        "note: plot dvclive/plots/metrics/old.tsv: dvclive/plots/metrics/old.tsv is not in "
        "the workspace: left out there\n"
        "note: plot eval/new.csv: eval/new.csv is not in HEAD: left out there\n"
    )


def test_diff_reads_a_cached_stage_output_of_a_revision_from_the_cache(drawn):
    assert "curve.csv" in drawn.repo.git("check-ignore", "curve.csv")
    rows = values(drawn.diff_json, "curve.csv")
    assert {(r["rev"], r["b"]) for r in rows} == {("workspace", 8), ("HEAD", 7)}
    assert plot_of(drawn.diff_json, "curve.csv")["source"] == "artver.yaml, stage curve"


def test_json_is_one_document_with_each_plot_spec_and_image_files(drawn):
    doc = drawn.show_json
    assert set(doc) == {"revisions", "plots"} and doc["revisions"] == ["workspace"]
    assert drawn.show_json_text.count("\n") <= 1  # one document, one line when piped
    kinds = {p["id"]: p["type"] for p in doc["plots"]}
    assert kinds == {
        "eval/train.csv": "vega",
        "confusion": "vega",
        "dvclive/plots/metrics/loss.tsv": "vega",
        "eval/importance.png": "image",
        "eval/empty.csv": "vega",
        "eval/odd.json": "vega",
        "curve.csv": "vega",
        "eval/new.csv": "vega",
    }
    train = plot_of(doc, "eval/train.csv")
    assert train["template"] == "linear" and train["files"] == []
    assert train["spec"]["$schema"].endswith("/vega-lite/v5.json")
    (image,) = plot_of(doc, "eval/importance.png")["files"]
    assert Path(image) == drawn.repo.ws.root / "artver_plots/static/workspace_eval_importance.png"
    assert Path(image).read_bytes() == png_bytes()


def test_dvclive_metrics_directory_becomes_one_plot_per_file(drawn):
    plot = plot_of(drawn.show_json, "dvclive/plots/metrics/loss.tsv")
    encoding = plot["spec"]["encoding"]
    assert encoding["x"]["field"] == "step" and encoding["y"]["field"] == "loss"
    assert [(r["step"], r["loss"]) for r in plot["spec"]["data"]["values"]] == [
        (0, 0.876),
        (1, 0.765),
    ]
    confusion = plot_of(drawn.show_json, "confusion")["spec"]
    assert confusion["facet"]["column"]["field"] == "series"
    assert len(confusion["data"]["values"]) == 5


def test_nan_and_infinity_become_null_and_a_header_only_csv_is_an_empty_chart(drawn):
    assert [r["v"] for r in values(drawn.show_json, "eval/odd.json")] == [None, None, 4.5]
    assert "NaN" not in drawn.show_json_text and "Infinity" not in drawn.show_json_text
    empty = plot_of(drawn.show_json, "eval/empty.csv")["spec"]
    assert empty["data"]["values"] == [] and empty["encoding"]["y"]["field"] == "tpr"


def test_a_mistake_leaves_the_page_drawn_before_as_it_was(drawn):
    index = drawn.repo.ws.root / "artver_plots" / "index.html"
    before = index.read_bytes()
    drawn.repo.ws.write("sub/artver.yaml", "plots:\n  - a.csv: {template: nope}\n")
    try:
        result = drawn.repo.artver("plots", "show", expect=1)
    finally:
        (drawn.repo.ws.root / "sub" / "artver.yaml").unlink()
    assert "unknown plot template 'nope'" in result.stderr
    assert index.read_bytes() == before


def test_a_target_limits_the_plots_and_a_file_no_definition_names_is_drawn(drawn):
    repo = drawn.repo
    repo.ws.write("extra/other.tsv", "step\tvalue\n0\t1\n")
    doc = json.loads(repo.artver("plots", "show", "--json", "eval", "extra/other.tsv").stdout)
    assert [p["id"] for p in doc["plots"]] == [
        "eval/train.csv",
        "eval/importance.png",
        "eval/empty.csv",
        "eval/odd.json",
        "eval/new.csv",
        "extra/other.tsv",
    ]
    everything = json.loads(repo.artver("plots", "show", "--json", ".").stdout)
    assert len(everything["plots"]) == 8
    assert plot_of(doc, "extra/other.tsv")["source"] == ""


# -- mistakes -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Repo:
    """A repository whose page was drawn once; each test then breaks its artver.yaml."""
    repo = new_repo(tmp_path_factory, "broken")
    repo.ws.write("data.csv", "epoch,loss\n0,1\n1,0.5\n")
    repo.ws.write("artver.yaml", "plots:\n  - data.csv: {x: epoch, y: loss}\n")
    repo.artver("plots", "show", "--json")  # no page: each mistake must leave none behind
    return repo


@pytest.mark.parametrize(
    "plots, files, message",
    [
        (
            "- eval/missing.csv",
            {},
            "error: plot eval/missing.csv: eval/missing.csv is not in the workspace "
            "(defined in artver.yaml)\nRun the stage that writes it",
        ),
        (
            "- data.csv: {x: epoch, y: acc}",
            {},
            "error: plot data.csv: data.csv (workspace) has no column 'acc'; "
            "its columns are epoch, loss\n",
        ),
        (
            "- data.csv: {template: lines}",
            {},
            "error: plot data.csv (artver.yaml): unknown plot template 'lines' (the templates "
            "are: linear, simple, scatter, scatter_jitter, smooth, confusion, "
            "confusion_normalized, bar_horizontal, bar_horizontal_sorted)\n",
        ),
        (
            "- bad.json",
            {"bad.json": '[{"a": 1},'},
            "error: plot file bad.json is not valid: Expecting value: line 1 column 11",
        ),
        (
            "- ragged.csv",
            {"ragged.csv": "a,b\n1,2\n3,4,5\n"},
            "error: plot file ragged.csv: line 3 has 3 fields, its header 2 (a, b)\n",
        ),
    ],
)
def test_a_mistake_is_one_message_and_writes_nothing(broken, plots, files, message):
    for path, text in files.items():
        broken.ws.write(path, text)
    broken.ws.write("artver.yaml", f"plots:\n  {plots}\n")
    result = broken.artver("plots", "show", expect=1)
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("error:") == 1 and result.stdout == ""
    assert not (broken.ws.root / "artver_plots").exists()


def test_without_vl_convert_drawing_names_the_extra_and_json_still_works(broken, tmp_path):
    (tmp_path / "vl_convert.py").write_text('raise ImportError("No module named vl_convert")\n')
    broken.ws.write("artver.yaml", "plots:\n  - data.csv: {x: epoch, y: loss}\n")
    env = {"PYTHONPATH": str(tmp_path)}
    result = broken.artver("plots", "show", "--png", expect=1, env=env)
    assert result.stderr == (
        "error: drawing plots needs vl-convert-python, which cannot be imported "
        "(No module named vl_convert)\nInstall it with: pip install 'artver[plots]'\n"
    )
    assert not (broken.ws.root / "artver_plots").exists()
    doc = json.loads(broken.artver("plots", "show", "--json", env=env).stdout)
    assert [p["id"] for p in doc["plots"]] == ["data.csv"]


def test_a_target_that_is_neither_a_plot_nor_a_file(broken):
    broken.ws.write("artver.yaml", "plots:\n  - data.csv\n")
    result = broken.artver("plots", "show", "nothing.csv", expect=1)
    assert result.stderr.startswith(
        "error: nothing.csv: no plot has this id or file, and the workspace has no such file"
    )
