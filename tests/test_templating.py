"""Pipeline templating as dvc.yaml users write it: `vars`, `params.yaml` and `${...}`.

The resolver (artver/stages/templating.py) is tested as pure functions; the parser
(artver/stages/schema.py) with params files given in memory; and the whole feature through
the real CLI in a temporary Git repository: values reach the command, a changed value makes
the stage stale and `repro` re-run it, and each mistake is one message with file and line.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from artver.stages import templating
from artver.stages.schema import ParamRef, PipelineError, parse_file, parse_pipeline
from artver.stages.templating import (
    CMD,
    DATA,
    MAX_RESOLVED_STRING,
    Budget,
    Context,
    ParamUse,
    Source,
    TemplateError,
    cmd_text,
    parse_vars_entry,
    resolve,
    resolve_string,
    select_keys,
)
from artver.yamlio import load_yaml
from tests.test_bad_input import assert_error

PY = shlex.quote(sys.executable)
PARAMS = Source("params.yaml", "params.yaml")


def context(values: dict, source: Source = PARAMS, **names) -> Context:
    ctx = Context()
    ctx.merge(values, source)
    return ctx.with_locals(names) if names else ctx


# -- the resolver -------------------------------------------------------------------------------
def test_a_whole_reference_keeps_the_type_of_its_value():
    ctx = context({"n": 3, "lr": 0.1, "on": True, "none": None, "name": "cnn"})
    assert resolve_string("${n}", ctx) == 3
    assert resolve_string("${lr}", ctx) == 0.1
    assert resolve_string("${on}", ctx) is True
    assert resolve_string("${none}", ctx) is None
    assert resolve_string("${ n }", ctx) == 3, "spaces inside the braces are allowed"


def test_inside_a_longer_string_values_become_text_as_dvc_writes_them():
    ctx = context({"n": 3, "on": True, "off": False, "none": None, "lr": 1e-3})
    assert resolve_string("n=${n} on=${on} off=${off} none=${none}", ctx) == (
        "n=3 on=true off=false none=None"
    )
    assert resolve_string("lr ${lr}", ctx) == "lr 0.001"


def test_dotted_names_reach_into_mappings_and_lists():
    ctx = context({"train": {"opt": {"lr": 0.1}, "layers": [64, 32]}})
    assert resolve_string("${train.opt.lr}", ctx) == 0.1
    assert resolve_string("${train.layers.1}", ctx) == 32
    assert resolve_string("${train[layers][0]}", ctx) == 64, "DVC's bracket form"


def test_cmd_expands_a_mapping_into_options_as_dvc_does():
    # The expected text is what DVC 3.67 gives for the same mapping (checked by hand).
    args = {
        "lr": 0.1,
        "epochs": 3,
        "name": "my model",
        "flag": True,
        "off": False,
        "layers": [1, 2],
        "nested": {"a": 1},
    }
    ctx = context({"args": args})
    got = resolve_string("python t.py ${args}", ctx, CMD)
    assert (
        got == "python t.py --lr 0.1 --epochs 3 --name 'my model' --flag --layers 1 2 --nested.a 1"
    )
    assert resolve_string("${args}", ctx, CMD) == got.removeprefix("python t.py "), (
        "a whole ${...} in cmd is text too"
    )


def test_cmd_joins_a_list_with_spaces_and_quotes_text_for_sh():
    ctx = context({"files": ["a.csv", "b c.csv", 1, True]})
    assert resolve_string("cat ${files}", ctx, CMD) == "cat a.csv 'b c.csv' 1 true"
    with pytest.raises(TemplateError, match="inside a list"):
        cmd_text([[1, 2]], "nested")


def test_lists_and_mappings_are_refused_where_one_value_is_needed():
    ctx = context({"files": ["a", "b"], "args": {"x": 1}})
    for text in ("${files}", "data/${files}", "${args}"):
        with pytest.raises(TemplateError, match="only cmd turns a mapping or list into text"):
            resolve_string(text, ctx)
    assert resolve_string("${files}", ctx, DATA) == ["a", "b"], "foreach and matrix may"


def test_an_unknown_name_is_an_error_naming_it_never_an_empty_string():
    ctx = context({"train": {"lr": 0.1}})
    with pytest.raises(TemplateError) as exc:
        resolve_string("echo ${n}", ctx, CMD)
    assert "${n} is not defined" in exc.value.message and "$n" in exc.value.message
    with pytest.raises(
        TemplateError, match=r"\$\{train.lr2\} is not defined: train has no key lr2"
    ):
        resolve_string("${train.lr2}", ctx)
    with pytest.raises(TemplateError, match=r"train.lr is '0.1', not a mapping or list"):
        resolve_string("${train.lr.x}", ctx)
    with pytest.raises(TemplateError, match="is not defined"):
        resolve_string("${HOME:-/tmp}", ctx, CMD)
    with pytest.raises(TemplateError, match="is not a name"):
        resolve_string("${}", ctx)


def test_backslash_escapes_and_shell_syntax_without_braces_is_left_alone():
    ctx = context({"x": 5})
    assert resolve_string(r"echo \${HOME} $HOME $(date) ${x}", ctx, CMD) == (
        "echo ${HOME} $HOME $(date) 5"
    )
    assert resolve_string(r"\${x}", ctx) == "${x}"
    assert resolve_string("$${x}", ctx, CMD) == "$5", "as in DVC, $$ is no escape"


def test_resolve_walks_lists_mappings_and_mapping_keys_and_names_the_path():
    ctx = context({"out": "res", "n": 2})
    value = {"outs": ["${out}/a.csv", {"${out}/logs": {"cache": False}}], "seed": "${n}"}
    assert resolve(value, ctx) == {
        "outs": ["res/a.csv", {"res/logs": {"cache": False}}],
        "seed": 2,
    }
    with pytest.raises(TemplateError) as exc:
        resolve({"outs": ["ok", "${nope}"]}, ctx)
    assert exc.value.path == ("outs", 1)
    with pytest.raises(TemplateError, match="both become"):
        resolve({"${out}": 1, "res": 2}, ctx)


def test_merging_sources_merges_mappings_and_refuses_an_ambiguous_name():
    ctx = context({"train": {"lr": 0.1}})
    ctx.merge({"train": {"epochs": 3}}, Source("vars[0]"))
    assert resolve_string("${train}", ctx, DATA) == {"lr": 0.1, "epochs": 3}
    with pytest.raises(TemplateError, match=r"train\.lr is ambiguous: both params\.yaml and vars"):
        ctx.merge({"train": {"lr": 0.2}}, Source("vars[1]"))
    ctx.merge({"train": {"lr": 0.1}}, Source("params.yaml:train", "params.yaml"))  # same file


def test_copies_do_not_see_what_is_merged_into_another():
    base = context({"a": {"x": 1}})
    stage = base.copy()
    stage.merge({"a": {"y": 2}}, Source("vars[0] of stage s"))
    assert resolve_string("${a}", stage, DATA) == {"x": 1, "y": 2}
    assert resolve_string("${a}", base, DATA) == {"x": 1}


def test_params_file_keys_read_are_reported_and_items_are_not():
    ctx = context({"train": {"lr": 0.1, "layers": [1, 2]}}, item={"lr": 5})
    ctx.merge({"train": {"extra": 1}}, Source("conf.yaml", "conf.yaml"))
    ctx.merge({"out": "res"}, Source("vars[0]"))
    uses: list[ParamUse] = []
    resolve("${train.lr} ${train.layers.0} ${item.lr} ${out}", ctx, CMD, uses=uses)
    assert uses == [ParamUse("params.yaml", "train.lr"), ParamUse("params.yaml", "train.layers.0")]
    uses = []
    resolve("${train}", ctx, CMD, uses=uses)
    assert uses == [ParamUse("params.yaml", "train"), ParamUse("conf.yaml", "train.extra")]


def test_item_and_key_shadow_values_of_the_same_name():
    ctx = context({"item": "global"}, item="local")
    assert resolve_string("${item}", ctx) == "local"


def test_substitution_is_bounded():
    ctx = context({"big": "x" * 1000})
    refs = "${big}" * (MAX_RESOLVED_STRING // 1000 + 1)
    with pytest.raises(TemplateError, match="longer than 1 MiB"):
        resolve_string(refs, ctx, CMD)
    with pytest.raises(TemplateError, match="more than"):
        resolve(["${big}", "${big}"], ctx, budget=Budget(1500))
    with pytest.raises(TemplateError, match="longer than 1 MiB"):
        resolve_string("${huge}", context({"huge": "x" * (MAX_RESOLVED_STRING + 1)}))


def test_vars_entries_name_a_file_and_maybe_keys():
    assert parse_vars_entry("params.yaml") == ("params.yaml", None)
    assert parse_vars_entry("conf/a.yaml:train, eval") == ("conf/a.yaml", ["train", "eval"])
    assert select_keys({"a": 1, "b": 2}, ["a"], "f.yaml") == {"a": 1}
    with pytest.raises(TemplateError, match=r"f\.yaml has no key 'c'"):
        select_keys({"a": 1}, ["c"], "f.yaml")


# -- the parser, with params files in memory -----------------------------------------------------
def reader(files: dict[str, dict]):
    return files.get


def test_parser_resolves_every_field_and_lists_the_params_read():
    files = {"params.yaml": {"train": {"lr": 0.1, "seed": 7}, "data": "raw"}}
    text = (
        "vars:\n  - {out: results, wd: sub}\n"
        "stages:\n"
        "  train:\n"
        "    cmd:\n      - python train.py --lr ${train.lr}\n      - echo done\n"
        "    wdir: ${wd}\n"
        '    deps: ["${data}.csv"]\n'
        "    params: [train.lr]\n"
        "    outs:\n      - ${out}/model.pkl\n      - ${out}/logs: {cache: false}\n"
        "    metrics:\n      - ${out}/m.json\n"
        "    seed: ${train.seed}\n"
        "    desc: lr ${train.lr}\n"
    )
    (stage,) = parse_file(text, "artver.yaml", read_params=reader(files))
    assert stage.cmd == ("python train.py --lr 0.1", "echo done")
    assert stage.wdir == "sub" and stage.deps == ("sub/raw.csv",)
    assert [o.path for o in stage.outs] == [
        "sub/results/model.pkl",
        "sub/results/logs",
        "sub/results/m.json",
    ]
    assert stage.outs[1].cache is False and stage.seed == 7 and stage.desc == "lr 0.1"
    assert stage.params == (
        ParamRef("sub/params.yaml", "train.lr"),  # as listed: params.yaml of the wdir
        ParamRef("params.yaml", "train.lr"),
        ParamRef("params.yaml", "data"),
        ParamRef("params.yaml", "train.seed"),
    )


def test_a_key_read_within_a_section_read_or_listed_is_not_repeated():
    files = {"params.yaml": {"train": {"lr": 0.1, "epochs": 3}}}
    text = "stages:\n  t:\n    cmd: echo ${train.lr} ${train}\n"
    (stage,) = parse_file(text, "artver.yaml", read_params=reader(files))
    assert stage.params == (ParamRef("params.yaml", "train"),)
    text = "stages:\n  t:\n    cmd: echo ${train.lr}\n    params: [train]\n"
    (stage,) = parse_file(text, "artver.yaml", read_params=reader(files))
    assert stage.params == (ParamRef("params.yaml", "train"),)


def test_stage_vars_files_are_relative_to_the_stage_wdir_and_see_file_values():
    files = {"sub/local.yaml": {"depth": 4}, "conf.yaml": {"width": 8}}
    text = (
        "vars: [conf.yaml]\n"
        "stages:\n  t:\n    wdir: sub\n    vars: [local.yaml, {tag: x}]\n"
        "    cmd: echo ${depth} ${width} ${tag}\n"
    )
    (stage,) = parse_file(text, "artver.yaml", read_params=reader(files))
    assert stage.cmd == ("echo 4 8 x",)
    assert set(stage.params) == {
        ParamRef("sub/local.yaml", "depth"),
        ParamRef("conf.yaml", "width"),
    }


def test_foreach_and_matrix_take_their_items_from_values_and_name_stages_as_dvc():
    files = {"params.yaml": {"models": [{"name": "a", "lr": 1}, {"name": "b", "lr": 2}]}}
    text = (
        "stages:\n"
        "  fit:\n    foreach: ${models}\n    do:\n      cmd: fit ${item.name} ${item.lr}\n"
        "  grid:\n    matrix:\n      m: [x, y]\n      opt: [{lr: 1}, {lr: 2}]\n"
        "    cmd: grid ${item.m} ${item.opt.lr} ${key}\n"
        "  flags:\n    foreach: [true, 1]\n    do:\n      cmd: f ${item}\n"
    )
    stages = {s.name: s.cmd[0] for s in parse_file(text, "artver.yaml", read_params=reader(files))}
    assert stages == {
        "fit@0": "fit a 1",
        "fit@1": "fit b 2",
        "grid@x-opt0": "grid x 1 x-opt0",
        "grid@x-opt1": "grid x 2 x-opt1",
        "grid@y-opt0": "grid y 1 y-opt0",
        "grid@y-opt1": "grid y 2 y-opt1",
        "flags@true": "f true",
        "flags@1": "f 1",
    }


def test_dvc_top_level_sections_parse_and_are_kept_resolved():
    text = (
        "vars: [{dir: eval}]\n"
        "stages:\n  s:\n    cmd: echo\n"
        "plots:\n  - ${dir}/roc.json:\n      x: fpr\n      y: tpr\n  - ${dir}/curve.csv\n"
        'metrics: ["${dir}/metrics.json"]\n'
        'params: ["${dir}/best.yaml"]\n'
        "artifacts:\n  model:\n    path: models/m.pkl\n    type: model\n"
        "datasets:\n  - {name: d, type: dvc, url: x}\n"
    )
    parsed = parse_pipeline(text, "artver.yaml", read_params=reader({}))
    assert [s.name for s in parsed.stages] == ["s"]
    assert parsed.sections == {
        "plots": [{"eval/roc.json": {"x": "fpr", "y": "tpr"}}, "eval/curve.csv"],
        "metrics": ["eval/metrics.json"],
        "params": ["eval/best.yaml"],
        "artifacts": {"model": {"path": "models/m.pkl", "type": "model"}},
        "datasets": [{"name": "d", "type": "dvc", "url": "x"}],
    }
    with pytest.raises(PipelineError, match="top-level 'artifacts' must be a mapping"):
        parse_pipeline("stages: {}\nartifacts: [a]\n", "artver.yaml", read_params=reader({}))


def test_vars_as_one_mapping_is_a_list_of_one():
    text = "vars:\n  lr: 0.1\n  on: true\nstages:\n  a:\n    cmd: echo ${lr}\n    frozen: ${on}\n"
    (stage,) = parse_file(text, "artver.yaml", read_params=reader({}))
    assert stage.cmd == ("echo 0.1",) and stage.frozen is True


def test_a_file_without_templating_reads_no_params_file():
    def refuse(rel):
        raise AssertionError(f"read {rel}")

    text = "stages:\n  a:\n    cmd: echo $HOME\n    env: {vars: [HOME]}\n"
    assert parse_file(text, "artver.yaml", read_params=refuse)[0].cmd == ("echo $HOME",)


# -- through the CLI ------------------------------------------------------------------------------
ARGS = "import json, sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"


def show_args(out: str) -> str:
    """A command prefix that writes the arguments after it to `out` as JSON."""
    return f"{PY} args.py {out}"


def setup(ws, pipeline: str, params: str | None = None, files: dict | None = None) -> None:
    """Write artver.yaml (`ARGS ` in it: `show_args("ARGS_OUT")`), params.yaml and `files`."""
    ws.write("args.py", ARGS)
    if params is not None:
        ws.write("params.yaml", params)
    for rel, text in (files or {}).items():
        ws.write(rel, text)
    ws.write("artver.yaml", pipeline.replace("ARGS ", show_args("ARGS_OUT") + " "))


def written(ws, rel: str):
    return json.loads(ws.read(rel))


def lock(ws) -> dict:
    return load_yaml((ws.root / "artver.lock").read_text())["stages"]


def test_cli_a_params_value_reaches_the_command(ws):
    setup(
        ws,
        "stages:\n  train:\n    cmd: ARGS --lr ${train.lr} --name ${train.name}\n"
        "    outs: [ARGS_OUT]\n",
        params="train:\n  lr: 0.1\n  name: cnn\n",
    )
    ws.artver("repro")
    assert written(ws, "ARGS_OUT") == ["--lr", "0.1", "--name", "cnn"]
    entry = lock(ws)["train"]
    assert entry["cmd"].endswith("--lr 0.1 --name cnn"), "the lock records the command as run"
    assert entry["params"] == {"params.yaml": {"train.lr": 0.1, "train.name": "cnn"}}


def test_cli_changing_a_value_makes_the_stage_stale_and_repro_reruns_it(ws):
    setup(
        ws,
        "stages:\n  train:\n    cmd: ARGS ${train.lr}\n    outs: [ARGS_OUT]\n",
        params="train:\n  lr: 0.1\n",
    )
    ws.artver("repro")
    ws.commit("v1")
    assert "up to date" in ws.artver("status").stdout
    ws.write("params.yaml", "train:\n  lr: 0.05\n")
    assert ws.artver("status").stdout.splitlines()[0] == (
        "train: cmd changed; param train.lr 0.1 -> 0.05"
    )
    res = ws.artver("repro")
    assert "Running stage train (cmd changed; param train.lr 0.1 -> 0.05)" in res.stderr
    assert written(ws, "ARGS_OUT") == ["0.05"]
    assert "train" in ws.artver("params", "diff", "--all").stdout
    assert "up to date" in ws.artver("status").stdout


def test_cli_top_level_vars_inline_from_params_yaml_keys_and_another_file(ws):
    setup(
        ws,
        "vars:\n"
        "  - {epochs: 3, tag: v1}\n"
        "  - params.yaml:train\n"
        "  - conf/model.yaml:model\n"
        "stages:\n"
        "  train:\n"
        "    cmd: ARGS ${epochs} ${tag} ${train.lr} ${model.depth} ${model.layers.1}\n"
        "    outs: [ARGS_OUT]\n",
        params="train:\n  lr: 0.1\n",
        files={"conf/model.yaml": "model:\n  depth: 4\n  layers: [64, 32]\nother: 1\n"},
    )
    ws.artver("repro")
    assert written(ws, "ARGS_OUT") == ["3", "v1", "0.1", "4", "32"]
    assert lock(ws)["train"]["params"] == {
        "conf/model.yaml": {"model.depth": 4, "model.layers.1": 32},
        "params.yaml": {"train.lr": 0.1},
    }
    ws.write("conf/model.yaml", "model:\n  depth: 5\n  layers: [64, 32]\nother: 1\n")
    assert "param model.depth 4 -> 5" in ws.artver("status").stdout


def test_cli_stage_vars(ws):
    setup(
        ws,
        "stages:\n  s:\n    vars: [{x: 1}, conf.yaml]\n    cmd: ARGS ${x} ${y}\n"
        "    outs: [ARGS_OUT]\n",
        files={"conf.yaml": "y: two\n"},
    )
    ws.artver("repro")
    assert written(ws, "ARGS_OUT") == ["1", "two"]


def test_cli_dict_expansion_in_cmd(ws):
    setup(
        ws,
        "stages:\n  train:\n    cmd: ARGS ${train}\n    outs: [ARGS_OUT]\n",
        params="train:\n  lr: 0.1\n  epochs: 3\n  name: my model\n  verbose: true\n"
        "  quiet: false\n  layers: [8, 4]\n",
    )
    ws.artver("repro")
    assert written(ws, "ARGS_OUT") == [
        "--lr", "0.1", "--epochs", "3", "--name", "my model", "--verbose", "--layers", "8", "4",
    ]  # fmt: skip
    assert lock(ws)["train"]["params"]["params.yaml"] == {
        "train": {"lr": 0.1, "epochs": 3, "name": "my model", "verbose": True, "quiet": False,
                  "layers": [8, 4]},
    }  # fmt: skip


def test_cli_foreach_list_and_mapping_and_matrix(ws):
    setup(
        ws,
        "stages:\n"
        "  fit:\n    foreach: ${models}\n    do:\n"
        f"      cmd: {PY} args.py fit-${{item.name}}.json ${{item.name}} ${{item.lr}}\n"
        '      outs: ["fit-${item.name}.json"]\n'
        "  size:\n    foreach:\n      small: {layers: 2}\n      large: {layers: 8}\n    do:\n"
        f"      cmd: {PY} args.py size-${{key}}.json ${{key}} ${{item.layers}}\n"
        '      outs: ["size-${key}.json"]\n'
        "  grid:\n    matrix: {model: [cnn, rnn], lr: [1, 2]}\n"
        f"    cmd: {PY} args.py grid-${{key}}.json ${{item.model}} ${{item.lr}} ${{key}}\n"
        '    outs: ["grid-${key}.json"]\n',
        params="models:\n  - {name: a, lr: 0.1}\n  - {name: b, lr: 0.2}\n",
    )
    listed = json.loads(ws.artver("stage", "list", "--json").stdout)["stages"]
    assert sorted(s["name"] for s in listed) == [
        "fit@0", "fit@1", "grid@cnn-1", "grid@cnn-2", "grid@rnn-1", "grid@rnn-2",
        "size@large", "size@small",
    ]  # fmt: skip
    ws.artver("repro")
    assert written(ws, "fit-b.json") == ["b", "0.2"]
    assert written(ws, "size-large.json") == ["large", "8"]
    assert written(ws, "grid-rnn-2.json") == ["rnn", "2", "rnn-2"]


def test_cli_values_in_deps_outs_and_wdir(ws):
    setup(
        ws,
        "vars: [{dir: work, data: input.txt}]\n"
        "stages:\n"
        "  copy:\n    wdir: ${dir}\n"
        "    cmd: cat ${data} > ${out.name}\n"
        '    deps: ["${data}"]\n'
        '    outs: ["${out.name}"]\n',
        params="out:\n  name: copied.txt\n",
        files={"work/input.txt": "hello\n"},
    )
    stage = json.loads(ws.artver("stage", "list", "--json").stdout)["stages"][0]
    assert stage["deps"] == ["work/input.txt"] and stage["outs"] == ["work/copied.txt"]
    ws.artver("repro")
    assert ws.read("work/copied.txt") == b"hello\n"
    ws.write("work/input.txt", "changed\n")
    assert "copy: dep work/input.txt modified" in ws.artver("status").stdout


def test_cli_shell_variables_written_without_braces_or_escaped_reach_the_shell(ws):
    setup(
        ws,
        "stages:\n  s:\n    cmd: echo $MY_VAR \\${MY_VAR} ${n} > o.txt\n    outs: [o.txt]\n",
        params="n: 1\n",
    )
    ws.artver("repro", env={"MY_VAR": "shell"})
    assert ws.read("o.txt") == b"shell shell 1\n"


def test_cli_a_dvc_yaml_with_top_level_sections_parses(ws):
    setup(
        ws,
        "stages:\n  train:\n    cmd: echo 1 > m.json\n    metrics: [m.json]\n"
        "plots:\n  - m.json:\n      x: step\n      y: loss\n"
        "metrics: [m.json]\n"
        "params: [params.yaml]\n"
        "artifacts:\n  model:\n    path: m.json\n    type: model\n",
    )
    ws.artver("repro")
    assert "up to date" in ws.artver("status").stdout


# -- mistakes, through the CLI -------------------------------------------------------------------
def test_cli_an_unresolved_name_is_an_error_with_file_and_line(ws):
    setup(ws, "stages:\n  a:\n    cmd: echo ${n}\n    outs: [o.txt]\n")
    res = ws.artver("repro", expect=1)
    assert_error(res, "artver.yaml, line 3", "${n} is not defined", "$n")
    assert not (ws.root / "artver.lock").exists()
    setup(ws, 'vars: [{n: 1}]\nstages:\n  a:\n    cmd: echo ${n}\n    outs: ["${out}"]\n')
    assert_error(ws.artver("status", expect=1), "artver.yaml, line 5", "${out} is not defined")


def test_cli_an_ambiguous_name_is_an_error_naming_both_sources(ws):
    setup(ws, "vars: [{lr: 1}]\nstages:\n  a:\n    cmd: echo ${lr}\n", params="lr: 2\n")
    assert_error(
        ws.artver("repro", expect=1),
        "artver.yaml, line 1",
        "lr is ambiguous: both params.yaml and vars[0] define it",
    )
    setup(ws, "stages:\n  a:\n    vars: [{lr: 1}]\n    cmd: echo ${lr}\n", params="lr: 2\n")
    assert_error(
        ws.artver("repro", expect=1),
        "artver.yaml, line 3",
        "lr is ambiguous: both params.yaml and vars[0] of stage a define it",
    )


def test_cli_vars_naming_a_missing_file_or_key_is_an_error(ws):
    setup(ws, "vars:\n  - conf.yaml\nstages:\n  a:\n    cmd: echo\n")
    assert_error(
        ws.artver("repro", expect=1),
        "artver.yaml, line 2",
        "vars: params file conf.yaml does not exist",
    )
    setup(ws, "vars:\n  - {a: 1}\n  - conf.yaml:train\nstages:\n  a:\n    cmd: echo\n")
    ws.write("conf.yaml", "eval: {}\n")
    assert_error(
        ws.artver("repro", expect=1), "artver.yaml, line 3", "vars: conf.yaml has no key 'train'"
    )


@pytest.mark.parametrize(
    ("pipeline", "fragment"),
    [
        ("stages:\n  a:\n    cmd: echo\n    deps: ['${files}']\n", "${files} is a list"),
        ("vars: [{x: '${y}'}]\nstages:\n  a:\n    cmd: echo\n", "vars cannot use ${...}"),
        ("vars: 5\nstages:\n  a:\n    cmd: echo\n", "'vars' must be a list"),
        ("stages:\n  a:\n    foreach: [1]\n    do:\n      vars: [{item: 2}]\n      cmd: echo\n",
         "vars cannot define 'item'"),
        ("stages:\n  a:\n    foreach: ${n}\n    do:\n      cmd: echo\n",
         "foreach must be a list or a mapping; got int"),
        ("stages: {}\nplots: {a: 1}\n", "top-level 'plots' must be a list"),
    ],
)  # fmt: skip
def test_cli_other_templating_mistakes(ws, pipeline, fragment):
    setup(ws, pipeline, params="files: [a, b]\nn: 3\n")
    assert_error(ws.artver("repro", expect=1), "artver.yaml, line", fragment)


def test_cli_a_bad_params_yaml_is_named_when_templating_needs_it(ws):
    setup(ws, "stages:\n  a:\n    cmd: echo ${x}\n", params="- a list\n")
    assert_error(ws.artver("repro", expect=1), "params.yaml must hold a mapping")
    setup(ws, "stages:\n  a:\n    cmd: echo 1 > o.txt\n    outs: [o.txt]\n", params="- a list\n")
    ws.artver("repro")  # no ${...}: params.yaml is not read


def templating_docs() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "pipelines.md").read_text()
    assert "### Templating (`vars` and `${...}`)" in text
    return text.split("### Templating (`vars` and `${...}`)")[1].split("\n### ")[0]


def test_the_documented_example_gives_the_documented_commands():
    section = templating_docs()
    example = section.split("```yaml\n")[1].split("```")[0]
    files = {
        "params.yaml": {"train": {"lr": 0.1}},
        "conf/model.yaml": {"model": {"layers": [64, 32]}},
        "conf/data.yaml": {"split": 0.2, "seed": 7, "other": 1},
    }
    stages = {s.name: s for s in parse_file(example, "artver.yaml", read_params=reader(files))}
    documented = "`python train.py --lr 0.1 --lr 0.1 --epochs 3 --verbose --layers 64`"
    assert documented in section
    assert stages["train"].cmd == (documented.strip("`"),)
    assert stages["train"].seed == 7 and stages["train"].deps == ("results/prepared.csv",)
    assert stages["report"].cmd == ("make report FORMAT=html OUT=$HOME/results",)
    args = {"lr": 0.1, "epochs": 3, "verbose": True, "quiet": False, "name": "my model"}
    args["layers"] = [1, 2]
    assert f"`{cmd_text(args)}`" in section
    assert f"`{cmd_text(['a.csv', 'b c.csv'])}`" in section
    for needle in ("file.yaml:key1,key2", "ambiguous", "\\${VAR}", "does not exist"):
        assert needle in section, needle


def test_templating_module_is_pure():
    """The resolver reads no file: schema.py reads the params files and passes values."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(templating.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"os", "pathlib", "io", "open", "artver.stages.params"}, imported


def test_an_older_revision_is_read_with_its_own_params(ws, tmp_path):
    """replay, lineage and metrics diff read a commit's pipeline with that commit's params."""
    ws.write("params.yaml", "train:\n  lr: 0.1\n")
    ws.write("train.py", "import sys\nopen('model.txt', 'w').write(sys.argv[1])\n")
    ws.write(
        "artver.yaml",
        "stages:\n  train:\n    cmd: " + PY + " train.py ${train.lr}\n"
        "    deps: [train.py]\n    outs: [model.txt]\n",
    )
    ws.artver("repro")
    ws.commit("lr 0.1", tag="v1")
    ws.write("params.yaml", "train:\n  lr: 0.2\n")
    ws.artver("repro")
    ws.commit("lr 0.2")
    assert ws.read("model.txt") == b"0.2"
    replayed = ws.artver("replay", "train", "--rev", "v1", "-o", str(tmp_path / "out"))
    assert "train: deterministic" in replayed.stdout, replayed.output
    assert (tmp_path / "out" / "model.txt").read_text() == "0.1"
    lineage = json.loads(ws.artver("lineage", "model.txt", "--rev", "v1", "--json").stdout)
    assert any("train.py 0.1" in " ".join(s["cmd"]) for s in lineage["stages"]), lineage
