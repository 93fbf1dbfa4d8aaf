"""AlpacaEval 2.0 as alpaca_eval computes it: the official annotator's prompt, output order and
log-probability preference (judged over HTTP against the fake server), the three length-control GLMs
checked against the `alpaca-eval` package's own fit on the same annotations (the small difficulty and
gamed-baseline files are written here), the offline fallbacks, and the resampled LC win rate that the
paired PGR bootstrap uses."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import read_jsonl

from agorabench.data.benchmarks import get_benchmark
from agorabench.data.benchmarks.alpaca_eval import load_alpaca_eval
from agorabench.errors import AgorabenchError
from agorabench.evaluation.graders import GradeContext, get_grader
from agorabench.evaluation.judges import prompts
from agorabench.evaluation.judges.alpaca_eval import (
    alpaca_eval_result,
    judge_alpaca_eval,
    official_position,
)
from agorabench.evaluation.judges.length_control import (
    GLMS,
    Annotation,
    alpaca_eval_glm,
    length_control_data,
    length_controlled_win_rate,
    load_gamed_baselines,
    load_instruction_difficulty,
    question_rows,
    resampled_lc_win_rates,
)
from agorabench.evaluation.judges.pairwise import logprob_preference
from agorabench.generation.config import EngineConfig
from agorabench.llm.config import GeneratorConfig
from agorabench.testing.fake_server import FakeServer, Reply, last_user_text

HAS_PACKAGE = importlib.util.find_spec("alpaca_eval") is not None
needs_package = pytest.mark.skipif(not HAS_PACKAGE, reason="needs the alpaca-eval package (the alpaca extra)")


def package():
    glm, why = alpaca_eval_glm()
    assert glm is not None, why
    return glm


# ----------------------------------------------------------------------------- files and annotations


def write_lc_files(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """A df_gamed.csv (a verbose and a concise variant of the baseline on n instructions, rows in index
    order as alpaca_eval's file has them) and the matching instruction_difficulty.csv."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n)
    folder.mkdir(parents=True, exist_ok=True)
    gamed = folder / "df_gamed.csv"
    with open(gamed, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "index", "preference", "std_delta_len", "instruction_difficulty",
                         "not_gamed_baseline"])
        for name, sign in (("gpt4_1106_preview_verbose", -1.0), ("gpt4_1106_preview_concise", 1.0)):
            std_delta = sign * np.abs(rng.normal(1.0, 0.6, size=n))
            p = 1 / (1 + np.exp(-(-0.9 * np.tanh(std_delta) - 0.3 * difficulty)))
            pref = np.clip(p + rng.normal(0, 0.05, size=n), 0, 1)
            for i in range(n):
                writer.writerow([name, i, pref[i], std_delta[i], difficulty[i], False])
    table = folder / "instruction_difficulty.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "instruction_difficulty"])
        writer.writerows([i, difficulty[i]] for i in range(n))
    return gamed, table


def synthetic_annotations(n: int, seed: int = 1, difficulty=None) -> list[Annotation]:
    """A length-biased judge's preferences, 0/1 and continuous mixed."""
    rng = np.random.default_rng(seed)
    reference = rng.integers(400, 3000, size=n)
    model = (reference * rng.uniform(0.5, 2.2, size=n)).astype(int)
    delta = (reference - model) / (reference - model).std(ddof=1)
    hard = np.zeros(n) if difficulty is None else np.array([difficulty[str(i)] for i in range(n)])
    p = 1 / (1 + np.exp(-(0.4 - 1.1 * np.tanh(delta) - 0.6 * hard)))
    pref = np.where(np.arange(n) % 3 == 0, p, (rng.random(n) < p).astype(float))
    return [Annotation(str(i), float(pref[i]), int(model[i]), int(reference[i])) for i in range(n)]


REFERENCE_SCRIPT = """
import json, sys
import pandas as pd
from agorabench.evaluation.judges.length_control import alpaca_eval_glm
glm, why = alpaca_eval_glm()
assert glm is not None, why
spec = json.load(open(sys.argv[1]))
df = pd.DataFrame(spec["frame"])
out = {}
for name in spec["models"]:
    metrics = glm.get_length_controlled_winrate(df.copy(), glm_name=name, save_weights_dir=None)
    out[name] = float(metrics["length_controlled_winrate"])
print(json.dumps(out))
"""


def package_reference(tmp_path: Path, rows: list[Annotation], gamed: Path) -> dict[str, float]:
    """alpaca_eval's own `get_length_controlled_winrate` on these annotations, in a fresh process whose
    Hugging Face cache holds our df_gamed.csv as tatsu-lab/alpaca_eval's (it always fetches it there)."""
    repo = tmp_path / "hub" / "datasets--tatsu-lab--alpaca_eval"
    revision = "0" * 40
    (repo / "snapshots" / revision).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision / "df_gamed.csv").write_bytes(gamed.read_bytes())
    frame = {
        "index": [int(a.id) for a in rows],
        "preference": [1.0 + a.preference for a in rows],  # alpaca_eval's 1 (reference) ... 2 (model)
        "output_1": ["r" * a.baseline_length for a in rows],
        "output_2": ["m" * a.model_length for a in rows],
        "generator_1": "gpt4_1106_preview",
        "generator_2": "model",
    }
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"frame": frame, "models": list(GLMS)}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    proc = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, str(spec)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the GLMs vs alpaca_eval's


@needs_package
def test_ours_agrees_with_alpaca_evals_fit_on_the_same_annotations(tmp_path):
    n = 120
    gamed_path, table = write_lc_files(tmp_path / "lc", n)
    gamed = load_gamed_baselines(gamed_path)
    rows = synthetic_annotations(n, difficulty=gamed.difficulty())
    reference = package_reference(tmp_path, rows, gamed_path)
    for model in GLMS:
        theirs = length_controlled_win_rate(rows, None, gamed, model=model, implementation="alpaca_eval")
        ours = length_controlled_win_rate(rows, None, gamed, model=model, implementation="agorabench")
        assert theirs.implementation.startswith("alpaca_eval ") and ours.implementation == "agorabench"
        assert theirs.model == ours.model == model
        assert theirs.win_rate == pytest.approx(reference[model], abs=1e-9)  # its code, our featurising
        assert ours.win_rate == pytest.approx(reference[model], abs=1e-3)
        for name, value in theirs.coefficients.items():
            assert ours.coefficients[name] == pytest.approx(value, abs=1e-3)
    # The variants differ, and the difficulty table gives what the gamed file's column gives.
    assert len({round(v, 6) for v in reference.values()}) == 3
    from_table = length_controlled_win_rate(rows, load_instruction_difficulty(table), model="length_controlled_noreg")
    assert from_table.win_rate == pytest.approx(reference["length_controlled_noreg"], abs=1e-3)


def test_the_variant_follows_the_data():
    rows = synthetic_annotations(60)
    difficulty = {a.id: 0.1 * int(a.id) % 1.0 for a in rows}
    assert length_controlled_win_rate(rows).model == "length_controlled_minimal"
    assert length_controlled_win_rate(rows, difficulty).model == "length_controlled_noreg"
    with pytest.raises(ValueError, match="gamed-baseline"):
        length_controlled_win_rate(rows, difficulty, model="length_controlled_v1")
    with pytest.raises(ValueError, match="no instruction difficulty"):
        length_controlled_win_rate(rows, {"0": 1.0})


# ----------------------------------------------------------------------------- resampled refits


def test_resampled_lc_reproduces_the_headline_and_is_fast(tmp_path):
    n = 805
    gamed_path, _ = write_lc_files(tmp_path / "lc", n)
    gamed = load_gamed_baselines(gamed_path)
    rows = synthetic_annotations(n, difficulty=gamed.difficulty())
    for model in GLMS:
        lc = length_controlled_win_rate(rows, None, gamed, model=model)
        table = question_rows(rows, lc, gamed.difficulty(), gamed)
        assert resampled_lc_win_rates(table, np.arange(n)[None]) == pytest.approx([lc.win_rate], abs=0.01)
    # 1000 rounds of 805 instructions, the largest model (gamed rows included), within seconds.
    draws = np.random.default_rng(0).integers(0, n, size=(1000, n))
    lc = length_controlled_win_rate(rows, None, gamed, model="length_controlled_v1")
    table = question_rows(rows, lc, gamed.difficulty(), gamed)
    started = time.monotonic()
    samples = resampled_lc_win_rates(table, draws)
    elapsed = time.monotonic() - started
    assert samples.shape == (1000,) and np.isfinite(samples).all()
    assert np.percentile(samples, 2.5) < lc.win_rate < np.percentile(samples, 97.5)
    assert elapsed < 30, elapsed  # a few seconds on an idle machine


def test_rows_of_a_subset_carry_every_gamed_row(tmp_path):
    n = 200
    gamed_path, _ = write_lc_files(tmp_path / "lc", n)
    gamed = load_gamed_baselines(gamed_path)
    rows = synthetic_annotations(n, difficulty=gamed.difficulty())[::3]  # a --limit, or failed judgments
    lc = length_controlled_win_rate(rows, None, gamed)
    assert lc.model == "length_controlled_v1"
    table = question_rows(rows, lc, gamed.difficulty(), gamed)
    assert sum(len(row["gamed"]) for row in table) == 2 * n
    assert resampled_lc_win_rates(table, np.arange(len(rows))[None])[0] == pytest.approx(lc.win_rate, abs=0.01)
    with pytest.raises(KeyError):  # rows of an older grader: the PGR falls back to its parametric bootstrap
        resampled_lc_win_rates([{"id": "1", "preference": 1.0}], np.zeros((1, 1), dtype=int))


# ----------------------------------------------------------------------------- where the data come from


def test_offline_without_the_files_the_next_variant_runs_and_says_why(tmp_path):
    # The test session is offline (HF_HUB_OFFLINE=1): a Hub id that is not in the cache cannot be had.
    data = length_control_data("nobody/not-cached", "nobody/not-cached")
    assert data.gamed is None and data.difficulty is None and data.best_model() == "length_controlled_minimal"
    assert len(data.notes) == 2 and all("unreachable" in note for note in data.notes)
    gamed_path, table = write_lc_files(tmp_path / "lc", 10)
    from_folder = length_control_data(None, tmp_path / "lc")  # a folder holding df_gamed.csv
    assert from_folder.best_model() == "length_controlled_v1"
    assert from_folder.sources["gamed_baselines"] == str(gamed_path)
    assert from_folder.difficulty == load_instruction_difficulty(table)
    only_table = length_control_data(table, False)
    assert only_table.best_model() == "length_controlled_noreg" and only_table.notes == []
    assert length_control_data("none", "none").best_model() == "length_controlled_minimal"
    default = length_control_data()  # the official files: only if this machine's Hub cache holds them
    assert default.best_model() == "length_controlled_v1" or all("unreachable" in n for n in default.notes)
    with pytest.raises(AgorabenchError, match="file not found"):
        length_control_data(None, tmp_path / "missing.csv")


# ----------------------------------------------------------------------------- the official annotator


@needs_package
def test_official_prompt_is_the_packages_template_filled_as_it_fills_it():
    import pandas as pd

    package()
    from alpaca_eval import utils

    official = prompts.alpaca_eval_prompt()
    assert official is not None and official.labels == ("m", "M")
    assert (official.top_logprobs, official.max_tokens) == (5, 1)
    cases = [("Write a haiku about {output_1}.", "An {output_2} answer", 'It is "42".\n\nDone.'),
             ("Plain question?", "short", "a much longer answer\nwith lines")]
    for instruction, output_1, output_2 in cases:
        df = pd.DataFrame([{"instruction": instruction, "output_1": output_1, "output_2": output_2}])
        (text,), _ = utils.make_prompts(df, official.template)
        expected = [(m["role"], m["content"]) for m in utils.prompt_to_chatml(text)]
        assert official.messages(instruction, output_1, output_2) == expected


@needs_package
def test_official_position_is_alpaca_evals_output_switch():
    import pandas as pd

    package()
    from alpaca_eval.annotators import PairwiseAnnotator

    annotator = PairwiseAnnotator(annotators_config=prompts.ALPACA_EVAL_ANNOTATOR)
    (single,) = annotator.annotators.values()
    (switch,) = [p for p in single.processors if type(p).__name__ == "RandomSwitchTwoColumnsProcessor"]
    instructions = [f"Instruction number {i}: tell me something." for i in range(40)]
    df = pd.DataFrame({"instruction": instructions, "output_1": "reference", "output_2": "model"})
    switched = switch.preprocess(df)
    for instruction, output_1 in zip(instructions, switched["output_1"], strict=True):
        assert official_position(instruction) == ("A" if output_1 == "model" else "B")
    assert {official_position(i) for i in instructions} == {"A", "B"}


@needs_package
def test_logprob_preference_is_the_packages_parser():
    package()
    from alpaca_eval.completion_parsers import logprob_parser

    for top in ({"m": -0.2, "M": -1.8, "The": -4.0}, {"M": -0.01, "Both": -6.0}, {"m": -0.5}):
        completion = {"logprobs": {"content": [{"top_logprobs": [{"token": t, "logprob": v} for t, v in top.items()]}]}}
        (theirs,) = logprob_parser(completion, numerator_token="m", denominator_tokens=["m", "M"], is_binarize=False)
        assert 2 - logprob_preference(top, ("m", "M")) == pytest.approx(theirs)  # theirs: 1 (m) ... 2 (M)
    assert logprob_preference({"The": -0.1}, ("m", "M")) is None


# ----------------------------------------------------------------------------- judging over HTTP


_OUTPUT = re.compile(r'"output": """(.*?)"""\n', re.DOTALL)


def official_judge(body: dict) -> Reply | str:
    """A length-biased judge speaking the official format: P(first shown output) = 0.8 when it is the
    longer, else 0.25; it answers with the likelier label."""
    text = last_user_text(body)
    first, second = _OUTPUT.findall(text)
    if "UNJUDGEABLE" in first + second and "Important:" not in text:
        return "Both are fine."
    p = 0.8 if len(first) > len(second) else 0.25
    return Reply("m" if p >= 0.5 else "M", {"m": math.log(p), "M": math.log(1 - p), "Both": math.log(1e-4)})


def small_data(tmp_path: Path, n: int = 10):
    rows = [{"instruction": f"Question {i}: explain topic {i}.", "output": "A reference answer of medium size. " * 3,
             "generator": "gpt4_1106_preview", "dataset": "helpful_base"} for i in range(n)]
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(rows))
    return load_alpaca_eval(path, expected_count=None)


def model_outputs(n: int) -> dict[str, str]:
    return {str(i): ("A long and detailed answer. " * 20 if i % 3 else "Short.") for i in range(n)}


def judge(url: str) -> GeneratorConfig:
    return GeneratorConfig(name="fake-judge", backend="openai", model="fake-judge", base_urls=[url], timeout_s=5.0)


def engine(tmp_path: Path) -> EngineConfig:
    return EngineConfig(backoff_base_s=0.01, backoff_max_s=0.05, cache_dir=tmp_path / "cache", max_validation_retries=2)


@needs_package
def test_official_judging_reads_the_preference_from_logprobs(tmp_path):
    data, outputs = small_data(tmp_path), model_outputs(10)
    bodies = []

    def responder(body):
        bodies.append(body)
        return official_judge(body)

    with FakeServer(responder=responder) as server:
        result = judge_alpaca_eval(outputs, judge(server.openai_base_url), tmp_path / "out", data=data,
                                   prompt="official", gamed_baselines=False, instruction_difficulty=False,
                                   engine=engine(tmp_path), n_bootstrap=200)
        cached = judge_alpaca_eval(outputs, judge(server.openai_base_url), tmp_path / "again", data=data,
                                   prompt="official", gamed_baselines=False, instruction_difficulty=False,
                                   engine=engine(tmp_path), n_bootstrap=200)
    assert cached.cached_responses == 10 and cached.preference_sources == {"logprobs": 10}
    assert cached.win_rate == result.win_rate
    assert len(bodies) == 10
    assert all(b["logprobs"] is True and b["top_logprobs"] == 5 and b["max_tokens"] == 1 for b in bodies)
    assert all(b["temperature"] == 0.0 and [m["role"] for m in b["messages"]] == ["system", "user"] for b in bodies)
    records = {r["question_id"]: r for r in read_jsonl(tmp_path / "out" / "records.jsonl")}
    expected = {}
    for qid, record in records.items():
        position = official_position(data.by_id()[qid].instruction)
        assert record["model_position"] == position and record["preference_source"] == "logprobs"
        longer = len(outputs[qid]) > len(data.by_id()[qid].reference)
        p_first = 0.8 if (longer if position == "A" else not longer) else 0.25
        expected[qid] = p_first if position == "A" else 1 - p_first
        assert record["score"] == pytest.approx(expected[qid])
    assert {r["model_position"] for r in records.values()} == {"A", "B"}
    assert result.win_rate == pytest.approx(100 * np.mean(list(expected.values())))
    assert result.prompt == prompts.alpaca_eval_prompt().name and result.order == "official"
    assert result.preference_sources == {"logprobs": 10}
    assert result.lc_model == "length_controlled_minimal" and result.lc_implementation.startswith("alpaca_eval")
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["lc_model"] == "length_controlled_minimal" and "rows" not in summary


@needs_package
def test_a_judge_without_logprobs_gives_text_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test")
    data, outputs = small_data(tmp_path, 6), model_outputs(6)
    with FakeServer(responder=official_judge) as server:
        config = GeneratorConfig(name="claude-judge", backend="anthropic", model="claude-3-5-sonnet-20241022",
                                 base_urls=[server.anthropic_base_url], api_key_env="FAKE_ANTHROPIC_KEY", timeout_s=5.0)
        result = judge_alpaca_eval(outputs, config, tmp_path / "out", data=data, prompt="official",
                                   gamed_baselines=False, instruction_difficulty=False, engine=engine(tmp_path),
                                   n_bootstrap=50)
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert {r["preference_source"] for r in records} == {"verdict"} and result.preference_sources == {"verdict": 6}
    assert {r["score"] for r in records} <= {0.0, 1.0}
    assert result.n == 6


@needs_package
def test_a_reply_naming_neither_output_is_asked_again_with_a_reminder(tmp_path):
    data, outputs = small_data(tmp_path, 4), model_outputs(4)
    outputs["1"] = "UNJUDGEABLE " + outputs["1"]
    with FakeServer(responder=official_judge) as server:
        result = judge_alpaca_eval(outputs, judge(server.openai_base_url), tmp_path / "out", data=data,
                                   prompt="official", gamed_baselines=False, instruction_difficulty=False,
                                   engine=engine(tmp_path), n_bootstrap=50)
        asked = {p: k for p, k in server.stats()["prompts"].items() if "UNJUDGEABLE" in p}
    assert sorted(asked.values()) == [1, 1] and sum("answer with exactly m or M" in p for p in asked) == 1
    assert result.n == 4 and result.n_failed == 0


def test_our_prompt_is_used_without_the_package_or_when_asked(tmp_path):
    data, outputs = small_data(tmp_path, 4), model_outputs(4)

    def ours(body):
        text = last_user_text(body)
        a = re.search(r"<reply_A>\n(.*?)\n</reply_A>", text, re.DOTALL).group(1)
        b = re.search(r"<reply_B>\n(.*?)\n</reply_B>", text, re.DOTALL).group(1)
        return "[[A]]" if len(a) > len(b) else "[[B]]"

    with FakeServer(responder=ours) as server:
        result = judge_alpaca_eval(outputs, judge(server.openai_base_url), tmp_path / "out", data=data,
                                   prompt="agorabench", gamed_baselines=False, engine=engine(tmp_path),
                                   instruction_difficulty=False, n_bootstrap=50)
    assert result.prompt == f"agorabench:{prompts.PROMPT_VERSION}" and result.order == "random"
    assert result.preference_sources == {"verdict": 4} and result.win_rate == 50.0  # the two long outputs win


# ----------------------------------------------------------------------------- the grader


@needs_package
def test_the_grader_names_its_variant_and_its_rows_refit_to_the_headline(tmp_path):
    gamed_path, _ = write_lc_files(tmp_path / "lc", 805)
    spec = get_benchmark("alpaca_eval")
    data = spec.load({"gamed_baselines": str(gamed_path), "judge_prompt": "official"})
    ids = [str(i) for i in range(0, 805, 23)]
    data = dataclasses.replace(data, items=[item for item in data.items if item["id"] in ids])
    outputs = {i: ("A long and detailed answer. " * (3 + int(i) % 40)) for i in ids}
    grader = get_grader(spec.grader)
    with FakeServer(responder=official_judge) as server:
        context = GradeContext(out_dir=tmp_path / "eval", judge=judge(server.openai_base_url))
        graded = grader.grade(data, outputs, context)
    assert graded.metric == "length-controlled win rate (length_controlled_v1)"
    assert graded.extra["lc_model"] == "length_controlled_v1" and graded.extra["lc_notes"] == []
    assert graded.extra["lc_sources"]["gamed_baselines"] == str(gamed_path)
    assert [row["id"] for row in graded.items] == ids
    assert sum(len(row["gamed"]) for row in graded.items) == 2 * 805
    again = grader.resampled_scores(graded.items, np.arange(len(ids))[None])
    assert again[0] == pytest.approx(graded.score, abs=0.05)
    assert graded.ci[0] <= graded.score <= graded.ci[1]
    json.dumps(graded.items, allow_nan=False)  # results.jsonl stays plain JSON


def test_alpaca_eval_result_without_extra_data_is_minimal():
    rows = synthetic_annotations(40)
    summary = alpaca_eval_result(rows, n_bootstrap=100)
    assert summary["lc_model"] == "length_controlled_minimal" and summary["lc_sources"] == {}
    assert summary["lc_ci"][0] <= summary["lc_win_rate"] <= summary["lc_ci"][1]
    assert summary["discrete_win_rate"] == pytest.approx(
        100 * np.mean([0.5 if a.preference == 0.5 else round(a.preference) for a in rows]))
