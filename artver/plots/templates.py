"""Vega-Lite v5 specs for DVC's plot templates, data inlined. Pure: `ChartData` in, a dict out.

`linear` (lines, a hover tooltip, zoom and pan), `simple` (lines), `scatter` (points),
`scatter_jitter` (points, offset at random so that equal values show), `smooth` (each series
faint, with its loess curve), `confusion` (counts of each (x, y) pair: a heatmap with the
counts written in), `confusion_normalized` (each count over its actual (x) class's total), and
`bar_horizontal` / `bar_horizontal_sorted` (a bar per y category, longest first when sorted).
Every series is coloured by its legend label (the `series` field, see
`artver.plots.datapoints`); confusion matrices get one panel per series instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from artver.plots.datapoints import ChartData
from artver.plots.definitions import PlotError

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH, HEIGHT = 400, 300
SERIES = "series"
Spec = dict[str, Any]


def field_ref(name: str) -> str:
    """A field name as Vega-Lite reads it: `.` and `[]` would otherwise reach inside it."""
    return name.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _datum(name: str) -> str:
    """The field in a Vega expression (`datum["a.b"]`)."""
    return "datum[" + '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def _axis_type(numeric: bool) -> str:
    return "quantitative" if numeric else "nominal"


def _color(data: ChartData) -> dict[str, Any]:
    # An explicit domain keeps the legend in the series' order; it also keeps an empty chart's
    # size finite (an untitled legend with no data and no domain has no bounds).
    return {
        "field": SERIES,
        "type": "nominal",
        "scale": {"domain": list(data.series)},
        "legend": {"title": None},
    }


def _xy(data: ChartData, zero: bool = False) -> dict[str, Any]:
    y = {"field": field_ref(data.y), "type": _axis_type(data.y_numeric), "title": data.y_label}
    if data.y_numeric and not zero:
        y["scale"] = {"zero": False}
    x = {"field": field_ref(data.x), "type": _axis_type(data.x_numeric), "title": data.x_label}
    return {"x": x, "y": y}


def _base(data: ChartData, title: str | None) -> Spec:
    spec: Spec = {"$schema": SCHEMA, "data": {"values": data.rows}}
    if title:
        spec["title"] = {"text": title, "anchor": "middle"}
    return spec


def _zoom() -> dict[str, Any]:
    return {"name": "grid", "select": "interval", "bind": "scales"}


def linear(data: ChartData, title: str | None) -> Spec:
    encoding = {**_xy(data), "color": _color(data)}
    hover = {
        "name": "hover",
        "select": {
            "type": "point",
            "fields": [field_ref(data.x)],
            "nearest": True,
            "on": "mouseover",
            "clear": "mouseout",
        },
    }
    return {
        **_base(data, title),
        "width": WIDTH,
        "height": HEIGHT,
        "encoding": encoding,
        "layer": [
            {"mark": "line", "params": [_zoom()]},
            {
                "mark": {"type": "point", "filled": True, "tooltip": {"content": "data"}},
                "params": [hover],
                "encoding": {
                    "opacity": {
                        "condition": {"param": "hover", "empty": False, "value": 1},
                        "value": 0,
                    }
                },
            },
        ],
    }


def simple(data: ChartData, title: str | None) -> Spec:
    return {
        **_base(data, title),
        "width": WIDTH,
        "height": HEIGHT,
        "mark": {"type": "line", "tooltip": {"content": "data"}},
        "encoding": {**_xy(data), "color": _color(data)},
    }


def scatter(data: ChartData, title: str | None) -> Spec:
    return {
        **_base(data, title),
        "width": WIDTH,
        "height": HEIGHT,
        "mark": {"type": "point", "tooltip": {"content": "data"}},
        "params": [_zoom()],
        "encoding": {**_xy(data), "color": _color(data), "shape": _color(data)},
    }


def scatter_jitter(data: ChartData, title: str | None) -> Spec:
    spec = scatter(data, title)
    spec["transform"] = [
        {"calculate": "random()", "as": "jitter_x"},
        {"calculate": "random()", "as": "jitter_y"},
    ]
    spec["encoding"]["xOffset"] = {"field": "jitter_x", "type": "quantitative"}
    spec["encoding"]["yOffset"] = {"field": "jitter_y", "type": "quantitative"}
    spec.pop("params")
    return spec


def smooth(data: ChartData, title: str | None) -> Spec:
    if not (data.x_numeric and data.y_numeric):
        raise PlotError("the smooth template needs numbers on both axes")
    x, y = _datum(data.x), _datum(data.y)
    encoding = {**_xy(data), "color": _color(data)}
    return {
        **_base(data, title),
        "width": WIDTH,
        "height": HEIGHT,
        "transform": [{"filter": f"isValid({x}) && isValid({y})"}],
        "encoding": encoding,
        "layer": [
            {"mark": {"type": "line", "opacity": 0.2}, "params": [_zoom()]},
            {
                "mark": {"type": "line", "tooltip": True},
                "transform": [
                    {
                        "loess": field_ref(data.y),
                        "on": field_ref(data.x),
                        "groupby": [SERIES],
                        "bandwidth": 0.3,
                    }
                ],
            },
        ],
    }


def _confusion(data: ChartData, title: str | None, normalized: bool) -> Spec:
    x, y = field_ref(data.x), field_ref(data.y)
    transform: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "xy_count"}], "groupby": [SERIES, x, y]},
    ]
    if normalized:  # each count over the total of its actual class (x)
        transform += [
            {
                "joinaggregate": [{"op": "sum", "field": "xy_count", "as": "x_total"}],
                "groupby": [SERIES, x],
            },
            {"calculate": "datum.xy_count / datum.x_total", "as": "value"},
        ]
        color = {"field": "value", "type": "quantitative", "title": "", "scale": {"domain": [0, 1]}}
        text = {"field": "value", "type": "quantitative", "format": ".2f"}
        dark = "datum.value > 0.5"
    else:
        transform += [
            {
                "joinaggregate": [{"op": "max", "field": "xy_count", "as": "max_count"}],
                "groupby": [SERIES],
            },
        ]
        color = {
            "field": "xy_count",
            "type": "quantitative",
            "title": "",
            "scale": {"domainMin": 0, "nice": True},
        }
        text = {"field": "xy_count", "type": "quantitative"}
        dark = "datum.xy_count > datum.max_count / 2"
    return {
        **_base(data, title),
        "facet": {
            "column": {"field": SERIES, "type": "nominal", "sort": list(data.series), "title": None}
        },
        "spec": {
            "width": HEIGHT,
            "height": HEIGHT,
            "transform": transform,
            "encoding": {
                "x": {"field": x, "type": "nominal", "sort": "ascending", "title": data.x_label},
                "y": {"field": y, "type": "nominal", "sort": "ascending", "title": data.y_label},
            },
            "layer": [
                {"mark": {"type": "rect", "tooltip": True}, "encoding": {"color": color}},
                {
                    "mark": "text",
                    "encoding": {
                        "text": text,
                        "color": {"condition": {"test": dark, "value": "white"}, "value": "black"},
                    },
                },
            ],
        },
    }


def confusion(data: ChartData, title: str | None) -> Spec:
    return _confusion(data, title, normalized=False)


def confusion_normalized(data: ChartData, title: str | None) -> Spec:
    return _confusion(data, title, normalized=True)


def _bars(data: ChartData, title: str | None, sort: bool) -> Spec:
    y = {"field": field_ref(data.y), "type": "nominal", "title": data.y_label}
    if sort:
        y["sort"] = "-x"
    return {
        **_base(data, title),
        "width": WIDTH,
        "height": {"step": 20} if len(data.series) <= 2 else {"step": 10 * len(data.series)},
        "mark": {"type": "bar", "tooltip": {"content": "data"}},
        "encoding": {
            "x": {"field": field_ref(data.x), "type": "quantitative", "title": data.x_label},
            "y": y,
            "yOffset": {"field": SERIES, "sort": list(data.series)},
            "color": _color(data),
        },
    }


def bar_horizontal(data: ChartData, title: str | None) -> Spec:
    return _bars(data, title, sort=False)


def bar_horizontal_sorted(data: ChartData, title: str | None) -> Spec:
    return _bars(data, title, sort=True)


TEMPLATES: dict[str, Callable[[ChartData, str | None], Spec]] = {
    "linear": linear,
    "simple": simple,
    "scatter": scatter,
    "scatter_jitter": scatter_jitter,
    "smooth": smooth,
    "confusion": confusion,
    "confusion_normalized": confusion_normalized,
    "bar_horizontal": bar_horizontal,
    "bar_horizontal_sorted": bar_horizontal_sorted,
}


def check(name: str, where: str = "") -> None:
    """PlotError naming `name` and the templates there are, unless it is one of them."""
    if name not in TEMPLATES:
        at = f"{where}: " if where else ""
        raise PlotError(
            f"{at}unknown plot template {name!r} (the templates are: {', '.join(TEMPLATES)})"
        )


def build(name: str, data: ChartData, title: str | None = None) -> Spec:
    """The Vega-Lite spec of template `name` drawing `data`."""
    check(name)
    return TEMPLATES[name](data, title)
