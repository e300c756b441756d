"""Every parser of a file artver reads, fed malformed input: only `ArtverError`s come out.

Issue 14: a hostile or damaged pointer file, `artver.yaml`, `artver.lock`, params or metrics
file (YAML, JSON, TOML) or config file must give one clear message, never another exception
(a traceback) and never a hang. Each parser function is driven in-process with 10,000
generated inputs: free text over YAML's structural characters (hypothesis, one by one), and
batches made from a seed hypothesis draws: mutations of a valid document, random bytes, token
soup, and well-formed documents of random shape. Each input must parse or raise the parser's
own `ArtverError`, and each example finish within a deadline. The runs are derandomized and
keep no example database, so CI sees the same inputs every time.

The hostile documents the issue names (alias bombs, deep nesting, huge or binary files) are
checked by name here on the parser functions (`test_hostile_*`) and through the real CLI in
tests/test_parsers_bad_input.py.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artver import pointer, yamlio
from artver.config import ConfigError, _load_yaml
from artver.errors import ArtverError, PointerError
from artver.safetext import MAX_DEPTH, BadText, MiB, decode
from artver.stages.lock import LockFileError, parse_lock
from artver.stages.params import ParamsError, parse_params_text
from artver.stages.schema import PipelineError, parse_file

# The number: 10,000 inputs per parser. Hypothesis costs ~1-5 ms an example, so most
# inputs come in batches: each example draws a seed, from which `batch` makes BATCH inputs
# (hypothesis picks the seed and, on a failure, reports it; the message names the input).
# ARTVER_FUZZ_SCALE=10 runs ten times as many (a deeper search than CI's, at will).
SCALE = int(os.environ.get("ARTVER_FUZZ_SCALE", "1"))
PER_PARSER = 10_000
FREE = 500 * SCALE  # inputs hypothesis generates one by one (and can shrink)
BATCH = 50
SEEDS = (PER_PARSER - 500) // BATCH * SCALE


def fuzz(examples: int):
    return settings(
        max_examples=examples,
        deadline=timedelta(seconds=10),  # one example: a bounded time, far below a hang
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# -- the parsers, each with the one error class it may raise --------------------------------
OID = "0123456789abcdef0123456789abcdef"
POINTER = f"outs:\n- path: data.csv\n  hash: xxh3-128\n  oid: {OID}\n  size: 12\n  desc: x\n"
PIPELINE = (
    "vars:\n  lr: 0.1\n"
    "stages:\n"
    "  prepare:\n    cmd: python prep.py\n    deps: [raw.csv]\n    outs: [data.csv]\n"
    "  train:\n    cmd: [python train.py, echo done]\n    wdir: .\n"
    "    deps:\n      - data.csv\n    params:\n      - lr\n      - params.json: [epochs]\n"
    "    outs:\n      - model.pkl:\n          cache: false\n    metrics: [scores.json]\n"
    "    env: {vars: [HOME], python: false}\n    resources: {cpus: 1, memory: 1GiB, gpus: 0}\n"
    "    seed: 7\n"
    "  each:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n"
    "  grid:\n    matrix: {x: [1, 2], y: [u, v]}\n    cmd: echo ${item.x} ${item.y}\n"
)
LOCK = (
    "schema: 1\nstages:\n  train:\n    cmd: python train.py\n"
    f"    deps:\n    - path: data.csv\n      hash: xxh3-128\n      oid: {OID}\n      size: 12\n"
    "    params:\n      params.yaml:\n        lr: 0.1\n"
    f"    outs:\n    - path: model\n      hash: xxh3-128\n      oid: {OID}.dir\n      size: 3\n"
    "      nfiles: 2\n      cache: false\n"
    "    env:\n      vars: {HOME: /root}\n      python: {version: '3.11', packages: {a: '1'}}\n"
    "      fingerprint: abc\n    seed: 3\n"
)
PARAMS_YAML = "lr: 0.1\ntrain:\n  epochs: 10\n  layers: [64, 32]\nbase: &b {x: 1}\nuse: *b\n"
PARAMS_JSON = json.dumps({"lr": 0.1, "train": {"epochs": 10, "layers": [64, 32]}})
PARAMS_TOML = 'lr = 0.1\n[train]\nepochs = 10\nlayers = [64, 32]\nname = "x"\n'
CONFIG = "core:\n  remote: store\ncache:\n  type: [reflink, copy]\nremote:\n  store:\n    url: /x\n"


def parse_pointer(text: str) -> None:
    pointer.parse(text, Path("data.csv.artver"), "data.csv.artver")


def parse_pipeline(text: str) -> None:
    parse_file(text, "artver.yaml")


def parse_lock_file(text: str) -> None:
    parse_lock(text, "artver.lock")


def params_parser(suffix: str):
    def parse(text: str) -> None:
        parse_params_text(text, f"params{suffix}")

    return parse


PARSERS = {  # name: (parse text, the error it may raise, a valid document)
    "pointer": (parse_pointer, PointerError, POINTER),
    "pipeline": (parse_pipeline, PipelineError, PIPELINE),
    "lock": (parse_lock_file, LockFileError, LOCK),
    "params.yaml": (params_parser(".yaml"), ParamsError, PARAMS_YAML),
    "params.json": (params_parser(".json"), ParamsError, PARAMS_JSON),
    "params.toml": (params_parser(".toml"), ParamsError, PARAMS_TOML),
}


def only_artver_errors(name: str, text: str) -> None:
    """`text` parses, or raises the parser's own error with a message; anything else fails
    the test with the input in the message."""
    parse, error, _ = PARSERS[name]
    try:
        parse(text)
    except error as exc:
        assert str(exc).strip(), f"{name}: an empty message for {text!r}"
    except Exception as exc:
        pytest.fail(f"{name}: {type(exc).__name__}: {exc}\ninput: {text!r}")


def test_every_valid_document_parses():
    """The mutations start from real documents."""
    for parse, _, valid in PARSERS.values():
        parse(valid)
    assert _load_yaml_text(CONFIG) is not None


# -- inputs ------------------------------------------------------------------------------------
# YAML's indicators and the characters that change how it reads, plus a few of everything.
STRUCTURE = [*"[]{}:,-?*&!|>'\"#%@`~=.\\ \t\n\r", "\0", "\x85", "\ufeff", "\u2028"]
TOKENS = [
    "&a ", "*a", "<<: ", "- ", "? ", ": ", "!!str ", "!!binary ", "!!set ", "!!omap ",
    "!!python/object:os.system ", "%YAML 1.1\n", "---\n", "...\n", "\n  ", "'", '"', "{", "[",
    "]", "}", "1e400", "0x", "2020-13-45", "0000-00-00", "9" * 5000, ".inf", "~", "null",
    "true", "\\u0000", "\\x00", "${item}", "${", "foreach", "matrix", "do", "stages", "outs",
    "path", "oid", "size", "cmd",
]  # fmt: skip
free_text = st.text(
    alphabet=st.one_of(st.sampled_from(STRUCTURE), st.characters(codec="utf-8")), max_size=300
) | st.lists(st.sampled_from([*TOKENS, *STRUCTURE, "a", "b", "1"]), max_size=60).map("".join)


def mutate(rng: random.Random, document: str) -> str:
    """`document` with a few random edits: characters or tokens inserted, deleted, replaced,
    a slice repeated (which can nest, or duplicate keys)."""
    text = document
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(text))
        end = rng.randint(at, min(len(text), at + 20))
        edit = rng.choice(["insert", "delete", "replace", "repeat"])
        if edit == "repeat":
            text = text[:end] + text[at:end] * rng.randint(2, 5) + text[end:]
        elif edit == "delete":
            text = text[:at] + text[end:]
        else:
            piece = rng.choice(TOKENS + STRUCTURE)
            text = text[:at] + piece + text[end if edit == "replace" else at :]
    return text


SCALARS = [None, True, False, 0, -1, 2**70, 1.5, float("inf"), float("nan"), "", ".", ".."]
SCALARS += ["/abs", "a/../..", "data.csv", "xxh3-128", OID, "${item}", "a\0b", "é", "1e400"]
KEYS = ["stages", "outs", "path", "oid", "hash", "size", "nfiles", "cmd", "deps", "params"]
KEYS += ["env", "resources", "seed", "foreach", "do", "matrix", "schema", "lock", "vars"]
KEYS += ["python", "packages", "cache", "wdir", "metrics", "frozen", "memory", "gpus", "cpus"]
KEYS += ["remote", "core", "url", "type", 0, 1, True, None, "", "a.b"]


def shape(rng: random.Random, depth: int = 0) -> object:
    """A random value of the kinds a document holds, its keys mostly words artver reads."""
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.65:
        return [shape(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): shape(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def dump(value: object, fmt: str) -> str:
    """`value` as a YAML, JSON or TOML document (what a script might have written)."""
    if fmt == "json":
        return json.dumps(value, default=str)
    if fmt == "toml":
        items = value.items() if isinstance(value, dict) else [("x", value)]
        return "".join(f"{json.dumps(str(k))} = {json.dumps(v, default=str)}\n" for k, v in items)
    return yamlio.dump_fast(value)


def batch(rng: random.Random, name: str) -> list[str]:
    """BATCH inputs for parser `name`: mostly mutations of its valid document, the rest
    random bytes as a lenient decoder reads them, token soup, and well-formed documents of
    random shape (also wrapped the way each kind of file nests its content)."""
    valid = PARSERS[name][2] if name in PARSERS else CONFIG
    fmt = name.rpartition(".")[2] if name.startswith("params") else "yaml"
    out = []
    for _ in range(BATCH):
        roll = rng.random()
        if roll < 0.45:
            out.append(mutate(rng, valid))
        elif roll < 0.55:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
            out.append(data.decode("utf-8", "replace"))
        elif roll < 0.7:
            out.append("".join(rng.choice(TOKENS + STRUCTURE) for _ in range(rng.randint(0, 40))))
        else:
            value = shape(rng)
            wrap = [value, {"stages": value}, {"stages": {"s": value}}, {"outs": [value]}]
            out.append(dump(rng.choice(wrap), fmt))
    return out


# -- the fuzz tests: each parser's 10,000 inputs ---------------------------------------------
@pytest.mark.parametrize("name", list(PARSERS))
@fuzz(FREE)
@given(text=free_text)
def test_free_text_gives_only_artver_errors(name, text):
    only_artver_errors(name, text)


@pytest.mark.parametrize("name", list(PARSERS))
@fuzz(SEEDS)
@given(seed=st.integers(0, 2**32))
def test_generated_inputs_give_only_artver_errors(name, seed):
    for text in batch(random.Random(seed), name):
        only_artver_errors(name, text)


@pytest.mark.parametrize("name", ["pointer", "pipeline", "lock", "params.yaml"])
def test_random_bytes_are_refused_or_parsed(name):
    """Bytes as a file or a Git blob hands them over go through `safetext.decode` first:
    undecodable ones are refused before any parser sees them, the rest parse or fail
    cleanly."""
    rng = random.Random(14)
    refused = 0
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 100)))
        try:
            text = decode(data, MiB, name)
        except BadText as exc:
            assert "UTF-8" in str(exc) or "NUL" in str(exc), exc
            refused += 1
            continue
        only_artver_errors(name, text)
    assert refused > 250  # random bytes are rarely UTF-8


# -- config: a file on disk (its reader takes a path) -------------------------------------------
@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("config") / "config.yaml"


def _load_yaml_text(text: str) -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text)
        return _load_yaml(path)


def load_config(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        _load_yaml(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
    except Exception as exc:
        pytest.fail(f"config: {type(exc).__name__}: {exc}\ninput: {data!r}")


@fuzz(FREE)
@given(text=free_text)
def test_config_text_gives_only_config_errors(config_file, text):
    load_config(config_file, text.encode("utf-8", "surrogatepass"))


@fuzz(SEEDS)
@given(seed=st.integers(0, 2**32))
def test_generated_config_gives_only_config_errors(config_file, seed):
    rng = random.Random(seed)
    for text in batch(rng, "config"):
        data = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:  # bytes that are not UTF-8
            data = data[: rng.randint(0, len(data))] + b"\xff\xfe" + data
        load_config(config_file, data)


# -- the hostile documents of the issue, on each parser ------------------------------------------
def alias_bomb(levels: int = 9, width: int = 10) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias bomb": (alias_bomb(), "aliases expand to more than"),
    "recursive alias": ("a: &a [1, *a]\n", "inside the node it names"),
    "deep flow nesting": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "levels deep"),
    "deep block nesting": ("- " * 50_000 + "x\n", "levels deep"),
    "deep mapping nesting": ("a: " + "{a: " * 20_000 + "1" + "}" * 20_000, "levels deep"),
    "NUL character": ("a: b\0c\n", "NUL character"),
}


@pytest.mark.parametrize("name", [n for n in PARSERS if not n.endswith((".json", ".toml"))])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_yaml_is_refused_fast_with_its_reason(name, case):
    text, reason = HOSTILE[case]
    parse, error, _ = PARSERS[name]
    started = time.monotonic()
    with pytest.raises(error) as caught:
        parse(text)
    assert time.monotonic() - started < 2, f"{case} took {time.monotonic() - started:.1f} s"
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".json", "[" * 100_000 + "]" * 100_000),
        (".json", '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)),
        (".toml", "a = " + "[" * 5_000 + "]" * 5_000 + "\n"),
        (".toml", "a = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"),
    ],
)
def test_deep_json_and_toml_are_refused(suffix, text):
    with pytest.raises(ParamsError, match="levels deep"):
        parse_params_text(text, f"params{suffix}")


def test_nesting_up_to_the_limit_is_read():
    """The bound refuses only what no real file does: MAX_DEPTH levels still parse."""
    deep = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_params_text(f"a: {deep}\n", "params.yaml")["a"] is not None
    assert parse_params_text(f'{{"a": {deep}}}', "params.json")["a"] is not None


def test_shared_anchors_are_read():
    """Anchors a real file uses (a base block merged into several) are not refused."""
    text = "base: &b {lr: 0.1, layers: [1, 2]}\n" + "".join(
        f"m{i}: {{<<: *b, id: {i}}}\n" for i in range(100)
    )
    data = parse_params_text(text, "params.yaml")
    assert data["m99"] == {"lr": 0.1, "layers": [1, 2], "id": 99}


def test_params_keys_are_text():
    """YAML reads `1:` and `null:` as a number and None; params are compared by dotted key."""
    data = parse_params_text("1: a\nnull: b\nx: {2: c}\n", "params.yaml")
    assert data == {"1": "a", "None": "b", "x": {"2": "c"}}


def test_a_text_over_the_limit_is_refused_before_parsing():
    started = time.monotonic()
    with pytest.raises(PointerError, match=r"more than the 1\.0 MiB"):
        parse_pointer("a: " + "x" * MiB)
    assert time.monotonic() - started < 1


def test_every_error_class_is_an_artver_error():
    for _, error, _ in PARSERS.values():
        assert issubclass(error, ArtverError)
    assert issubclass(ConfigError, ArtverError)
