"""The page and the image files: the only module that imports vl_convert (the `plots` extra).

The page is one self-contained HTML file: the Vega, Vega-Lite and Vega-Embed JavaScript
inlined (`vl_convert.javascript_bundle()`), each chart's spec with its data inlined, images as
`data:` URIs. It opens with no network: no `<script src>`, no stylesheet or font to fetch.
Building the bundle takes vl_convert about two seconds, so it is kept in a file per version of
vl_convert (`bundle_cache`), which later pages read.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artver.errors import ArtverError
from artver.plots.definitions import PlotError

INSTALL_HINT = "pip install 'artver[plots]'"
EMBED_OPTIONS = {
    "renderer": "svg",
    # The actions menu's export entries only; its "Open in Vega Editor" would go online.
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}
STYLE = """\
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; }
h2 { font-size: 1rem; font-family: ui-monospace, Menlo, Consolas, monospace; margin: 0 0 .5rem; }
.plot { margin: 0 0 2rem; }
.image { display: inline-block; margin: 0 1rem 1rem 0; }
.image img { max-width: 100%; }
.rev { font-size: .85rem; color: #555; }
"""


class PlotsExtraMissing(ArtverError):
    """vl-convert-python, which draws the charts, is not installed."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"drawing plots needs vl-convert-python, which cannot be imported ({detail})",
            hint=f"Install it with: {INSTALL_HINT}",
        )


@dataclass
class Chart:
    """One plot on the page: a Vega-Lite spec, or images (one per revision)."""

    id: str
    spec: dict[str, Any] | None = None
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (rev, mime type, bytes)


def vl_convert() -> Any:
    """The vl_convert module, or PlotsExtraMissing naming the extra to install."""
    try:
        import vl_convert as vlc
    except ImportError as exc:
        raise PlotsExtraMissing(str(exc) or "not installed") from None
    return vlc


def to_json(value: Any) -> str:
    """JSON that can sit inside a <script> element (no `</script>`, no NaN)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError as exc:  # a NaN the readers let through would be a bug; say so plainly
        raise PlotError(f"cannot write the plots' data as JSON: {exc}") from None
    # `<` only ever appears inside JSON strings, where \u003c means the same.
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def bundle(cache_dir: Path | None = None) -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (they set `window.vegaEmbed`), from the
    cache in `cache_dir` when it has this vl_convert's, else built (and kept there)."""
    vlc = vl_convert()
    cached = _cached_path(vlc, cache_dir)
    found = _read_cached(cached)
    if found is not None:
        return found
    script = vlc.javascript_bundle()
    if cached is not None:
        from artver.fsutil import atomic_write_text

        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cached, script)
        except OSError:
            pass  # a cache only: the next page builds it again
    return _safe_script(script)


# Run by `PendingBundle` in a child process: build the bundle and write it to argv[1]
# atomically (a temp file beside it, then a rename; SIGTERM and Ctrl-C remove the temp file,
# SIGKILL leaves it to `_remove_stale_temps`).
# It imports vl_convert only, no artver.
_BUILD = """\
import os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # as Ctrl-C: the temp file goes
import vl_convert
path = sys.argv[1]
script = vl_convert.javascript_bundle()
os.makedirs(os.path.dirname(path), exist_ok=True)
tmp = f"{path}.{os.getpid()}.tmp"
try:
    with open(tmp, "w", encoding="utf-8") as fobj:
        fobj.write(script)
    os.replace(tmp, path)
except BaseException:
    if os.path.exists(tmp):
        os.unlink(tmp)
    raise
"""


class PendingBundle:
    """The bundle, built by a child process while the caller reads and lays out its data:
    vl_convert holds the GIL for the ~2 s it takes, so a thread would not overlap with it.
    `result()` waits for it (and builds it here if the child could not); `cancel()` stops it."""

    def __init__(self, cache_dir: Path) -> None:
        import subprocess
        import sys

        self.cache_dir = cache_dir
        self._path = _cached_path(vl_convert(), cache_dir)
        self._text = _read_cached(self._path)
        self._proc = None
        if self._text is None and self._path is not None:
            _remove_stale_temps(self._path.parent)
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _BUILD, str(self._path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError:
                self._proc = None  # built here by result()

    def result(self) -> str:
        if self._text is None:
            if self._proc is not None:
                self._proc.wait()
                self._proc = None
                self._text = _read_cached(self._path)
            if self._text is None:
                self._text = bundle(self.cache_dir)
        return self._text

    def cancel(self) -> None:
        """Stop the child (a command that failed must not leave it spending a core for two
        more seconds). Killed while writing, it leaves a temp file that the next page removes."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None


def _remove_stale_temps(folder: Path, age: float = 600) -> None:
    """The temp files of bundle builds killed mid-write (none is younger than `age` s)."""
    import time

    try:
        for tmp in folder.glob("vega-bundle-*.tmp"):
            if tmp.stat().st_mtime < time.time() - age:
                tmp.unlink()
    except OSError:
        pass


def _cached_path(vlc: Any, cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        return None
    version = re.sub(r"[^\w.-]", "_", str(getattr(vlc, "__version__", "unknown")))
    return cache_dir / f"vega-bundle-{version}.js"


def _read_cached(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _safe_script(text) if "vegaEmbed" in text else None  # a truncated file is no bundle


def _safe_script(script: str) -> str:
    """`script` as it can sit in a <script> element: a `</script` in it would end it early."""
    if re.search(r"</script", script, re.IGNORECASE):
        script = re.sub(r"</(script)", r"<\\/\1", script, flags=re.IGNORECASE)
    return script


def page(charts: list[Chart], title: str, script: str | Callable[[], str]) -> str:
    """The HTML page of `charts`; `script` is the `bundle()`, or what gives it (asked for
    last: `PendingBundle.result` waits for its child process)."""
    parts = []
    specs = {}
    for i, chart in enumerate(charts):
        heading = f"<h2>{html.escape(chart.id)}</h2>"
        if chart.spec is not None:
            specs[f"plot-{i}"] = chart.spec
            parts.append(f'<div class="plot">{heading}<div id="plot-{i}"></div></div>')
            continue
        images = []
        for rev, mime, data in chart.images:
            uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            alt = html.escape(f"{chart.id} ({rev})", quote=True)
            images.append(
                f'<figure class="image"><img src="{uri}" alt="{alt}">'
                f'<figcaption class="rev">{html.escape(rev)}</figcaption></figure>'
            )
        parts.append(f'<div class="plot">{heading}{"".join(images)}</div>')
    body = "\n".join(parts)
    data = to_json(specs)
    if callable(script):
        script = script()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{STYLE}</style>
<script>
{script}
</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
{body}
<script>
const specs = {data};
const options = {to_json(EMBED_OPTIONS)};
for (const [id, spec] of Object.entries(specs)) {{
  vegaEmbed("#" + id, spec, options).catch((err) => {{
    document.getElementById(id).textContent = "This chart could not be drawn: " + err;
  }});
}}
</script>
</body>
</html>
"""


def to_png(spec: dict[str, Any], plot_id: str) -> bytes:
    vlc = vl_convert()
    try:
        return vlc.vegalite_to_png(spec, scale=2)
    except Exception as exc:  # vl_convert raises ValueError with the JavaScript error's text
        raise PlotError(f"cannot draw plot {plot_id}: {exc}") from None


def to_svg(spec: dict[str, Any], plot_id: str) -> str:
    vlc = vl_convert()
    try:
        return vlc.vegalite_to_svg(spec)
    except Exception as exc:
        raise PlotError(f"cannot draw plot {plot_id}: {exc}") from None
