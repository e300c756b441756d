"""Plot data files -> rows: JSON, YAML, CSV and TSV, as DVC reads them. Pure: bytes in.

- JSON and YAML: a list of records (mappings), or a mapping whose lists of records hold them
  (`{"train": [{...}, ...]}`; several such lists are merged row by row, as DVC merges them).
  `NaN`, `Infinity` and `-Infinity`, which Python's json accepts (and dvclive and numpy
  write), become null: Vega skips them, and the page stays valid JSON.
- CSV and TSV: a header row, then rows of as many fields. Numbers become numbers (`nan` and
  `inf` null, an empty field null); a file with only a header is a table with no rows (an
  empty chart). dvclive's `plots/metrics/*.tsv` and `plots/custom/*.json` are such files.

Sizes are bounded as every file artver parses is (`artver.safetext`); YAML goes through
`artver.yamlio`'s bounded loader.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from artver.plots.definitions import PlotError, is_image
from artver.safetext import PARAMS_MAX, BadText, MiB, check_nesting, decode

# CSV, TSV and JSON: parsed at ~30 MB/s, so a file at the limit takes about two seconds.
# YAML is bounded like a params file (PARAMS_MAX): its parser is slower.
DATA_MAX = 64 * MiB
TABLE_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".tsv")
MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".gif": "image/gif",
}
_NONFINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_NUMBER_START = set("0123456789+-.")


@dataclass(frozen=True)
class Table:
    """A data file's rows, and its columns in the order they first appear."""

    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


def suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_table(path: str) -> bool:
    return suffix(path) in TABLE_SUFFIXES


def mime_type(path: str) -> str:
    """The media type of an image file (`is_image(path)`)."""
    return MIME[suffix(path)]


def read_table(data: bytes, path: str, where: str | None = None) -> Table:
    """The rows of the data file `path` whose bytes are `data`; `where` names it in messages
    (default: `path`; e.g. `eval/roc.json (HEAD)`)."""
    where = where or path
    kind = suffix(path)
    if kind not in TABLE_SUFFIXES:
        images = ", ".join(MIME)
        what = "an image, not a data file" if is_image(path) else "not a data file"
        raise PlotError(
            f"plot file {where} is {what}: artver reads {', '.join(TABLE_SUFFIXES)} data "
            f"files and {images} images"
        )
    limit = PARAMS_MAX if kind in (".yaml", ".yml") else DATA_MAX
    try:
        text = decode(data, limit, "plot data")
        if kind in (".csv", ".tsv"):
            return _delimited(text, "," if kind == ".csv" else "\t", where)
        if kind == ".json":
            doc = json.loads(text, parse_constant=lambda _: None, parse_float=_json_float)
            check_nesting(doc)
        else:
            from artver.yamlio import load_yaml

            doc = _clean(load_yaml(text))
    except BadText as exc:
        raise PlotError(f"plot file {where}: {exc}") from None
    except RecursionError:
        raise PlotError(f"plot file {where}: it nests lists and mappings too deeply") from None
    except PlotError:
        raise
    except Exception as exc:  # each parser has its own error class; all mean "bad file"
        raise PlotError(f"plot file {where} is not valid: {exc}") from None
    return _records(doc, where)


def _delimited(text: str, delimiter: str, where: str) -> Table:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return Table((), [])
        width = len(header)
        lines = []
        for line in reader:
            if len(line) != width:
                if not line:
                    continue  # a blank line
                raise PlotError(
                    f"plot file {where}: line {reader.line_num} has {len(line)} fields, "
                    f"its header {width} ({', '.join(header)})"
                )
            lines.append(line)
    except csv.Error as exc:
        raise PlotError(f"plot file {where}, line {reader.line_num}: {exc}") from None
    # Column by column: a column of numbers is converted by one map() in C.
    # (Every line has the header's width, checked above: the zips are of equal lengths.)
    columns = [_column(column) for column in zip(*lines, strict=True)] if lines else []
    rows = [dict(zip(header, values, strict=True)) for values in zip(*columns, strict=True)]
    return Table(tuple(dict.fromkeys(header)), rows)


def _column(texts: tuple[str, ...]) -> list[Any]:
    """A CSV column's values: all ints, all floats (non-finite ones null), else one by one."""
    if "_" not in "".join(texts):  # int() and float() accept 1_000; a CSV means text by it
        for kind in (int, float):
            try:
                values = list(map(kind, texts))
            except ValueError:
                continue
            if kind is float and not math.isfinite(sum(values)):  # inf, or a nan
                values = [v if math.isfinite(v) else None for v in values]
            return values
    return [_number(text) for text in texts]


def _json_float(text: str) -> float | None:
    number = float(text)  # 1e999 overflows to inf
    return number if math.isfinite(number) else None


def _number(text: str) -> Any:
    """A CSV field as a number where it reads as one (int, float; null for nan and inf)."""
    value = text.strip()
    if not value:
        return None
    if value[0] in _NUMBER_START and "_" not in value:
        try:
            if value.lstrip("+-").isdigit():
                return int(value)
            number = float(value)
        except ValueError:
            return text
        return number if math.isfinite(number) else None
    if value.lower() in _NONFINITE:
        return None
    return text


def _records(doc: Any, where: str) -> Table:
    """The rows of a parsed JSON or YAML document (DVC's `get_datapoints`)."""
    if doc is None:
        return Table((), [])
    lists = [doc] if isinstance(doc, list) else list(_lists(doc))
    if not lists:
        raise PlotError(
            f"plot file {where}: expected a list of records, or a mapping holding one "
            "(`{name: [{field: value, ...}, ...]}`)"
        )
    rows: list[dict[str, Any]] = []
    for found in lists:
        for i, record in enumerate(found):
            if not isinstance(record, dict):
                raise PlotError(
                    f"plot file {where}: record {i + 1} is {_kind(record)}, not a mapping "
                    "of fields to values"
                )
            if i < len(rows):
                rows[i].update(record)
            else:
                rows.append(dict(record))
    columns: dict[str, None] = {}
    for row in rows:
        if len(row) != len(columns) or any(k not in columns for k in row):
            columns.update(dict.fromkeys(row))
    return Table(tuple(columns), rows)


def _lists(doc: Any):
    """The lists in a mapping, at any depth, in order."""
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, list):
                yield value
            elif isinstance(value, dict):
                yield from _lists(value)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "text"


def _clean(value: Any) -> Any:
    """A YAML value as JSON holds it: text keys; dates and other scalars as text; nan and
    inf null. yamlio bounds the nesting this recursion follows."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
