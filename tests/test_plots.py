"""Plots as values: definitions, readers, datapoints and templates, with no filesystem; the page.

The CLI on real repositories is tests/test_plots_cli.py; the page in a browser,
tests/test_plots_browser.py.
"""

from __future__ import annotations

import json
import sys

import pytest

from artver.ops.plots import diff_sides
from artver.plots import definitions, render, templates
from artver.plots.datapoints import X_MANY, Y_MANY, chart_data
from artver.plots.definitions import PlotDef, PlotError, Series
from artver.plots.readers import Table, read_table
from artver.stages.schema import PipelineError, parse_pipeline


def one(item, file: str = "artver.yaml") -> PlotDef:
    (found,) = definitions.top_level([item], file)
    return found


def table(text: str, path: str = "t.csv") -> Table:
    return read_table(text.encode(), path)


# -- definitions ----------------------------------------------------------------------------------
def test_a_path_item_is_a_plot_of_that_file_with_every_default():
    plot = one("eval/loss.csv")
    assert plot == PlotDef(
        id="eval/loss.csv", series=(Series("eval/loss.csv", None),), source="artver.yaml"
    )
    assert plot.template == "linear" and not plot.image
    assert one("eval/importance.png").image


def test_a_file_id_with_x_and_several_y_fields():
    plot = one({"train.csv": {"x": "epoch", "y": ["loss", "acc"], "title": "Training"}})
    assert plot.id == "train.csv" and plot.from_id and plot.title == "Training"
    assert plot.series == (
        Series("train.csv", "loss", "train.csv", "epoch"),
        Series("train.csv", "acc", "train.csv", "epoch"),
    )


def test_a_named_plot_maps_files_to_fields_and_one_x_applies_to_each_file():
    plot = one(
        {"train_vs_val": {"x": "epoch", "y": {"train.json": "loss", "val.json": ["loss", "acc"]}}}
    )
    assert plot.id == "train_vs_val" and not plot.from_id
    assert plot.series == (
        Series("train.json", "loss", "train.json", "epoch"),
        Series("val.json", "loss", "val.json", "epoch"),
        Series("val.json", "acc", "val.json", "epoch"),
    )
    assert plot.files == ("train.json", "val.json")


def test_x_as_a_mapping_per_file_shared_or_paired_in_order():
    per_file = one(
        {"p": {"x": {"a.json": "x1", "b.json": "x2"}, "y": {"a.json": "y1", "b.json": "y2"}}}
    )
    assert [(s.x_file, s.x_field) for s in per_file.series] == [("a.json", "x1"), ("b.json", "x2")]
    shared = one({"p": {"x": {"x.csv": "t"}, "y": {"a.json": "y1", "b.json": "y2"}}})
    assert [(s.x_file, s.x_field) for s in shared.series] == [("x.csv", "t"), ("x.csv", "t")]
    paired = one({"p": {"x": {"c.csv": "u", "d.csv": "v"}, "y": {"a.json": "y1", "b.json": "y2"}}})
    assert [s.x_file for s in paired.series] == ["c.csv", "d.csv"]
    with pytest.raises(PlotError, match="x names 2 files and y 3 fields"):
        one(
            {
                "p": {
                    "x": {"c.csv": "u", "d.csv": "v"},
                    "y": {"a.json": ["y1", "y2"], "b.json": "y3"},
                }
            }
        )


def test_paths_are_relative_to_the_pipeline_file_and_stay_inside_the_repository():
    plot = one({"curves": {"y": {"../shared/roc.json": "tpr"}}}, "sub/artver.yaml")
    assert plot.series[0].file == "shared/roc.json" and plot.id == "curves"
    assert one("loss.csv", "sub/artver.yaml").id == "sub/loss.csv"
    with pytest.raises(PlotError, match="outside the repository"):
        one("../../x.csv", "sub/artver.yaml")
    with pytest.raises(PlotError, match=r"relative to the artver\.yaml"):
        one("/etc/passwd")


@pytest.mark.parametrize(
    "item, message",
    [
        (["a", "b"], "each plot is a file path or a one-key mapping"),
        ({"a.csv": 3}, "its options must be a mapping"),
        ({"a.csv": {"colour": "red"}}, "unknown plot option 'colour'"),
        ({"a.csv": {"y": {"k": "v"}.items}}, "y must be a field name"),
        ({"a.csv": {"x": ["a", "b"]}}, "x must be a field name or a mapping"),
        ({"a.csv": {"title": ["x"]}}, "title must be text"),
        ({"p": {"y": {}}}, "y names no file"),
    ],
)
def test_bad_definitions_name_the_plot_and_the_mistake(item, message):
    with pytest.raises(PlotError, match=message) as exc:
        one(item)
    assert str(exc.value).startswith("artver.yaml, plot")


def test_stage_plots_come_from_the_stage_outs_and_top_level_ones_win():
    text = (
        "stages:\n"
        "  train:\n"
        "    cmd: python train.py\n"
        "    wdir: sub\n"
        "    plots:\n"
        "      - roc.json: {x: fpr, y: tpr, template: scatter}\n"
        "      - loss.csv\n"
        "plots:\n"
        "  - sub/loss.csv: {y: loss}\n"
    )
    pipeline = parse_pipeline(text, "artver.yaml")
    (stage,) = pipeline.stages
    roc = next(o for o in stage.outs if o.path == "sub/roc.json")
    assert (
        roc.plot
        and not roc.cache
        and roc.plot_props
        == (
            ("template", "scatter"),
            ("x", "fpr"),
            ("y", "tpr"),
        )
    )
    found = definitions.collect([(pipeline.file, pipeline.sections["plots"], pipeline.stages)])
    assert [(d.id, d.template, d.source) for d in found] == [
        ("sub/loss.csv", "linear", "artver.yaml"),
        ("sub/roc.json", "scatter", "artver.yaml, stage train"),
    ]
    assert found[0].series[0].field == "loss"


def test_a_stage_plot_takes_only_plot_options():
    with pytest.raises(PipelineError, match="unknown out option 'colour'"):
        parse_pipeline("stages:\n  s:\n    cmd: x\n    plots:\n      - a.csv: {colour: 1}\n", "a")
    with pytest.raises(PipelineError, match="unknown out option 'template'"):
        parse_pipeline("stages:\n  s:\n    cmd: x\n    outs:\n      - a.csv: {template: x}\n", "a")
    pipeline = parse_pipeline(
        "stages:\n  s:\n    cmd: x\n    plots:\n      - a.csv: {y: {a.csv: v}}\n", "a"
    )
    with pytest.raises(PlotError, match="belongs in the top-level"):
        definitions.stage_plots(pipeline.stages)


def test_targets_select_by_id_file_or_directory_and_name_new_files():
    defs = [
        one({"curves": {"y": {"eval/roc.json": "tpr"}}}),
        one("eval/loss.csv"),
        one("train.csv"),
    ]
    assert definitions.select(defs, []) == defs
    assert [d.id for d in definitions.select(defs, ["curves"])] == ["curves"]
    assert [d.id for d in definitions.select(defs, ["eval/roc.json"])] == ["curves"]
    assert [d.id for d in definitions.select(defs, ["eval", "train.csv"])] == [
        "curves",
        "eval/loss.csv",
        "train.csv",
    ]
    (new,) = definitions.select(defs, ["other/data.tsv"])
    assert new == PlotDef(id="other/data.tsv", series=(Series("other/data.tsv", None),))


def test_a_directory_plot_applies_to_each_file_inside():
    plot = one({"dvclive/plots/metrics": {"x": "step"}})
    inner = plot.for_file("dvclive/plots/metrics/loss.tsv")
    assert inner.id == "dvclive/plots/metrics/loss.tsv"
    assert inner.series == (Series(inner.id, None, inner.id, "step"),)


def test_diff_compares_the_revisions_dvc_would():
    assert diff_sides([]) == [None, "HEAD"]  # None: the workspace, always first
    assert diff_sides(["v1"]) == [None, "v1"]
    assert diff_sides(["v1", "v2"]) == ["v1", "v2"]
    assert diff_sides(["v1", "workspace", "v1"]) == [None, "v1"]
    assert diff_sides(["workspace"]) == [None]


# -- readers --------------------------------------------------------------------------------------
def test_csv_and_tsv_numbers_become_numbers():
    found = table("epoch,loss,name,blank\n1,0.5,a,\n2,1e-3,b,x\n-3,nan,c,inf\n")
    assert found.columns == ("epoch", "loss", "name", "blank")
    assert found.rows == [
        {"epoch": 1, "loss": 0.5, "name": "a", "blank": None},
        {"epoch": 2, "loss": 0.001, "name": "b", "blank": "x"},
        {"epoch": -3, "loss": None, "name": "c", "blank": None},
    ]
    tsv = read_table(b"timestamp\tstep\tloss\n1700\t0\t0.9\n1701\t1\t0.7\n", "loss.tsv")
    assert tsv.rows[1] == {"timestamp": 1701, "step": 1, "loss": 0.7}
    assert table("v\n1_000\n0x10\n").rows == [{"v": "1_000"}, {"v": "0x10"}]


def test_a_header_only_csv_is_a_table_without_rows():
    assert table("x,y\n") == Table(("x", "y"), [])
    assert table("") == Table((), [])


def test_json_records_in_a_list_or_a_mapping_and_non_finite_numbers_become_null():
    rows = [{"step": 0, "loss": 1.5}, {"step": 1, "loss": 0.5}]
    assert read_table(json.dumps(rows).encode(), "a.json").rows == rows
    assert read_table(json.dumps({"train": rows}).encode(), "a.json").rows == rows
    merged = read_table(json.dumps({"a": [{"x": 1}], "b": {"c": [{"y": 2}]}}).encode(), "a.json")
    assert merged == Table(("x", "y"), [{"x": 1, "y": 2}])
    text = b'[{"v": NaN}, {"v": Infinity}, {"v": -Infinity}, {"v": 1e999}, {"v": 2}]'
    assert [r["v"] for r in read_table(text, "n.json").rows] == [None, None, None, None, 2]


def test_yaml_records_are_read_with_the_bounded_loader():
    found = read_table(b"- {d: 2024-01-02, v: .nan, 3: x}\n- {d: 2024-01-03, v: 1}\n", "a.yaml")
    assert found.rows == [{"d": "2024-01-02", "v": None, "3": "x"}, {"d": "2024-01-03", "v": 1}]
    bomb = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 7)
    ]
    with pytest.raises(PlotError, match=r"a\.yml: its aliases expand to more than 100,000"):
        read_table("\n".join(bomb).encode(), "a.yml")


@pytest.mark.parametrize(
    "path, data, message",
    [
        ("a.json", b"[{]", r"plot file a.json is not valid: Expecting property name"),
        ("a.json", b'{"k": 1}', "expected a list of records"),
        ("a.json", b"[1, 2]", "record 1 is a number, not a mapping"),
        ("a.csv", b"x,y\n1,2\n3\n", r"line 3 has 1 fields, its header 2 \(x, y\)"),
        ("a.csv", b"x\n\xff\n", "not UTF-8 text"),
        ("a.png", b"\x89PNG", "is an image, not a data file"),
        ("a.txt", b"x", "is not a data file: artver reads .json"),
    ],
)
def test_bad_data_files_name_the_file_and_the_problem(path, data, message):
    with pytest.raises(PlotError, match=message):
        read_table(data, path)


# -- datapoints -----------------------------------------------------------------------------------
TRAIN = Table(
    ("epoch", "loss", "acc"), [{"epoch": e, "loss": 1 / (e + 1), "acc": e / 4} for e in range(3)]
)


def test_without_x_the_row_number_is_step_and_y_is_the_last_column():
    data = chart_data(one("train.csv"), [("workspace", {"train.csv": TRAIN})])
    assert (data.x, data.y, data.x_label, data.y_label) == ("step", "acc", "step", "acc")
    assert [r["step"] for r in data.rows] == [0, 1, 2]
    assert data.series == ("workspace",) and data.rows[0]["rev"] == "workspace"
    assert data.x_numeric and data.y_numeric


def test_several_y_fields_share_one_y_field_and_label_each_series_file_and_field():
    plot = one({"train.csv": {"x": "epoch", "y": ["loss", "acc"]}})
    data = chart_data(plot, [("workspace", {"train.csv": TRAIN})])
    assert (data.x, data.y, data.y_label) == ("epoch", Y_MANY, "y")
    assert data.series == ("train.csv::loss", "train.csv::acc")
    assert [r[Y_MANY] for r in data.rows[:3]] == [r["loss"] for r in TRAIN.rows]
    assert {r["field"] for r in data.rows} == {"loss", "acc"}


def test_revisions_go_on_the_same_axes_each_with_its_label():
    old = Table(TRAIN.columns, [{**r, "acc": 0} for r in TRAIN.rows])
    plot = one({"train.csv": {"x": "epoch", "y": "acc"}})
    data = chart_data(plot, [("workspace", {"train.csv": TRAIN}), ("HEAD", {"train.csv": old})])
    assert data.series == ("workspace", "HEAD") and data.revs == ("workspace", "HEAD")
    assert [(r["rev"], r["acc"]) for r in data.rows][-1] == ("HEAD", 0)
    named = one({"p": {"y": {"a/train.csv": "acc", "a/val.csv": "acc"}}})
    data = chart_data(named, [("v1", {"a/train.csv": TRAIN, "a/val.csv": old})])
    assert data.series == ("train.csv", "val.csv")  # the shared directory left out
    both = chart_data(named, [("v1", {"a/train.csv": TRAIN, "a/val.csv": old}), ("v2", {})])
    assert both.revs == ("v1",)  # v2 lacks the files


def test_x_from_another_file_is_joined_row_by_row():
    xs = Table(("t",), [{"t": 10}, {"t": 20}, {"t": 30}])
    plot = one({"p": {"x": {"time.csv": "t"}, "y": {"train.csv": "loss"}}})
    data = chart_data(plot, [("workspace", {"train.csv": TRAIN, "time.csv": xs})])
    assert [r["t"] for r in data.rows] == [10, 20, 30]
    short = Table(("t",), [{"t": 10}])
    with pytest.raises(PlotError, match=r"cannot join x column 't' of time.csv \(1 rows\)"):
        chart_data(plot, [("workspace", {"train.csv": TRAIN, "time.csv": short})])
    two_x = one(
        {"p": {"x": {"a.csv": "epoch", "b.csv": "t"}, "y": {"a.csv": "loss", "b.csv": "t"}}}
    )
    data = chart_data(two_x, [("workspace", {"a.csv": TRAIN, "b.csv": xs})])
    assert data.x == X_MANY and [r[X_MANY] for r in data.rows] == [0, 1, 2, 10, 20, 30]


def test_a_missing_column_names_the_file_the_column_and_the_columns_there():
    plot = one({"train.csv": {"x": "epoch", "y": "los"}})
    with pytest.raises(PlotError) as exc:
        chart_data(plot, [("HEAD", {"train.csv": TRAIN})])
    assert str(exc.value) == (
        "plot train.csv: train.csv (HEAD) has no column 'los'; its columns are epoch, loss, acc"
    )
    with pytest.raises(PlotError, match="has no column 'time'"):
        chart_data(one({"train.csv": {"x": "time"}}), [("HEAD", {"train.csv": TRAIN})])


# -- templates ------------------------------------------------------------------------------------
def spec_of(template: str, plot: PlotDef | None = None, tables=None) -> dict:
    plot = plot or one({"train.csv": {"x": "epoch", "y": ["loss", "acc"]}})
    data = chart_data(plot, tables or [("workspace", {"train.csv": TRAIN})])
    return templates.build(template, data, "Title")


@pytest.mark.parametrize("name", list(templates.TEMPLATES))
def test_every_template_is_a_vega_lite_5_spec_with_the_data_inlined(name):
    conf = Table(("actual", "predicted"), [{"actual": "a", "predicted": "b"}])
    plot = one({"c.json": {"x": "actual", "y": "predicted"}}) if "confusion" in name else None
    tables = [("workspace", {"c.json": conf})] if plot else None
    spec = spec_of(name, plot, tables)
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert spec["data"]["values"] and spec["title"] == {"text": "Title", "anchor": "middle"}
    json.dumps(spec, allow_nan=False)


def test_line_templates_colour_each_series_with_a_legend():
    spec = spec_of("linear")
    color = spec["encoding"]["color"]
    assert color["field"] == "series"
    assert color["scale"]["domain"] == ["train.csv::loss", "train.csv::acc"]
    assert spec["encoding"]["x"] == {"field": "epoch", "type": "quantitative", "title": "epoch"}
    assert spec_of("simple")["mark"]["type"] == "line"
    assert spec_of("scatter")["mark"]["type"] == "point"


def test_smooth_draws_a_loess_curve_over_each_series():
    spec = spec_of("smooth")
    loess = spec["layer"][1]["transform"][0]
    assert loess["loess"] == Y_MANY and loess["on"] == "epoch" and loess["groupby"] == ["series"]
    assert spec["layer"][0]["mark"]["opacity"] == 0.2
    words = Table(("x", "y"), [{"x": "a", "y": 1}])
    with pytest.raises(PlotError, match="needs numbers"):
        spec_of("smooth", one({"w.csv": {"x": "x", "y": "y"}}), [("ws", {"w.csv": words})])


def test_confusion_counts_each_pair_and_the_normalized_one_divides_by_the_actual_class():
    conf = Table(("actual", "predicted"), [{"actual": "a", "predicted": "b"}])
    plot = one({"c.json": {"x": "actual", "y": "predicted", "template": "confusion"}})
    spec = spec_of("confusion", plot, [("workspace", {"c.json": conf}), ("HEAD", {"c.json": conf})])
    inner = spec["spec"]
    assert spec["facet"]["column"]["field"] == "series"
    assert inner["transform"][0] == {
        "aggregate": [{"op": "count", "as": "xy_count"}],
        "groupby": ["series", "actual", "predicted"],
    }
    assert [layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]
            for layer in inner["layer"]] == ["rect", "text"]  # fmt: skip
    normalized = spec_of("confusion_normalized", plot, [("workspace", {"c.json": conf})])
    total = normalized["spec"]["transform"][1]
    assert total["groupby"] == ["series", "actual"] and total["joinaggregate"][0]["op"] == "sum"


def test_horizontal_bars_and_their_sorted_form():
    spec = spec_of("bar_horizontal")
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["type"] == "nominal"
    assert "sort" not in spec["encoding"]["y"]
    assert spec_of("bar_horizontal_sorted")["encoding"]["y"]["sort"] == "-x"


def test_an_unknown_template_is_named_with_the_valid_ones():
    with pytest.raises(PlotError) as exc:
        templates.check("lines", "plot a.csv")
    assert str(exc.value) == (
        "plot a.csv: unknown plot template 'lines' (the templates are: linear, simple, scatter, "
        "scatter_jitter, smooth, confusion, confusion_normalized, bar_horizontal, "
        "bar_horizontal_sorted)"
    )


def test_field_names_with_dots_and_brackets_are_escaped():
    assert templates.field_ref("train.loss[0]") == "train\\.loss\\[0\\]"
    dotted = Table(("m.loss",), [{"m.loss": 1}])
    spec = spec_of("simple", one("d.csv"), [("ws", {"d.csv": dotted})])
    assert spec["encoding"]["y"]["field"] == "m\\.loss"


# -- the page -------------------------------------------------------------------------------------
def test_the_page_holds_every_chart_and_image_and_loads_nothing():
    charts = [
        render.Chart("eval/a<b>.csv", {"data": {"values": [{"s": "</script><b>"}]}}),
        render.Chart("eval/img.png", images=[("HEAD", "image/png", b"\x89PNG..")]),
    ]
    html = render.page(charts, "artver plots: workspace", "/* the bundle */")
    assert "<h2>eval/a&lt;b&gt;.csv</h2>" in html and "<h2>eval/img.png</h2>" in html
    assert 'src="data:image/png;base64,iVBORy4u"' in html and "/* the bundle */" in html
    assert "</script><b>" not in html and "\\u003c/script>\\u003cb>" in html
    assert '"renderer":"svg"' in html and '"editor":false' in html
    assert "<script src" not in html and "<link" not in html
    with pytest.raises(PlotError, match="cannot write the plots' data as JSON"):
        render.to_json({"v": float("nan")})


def test_without_vl_convert_one_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # `import vl_convert` raises ImportError
    with pytest.raises(render.PlotsExtraMissing) as exc:
        render.bundle(None)
    assert exc.value.exit_code == 1
    assert "pip install 'artver[plots]'" in str(exc.value)
