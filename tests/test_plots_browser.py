"""The plots page draws in a real browser with the network off: every chart shows its data.

Why: `artver plots show` promises a self-contained page (vega, vega-lite and vega-embed inlined,
data embedded) that works offline. Only a browser proves that: a chart whose data or library is
fetched from the network draws empty axes or nothing, and no Python-side check sees it.

The harness (tests/browser.py) is first proved on pages built here with vl-convert: it must see
the marks of good charts and flag a chart whose data URL is on the network (a loopback server
that must receive no request), a page whose scripts did not run, and blank or grey screenshots.
Then the page `artver plots show` writes is opened the same way.

Chromium is Debian's package, installed by `make test` (scripts/ensure-chromium.sh); without it
these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import functools
import json
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import vl_convert

from tests import browser
from tests.conftest import Workspace

LINE = {
    "data": {"values": [{"step": i, "loss": round(1 / (i + 1), 3)} for i in range(5)]},
    "mark": "line",
    "encoding": {
        "x": {"field": "step", "type": "quantitative"},
        "y": {"field": "loss", "type": "quantitative"},
    },
}
CONFUSION = {
    "data": {
        "values": [
            {"actual": a, "predicted": p} for a, p in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 0)]
        ]
    },
    "encoding": {
        "x": {"field": "predicted", "type": "nominal"},
        "y": {"field": "actual", "type": "nominal"},
    },
    "layer": [
        {"mark": "rect", "encoding": {"color": {"aggregate": "count", "type": "quantitative"}}},
        {"mark": "text", "encoding": {"text": {"aggregate": "count", "type": "quantitative"}}},
    ],
}


def network_chart(url: str) -> dict:
    """A chart whose data is fetched from `url`: with the network off it must draw no marks."""
    return {
        "data": {"url": url},
        "mark": "point",
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative"},
        },
    }


@functools.cache
def bundle_head() -> str:
    """vl-convert's `<head>` with vega, vega-lite and vega-embed inlined (~0.9 MB; its first
    call takes ~2 s, so once a process)."""
    html = vl_convert.vegalite_to_html(LINE, bundle=True)
    # The bundle's JavaScript contains "<body>" in a string: cut at the last </head>.
    return html[: html.rindex("</head>")]


def bundled_page(specs: list[dict]) -> str:
    """A self-contained page with one svg chart per spec, the shape `artver plots show` writes:
    vl-convert's bundled `<head>` (vega, vega-lite, vega-embed inlined), then a div and a
    vegaEmbed call per chart."""
    head = bundle_head()
    divs = "".join(f'<div id="chart-{i}"></div>' for i in range(len(specs)))
    calls = "".join(
        f"vegaEmbed('#chart-{i}', {json.dumps(spec)}, {{renderer: 'svg'}}).catch(console.error);"
        for i, spec in enumerate(specs)
    )
    return f"{head}</head><body>{divs}<script>{calls}</script></body></html>"


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving chart data (CORS open): its URL and the paths it was
    asked for. If the browser's network were on, it would load from here and draw."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'[{"x": 1, "y": 2}, {"x": 2, "y": 3}]'
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_harness_sees_drawn_charts_and_flags_one_whose_data_is_on_the_network(
    tmp_path: Path, loopback: tuple[str, list[str]]
) -> None:
    """One browser run, four charts: a line and a confusion matrix draw; the other two fetch their
    data from a live loopback server, by IP and by name, which must get no request, so they are
    the only charts flagged. Proves per-chart detection, and that the network is off without
    needing one."""
    url, hits = loopback
    by_name = url.replace("127.0.0.1", "localhost") + "/name.json"
    page_path = tmp_path / "index.html"
    page_path.write_text(
        bundled_page([LINE, CONFUSION, network_chart(f"{url}/ip.json"), network_chart(by_name)]),
        encoding="utf-8",
    )
    page = browser.open_page(page_path)

    assert hits == [], f"the browser reached the network: {hits}"
    found = {chart.label: chart.marks for chart in browser.charts(page.dom)}
    assert found["chart 1 (#chart-0)"]["mark-line"] == 1, found
    assert found["chart 2 (#chart-1)"]["mark-rect"] == 4, found  # 4 distinct (actual, predicted)
    assert found["chart 2 (#chart-1)"]["mark-text"] == 4, found
    assert browser.chart_problems(page.dom, expected=4) == [
        "chart 3 (#chart-2): svg has no data mark items (data not loaded?)",
        "chart 4 (#chart-3): svg has no data mark items (data not loaded?)",
    ]
    assert browser.chart_problems(page.dom, expected=5)[0] == (
        "4 vega-embed charts on the page, expected 5"
    )
    assert browser.screenshot_problems(page.png) == [], browser.pixel_counts(page.png)


def test_dom_check_fails_when_scripts_did_not_run_or_marks_are_empty() -> None:
    """The DOM a browser leaves when the page's scripts failed is the static HTML: no chart
    container has been embedded. A canvas chart, or an svg whose mark groups are empty or
    hold only empty paths, is not a drawn chart either."""
    html = bundled_page([LINE, CONFUSION])
    no_scripts = re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL)
    assert browser.chart_problems(no_scripts, expected=2) == [
        "0 vega-embed charts on the page, expected 2"
    ]

    def chart(inner: str) -> str:
        return f'<div id="c" class="vega-embed">{inner}</div>'

    canvas = chart('<canvas class="marks" width="300" height="300"></canvas>')
    axes_only = chart(
        '<svg class="marks"><g class="mark-group role-axis"><g class="mark-rule role-axis-grid">'
        '<line x2="300"></line></g></g><g class="mark-line role-mark"></g></svg>'
    )
    empty_path = chart(
        '<svg class="marks"><g class="mark-line role-mark"><path d=""></path></g></svg>'
    )
    drawn = chart(
        '<svg class="marks"><g class="mark-line role-mark"><path d="M0,0L9,9"></path></g></svg>'
    )
    assert browser.chart_problems(canvas, 1) == [
        "chart 1 (#c): no <svg class='marks'> (not drawn, or not svg)"
    ]
    for dom in (axes_only, empty_path):
        assert browser.chart_problems(dom, 1) == [
            "chart 1 (#c): svg has no data mark items (data not loaded?)"
        ]
    assert browser.chart_problems(drawn, 1) == []


def encode_png(
    width: int, height: int, pixel: Callable[[int, int], bytes], channels: int = 3
) -> bytes:
    """A PNG whose rows cycle through all five filter types, so decoding is tested on each."""

    def paeth(a: int, b: int, c: int) -> int:
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else (b if pb <= pc else c)

    raw, prior = bytearray(), bytes(width * channels)
    for y in range(height):
        row = b"".join(pixel(x, y) for x in range(width))
        kind = y % 5
        out = bytearray([kind])
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b, c = prior[i], prior[i - channels] if i >= channels else 0
            pred = (0, a, b, (a + b) >> 1, paeth(a, b, c))[kind]
            out.append((value - pred) & 0xFF)
        raw += out
        prior = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    colour = {3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def test_png_decoding_and_screenshot_check() -> None:
    """The decoder undoes every filter type exactly; a blank page and a page with only grey
    axes fail the screenshot check, one with coloured marks passes."""

    def noise(x: int, y: int) -> bytes:
        return bytes([(x * 7 + y * 13) % 256, (x * y) % 256, (x + 3 * y) % 256, 255])

    image = browser.decode_png(encode_png(23, 11, noise, channels=4))
    assert (image.width, image.height, image.channels) == (23, 11, 4)
    assert all(image.pixel(x, y) == noise(x, y) for x in range(23) for y in range(11))

    white, grey, blue = b"\xff\xff\xff", b"\x88\x88\x88", b"\x4c\x78\xa8"

    def axes(x: int, y: int) -> bytes:
        return grey if x == 10 or y == 50 else white

    def chart(x: int, y: int) -> bytes:
        return blue if 20 <= x < 60 and 10 <= y < 40 else axes(x, y)

    blank = encode_png(100, 60, lambda x, y: white)
    assert browser.screenshot_problems(blank) == [
        "screenshot nearly blank: 0 pixels drawn, need 1000",
        "screenshot has 0 coloured pixels, need 200 (no data?)",
    ]
    assert browser.screenshot_problems(encode_png(100, 60, axes), min_drawn=100) == [
        "screenshot has 0 coloured pixels, need 200 (no data?)"
    ]
    counts = browser.pixel_counts(encode_png(100, 60, chart))
    assert (counts.background, counts.differing, counts.coloured) == (white, 1359, 1200)
    assert browser.screenshot_problems(encode_png(100, 60, chart)) == []


def test_plots_show_page_draws_every_chart_offline(ws: Workspace) -> None:
    """`artver plots show` on a repo with a linear plot of a JSON file and a confusion plot of
    a CSV writes artver_plots/index.html; in a browser with no network both charts draw their
    data and the screenshot shows them."""
    browser.require_chromium()
    ws.write(
        "artver.yaml",
        "plots:\n"
        "  - loss.json:\n"
        "      x: step\n"
        "      y: loss\n"
        "  - confusion:\n"
        "      template: confusion\n"
        "      x: actual\n"
        "      y:\n"
        "        cm.csv: predicted\n",
    )
    ws.write("loss.json", json.dumps([{"step": i, "loss": 1 / (i + 1)} for i in range(6)]))
    ws.write("cm.csv", "actual,predicted\ncat,cat\ncat,dog\ndog,dog\ndog,dog\nbird,cat\n")
    ws.commit("plots")

    ws.artver("plots", "show")
    index = ws.root / "artver_plots" / "index.html"
    assert index.is_file(), sorted(p.name for p in ws.root.iterdir())
    html = index.read_text(encoding="utf-8")
    remote = re.findall(r"""<(?:script|link)\b[^>]*(?:src|href)=["']?(?:https?:)?//[^>]*>""", html)
    assert not remote, f"the page loads from the network: {remote}"

    page = browser.open_page(index)
    assert browser.chart_problems(page.dom, expected=2) == [], [
        (chart.label, dict(chart.marks)) for chart in browser.charts(page.dom)
    ]
    assert browser.screenshot_problems(page.png) == [], browser.pixel_counts(page.png)
