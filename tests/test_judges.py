"""LLM judges (AlpacaEval 2.0, Arena-Hard): verdict parsing, judging through the engine against a fake
judge over real HTTP (both orders, retries, cache, resume), data loaders, and the statistics
(win rate, length-controlled win rate, Bradley-Terry, bootstrap) on hand-made cases."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import read_jsonl

from agorabench.data.benchmarks.alpaca_eval import load_alpaca_eval
from agorabench.data.benchmarks.arena_hard import load_arena_hard
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges import (
    GRADED_LABELS,
    Annotation,
    Battle,
    arena_hard_score,
    bootstrap_ci,
    bradley_terry,
    estimate_instruction_difficulty,
    fit_logistic,
    judge_alpaca_eval,
    judge_arena_hard,
    length_controlled_win_rate,
    parse_graded_verdict,
    parse_preference,
    win_rate,
    win_rate_from_ratings,
)
from agorabench.evaluation.judges.alpaca_eval import alpaca_eval_result
from agorabench.evaluation.judges.pairwise import model_view, seeded_subset
from agorabench.generation.config import EngineConfig
from agorabench.generation.task import Rejected
from agorabench.llm.config import GeneratorConfig
from agorabench.testing.fake_server import FakeServer, last_user_text

# ----------------------------------------------------------------------------- fake judges


def fake_judge(url: str) -> GeneratorConfig:
    return GeneratorConfig(
        name="fake-judge", backend="openai", model="fake-judge", base_urls=[url], timeout_s=5.0
    )


def engine(tmp_path: Path, **overrides) -> EngineConfig:
    fields: dict = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "cache_dir": tmp_path / "cache"}
    fields["max_validation_retries"] = 2
    fields.update(overrides)
    return EngineConfig(**fields)


def _answers(body: dict) -> tuple[str, str, str]:
    """(mode, answer A, answer B) from a judge request built by our prompts."""
    text = last_user_text(body)
    for mode, tag in (("preference", "reply"), ("graded", "answer")):
        a = re.search(rf"<{tag}_A>\n(.*?)\n</{tag}_A>", text, re.DOTALL)
        b = re.search(rf"<{tag}_B>\n(.*?)\n</{tag}_B>", text, re.DOTALL)
        if a and b:
            return mode, a.group(1), b.group(1)
    # Arena-Hard's upstream template (evaluation/judges/arena_hard_prompts.py).
    a = re.search(r"<\|The Start of Assistant A's Answer\|>\n(.*?)\n<\|The End of Assistant A's Answer\|>", text, re.S)
    b = re.search(r"<\|The Start of Assistant B's Answer\|>\n(.*?)\n<\|The End of Assistant B's Answer\|>", text, re.S)
    if a and b:
        return "graded", a.group(1), b.group(1)
    raise AssertionError(f"not a judge request: {text[:200]!r}")


def longer_wins(body: dict) -> str:
    """A length-biased judge: prefers the longer answer; 'much better' when it is over twice as long."""
    mode, a, b = _answers(body)
    if "UNJUDGEABLE" in a + b:
        return "Both have merits; I cannot decide."
    if mode == "preference":
        return "[[A]]" if len(a) >= len(b) else "[[B]]"
    ratio = (len(a) + 1) / (len(b) + 1)
    label = (
        "A>>B"
        if ratio > 2
        else "A>B"
        if ratio > 1.1
        else "B>>A"
        if ratio < 0.5
        else "B>A"
        if ratio < 0.9
        else "A=B"
    )
    return f"My own answer would be short.\nComparing the two, length decides.\n\nMy final verdict is: [[{label}]]"


def always_first(body: dict) -> str:
    """A purely position-biased judge."""
    mode, _, _ = _answers(body)
    return "[[A]]" if mode == "preference" else "[[A>B]]"


# ----------------------------------------------------------------------------- verdict parsing


@pytest.mark.parametrize("label", GRADED_LABELS)
def test_every_graded_label_parses(label):
    assert parse_graded_verdict(f"Long reasoning...\n\nMy final verdict is: [[{label}]]") == label
    assert parse_graded_verdict(f"**[[ {label} ]]**") == label


@pytest.mark.parametrize(
    ("text", "label"),
    [("[[B<A]]", "A>B"), ("[[A<B]]", "B>A"), ("[[A<<B]]", "B>>A"), ("[[B<<A]]", "A>>B"), ("[[B=A]]", "A=B")],
)
def test_other_spellings_are_normalised(text, label):
    assert parse_graded_verdict(text) == label


def test_graded_parse_rejects_garbage_and_ambiguity():
    with pytest.raises(Rejected) as missing:
        parse_graded_verdict("Assistant A is better, clearly.")
    assert missing.value.reason == "no_verdict"
    with pytest.raises(Rejected) as ambiguous:
        parse_graded_verdict("Maybe [[A>B]], or [[B>A]] if you ask me tomorrow.")
    assert ambiguous.value.reason == "ambiguous_verdict"
    with pytest.raises(Rejected):
        parse_graded_verdict("[[A>A]]")
    # Quoting the scale, then a final verdict line: the last line decides.
    assert parse_graded_verdict("Labels: [[A>>B]] [[A>B]] [[A=B]]\n...\nFinal verdict: [[B>>A]]\n") == "B>>A"


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("[[A]]", "A"),
        ("The better reply is [[B]].", "B"),
        ("B", "B"),
        ("**A**", "A"),
        ("Reply B.", "B"),
        ("Thinking it over.\nVerdict: A", "A"),
        ("(b)", "B"),
    ],
)
def test_preference_parses(text, letter):
    assert parse_preference(text) == letter


@pytest.mark.parametrize("text", ["I like both.", "[[A]] or [[B]]", "A or B, hard to say", "answer: a"])
def test_preference_rejects(text):
    with pytest.raises(Rejected):
        parse_preference(text)


def test_model_view_is_relative_to_the_models_position():
    assert model_view("A>>B", "A") == (1.0, True)
    assert model_view("A>>B", "B") == (0.0, True)
    assert model_view("B>A", "B") == (1.0, False)
    assert model_view("A=B", "B") == (0.5, False)
    assert model_view("A", "B") == (0.0, False)
    assert model_view("B", "B") == (1.0, False)


# ----------------------------------------------------------------------------- data loaders


def test_alpaca_eval_loader():
    data = load_alpaca_eval()
    assert len(data.examples) == 805
    assert len(data.sha256) == 64
    assert data.examples[0].id == "0" and data.examples[-1].id == "804"
    assert {e.reference_generator for e in data.examples} == {"gpt4_1106_preview"}
    assert {e.dataset for e in data.examples} == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert all(e.instruction.strip() and e.reference.strip() for e in data.examples)


def test_alpaca_eval_loader_checks_count_and_schema(tmp_path):
    rows = [{"instruction": "Say hi.", "output": "Hi!", "generator": "ref", "dataset": "tiny"}]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(rows))
    assert len(load_alpaca_eval(path, expected_count=1).examples) == 1
    with pytest.raises(AgorabenchError, match="expected 805"):
        load_alpaca_eval(path)
    path.write_text(json.dumps([{"instruction": "x"}]))
    with pytest.raises(AgorabenchError, match="string fields"):
        load_alpaca_eval(path, expected_count=None)


def test_arena_hard_v2_loader():
    data = load_arena_hard()
    assert data.version == "v2.0" and len(data.questions) == 750
    categories = {}
    for q in data.questions:
        categories[q.category] = categories.get(q.category, 0) + 1
    assert categories == {"hard_prompt": 500, "creative_writing": 250}
    assert data.baselines == {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
    assert all(data.baseline_answer(q).strip() for q in data.questions)
    assert set(data.checksums) == {
        "question.jsonl",
        "model_answer/o3-mini-2025-01-31.jsonl",
        "model_answer/gemini-2.0-flash-001.jsonl",
    }
    assert len(data.sha256) == 64


def write_v01(folder: Path, count: int = 3) -> Path:
    """A tiny folder in arena-hard-auto's data/arena-hard-v0.1 layout."""
    (folder / "model_answer").mkdir(parents=True)
    with (
        open(folder / "question.jsonl", "w") as q,
        open(folder / "model_answer" / "gpt-4-0314.jsonl", "w") as a,
    ):
        for i in range(count):
            qid = f"q{i:03d}"
            q.write(
                json.dumps(
                    {
                        "question_id": qid,
                        "category": "arena-hard-v0.1",
                        "cluster": "tiny",
                        "turns": [{"content": f"Question {i}: explain thing {i}."}],
                    }
                )
                + "\n"
            )
            a.write(
                json.dumps(
                    {
                        "question_id": qid,
                        "answer_id": f"a{i}",
                        "model_id": "gpt-4-0314",
                        "choices": [
                            {"index": 0, "turns": [{"content": f"Baseline answer {i}.", "token_len": 3}]}
                        ],
                        "tstamp": 0,
                    }
                )
                + "\n"
            )
    return folder


def test_arena_hard_v01_from_a_local_path(tmp_path):
    folder = write_v01(tmp_path / "arena-hard-v0.1")
    data = load_arena_hard("v0.1", folder, expected_count=3)
    assert [q.id for q in data.questions] == ["q000", "q001", "q002"]
    assert data.baseline_model(data.questions[0].category) == "gpt-4-0314"
    assert data.baseline_answer(data.questions[1]) == "Baseline answer 1."
    assert data.questions[0].subcategory == "tiny"
    with pytest.raises(AgorabenchError, match="expected 500"):
        load_arena_hard("v0.1", folder)
    with pytest.raises(AgorabenchError, match="local copy"):
        load_arena_hard("v0.1")


# ----------------------------------------------------------------------------- judging end to end


def alpaca_outputs(ids_long: list[str], ids_short: list[str]) -> dict[str, str]:
    outputs = {
        i: "A thorough answer. " * 2000 for i in ids_long
    }  # ~38k characters: longer than any reference
    outputs.update({i: "Short." for i in ids_short})
    return outputs


def judge_ours(*args, **kwargs):
    """AlpacaEval judged with our prompt, which the fake judges here read (tests/test_alpaca_eval.py: the
    official one)."""
    return judge_alpaca_eval(*args, prompt="agorabench", **kwargs)


def test_alpaca_eval_random_order_with_a_length_biased_judge(tmp_path):
    outputs = alpaca_outputs(["0", "1", "2", "3", "4", "5"], ["6", "7"])
    with FakeServer(responder=longer_wins) as server:
        result = judge_ours(
            outputs, fake_judge(server.openai_base_url), tmp_path / "out", engine=engine(tmp_path)
        )
        assert server.stats()["requests"] == 8  # one order per instruction
    assert result.n == 8 and result.n_failed == 0
    assert result.win_rate == pytest.approx(75.0)
    assert result.n_wins == 6 and result.n_losses == 2
    assert result.ci[0] <= result.win_rate <= result.ci[1]
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert {r["model_position"] for r in records} == {"A", "B"}  # randomized order, both seen
    assert all(r["score"] == (1.0 if len(outputs[r["question_id"]]) > 100 else 0.0) for r in records)
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["win_rate"] == result.win_rate and "annotations" not in summary


def test_alpaca_eval_both_orders_cancel_a_position_biased_judge(tmp_path):
    outputs = alpaca_outputs(["0", "1"], ["2", "3"])
    with FakeServer(responder=always_first) as server:
        result = judge_ours(
            outputs,
            fake_judge(server.openai_base_url),
            tmp_path / "out",
            order="both",
            engine=engine(tmp_path),
        )
        assert server.stats()["requests"] == 8  # two orders per instruction
    # The judge always picks the first reply: each instruction is one win and one loss.
    assert result.win_rate == pytest.approx(50.0)
    assert result.n_ties == 4 and result.position_consistency == 0.0
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"{i}:model_{p}" for i in "0123" for p in "AB")


def test_judgments_are_cached_and_resumed(tmp_path):
    outputs = alpaca_outputs(["10", "11", "12"], ["13"])
    with FakeServer(responder=longer_wins) as server:
        judge = fake_judge(server.openai_base_url)
        first = judge_ours(outputs, judge, tmp_path / "one", engine=engine(tmp_path))
        sent = server.stats()["requests"]
        assert sent == 4 and first.requests_sent == 4
        # Same folder: resume, nothing left to do.
        again = judge_ours(outputs, judge, tmp_path / "one", engine=engine(tmp_path))
        # Another folder, same requests: every answer comes from the request cache.
        other = judge_ours(outputs, judge, tmp_path / "two", engine=engine(tmp_path))
        assert server.stats()["requests"] == sent
    assert again.requests_sent == 0 and again.cached_responses == 0
    assert other.requests_sent == 0 and other.cached_responses == 4
    assert first.win_rate == again.win_rate == other.win_rate == 75.0
    assert all(r["cached"] for r in read_jsonl(tmp_path / "two" / "records.jsonl"))


def test_a_folder_of_other_outputs_is_refused(tmp_path):
    with FakeServer(responder=longer_wins) as server:
        judge = fake_judge(server.openai_base_url)
        judge_ours(alpaca_outputs(["0"], ["1"]), judge, tmp_path / "out", engine=engine(tmp_path))
        with pytest.raises(AgorabenchError, match="different task"):
            judge_ours(alpaca_outputs(["1"], ["0"]), judge, tmp_path / "out", engine=engine(tmp_path))


def test_garbage_verdicts_are_retried_then_failed_with_a_reason(tmp_path):
    outputs = alpaca_outputs(["0", "1"], ["2"])
    outputs["3"] = "UNJUDGEABLE"
    with FakeServer(responder=longer_wins) as server:
        result = judge_ours(
            outputs, fake_judge(server.openai_base_url), tmp_path / "out", engine=engine(tmp_path)
        )
        prompts = server.stats()["prompts"]
    asked = {p: n for p, n in prompts.items() if "UNJUDGEABLE" in p}
    assert sum(asked.values()) == 3  # the first request and max_validation_retries=2 more
    assert sum(n for p, n in asked.items() if "Important:" in p) == 2  # retries carry a format reminder
    assert result.n == 3 and result.n_failed == 1
    assert result.failure_reasons == {"rejected:no_verdict": 1}
    assert result.win_rate == pytest.approx(200 / 3)
    (failure,) = read_jsonl(tmp_path / "out" / "failed.jsonl")
    assert failure["id"].startswith("3:") and failure["reason"] == "rejected:no_verdict"


def test_arena_hard_both_orders_per_category_baselines(tmp_path):
    data = load_arena_hard()
    hard = [q.id for q in data.questions if q.category == "hard_prompt"][:3]
    creative = [q.id for q in data.questions if q.category == "creative_writing"][:2]
    answers = {
        qid: "Very detailed answer. " * 3000 for qid in hard + creative
    }  # far longer than the baselines
    answers[hard[2]] = "No."
    seen: list[dict] = []

    def responder(body):
        seen.append(body)
        return longer_wins(body)

    with FakeServer(responder=responder) as server:
        result = judge_arena_hard(
            answers,
            fake_judge(server.openai_base_url),
            tmp_path / "out",
            data=data,
            engine=engine(tmp_path),
            n_bootstrap=50,
        )
    assert len(seen) == 10  # two games per question
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"{q}:model_{p}" for q in hard + creative for p in "AB")
    # The headline is hard_prompt alone (never pooled with creative writing's other baseline): 2 questions
    # won decisively in both games (weight 3 each), 1 lost decisively in both.
    assert result.headline_category == "hard_prompt" and result.baseline == "o3-mini-2025-01-31"
    assert result.verdicts == {"much_better": 4, "better": 0, "tie": 0, "worse": 0, "much_worse": 2}
    assert result.score == pytest.approx(200 / 3, abs=1e-3)
    assert result.rating == pytest.approx(1000 + 400 * math.log10(2), abs=0.1)
    assert result.ci_low <= result.score <= result.ci_high
    assert result.position_consistency == 1.0
    assert result.by_category["hard_prompt"]["baseline"] == "o3-mini-2025-01-31"
    assert result.by_category["creative_writing"]["baseline"] == "gemini-2.0-flash-001"
    assert result.by_category["creative_writing"]["score"] > 99.0
    assert result.by_category["hard_prompt"]["score"] == pytest.approx(200 / 3, abs=1e-3)
    # Creative writing gets the judge prompt without the "solve it first" step.
    for body in seen:
        question = next(q for q in data.questions if q.prompt in last_user_text(body))
        solve_first = "generating your own answer" in body["messages"][0]["content"]
        assert solve_first == (question.category == "hard_prompt")


def test_arena_hard_v01_judging_from_a_local_path(tmp_path):
    folder = write_v01(tmp_path / "v01", count=4)
    data = load_arena_hard("v0.1", folder, expected_count=4)
    answers = {"q000": "A much longer and better answer " * 10, "q001": "Baseline answer 1!", "q002": "x"}
    with FakeServer(responder=longer_wins) as server:
        result = judge_arena_hard(
            answers, fake_judge(server.openai_base_url), tmp_path / "out", data=data, engine=engine(tmp_path)
        )
    assert result.version == "v0.1" and result.baselines == {"arena-hard-v0.1": "gpt-4-0314"}
    assert result.n == 3 and result.n_battles == 6
    # q000: two decisive wins (3 + 3), q001: two ties (0.5 + 0.5), q002: two decisive losses (0 + 0), of 14.
    assert result.score == pytest.approx(100 * 7 / 14, abs=1e-3)


# ----------------------------------------------------------------------------- statistics


def test_win_rate_arithmetic():
    annotations = [Annotation(str(i), p, 10, 10) for i, p in enumerate([1, 1, 1, 0, 0.5])]
    assert win_rate(annotations) == pytest.approx(70.0)
    summary = alpaca_eval_result(annotations, n_bootstrap=20)
    assert (summary["n_wins"], summary["n_losses"], summary["n_ties"]) == (3, 1, 1)
    assert summary["standard_error"] == pytest.approx(100 * np.std([1, 1, 1, 0, 0.5], ddof=1) / math.sqrt(5))


def test_lc_win_rate_closed_form():
    # Two length groups: model longer by D (wins 90%) or shorter by D (wins 50%). The GLM is saturated,
    # so theta + phi*t = logit(0.9) and theta - phi*t = 0: LC = sigmoid(logit(0.9) / 2) = 75%.
    annotations = []
    for i in range(100):
        longer = i < 50
        won = (i % 10 != 0) if longer else (i % 2 == 0)
        annotations.append(Annotation(str(i), float(won), 1500 if longer else 500, 1000))
    assert win_rate(annotations) == pytest.approx(70.0)
    lc = length_controlled_win_rate(annotations, penalty="none")
    logit = math.log(0.9 / 0.1)
    assert lc.win_rate == pytest.approx(100 / (1 + math.exp(-logit / 2)), abs=1e-6)  # = 75.0
    assert lc.coefficients["length"] < 0  # on tanh((reference - model length) / std), as alpaca_eval's


def test_lc_win_rate_equals_raw_without_length_differences():
    annotations = [Annotation(str(i), float(i % 4 != 0), 300, 300) for i in range(40)]
    assert length_controlled_win_rate(annotations, penalty="none").win_rate == pytest.approx(
        win_rate(annotations), abs=1e-6
    )


def simulated(rng, n, p_long, win_if_longer, win_if_shorter, length_matters=True):
    annotations = []
    for i in range(n):
        longer = rng.random() < p_long
        length = 2000 + (int(rng.integers(300, 3000)) if longer else -int(rng.integers(300, 1500)))
        p = (win_if_longer if longer else win_if_shorter) if length_matters else win_if_longer
        annotations.append(Annotation(str(i), float(rng.random() < p), length, 2000))
    return annotations


def test_a_model_that_wins_by_length_is_pulled_toward_50():
    rng = np.random.default_rng(0)
    verbose = simulated(rng, 805, p_long=0.85, win_if_longer=0.8, win_if_shorter=0.2)
    raw = win_rate(verbose)
    lc = length_controlled_win_rate(verbose).win_rate
    assert raw > 65
    assert abs(lc - 50) < 5 and abs(lc - 50) < abs(raw - 50) / 3
    # A model whose wins do not depend on length keeps its win rate.
    steady = simulated(rng, 805, p_long=0.85, win_if_longer=0.7, win_if_shorter=0.7, length_matters=False)
    assert length_controlled_win_rate(steady).win_rate == pytest.approx(win_rate(steady), abs=4)


def test_instruction_difficulty_estimated_across_models():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(size=300)
    by_model = {}
    for name, theta in (("strong", 1.0), ("middle", 0.0), ("weak", -1.0)):
        by_model[name] = [
            Annotation(
                str(i),
                float(rng.random() < 1 / (1 + math.exp(-(theta - 1.5 * difficulty[i])))),
                2000 + int(rng.integers(-300, 300)),
                2000,
            )
            for i in range(300)
        ]
    estimate = estimate_instruction_difficulty(by_model)
    assert np.corrcoef([estimate[str(i)] for i in range(300)], difficulty)[0, 1] > 0.6
    rates = {m: length_controlled_win_rate(a, estimate).win_rate for m, a in by_model.items()}
    assert rates["strong"] > rates["middle"] > rates["weak"]
    with pytest.raises(ValueError):
        estimate_instruction_difficulty({"only": by_model["strong"]})


def test_fit_logistic_solves_the_score_equations():
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = rng.choice([0.0, 0.5, 1.0], size=200)
    w = rng.uniform(0.5, 3.0, size=200)
    beta = fit_logistic(X, y, sample_weight=w)
    p = 1 / (1 + np.exp(-(X @ beta)))
    assert np.allclose(X.T @ (w * (y - p)), 0.0, atol=1e-8)


def test_bradley_terry_single_opponent_is_the_weighted_share_of_wins():
    # strong win (x3), win, tie, loss: (3 + 1 + 0.5 + 0) / (3 + 1 + 1 + 1) = 0.75
    battles = [
        Battle("q1", 1.0, True),
        Battle("q1", 1.0, False),
        Battle("q2", 0.5, False),
        Battle("q2", 0.0, False),
    ]
    result = arena_hard_score(battles, strong_weight=3, n_bootstrap=50)
    assert result["score"] == pytest.approx(75.0, abs=1e-3)
    assert result["rating"] == pytest.approx(1000 + 400 * math.log10(3), abs=0.01)
    assert arena_hard_score(battles, strong_weight=1, n_bootstrap=10)["score"] == pytest.approx(
        62.5, abs=1e-3
    )


def test_bradley_terry_orders_models_on_a_hand_made_battle_set():
    # Truth: strong > middle > baseline > weak. Each pairing gets 20 battles with the stronger winning 15.
    pairs = [
        ("strong", "middle"),
        ("middle", "baseline"),
        ("baseline", "weak"),
        ("strong", "baseline"),
        ("middle", "weak"),
        ("strong", "weak"),
    ]
    a, b, outcome = [], [], []
    for better, worse in pairs:
        for k in range(20):
            a.append(better)
            b.append(worse)
            outcome.append(1.0 if k < 14 else 0.5 if k < 16 else 0.0)
    ratings = bradley_terry(a, b, outcome, anchor="baseline")
    assert ratings["baseline"] == 1000.0
    assert ratings["strong"] > ratings["middle"] > ratings["baseline"] > ratings["weak"]
    assert (
        0.5
        < win_rate_from_ratings(ratings["middle"], ratings["baseline"])
        < win_rate_from_ratings(ratings["strong"], ratings["baseline"])
    )
    # Swapping sides (and outcomes) changes nothing.
    swapped = bradley_terry(b, a, [1 - o for o in outcome], anchor="baseline")
    assert all(swapped[m] == pytest.approx(r, abs=1e-6) for m, r in ratings.items())


def test_unbeaten_model_gets_a_finite_score():
    result = arena_hard_score([Battle(f"q{i}", 1.0, False) for i in range(10)], n_bootstrap=10)
    assert 99.0 < result["score"] <= 100.0 and math.isfinite(result["rating"])


def test_bootstrap_ci_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(3)
    battles = [
        Battle(f"q{i // 2}", float(rng.choice([0.0, 0.5, 1.0], p=[0.3, 0.1, 0.6])), bool(rng.random() < 0.3))
        for i in range(200)
    ]
    first = arena_hard_score(battles, seed=7)
    again = arena_hard_score(battles, seed=7)
    other = arena_hard_score(battles, seed=8)
    assert first["ci_low"] < first["score"] < first["ci_high"]
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])
    assert first["ci_high"] - first["ci_low"] < 30
    assert first["n"] == 100 and first["n_battles"] == 200


def test_bootstrap_resamples_whole_groups():
    groups = [f"q{i // 2}" for i in range(20)]  # two rows per question
    sizes = bootstrap_ci(groups, lambda rows: float(len(rows)), n_rounds=30, seed=0).samples
    assert set(sizes) == {20.0}

    def siblings_together(rows):
        drawn = Counter(rows.tolist())
        return float(all(drawn[r] == drawn[r ^ 1] for r in drawn))

    together = bootstrap_ci(groups, siblings_together, n_rounds=30, seed=0)
    assert set(together.samples) == {1.0}  # a drawn question always brings both of its rows


def test_seeded_subsets_are_nested():
    ids = [str(i) for i in range(50)]
    small, large = seeded_subset(ids, 5, 42), seeded_subset(ids, 20, 42)
    assert len(small) == 5 and set(small) <= set(large)
    assert small == sorted(small, key=int)  # original order kept
    assert seeded_subset(ids, None, 42) == ids
