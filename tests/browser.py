"""Open an HTML page in headless Chromium with networking off, and check that its charts drew.

Why a real browser: vl-convert renders a spec with its own JavaScript engine, which says nothing
about the page `artver plots show` writes: the inlined vega/vega-lite/vega-embed must load from
the file alone (no CDN), every chart's data must be embedded, and vega-embed must draw each one.
Only a browser that cannot reach the network proves that. One Chromium run gives both the DOM
after the scripts ran (`--dump-dom`) and a screenshot (`--screenshot`), in about a second.

The checks are pure functions on that output (a DOM string, PNG bytes) so that their failure
cases can be tested without a browser. The PNG is decoded with zlib and struct only: Pillow is
not a dependency of this project and is not worth one for counting pixels.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

# Debian's package (scripts/ensure-chromium.sh installs it); a launcher script in /usr/bin.
CHROMIUM = "chromium"

# All requests go to a proxy on the discard port, where nothing listens (connection refused);
# `<-loopback>` removes the proxy bypass Chromium keeps for localhost, so loopback is cut off
# too. Name resolution fails for every host in case anything goes direct. file:// still works.
NETWORK_OFF = (
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
)

# Make a headless run quiet, reproducible and safe to run as root in a container.
HEADLESS = (
    "--headless=new",
    "--no-sandbox",  # root in CI; the page is our own file
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--run-all-compositor-stages-before-draw",  # the screenshot shows what the DOM has
)


@dataclass
class Page:
    """What Chromium saw: the serialised DOM after the scripts ran, a screenshot, its stderr."""

    dom: str
    png: bytes
    stderr: str


def chromium_path() -> str | None:
    """Where `chromium` is on PATH, or None."""
    return shutil.which(CHROMIUM)


def require_chromium() -> str:
    """The path of `chromium`; skip the test without it, except under CI=true, where a missing
    browser fails: CI installs it (`make test` runs scripts/ensure-chromium.sh), so a skip there
    would hide that the browser test stopped running."""
    path = chromium_path()
    if path:
        return path
    message = (
        "chromium is not on PATH (`make test` installs Debian's package via "
        "scripts/ensure-chromium.sh when run as root with apt-get)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def open_page(
    html: Path,
    *,
    window: tuple[int, int] = (1280, 1024),
    budget_ms: int = 10_000,
    timeout_s: float = 60.0,
) -> Page:
    """Load `html` in headless Chromium with networking off; return its DOM and a screenshot.

    `budget_ms` is virtual time: Chromium runs timers and scripts as if that much time passed,
    without waiting for it, then dumps. `timeout_s` bounds the real time; the whole process
    group is killed past it (Chromium starts helper processes)."""
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="artver-chromium-", ignore_cleanup_errors=True) as tmp:
        shot = Path(tmp) / "screenshot.png"
        args = [
            chromium,
            *HEADLESS,
            *NETWORK_OFF,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={shot}",
            "--dump-dom",
            html.resolve().as_uri(),
        ]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=10)
            raise AssertionError(
                f"chromium did not finish {html.name} in {timeout_s:g} s\n{_tail(err)}"
            ) from None
        finally:
            # Helpers that outlive the browser would keep the profile directory busy.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stderr = err.decode(errors="replace")
        assert proc.returncode == 0, f"chromium exited {proc.returncode}\n{_tail(err)}"
        assert shot.is_file(), f"chromium wrote no screenshot\n{_tail(err)}"
        dom = out.decode(errors="replace")
        assert "<html" in dom, f"chromium dumped no DOM\n{_tail(err)}"
        return Page(dom=dom, png=shot.read_bytes(), stderr=stderr)


def _tail(stderr: bytes, limit: int = 4000) -> str:
    """The end of chromium's stderr, for an assertion message (it logs dbus noise first)."""
    text = stderr.decode(errors="replace")
    return "chromium stderr:\n" + (text[-limit:] if text.strip() else "(empty)")


# --- DOM: did every chart draw its data? --------------------------------------------------------

# Elements vega's svg renderer draws an item as (path: line, area, rect, symbol, arc, trail...).
GEOMETRY = {"path", "line", "text", "image", "rect", "circle"}
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


@dataclass
class Node:
    """An element of the dumped DOM (only what the checks look at)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def walk(self):
        """This node and every descendant, in document order."""
        yield self
        for child in self.children:
            yield from child.walk()


class _TreeBuilder(HTMLParser):
    """A forgiving tree from html.parser: end tags close up to their match, void tags none."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse_dom(html: str) -> Node:
    """The document tree of `html`."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


@dataclass
class Chart:
    """One vega-embed container: its label and, per data mark type, the items drawn."""

    label: str
    has_svg: bool
    marks: Counter[str]


def _drawn(node: Node) -> bool:
    """Whether an element inside a mark group has visible geometry, not an empty placeholder."""
    if node.tag == "path":
        return bool(node.attrs.get("d", "").strip())
    if node.tag == "text":
        return bool(node.text.strip())
    return node.tag in GEOMETRY


def charts(dom: str) -> list[Chart]:
    """Every chart container in `dom` (vega-embed gives its target element the class
    `vega-embed`), with the data marks its svg drew: items of `<g class="mark-* role-mark">`
    groups, which hold data; axes, legends and titles have roles of their own."""
    found = []
    for index, node in enumerate(
        (n for n in parse_dom(dom).walk() if "vega-embed" in n.classes), start=1
    ):
        label = f"chart {index}" + (f" (#{node.attrs['id']})" if node.attrs.get("id") else "")
        svgs = [n for n in node.walk() if n.tag == "svg" and "marks" in n.classes]
        marks: Counter[str] = Counter()
        for svg in svgs:
            for group in svg.walk():
                kinds = [c for c in group.classes if c.startswith("mark-")]
                if group.tag != "g" or "role-mark" not in group.classes or not kinds:
                    continue
                drawn = sum(1 for child in group.children if _drawn(child))
                if drawn:
                    marks[kinds[0]] += drawn
        found.append(Chart(label=label, has_svg=bool(svgs), marks=marks))
    return found


def chart_problems(dom: str, expected: int) -> list[str]:
    """Why the page's charts did not all draw (empty when they did): the number of charts is
    not `expected` (a page whose scripts did not run has none), a chart has no svg (vega-embed
    failed, or a renderer other than svg), or a chart's svg has no data mark items (its data
    did not load: vega still draws the axes of an empty chart)."""
    found = charts(dom)
    problems = []
    if len(found) != expected:
        problems.append(f"{len(found)} vega-embed charts on the page, expected {expected}")
    for chart in found:
        if not chart.has_svg:
            problems.append(f"{chart.label}: no <svg class='marks'> (not drawn, or not svg)")
        elif not chart.marks:
            problems.append(f"{chart.label}: svg has no data mark items (data not loaded?)")
    return problems


# --- PNG: is the screenshot more than an empty page? --------------------------------------------


@dataclass
class Image:
    """A decoded 8-bit PNG: rows of raw pixel bytes, `channels` bytes a pixel."""

    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> bytes:
        return self.rows[y][x * self.channels : (x + 1) * self.channels]


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> bytes a pixel at 8 bits (no palette)


def decode_png(data: bytes) -> Image:
    """Decode a non-interlaced 8-bit greyscale/RGB(A) PNG, as Chromium writes screenshots."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert header, "PNG without IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in _CHANNELS and not interlace, f"unsupported PNG {header}"
    bpp = _CHANNELS[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    assert len(raw) >= height * (stride + 1), "PNG data too short"
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1 : start + 1 + stride]
        row = _unfilter(kind, line, prior, bpp)
        rows.append(row)
        prior = row
    return Image(width, height, bpp, rows)


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """Undo one row's PNG filter (RFC 2083 section 6)."""
    if kind == 0:
        return line
    if kind == 2:  # Up: bytewise sum with the row above, done on whole rows at once
        return bytes((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
    out = bytearray(line)
    if kind == 1:  # Sub
        for i in range(bpp, len(out)):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 3:  # Average
        for i in range(len(out)):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:  # Paeth
        for i in range(len(out)):
            a = out[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[i] = (out[i] + pred) & 0xFF
    else:
        raise AssertionError(f"bad PNG filter type {kind}")
    return bytes(out)


@dataclass
class PixelCounts:
    """How much of a screenshot is not the page background, and how much of it is coloured."""

    background: bytes
    differing: int  # pixels not the background colour: anything drawn, axes and text included
    coloured: int  # pixels with hue (channels apart by > 48): data marks; vega's axes are grey


def pixel_counts(png: bytes) -> PixelCounts:
    """Count, in a screenshot, the pixels that differ from the background (the most common
    colour of the four corners) and the coloured ones. Vega draws axes, grid and text in
    greys and data in colour, so a chart with no data leaves `coloured` near zero."""
    image = decode_png(png)
    corners = [image.pixel(x, y) for x in (0, image.width - 1) for y in (0, image.height - 1)]
    background = Counter(corners).most_common(1)[0][0]
    blank_row = background * image.width
    differing = coloured = 0
    ch = image.channels
    for row in image.rows:
        if row == blank_row:
            continue
        for x in range(0, len(row), ch):
            pixel = row[x : x + ch]
            if pixel == background:
                continue
            differing += 1
            if ch >= 3 and max(pixel[:3]) - min(pixel[:3]) > 48:
                coloured += 1
    return PixelCounts(background=background, differing=differing, coloured=coloured)


def screenshot_problems(png: bytes, min_drawn: int = 1000, min_coloured: int = 200) -> list[str]:
    """Why the screenshot does not look like drawn charts (empty when it does): fewer than
    `min_drawn` pixels differ from the background (a blank page), or fewer than `min_coloured`
    are coloured (axes drawn, data not). Totals, not per chart: charts below the window are not
    in the screenshot. Measured here: one empty vega-lite chart draws ~1,700 pixels, none
    coloured; a three-point line ~750 coloured ones."""
    counts = pixel_counts(png)
    problems = []
    if counts.differing < min_drawn:
        problems.append(
            f"screenshot nearly blank: {counts.differing} pixels drawn, need {min_drawn}"
        )
    if counts.coloured < min_coloured:
        problems.append(
            f"screenshot has {counts.coloured} coloured pixels, need {min_coloured} (no data?)"
        )
    return problems
