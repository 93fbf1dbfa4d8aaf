"""Arena-Hard v0.1 and v2.0 as upstream (lmarena/arena-hard-auto) runs them: data from a local folder or the
Hub in either file format, the judge prompts per version and category, two games with swapped positions,
upstream's verdict reading, `>>` counted 3 times, the score against one baseline (v2.0: hard prompts alone,
never pooled with creative writing), upstream's bootstrap, and the per-question rows the paired PGR bootstrap
refits. Models and judges answer over real HTTP from the fake server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agorabench.data.benchmarks import BenchmarkData, get_benchmark
from agorabench.data.benchmarks.arena_hard import load_arena_hard
from agorabench.errors import AgorabenchError
from agorabench.evaluation.evaluate import evaluate_benchmark
from agorabench.evaluation.graders import GradeContext, get_grader, grading_version
from agorabench.evaluation.judges import arena_hard_prompts as prompts
from agorabench.evaluation.judges.arena_hard import (
    Battle,
    arena_hard_score,
    bradley_terry,
    judge_arena_hard,
    parse_arena_hard_verdict,
    resampled_headline,
    win_rate_from_ratings,
)
from agorabench.generation.config import EngineConfig
from agorabench.generation.task import Rejected
from agorabench.llm.config import GeneratorConfig
from agorabench.metrics.pgr import pgr_benchmark, scores_from_eval_dir
from agorabench.pipeline.config import EvaluationConfig, profile_config
from agorabench.testing.fake_server import FakeServer, last_user_text
from conftest import read_jsonl

JUDGE = "fake-judge"
REPO = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- data in the Hub's formats


def write_v01(folder: Path, count: int, tag: str, *, original: bool = True) -> Path:
    """arena-hard-auto's data/arena-hard-v0.1 folder: the original format (question_id, turns; choices) or
    the reformatted one on the Hub since v2.0 (uid, prompt; messages with content.answer)."""
    (folder / "model_answer").mkdir(parents=True)
    with open(folder / "question.jsonl", "w") as q, open(folder / "model_answer" / "gpt-4-0314.jsonl", "w") as a:
        for i in range(count):
            qid, prompt, answer = f"v01q{i:03d}", f"[{tag}] Question {i}: explain idea {i}.", f"Baseline {i}."
            if original:
                q.write(json.dumps({"question_id": qid, "category": "arena-hard-v0.1", "cluster": "c",
                                    "turns": [{"content": prompt}]}) + "\n")
                a.write(json.dumps({"question_id": qid, "answer_id": f"a{i}", "model_id": "gpt-4-0314",
                                    "choices": [{"index": 0, "turns": [{"content": answer}]}]}) + "\n")
            else:
                row = {"uid": qid, "category": "arena-hard-v0.1", "cluster": "c", "prompt": prompt}
                q.write(json.dumps(row) + "\n")
                a.write(json.dumps({"uid": qid, "ans_id": f"a{i}", "model": "gpt-4-0314", "messages": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": {"answer": answer}},
                ]}) + "\n")
    return folder


def write_v20(folder: Path, hard: int, creative: int, tag: str) -> Path:
    """arena-hard-auto's data/arena-hard-v2.0 folder, with both baselines' answers."""
    (folder / "model_answer").mkdir(parents=True)
    questions = [(f"hp{i}", "hard_prompt", "coding") for i in range(hard)]
    questions += [(f"cw{i}", "creative_writing", "creative_writing") for i in range(creative)]
    baselines = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
    files = {m: open(folder / "model_answer" / f"{m}.jsonl", "w") for m in baselines.values()}
    with open(folder / "question.jsonl", "w") as q:
        for uid, category, sub in questions:
            prompt = f"[{tag}] {category} task {uid}."
            q.write(json.dumps({"uid": uid, "category": category, "subcategory": sub, "prompt": prompt}) + "\n")
            model = baselines[category]
            files[model].write(json.dumps({"uid": uid, "ans_id": uid, "model": model, "messages": [
                {"role": "user", "content": prompt}, {"role": "assistant", "content": {"answer": f"Base {uid}."}},
            ]}) + "\n")
    for handle in files.values():
        handle.close()
    return folder


# ----------------------------------------------------------------------------- fake model and judge


def answers_of(body: dict) -> tuple[str, str, str]:
    """(question, answer A, answer B) of a judge request in upstream's template."""
    text = last_user_text(body)
    match = re.fullmatch(
        r"<\|User Prompt\|>\n(.*)\n\n<\|The Start of Assistant A's Answer\|>\n(.*)\n<\|The End of Assistant A's "
        r"Answer\|>\n\n<\|The Start of Assistant B's Answer\|>\n(.*)\n<\|The End of Assistant B's Answer\|>",
        text.split(prompts.RETRY_NOTE)[0], re.DOTALL,
    )
    assert match, f"not upstream's template: {text[:300]!r}"
    return match.group(1), match.group(2), match.group(3)


def judged_by_markers(body: dict) -> str:
    """A judge that reads the verdict off the model's answer ("MARKER:<m> ..."; a baseline never starts so):
    WIN (decisive), win, TIE, lose, LOSE (decisive), given as upstream's verdict line for its position."""
    _, a, b = answers_of(body)
    model_first = a.startswith("MARKER:")
    marker = (a if model_first else b).split()[0].removeprefix("MARKER:")
    strength = ">>" if marker.isupper() else ">"
    if marker == "TIE":
        label = "A=B"
    elif (marker.lower() == "win") == model_first:
        label = f"A{strength}B"
    else:
        label = f"B{strength}A"
    return f"My own answer first: ...\n\nMy final verdict is: [[{label}]]"


V2_CATEGORY = {q.prompt: q.category for q in load_arena_hard("v2.0").questions}


def number_of(question: str) -> int:
    match = re.search(r"Question (\d+):", question)
    return int(match.group(1)) if match else 0


# Per model, its answer's marker from the question. base loses everything, reference wins most, student between.
PLAYERS = {
    "base": lambda q: "lose" if number_of(q) % 3 else "LOSE",
    "student": lambda q: ["WIN", "win", "TIE", "lose"][number_of(q) % 4],
    "e2e-student": lambda q: ["WIN", "win", "TIE", "lose"][number_of(q) % 4],
    "reference": lambda q: "WIN" if number_of(q) % 5 else "TIE",
    "writer": lambda q: "WIN" if V2_CATEGORY.get(q) == "creative_writing" else "LOSE",
}


def model_or_judge(body: dict) -> str:
    """One server for both: the evaluated models (by name) answer, the judge judges."""
    if body["model"] == JUDGE:
        return judged_by_markers(body)
    return f"MARKER:{PLAYERS[body['model']](last_user_text(body))} and the rest of the answer."


def fake(name: str, url: str) -> GeneratorConfig:
    return GeneratorConfig(name=name, backend="openai", model=name, base_urls=[url], timeout_s=5.0)


def quick_engine(tmp_path: Path) -> EngineConfig:
    return EngineConfig(backoff_base_s=0.01, backoff_max_s=0.05, cache_dir=tmp_path / "cache", max_validation_retries=1)


# ----------------------------------------------------------------------------- prompts and verdicts


def test_the_judge_prompts_are_upstreams():
    assert prompts.system_prompt("v0.1", "arena-hard-v0.1") == prompts.SYSTEM_SOLVE_FIRST
    assert prompts.system_prompt("v2.0", "hard_prompt") == prompts.SYSTEM_SOLVE_FIRST
    creative = prompts.system_prompt("v2.0", "creative_writing")
    assert creative == prompts.SYSTEM_CREATIVE_WRITING != prompts.SYSTEM_SOLVE_FIRST
    assert "Begin your evaluation by generating your own answer" in prompts.SYSTEM_SOLVE_FIRST
    assert "generating your own answer" not in creative and "with your answer" not in creative
    assert prompts.SYSTEM_SOLVE_FIRST.startswith("Please act as an impartial judge and evaluate the quality")
    assert prompts.SYSTEM_SOLVE_FIRST.endswith('Example output: "My final verdict is tie: [[A=B]]".')
    assert prompts.USER_TEMPLATE.format(question="Q", answer_a="X", answer_b="Y") == (
        "<|User Prompt|>\nQ\n\n<|The Start of Assistant A's Answer|>\nX\n<|The End of Assistant A's Answer|>\n\n"
        "<|The Start of Assistant B's Answer|>\nY\n<|The End of Assistant B's Answer|>"
    )


@pytest.mark.parametrize(
    ("text", "v01", "v20"),
    [
        ("Reasoning.\nMy final verdict is: [[A>>B]]", "A>>B", "A>>B"),
        ("[[B>A]] ... so again [[B>A]]", "B>A", "B>A"),  # one distinct label
        ("Maybe [[A>B]]; final: [[B>A]]", None, "B>A"),  # v0.1: ambiguous; v2.0: the last one
        ("final verdict: [[a>b]]", None, "A>B"),  # v2.0 upper-cases the reply
        ("final verdict: [B>>A]", None, "B>>A"),  # v2.0's single-bracket fallback
        ("[[B<A]]", "A>B", "A>B"),
        ("No label at all.", None, None),
        ("[[A>A]]", None, None),
    ],
)
def test_verdicts_are_read_as_each_version_reads_them(text, v01, v20):
    for version, expected in (("v0.1", v01), ("v2.0", v20)):
        if expected is None:
            with pytest.raises(Rejected):
                parse_arena_hard_verdict(text, version)
        else:
            assert parse_arena_hard_verdict(text, version) == expected


# ----------------------------------------------------------------------------- statistics


def test_strong_verdicts_are_three_battle_rows_and_the_score_is_the_bradley_terry_win_rate():
    battles = [Battle("q1", 1.0, True), Battle("q1", 0.0, False), Battle("q2", 0.5, False), Battle("q2", 1.0, False)]
    result = arena_hard_score(battles, n_bootstrap=200, seed=1)
    assert result["score"] == pytest.approx(100 * (3 + 0 + 0.5 + 1) / 6)
    ratings = bradley_terry(["m"] * 4, ["b"] * 4, [1, 0, 0.5, 1], [3, 1, 1, 1], anchor="b", l2=0.0)
    assert win_rate_from_ratings(ratings["m"], ratings["b"]) * 100 == pytest.approx(result["score"], abs=1e-6)
    # Upstream resamples battle rows, the three rows of a '>>' verdict independently: every round's mean is a
    # multiple of 1/12 (6 rows, ties 0.5), not of a question or a battle.
    rows = np.repeat([1.0, 0.0, 0.5, 1.0], [3, 1, 1, 1])
    rng = np.random.default_rng(1)
    means = 100 * rows[rng.integers(0, 6, size=(200, 6))].mean(axis=1)
    assert (result["ci_low"], result["ci_high"]) == tuple(np.percentile(means, [2.5, 97.5]))
    assert result["bootstrap_mean"] == pytest.approx(means.mean())
    with pytest.raises(ValueError, match="positive integer"):
        arena_hard_score(battles, strong_weight=2.5)


def test_the_resampled_headline_is_vectorised_and_exact():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(500):
        category = "hard_prompt" if i % 3 else "creative_writing"
        weight = float(rng.choice([2, 4, 6]))
        rows.append({"id": str(i), "category": category, "headline": category == "hard_prompt",
                     "points": float(rng.uniform(0, weight)), "weight": weight})
    hard = [r for r in rows if r["headline"]]
    expected = 100 * sum(r["points"] for r in hard) / sum(r["weight"] for r in hard)
    assert resampled_headline(rows, np.arange(500)[None]) == pytest.approx([expected], rel=1e-12)
    draws = rng.integers(0, 500, size=(1000, 500))
    started = time.perf_counter()
    values = resampled_headline(rows, draws)
    assert time.perf_counter() - started < 1.0 and values.shape == (1000,)
    drawn = [rows[j] for j in draws[7]]
    by_hand = sum(r["points"] for r in drawn if r["headline"]) / sum(r["weight"] for r in drawn if r["headline"])
    assert values[7] == pytest.approx(100 * by_hand)


# ----------------------------------------------------------------------------- v0.1 end to end


@pytest.fixture(scope="module")
def v01_folder(tmp_path_factory) -> Path:
    return write_v01(tmp_path_factory.mktemp("v01") / "arena-hard-v0.1", 500, "e2e")


def test_v01_evaluated_through_the_grader_with_upstreams_prompt_and_games(v01_folder, tmp_path):
    seen: list[dict] = []

    def recording(body):
        seen.append(body)
        return model_or_judge(body)

    with FakeServer(responder=recording) as server:
        summary = evaluate_benchmark(
            fake("e2e-student", server.openai_base_url), "arena_hard_v0.1", tmp_path, limit=8, seed=3,
            judge=fake(JUDGE, server.openai_base_url), options={"path": str(v01_folder)},
        )
    judged = [b for b in seen if b["model"] == JUDGE]
    assert len(judged) == 16  # two games per question
    assert all(b["messages"][0]["content"] == prompts.SYSTEM_SOLVE_FIRST for b in judged)
    assert all(b["temperature"] == 0 and b["max_tokens"] == 4096 for b in judged)
    games: dict[str, list[bool]] = {}
    for body in judged:  # one game with the baseline as Assistant A, one with the model as Assistant A
        question, a, b = answers_of(body)
        assert a.startswith("MARKER:") != b.startswith("MARKER:")
        games.setdefault(question, []).append(a.startswith("MARKER:"))
    assert len(games) == 8 and all(sorted(g) == [False, True] for g in games.values())

    assert summary["benchmark"] == "arena_hard_v0.1"
    assert summary["metric"] == "Arena-Hard v0.1 score vs gpt-4-0314 (%)"
    assert summary["grading_version"] == grading_version("arena_hard_v0.1")
    assert summary["grading_version"].endswith(f"+arena_hard@2+arena_hard_prompts{prompts.PROMPT_VERSION}")
    extra = summary["extra"]
    assert extra["version"] == "v0.1" and extra["headline_category"] is None and extra["baseline"] == "gpt-4-0314"
    assert extra["official_judge"] == "gpt-4-1106-preview" and extra["judge"]["model"] == JUDGE
    assert extra["upstream_interval"]["confidence"] == 0.95
    assert summary["ci95"][0] <= summary["score"] <= summary["ci95"][1]

    rows = read_jsonl(tmp_path / "arena_hard_v0.1" / "results.jsonl")
    assert len(rows) == 8 and all(r["baseline"] == "gpt-4-0314" and r["headline"] for r in rows)
    # The student's marker cycles WIN, win, TIE, lose by question number: points from the model's side.
    marker_points = {0: (6, 6), 1: (2, 2), 2: (1, 2), 3: (0, 2)}
    for row in rows:
        number = int(row["id"][-3:])
        assert [g["model_position"] for g in row["games"]] == ["B", "A"]
        assert (row["points"], row["weight"]) == marker_points[number % 4]
    expected = 100 * sum(r["points"] for r in rows) / sum(r["weight"] for r in rows)
    assert summary["score"] == pytest.approx(expected, abs=1e-4)
    resample = get_grader("arena_hard").resampled_scores
    assert resample(rows, np.arange(len(rows))[None])[0] == pytest.approx(summary["score"], abs=1e-4)


def test_v01_gets_a_paired_pgr_bootstrap(v01_folder, tmp_path):
    with FakeServer(responder=model_or_judge) as server:
        for role in ("base", "student", "reference"):
            evaluate_benchmark(
                fake(role, server.openai_base_url), "arena_hard_v0.1", tmp_path / role, limit=40, seed=5,
                judge=fake(JUDGE, server.openai_base_url), options={"path": str(v01_folder)},
            )
    roles = ("base", "student", "reference")
    scores = {role: scores_from_eval_dir(tmp_path / role / "arena_hard_v0.1") for role in roles}
    assert all(s.rows and len(s.rows) == 40 and s.resample is not None for s in scores.values())
    result = pgr_benchmark(scores["student"], scores["base"], scores["reference"])
    assert result.method == "paired" and result.n == 40
    gap = scores["reference"].value - scores["base"].value
    assert result.value == pytest.approx(100 * (scores["student"].value - scores["base"].value) / gap)
    assert result.ci[0] < result.value < result.ci[1]


def test_v01_from_the_hub_in_the_reformatted_layout(tmp_path):
    """Downloaded (here: read from the Hugging Face cache, offline) as `lmarena-ai/arena-hard-auto`'s
    data/arena-hard-v0.1/ folder, in the format the Hub holds since v2.0."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "datasets--lmarena-ai--arena-hard-auto"
    write_v01(repo / "snapshots" / commit / "data" / "arena-hard-v0.1", 500, "hub", original=False)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = (
        "from agorabench.data.benchmarks import get_benchmark\n"
        "spec = get_benchmark('arena_hard_v0.1')\n"
        "data = spec.load({})\n"
        "print(len(data.items), data.items[1]['prompt'], data.raw.baseline_answer(data.raw.questions[1]),"
        " data.raw.source, len(list(spec.decontamination_texts({}))), sep='|')\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    count, prompt, baseline, source, decontamination = proc.stdout.strip().split("|")
    assert (count, prompt, baseline) == ("500", "[hub] Question 1: explain idea 1.", "Baseline 1.")
    assert source.startswith("lmarena-ai/arena-hard-auto (Hub dataset") and decontamination == "500"
    # Not in the cache and offline: one line naming both ways to get the data.
    env["HF_HUB_CACHE"] = str(tmp_path / "empty")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert proc.returncode != 0
    assert "lmarena-ai/arena-hard-auto" in proc.stderr and "local copy" in proc.stderr


def test_benchmark_names_and_the_alias(v01_folder):
    assert get_benchmark("arena_hard_v0.1").metric == "Arena-Hard v0.1 score vs gpt-4-0314 (%)"
    assert get_benchmark("arena_hard_v2.0").metric == "Arena-Hard v2.0 hard_prompt score vs o3-mini-2025-01-31 (%)"
    assert {get_benchmark(n).grader for n in ("arena_hard", "arena_hard_v0.1", "arena_hard_v2.0")} == {"arena_hard"}
    # The old name: v2.0, or v0.1 by option, as before the split.
    assert get_benchmark("arena_hard").load({}).raw.version == "v2.0"
    old = get_benchmark("arena_hard").load({"arena_hard_version": "v0.1", "path": str(v01_folder)})
    assert old.name == "arena_hard" and old.raw.version == "v0.1" and len(old.items) == 500
    with pytest.raises(AgorabenchError, match="contradicts"):
        get_benchmark("arena_hard_v2.0").load({"arena_hard_version": "v0.1"})
    texts = list(get_benchmark("arena_hard_v0.1").decontamination_texts({"path": str(v01_folder)}))
    assert len(texts) == 500 and texts[0] == "[e2e] Question 0: explain idea 0."


def test_the_paper_profile_uses_v01_with_its_judge():
    evaluation = profile_config("agorabench").evaluation
    assert evaluation.benchmarks["general"] == ["alpaca_eval", "arena_hard_v0.1"]
    assert evaluation.judge == "openai:gpt-4-1106-preview"
    assert EvaluationConfig().benchmarks["general"] == ["alpaca_eval", "arena_hard_v2.0"]  # the default


# ----------------------------------------------------------------------------- v2.0


def test_v20_scores_each_category_against_its_own_baseline(tmp_path):
    """The shipped 750 questions, 30 of them: the writer wins creative writing and loses hard prompts, so a
    pooled score would sit between; the headline is hard prompts alone."""
    seen: list[dict] = []

    def recording(body):
        seen.append(body)
        return model_or_judge(body)

    with FakeServer(responder=recording) as server:
        summary = evaluate_benchmark(
            fake("writer", server.openai_base_url), "arena_hard_v2.0", tmp_path, limit=30, seed=11,
            judge=fake(JUDGE, server.openai_base_url),
        )
    rows = read_jsonl(tmp_path / "arena_hard_v2.0" / "results.jsonl")
    categories = {r["category"] for r in rows}
    assert categories == {"hard_prompt", "creative_writing"}
    extra = summary["extra"]
    assert summary["metric"] == "Arena-Hard v2.0 hard_prompt score vs o3-mini-2025-01-31 (%)"
    assert extra["version"] == "v2.0" and extra["headline_category"] == "hard_prompt"
    assert summary["score"] == 0.0 and extra["by_category"]["hard_prompt"]["score"] == 0.0
    creative = extra["by_category"]["creative_writing"]
    assert creative["score"] == 100.0 and creative["baseline"] == "gemini-2.0-flash-001"
    assert creative["metric"] == "Arena-Hard v2.0 creative_writing score vs gemini-2.0-flash-001 (%)"
    assert extra["n"] == sum(r["category"] == "hard_prompt" for r in rows)
    assert extra["upstream_interval"]["confidence"] == 0.90
    assert all(r["headline"] == (r["category"] == "hard_prompt") for r in rows)
    assert all(r["baseline"] == extra["baselines"][r["category"]] for r in rows)
    resample = get_grader("arena_hard").resampled_scores
    assert resample(rows, np.arange(len(rows))[None])[0] == summary["score"]
    # Upstream's prompts: creative writing without the "own answer first" step; 16000 tokens.
    for body in (b for b in seen if b["model"] == JUDGE):
        creative = V2_CATEGORY[answers_of(body)[0]] == "creative_writing"
        expected = prompts.SYSTEM_CREATIVE_WRITING if creative else prompts.SYSTEM_SOLVE_FIRST
        assert body["messages"][0]["content"] == expected and body["max_tokens"] == 16000


def flaky_judge(body: dict) -> str:
    """No verdict for the model-first game of question 1; the markers otherwise."""
    question, a, _ = answers_of(body)
    if ("task hp1." in question or "Question 1:" in question) and a.startswith("MARKER:"):
        return "I cannot decide."
    return judged_by_markers(body)


@pytest.mark.parametrize("version", ["v0.1", "v2.0"])
def test_a_failed_game_drops_its_question_in_v20_only(tmp_path, version):
    folder = (write_v01(tmp_path / "d", 3, "flaky") if version == "v0.1" else write_v20(tmp_path / "d", 3, 1, "flaky"))
    data = load_arena_hard(version, folder, expected_count=None)
    ids = [q.id for q in data.questions]
    answers = {qid: "MARKER:WIN of course" for qid in ids}
    with FakeServer(responder=flaky_judge) as server:
        result = judge_arena_hard(answers, fake(JUDGE, server.openai_base_url), tmp_path / "out", data=data,
                                  engine=quick_engine(tmp_path))
    assert result.n_failed == 1 and result.failure_reasons == {"rejected:no_verdict": 1}
    row = next(r for r in result.rows if r["id"] == ids[1])
    assert [g["verdict"] for g in row["games"]] == ["B>>A", None]  # game 1 judged: the model (B) much better
    if version == "v0.1":  # upstream v0.1 drops the game (weight 0) and keeps the other
        assert (row["counted"], row["points"], row["weight"]) == (1, 3.0, 3.0) and result.n_dropped == 0
        assert result.n_battles == 5
    else:  # upstream v2.0 skips a question with a null game
        assert (row["counted"], row["points"], row["weight"]) == (0, 0.0, 0.0) and result.n_dropped == 1
        assert result.n == 2 and result.n_battles == 4 and result.by_category["creative_writing"]["n"] == 1
    assert result.score == 100.0


def test_the_grader_needs_a_judge_and_names_the_benchmark(tmp_path):
    data = load_arena_hard("v2.0")
    benchmark = BenchmarkData("arena_hard_v2.0", [], data.sha256, data.source, raw=data)
    with pytest.raises(AgorabenchError, match="arena_hard_v2.0 is judged by a model"):
        get_grader("arena_hard").grade(benchmark, {}, GradeContext(out_dir=tmp_path))
