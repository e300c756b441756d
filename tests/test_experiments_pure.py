"""The decisions of experiments, without a filesystem: -S parsing and sweeps, applying them,
commit messages, names, the table, and which queued experiment starts next."""

from __future__ import annotations

import random

import pytest

from artver.errors import UsageError
from artver.experiments import overrides as ov
from artver.experiments import records, table
from artver.experiments.parallel import Waiting, peak, startable
from artver.experiments.runner import Queued
from artver.stages.resources import ResourcePool
from artver.stages.schema import Resources


def test_parse_forms():
    assert ov.parse("train.lr=0.1") == ov.Spec(
        "params.yaml", "train.lr", ov.SET, (0.1,), "train.lr=0.1"
    )
    spec = ov.parse("conf/p.json:+opt.name=adam")
    assert (spec.file, spec.key, spec.op, spec.values) == (
        "conf/p.json",
        "opt.name",
        ov.ADD,
        ("adam",),
    )
    assert ov.parse("++a=[1, 2]").values == ([1, 2],)  # a list is one value, not a sweep
    assert ov.parse("~a.b").op == ov.DELETE
    assert ov.parse("a=").values == ("",)
    assert ov.parse("a='x, y'").values == ("x, y",)


def test_sweeps():
    assert ov.parse("a=1,2,3").values == (1, 2, 3)
    assert ov.parse("a=range(2,8,2)").values == (2, 4, 6)
    assert ov.parse("a=range(3)").values == (0, 1, 2)
    assert ov.parse("a=range(0.1, 0.35, 0.1)").values == pytest.approx((0.1, 0.2, 0.3))
    assert ov.parse("a=range(5,1,-2)").values == (5, 3)
    assert ov.parse("a=choice(adam, sgd)").values == ("adam", "sgd")
    product = ov.expand([ov.parse("a=1,2"), ov.parse("b=x,y,z")])
    assert len(product) == 6
    assert [(o.key, o.value) for o in product[0]] == [("a", 1), ("b", "x")]
    assert ov.is_sweep([ov.parse("a=1,2")]) and not ov.is_sweep([ov.parse("a=1")])
    assert ov.expand([]) == [[]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("novalue", "expected [FILE:]KEY=VALUE"),
        ("a b=1", "is not a params key"),
        (":a=1", "no file before ':'"),
        ("/etc/p.yaml:a=1", "inside the repository"),
        ("~a=1", "takes no value"),
        ("a=range(1,2,0)", "step cannot be 0"),
        ("a=range(x)", "range() takes 1 to 3 numbers"),
        ("a=choice()", "at least one value"),
        ("a=range(0,100000)", None),
    ],
)
def test_parse_refuses(text, message):
    with pytest.raises(UsageError) as caught:
        ov.expand([ov.parse(text)])
    if message:
        assert message in caught.value.message


def test_expand_refuses_the_same_key_twice_and_huge_products():
    with pytest.raises(UsageError, match="set the same key"):
        ov.expand([ov.parse("a=1"), ov.parse("a=2")])
    with pytest.raises(UsageError, match="at most"):
        ov.expand([ov.parse("a=range(200)"), ov.parse("b=range(200)")])


def test_apply_keeps_yaml_comments_and_checks_keys():
    text = "# top\ntrain:\n  lr: 0.1  # rate\n  depth: 3\n"
    new = ov.apply_to_text(text, [ov.Override("p.yaml", "train.lr", ov.SET, 0.5)], "p.yaml")
    assert new == "# top\ntrain:\n  lr: 0.5  # rate\n  depth: 3\n"
    new = ov.apply_to_text(text, [ov.Override("p.yaml", "opt.m", ov.ADD, 1)], "p.yaml")
    assert "opt:\n  m: 1" in new
    with pytest.raises(ov.OverrideError, match=r"has no key train\.nope"):
        ov.apply_to_text(text, [ov.Override("p.yaml", "train.nope", ov.SET, 1)], "p.yaml")
    with pytest.raises(ov.OverrideError, match=r"already has train\.lr"):
        ov.apply_to_text(text, [ov.Override("p.yaml", "train.lr", ov.ADD, 1)], "p.yaml")
    with pytest.raises(ov.OverrideError, match=r"train\.lr in p\.yaml is a value"):
        ov.apply_to_text(text, [ov.Override("p.yaml", "train.lr.x", ov.SET, 1)], "p.yaml")
    forced = ov.apply_to_text(text, [ov.Override("p.yaml", "train.new", ov.FORCE, 2)], "p.yaml")
    assert "new: 2" in forced
    gone = ov.apply_to_text(text, [ov.Override("p.yaml", "train.depth", ov.DELETE)], "p.yaml")
    assert "depth" not in gone
    assert ov.apply_to_text('{"a": 1}', [ov.Override("p.json", "a", ov.SET, 2)], "p.json") == (
        '{\n  "a": 2\n}\n'
    )
    with pytest.raises(ov.OverrideError, match="only YAML and JSON"):
        ov.apply_to_text("a = 1", [ov.Override("p.toml", "a", ov.SET, 2)], "p.toml")


def test_message_round_trip_and_describe():
    shown = ov.describe(
        [ov.Override("params.yaml", "a", ov.SET, 0.5), ov.Override("p.json", "b", ov.ADD, "x")]
    )
    assert shown == ["a=0.5", 'p.json:+b="x"']
    text = records.message("n1", records.FAILED, "b" * 40, shown, ["train"], "line 1\nline 2", 7)
    exp = records.parse_message(text, "s" * 40, 123, "refs/artver/exps/x/n1")
    assert exp == records.Experiment(
        "n1", "s" * 40, "b" * 40, "failed", tuple(shown), ("train",), "line 1\nline 2", 123,
        "refs/artver/exps/x/n1", 7,
    )  # fmt: skip
    assert records.parse_message("an ordinary commit\n", "s" * 40) is None


def test_names_and_refs():
    assert records.split_ref("refs/artver/exps/abc/n") == ("abc", "n")
    assert records.split_ref("refs/artver/queue/n") == (None, "n")
    assert records.split_ref("refs/heads/main") is None
    for bad in ("", "-x", ".x", "a..b", "a/b", "x.lock", "HEAD", "a b", "x" * 101):
        with pytest.raises(UsageError):
            records.check_name(bad)
    assert records.check_name("lr-0.5_try2") == "lr-0.5_try2"
    rng = random.Random(1)
    taken: set[str] = set()
    for _ in range(300):
        taken.add(records.new_name(taken, rng))
    assert len(taken) == 300


def _row(name, status, created=0, **values):
    return table.Row(
        name, name * 5, "base", status, created,
        {(table.METRICS if k == "score" else table.PARAMS, "f.yaml", k): v
         for k, v in values.items()},
    )  # fmt: skip


def test_table_sorting_columns_and_formats():
    rows = [
        _row("HEAD", "baseline", score=0.5, lr=0.1, depth=3),
        _row("a", "success", 1, score=0.9, lr=0.3, depth=3),
        _row("b", "success", 2, score=0.2, lr=0.2, depth=3),
        _row("c", "queued", 3, lr=0.5, depth=3),
    ]
    assert [r.name for r in table.sort_rows(rows, None)] == ["HEAD", "c", "b", "a"]
    assert [r.name for r in table.sort_rows(rows, "score")] == ["HEAD", "b", "a", "c"]
    assert [r.name for r in table.sort_rows(rows, "score", True)] == ["HEAD", "a", "b", "c"]
    with pytest.raises(UsageError, match="no experiment has that"):
        table.sort_rows(rows, "nope")
    keys = table.columns(rows)
    assert [k[2] for k in keys] == ["score", "depth", "lr"]  # metrics first
    assert [k[2] for k in table.columns(rows, only_changed=True)] == ["score", "lr"]
    names, cells = table.text_rows(rows, keys)
    assert names == ["Experiment", "rev", "State", "score", "depth", "lr", "env"]
    assert cells[3][:4] == ["├── c", "ccccc", "queued", "-"]
    csv_text = table.to_csv(rows, keys)
    assert csv_text.splitlines()[1] == "HEAD,HEADHEADHEADHEADHEAD,base,baseline,0,0.5,3,0.1"
    assert table.to_markdown(rows, keys).splitlines()[1].startswith("| --- |")
    doc = table.to_json(rows)
    assert doc[1]["metrics"] == {"f.yaml": {"score": 0.9}} and doc[0]["status"] is None


def test_columns_name_the_file_only_when_keys_clash():
    keys = [
        (table.PARAMS, "a.yaml", "lr"),
        (table.PARAMS, "b.yaml", "lr"),
        (table.METRICS, "m", "x"),
    ]
    assert [table.header(k, keys) for k in keys] == ["a.yaml:lr", "b.yaml:lr", "x"]


def _waiting(name, gpus=0, cpus=0):
    return Waiting(Queued(name, "s", "b", (), ()), Resources(cpus, 0, gpus))


def test_startable_hands_each_gpu_out_once():
    pool = ResourcePool(8, 0, ["0", "1"])
    waiting = [_waiting("a", gpus=1), _waiting("b", gpus=2), _waiting("c", gpus=1), _waiting("d")]
    chosen = startable(waiting, 0, 4, pool)
    # a takes GPU 0; b (two) must wait; c takes GPU 1; d needs none.
    assert [(w.item.name, gpus) for w, gpus in chosen] == [("a", ["0"]), ("c", ["1"]), ("d", [])]
    assert startable([waiting[1]], 3, 4, pool) == []  # no GPU left
    pool.give_back(waiting[0].needs, ["0"])
    pool.give_back(waiting[2].needs, ["1"])
    assert startable([waiting[1]], 1, 4, pool) == [(waiting[1], ["0", "1"])]


def test_startable_respects_jobs_and_cpus():
    pool = ResourcePool(4, 0, [])
    waiting = [_waiting(n, cpus=2) for n in "abc"]
    assert [w.item.name for w, _ in startable(waiting, 0, 8, pool)] == ["a", "b"]
    pool = ResourcePool(64, 0, [])
    assert len(startable([_waiting(n) for n in "abcdef"], 1, 4, pool)) == 3


def test_peak_is_the_largest_stage():
    assert peak([Resources(1, 10, 0), Resources(4, 5, 1)]) == Resources(4, 10, 1)
    assert peak([]) == Resources(0, 0, 0)
