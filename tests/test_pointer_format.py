"""Pointer files read without the YAML parser (the canonical text `add` writes) read exactly as
the YAML parser reads them; anything else still goes through the parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from artver import pointer
from artver.yamlio import load_yaml

OID = "95da463b28cf29f5a2067df2097e03e1"


@pytest.mark.parametrize(
    "out",
    [
        pointer.Output("data", OID + ".dir", 11328, 6),
        pointer.Output("model.pkl", OID, 40000),
        pointer.Output("sub/dir/x_1.csv", OID, 0),
        pointer.Output("data-2024.v1", OID, 7, 0),
    ],
)
def test_what_add_writes_reads_the_same_with_and_without_the_parser(out):
    text = pointer.dump(pointer.Pointer(Path("x.artver"), [out]))
    assert pointer._canonical(text, Path("x.artver")) is not None, text
    fast = pointer.parse(text, Path("x.artver"), "x.artver")
    slow = pointer.Pointer(
        Path("x.artver"), [pointer.Output.from_dict(load_yaml(text)["outs"][0], "w")]
    )
    assert fast.to_dict() == slow.to_dict()


@pytest.mark.parametrize(
    "path", ["true", "Null", "a/../b", "./a", "1.5", "2024-01-01", "'quoted'", "with space"]
)
def test_other_paths_go_through_the_parser(path):
    text = f"outs:\n- path: {path}\n  hash: xxh3-128\n  oid: {OID}\n  size: 1\n"
    assert pointer._canonical(text, Path("x.artver")) is None
