"""Pointer files read without the YAML parser (the canonical text `add` writes) read exactly as
the YAML parser reads them; anything else still goes through the parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from artver import pointer
from artver.yamlio import dump_plain, load_yaml

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
    assert text == dump_plain(pointer.Pointer(Path("x.artver"), [out]).to_dict())
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


@pytest.mark.parametrize("path", ["true", "1.5", "with space", "a: b"])
def test_paths_yaml_would_misread_are_written_by_the_yaml_emitter(path):
    out = pointer.Output(path, OID, 1)
    text = pointer.dump(pointer.Pointer(Path("x.artver"), [out]))
    assert pointer._canonical(text, Path("x.artver")) is None
    assert load_yaml(text)["outs"][0]["path"] == path


def test_a_pointer_with_keys_of_its_own_keeps_them(tmp_path):
    text = f"outs:\n- path: data\n  hash: xxh3-128\n  oid: {OID}\n  size: 1\n  desc: raw\nmeta: 1\n"
    parsed = pointer.parse(text, tmp_path / "data.artver", "data.artver")
    again = load_yaml(pointer.dump(parsed))
    assert again["outs"][0]["desc"] == "raw" and again["meta"] == 1
