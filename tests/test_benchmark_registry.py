"""The benchmark registry: a benchmark declared in one new file, outside the package, is decontaminated
against, evaluated over real HTTP and gets a paired PGR bootstrap; every registered benchmark keys its items
by a string "id" and names a grader that exists; the grading version follows benchmarks and graders."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys

import pytest

from agorabench.data.benchmarks import (
    BENCHMARKS,
    BenchmarkSpec,
    get_benchmark,
    register_benchmark,
    unregister_benchmark,
)
from agorabench.errors import AgorabenchError
from agorabench.evaluation import graders
from agorabench.evaluation.evaluate import evaluate_benchmark
from agorabench.evaluation.graders import GRADERS, grading_version
from agorabench.evaluation.judges import prompts
from agorabench.generation.decontamination import Decontaminator
from agorabench.jsonl import read_jsonl
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import GeneratorConfig
from agorabench.metrics.pgr import pgr_benchmark, scores_from_eval_dir
from agorabench.taxonomy import DOMAINS
from agorabench.testing.fake_server import FakeServer, last_user_text

SHIPPED = ("gsm8k", "humaneval", "ifeval", "alpaca_eval", "arena_hard")

# The whole of a new benchmark: one file that calls register_benchmark once.
TOY_MODULE = '''
"""Toy arithmetic: word problems from a local JSONL file (or options["path"])."""

from pathlib import Path

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.files import file_sha256
from agorabench.jsonl import read_jsonl

DATA = Path(__file__).with_name("toy_arithmetic.jsonl")


def load(options):
    path = Path(options.get("path") or DATA)
    rows = read_jsonl(path)
    items = [{"id": f"toy-{row['n']}", "question": row["question"], "gold": row["answer"]} for row in rows]
    return BenchmarkData("toy_arithmetic", items, file_sha256(path), str(path))


register_benchmark(BenchmarkSpec(
    name="toy_arithmetic", domain="math", metric="accuracy", description="six word problems", version="1",
    load=load,
    prompt=lambda item: user(item["question"] + "\\n\\nEnd with the answer as [RESULT] answer [/RESULT]."),
    grader="math",
    decontamination_texts=lambda options: [item["question"] for item in load(options).items],
    item_score="correct",
    decoding=PAPER_DECODING["math"],
))
'''

QUESTIONS = [  # (question, answer): long enough for 13-word n-grams
    ("A baker fills 7 trays with 12 rolls each and then sells 30 of the rolls; how many are left?", "54"),
    ("A library has 5 shelves of 40 books each and lends out 65 of them; how many are still there?", "135"),
    ("A farmer plants 9 rows of 15 cabbages and rabbits eat 18 of them; how many does he keep?", "117"),
    ("A train carries 6 wagons of 32 passengers each and 25 get off at one stop; how many stay?", "167"),
    ("A school orders 8 boxes of 24 pencils each and hands out 100 on day one; how many are left?", "92"),
    ("A gardener waters 11 pots an hour for 4 hours and skips 3 pots that are already wet; how many?", "41"),
]


@pytest.fixture
def toy_benchmark(tmp_path, monkeypatch):
    """The toy module written to a folder of its own, put on sys.path and imported; unregistered after."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    rows = [{"n": n, "question": q, "answer": a} for n, (q, a) in enumerate(QUESTIONS)]
    (folder / "toy_arithmetic.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "toy_arithmetic_benchmark.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    importlib.import_module("toy_arithmetic_benchmark")
    yield get_benchmark("toy_arithmetic")
    unregister_benchmark("toy_arithmetic")
    sys.modules.pop("toy_arithmetic_benchmark", None)


# --- a new benchmark, end to end -------------------------------------------------------------------------


def test_a_new_benchmark_is_checked_by_decontamination(toy_benchmark, tmp_path):
    copied = f"Please solve this. {QUESTIONS[3][0]} Show your work."
    unrelated = "Write a short poem about the sea at night with a rhyme in every second line of every stanza."
    index = Decontaminator.from_benchmarks(only=["toy_arithmetic"])
    assert index.items_per_benchmark == {"toy_arithmetic": 6}
    assert index.match(copied) == "toy_arithmetic"
    assert index.match(unrelated) is None
    # With no `only`, every registered benchmark is read, the new one included.
    assert Decontaminator.from_benchmarks().match(copied) == "toy_arithmetic"

    # A local path becomes the benchmark's `path` option.
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"n": 0, "question": unrelated, "answer": "0"}) + "\n")
    index = Decontaminator.from_benchmarks(local_paths={"toy_arithmetic": other}, only=[])
    assert index.match(unrelated) == "toy_arithmetic" and index.match(copied) is None
    with pytest.raises(AgorabenchError, match="unknown benchmark 'mmlu'"):
        Decontaminator.from_benchmarks(local_paths={"mmlu": other}, only=[])


# Which items each model answers right: the base 1 of 6, the student 3, the reference 5.
KNOWS = {"base": {0}, "student": {0, 1, 2}, "reference": {0, 1, 2, 3, 4}}


def answer_by_model(body):
    question = last_user_text(body).split("\n\n")[0]
    n = next(i for i, (q, _) in enumerate(QUESTIONS) if q == question)
    gold = int(QUESTIONS[n][1])
    return f"Working it out.\n[RESULT] {gold if n in KNOWS[body['model']] else gold + 1} [/RESULT]"


def test_a_new_benchmark_is_evaluated_and_gets_a_paired_bootstrap(toy_benchmark, tmp_path):
    summaries = {}
    with FakeServer(responder=answer_by_model) as server:
        for role in KNOWS:
            url = server.openai_base_url
            model = GeneratorConfig(name=role, backend="openai", model=role, base_urls=[url])
            summaries[role] = evaluate_benchmark(model, "toy_arithmetic", tmp_path / role)
    assert {role: round(s["score"], 2) for role, s in summaries.items()} == {
        "base": 16.67, "student": 50.0, "reference": 83.33
    }
    student = summaries["student"]
    assert student["domain"] == "math" and student["n"] == 6 and student["metric"] == "accuracy"
    assert student["grading_version"] == grading_version("toy_arithmetic") == f"toy_arithmetic@1+math@{GRADERS['math'].version}"
    rows = read_jsonl(tmp_path / "student" / "toy_arithmetic" / "results.jsonl")
    assert [row["correct"] for row in rows] == [True, True, True, False, False, False]
    assert rows[0]["id"] == "toy-0" and rows[0]["extracted"] == "54"

    scores = {role: scores_from_eval_dir(tmp_path / role / "toy_arithmetic") for role in KNOWS}
    assert scores["student"].item_scores == {f"toy-{n}": float(n in KNOWS["student"]) for n in range(6)}
    result = pgr_benchmark(scores["student"], scores["base"], scores["reference"])
    assert result.method == "paired" and result.n == 6
    assert result.value == pytest.approx(50.0)


# --- every registered benchmark ----------------------------------------------------------------------------


def test_discovery_finds_one_benchmark_per_module():
    assert set(BENCHMARKS) >= {"gsm8k", "math", "humaneval", "mbpp", "ifeval", "alpaca_eval", "arena_hard"}
    assert "_prompts" not in BENCHMARKS  # helper modules are not benchmarks


def test_every_spec_is_complete_and_names_a_grader_that_exists():
    for name, spec in BENCHMARKS.items():
        assert spec.name == name and spec.domain in DOMAINS and spec.version and spec.metric
        assert spec.grader in GRADERS, f"{name}: grader {spec.grader!r} is not registered"
        assert isinstance(spec.decoding, SamplingParams)
        assert spec.item_score is None or isinstance(spec.item_score, str)
        assert grading_version(name).startswith(f"{name}@{spec.version}+{spec.grader}@")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_items_all_carry_a_string_id(name):
    spec = get_benchmark(name)
    data = spec.load({})
    ids = [item["id"] for item in data.items]
    assert ids and all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
    assert data.name == name and len(data.checksum) == 64 and data.source
    messages = spec.prompt(data.items[0])
    assert messages[-1].role == "user" and messages[-1].content.strip()
    texts = list(spec.decontamination_texts({}))
    assert len(texts) == len(data.items) and all(isinstance(t, str) and t.strip() for t in texts)


def test_benchmarks_that_do_not_ship_load_local_files_with_ids(tmp_path):
    math_file = tmp_path / "math.jsonl"
    math_file.write_text(
        json.dumps({"problem": "What is $1+1$?", "solution": "$\\boxed{2}$", "unique_id": "a/1"}) + "\n"
        + json.dumps({"problem": "What is $2+2$?", "solution": "$\\boxed{4}$"}) + "\n"
    )
    mbpp_file = tmp_path / "mbpp.jsonl"
    mbpp_row = {"task_id": 11, "text": "Triple a number.", "test_list": ["assert f(1) == 3"]}
    mbpp_file.write_text(json.dumps(mbpp_row) + "\n")
    for name, path, ids in (("math", math_file, ["a/1", "math-1"]), ("mbpp", mbpp_file, ["11"])):
        spec = get_benchmark(name)
        assert [item["id"] for item in spec.load({"path": str(path)}).items] == ids
        assert len(list(spec.decontamination_texts({"path": path}))) == len(ids)
        assert list(spec.decontamination_texts({})) == []  # no local copy: nothing, and no Hub request
        with pytest.raises(AgorabenchError, match="not found"):
            list(spec.decontamination_texts({"path": tmp_path / "missing.jsonl"}))


def test_registry_errors_are_one_line(toy_benchmark):
    with pytest.raises(AgorabenchError) as excinfo:
        get_benchmark("mmlu")
    assert str(excinfo.value).startswith("unknown benchmark 'mmlu' (known: alpaca_eval, arena_hard, ")
    assert "\n" not in str(excinfo.value)
    with pytest.raises(AgorabenchError, match="registered twice"):
        register_benchmark(toy_benchmark)
    with pytest.raises(AgorabenchError, match="domain 'poetry' is not one of math, code, general"):
        register_benchmark(dataclasses.replace(toy_benchmark, name="toy_poetry", domain="poetry"))
    assert "toy_poetry" not in BENCHMARKS


# --- grading versions ------------------------------------------------------------------------------------


def test_grading_version_follows_the_grader_and_the_benchmark(monkeypatch):
    before = grading_version("gsm8k")
    monkeypatch.setitem(GRADERS, "math", dataclasses.replace(GRADERS["math"], version="99"))
    assert grading_version("gsm8k") != before and grading_version("gsm8k").endswith("+math@99")

    spec = get_benchmark("gsm8k")
    unregister_benchmark("gsm8k")
    try:
        register_benchmark(dataclasses.replace(spec, version="99"))
        assert grading_version("gsm8k") == "gsm8k@99+math@99"
    finally:
        unregister_benchmark("gsm8k")
        register_benchmark(spec)
    assert isinstance(get_benchmark("gsm8k"), BenchmarkSpec) and get_benchmark("gsm8k") is spec


def test_judged_graders_carry_the_judge_prompt_version(monkeypatch):
    from agorabench.evaluation.judges import arena_hard_prompts

    assert GRADERS["alpaca_eval"].version == graders.judged_version("2")
    assert GRADERS["alpaca_eval"].version.endswith(f"prompts{prompts.PROMPT_VERSION}")
    # Arena-Hard sends upstream's prompts (their own version), not ours.
    assert GRADERS["arena_hard"].version == f"2+arena_hard_prompts{arena_hard_prompts.PROMPT_VERSION}"
    monkeypatch.setattr(prompts, "PROMPT_VERSION", "99")
    assert graders.judged_version("1") == "1+prompts99"
