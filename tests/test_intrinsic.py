"""Intrinsic metrics of a dataset: judge scores through the engine against a fake judge over real HTTP
(parsing, retries, failures, resume, cache), reward-model scores and response perplexity with tiny random
models (batching invariance, hand computation, the training layout), diversity against scipy and with
the shipped MiniLM, and `compute_intrinsic`'s files. The embedded SmolLM2 runs once, marked slow."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import read_jsonl

from agorabench.errors import AgorabenchError, ConfigError
from agorabench.generation.config import EngineConfig
from agorabench.generation.task import Rejected
from agorabench.io import parse_model
from agorabench.llm.config import GeneratorConfig
from agorabench.metrics.intrinsic import (
    IntrinsicConfig,
    compute_intrinsic,
    default_out_dir,
    mean_pairwise_cosine_distance,
    parse_score,
    read_dataset,
)
from agorabench.metrics.intrinsic.diversity import diversity, load_embedder, sample_indices
from agorabench.metrics.intrinsic.perplexity import load_student_base, response_perplexities, training_layout
from agorabench.metrics.intrinsic.reward import load_reward_model, reward_scores
from agorabench.testing.fake_server import FakeServer, last_user_text
from agorabench.training.data import DatasetError

# ----------------------------------------------------------------------------- data


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# Hidden in each text: the score the fake judge gives ([d=N] difficulty, [q=N] quality).
RECORDS = [
    ("m1", "math", "What is 2 + 2? [d=1]", "2 + 2 = 4. [RESULT] 4 [/RESULT] [q=5]"),
    (
        "m2",
        "math",
        "Prove that there are infinitely many primes. [d=4]",
        "Assume finitely many and multiply them. [q=3]",
    ),
    (
        "c1",
        "code",
        "Write a Python function that reverses a list. [d=2]",
        "```python\ndef rev(xs):\n    return xs[::-1]\n```\n[q=4]",
    ),
    ("g1", "general", "Say hello in French. [d=1]", "Bonjour! [q=5]"),
    (
        "g2",
        "general",
        "Plan a three-day trip to Rome on a budget. [d=3]",
        "Day 1: the Colosseum. Day 2: ... [q=2]",
    ),
]


@pytest.fixture
def run_folder(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    write_jsonl(
        folder / "records.jsonl",
        [
            {
                "id": i,
                "instruction": ins,
                "response": res,
                "setting": {"method": "instance_generation", "domain": d},
            }
            for i, d, ins, res in RECORDS
        ],
    )
    return folder


# ----------------------------------------------------------------------------- score parsing


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Score: 4", 4),
        ("The instruction is simple.\nScore: 2", 2),
        ("Feedback: clear and correct. [RESULT] 5", 5),
        ("[RESULT] 3 [/RESULT]", 3),
        ("I'd give it 4/5.", 4),
        ("Rating: 4 out of 5", 4),
        ("**4**", 4),
        ("Solid work overall.\n\n3", 3),
        ("**Score:** 1", 1),
        ("Score: **5**", 5),
        ("Final score = 2", 2),
        ("Difficulty: 4", 4),
        ("Quality (1-5): 3", 3),
        # Quoting the scale, then deciding on the last line.
        ("Score 1 means trivial, 5/5 means olympiad.\nThis is routine algebra.\nScore: 2", 2),
        ("First I thought Score: 3.\nOn reflection, Score: 4", 4),
        ("The answer 3/5 is right, so the response is good.\nScore: 4", 4),
    ],
)
def test_scores_are_read_from_many_formats(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A fine response.", "no_score"),
        ("", "no_score"),
        ("Score: 7", "out_of_range"),
        ("Score: 0", "out_of_range"),
        ("Score: 3.5", "out_of_range"),
        ("Score: 8/10", "out_of_range"),
        ("**12**", "out_of_range"),
        ("Score: 3 or maybe Score: 4", "conflicting_scores"),
        ("Score: 2\nScore: 5 for style, Score: 3 for content", "conflicting_scores"),
    ],
)
def test_unusable_scores_are_rejected_with_a_reason(text, reason):
    with pytest.raises(Rejected) as info:
        parse_score(text)
    assert info.value.reason == reason


# ----------------------------------------------------------------------------- reading the dataset


def test_reads_a_run_folder_with_domains(run_folder):
    path, examples = read_dataset(run_folder)
    assert path == run_folder / "records.jsonl"
    assert [e.id for e in examples] == [r[0] for r in RECORDS]
    assert [e.domain for e in examples] == [r[1] for r in RECORDS]


def test_plain_jsonl_gets_positional_ids_and_the_general_domain(tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl", [{"instruction": "a", "response": "b"}, {"instruction": "c", "response": "d"}]
    )
    _, examples = read_dataset(data)
    assert [(e.id, e.domain) for e in examples] == [("0", "general"), ("1", "general")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"instruction": "a"}], "line 1 has no non-empty string 'response'"),
        ([{"instruction": " ", "response": "b"}], "line 1 has no non-empty string 'instruction'"),
        ([{"id": "x", "instruction": "a", "response": "b"}] * 2, "line 2: id 'x' already used on line 1"),
        (
            [{"instruction": "a", "response": "b", "setting": {"domain": 3}}],
            "'setting.domain' must be a non-empty string",
        ),
        ([{"instruction": "a", "response": "b", "id": [1]}], "'id' must be"),
        ([], "empty"),
    ],
)
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path, rows, expected):
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DatasetError) as info:
        compute_intrinsic(data, tmp_path / "out", IntrinsicConfig(embedder=None))
    message = str(info.value)
    assert expected in message and str(data) in message and "\n" not in message
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_missing_dataset_and_unknown_config_keys_are_one_line(tmp_path):
    with pytest.raises(AgorabenchError, match="no such dataset"):
        compute_intrinsic(tmp_path / "nope.jsonl", tmp_path / "out")
    with pytest.raises(ConfigError) as info:
        parse_model(IntrinsicConfig, {"embeder": "x"}, "intrinsic.yaml")
    assert "embeder" in str(info.value) and "unknown field" in str(info.value)
    with pytest.raises(ConfigError, match="diversity_sample"):
        parse_model(IntrinsicConfig, {"diversity_sample": 1}, "intrinsic.yaml")


def test_default_out_dir(tmp_path, run_folder):
    assert default_out_dir(run_folder) == run_folder / "intrinsic"
    assert default_out_dir(tmp_path / "data.jsonl") == tmp_path / "data.intrinsic"


# ----------------------------------------------------------------------------- judging


def fake_judge(url: str) -> GeneratorConfig:
    return GeneratorConfig(
        name="fake-judge", backend="openai", model="fake-judge", base_urls=[url], timeout_s=5.0
    )


def engine(tmp_path: Path) -> EngineConfig:
    return EngineConfig(
        backoff_base_s=0.01, backoff_max_s=0.05, cache_dir=tmp_path / "cache", max_validation_retries=2
    )


FORMATS = ["Score: {}", "Brief feedback.\n[RESULT] {}", "It deserves {}/5.", "**{}**", "Looks fine.\n{}"]


def scoring_judge(body: dict) -> str:
    """Reads the score hidden in the judged text; varies the reply's format; garbles on request."""
    text = last_user_text(body)
    if "GARBLE" in text:
        return "I really cannot say."
    if "FLAKY" in text and "Important:" not in text:  # garbled until reminded of the format
        return "Hmm, hard to tell, somewhere between 2 and 4."
    difficulty = "Rate how DIFFICULT" in text
    instruction = re.search(r"<instruction>\n(.*?)\n</instruction>", text, re.DOTALL).group(1)
    judged = (
        instruction if difficulty else re.search(r"<response>\n(.*?)\n</response>", text, re.DOTALL).group(1)
    )
    score = int(re.search(r"\[d=(\d)\]" if difficulty else r"\[q=(\d)\]", judged).group(1))
    return FORMATS[len(instruction) % len(FORMATS)].format(score)


def test_judge_scores_per_example_and_aggregated(tmp_path, run_folder):
    seen: list[dict] = []

    def responder(body):
        seen.append(body)
        return scoring_judge(body)

    with FakeServer(responder=responder) as server:
        options = IntrinsicConfig(
            judge=fake_judge(server.openai_base_url), engine=engine(tmp_path), embedder=None
        )
        result = compute_intrinsic(run_folder, tmp_path / "out", options)
        assert server.stats()["requests"] == 2 * len(RECORDS)
    assert {body["temperature"] for body in seen} == {0.0}
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "per_example.jsonl")}
    for i, domain, instruction, response in RECORDS:
        assert rows[i]["domain"] == domain
        assert rows[i]["instruction_difficulty"] == int(instruction[-2])
        assert rows[i]["response_quality"] == int(re.search(r"\[q=(\d)\]", response).group(1))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["n"] == 5 and result.n == 5
    assert summary["metrics"] == {
        "instruction_difficulty": pytest.approx((1 + 4 + 2 + 1 + 3) / 5),
        "response_quality": pytest.approx((5 + 3 + 4 + 5 + 2) / 5),
    }
    details = summary["details"]
    assert details["instruction_difficulty"]["by_domain"] == {"code": 2.0, "general": 2.0, "math": 2.5}
    assert set(details["skipped"]) == {"reward", "perplexity", "instruction_diversity", "response_diversity"}
    assert details["judge"]["requests_sent"] == 10 and details["judge"]["name"] == "fake-judge"
    # Each domain's rubric reaches the judge; difficulty prompts never show the response.
    prompts = [last_user_text(b) for b in seen]
    assert any("Olympiad" in p and "2 + 2" in p for p in prompts)
    assert any("idiomatic" in p and "reverses a list" in p for p in prompts)
    assert all("<response>" not in p for p in prompts if "Rate how DIFFICULT" in p)


def test_garbled_replies_are_retried_then_failed_and_reruns_are_free(tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "ok", "instruction": "Easy one [d=2]", "response": "Fine [q=4]"},
            {"id": "flaky", "instruction": "FLAKY question [d=3]", "response": "An answer [q=3]"},
            {"id": "bad", "instruction": "GARBLE this [d=5]", "response": "Whatever [q=1]"},
        ],
    )
    options = {"judge_aspects": ["difficulty"], "engine": engine(tmp_path), "embedder": None}
    with FakeServer(responder=scoring_judge) as server:
        judge = fake_judge(server.openai_base_url)
        first = compute_intrinsic(data, tmp_path / "one", IntrinsicConfig(judge=judge, **options))
        prompts = server.stats()["prompts"]
        asked_bad = {p: n for p, n in prompts.items() if "GARBLE" in p}
        assert sum(asked_bad.values()) == 3  # the first request and max_validation_retries=2 more
        assert sum(n for p, n in asked_bad.items() if "Important:" in p) == 2  # retries carry a reminder
        sent = server.stats()["requests"]
        assert sent == 1 + 2 + 3
        # Same folder: finished judgments are kept; the failed one is asked again, from the request cache.
        again = compute_intrinsic(data, tmp_path / "one", IntrinsicConfig(judge=judge, **options))
        # Another folder: every answer comes from the request cache.
        other = compute_intrinsic(data, tmp_path / "two", IntrinsicConfig(judge=judge, **options))
        assert server.stats()["requests"] == sent
    assert again.details["judge"]["requests_sent"] == 0
    assert other.details["judge"]["requests_sent"] == 0 and other.details["judge"]["cached_responses"] >= 3
    for result in (first, again, other):
        rows = {r["id"]: r for r in result.per_example}
        assert (rows["ok"]["instruction_difficulty"], rows["flaky"]["instruction_difficulty"]) == (2, 3)
        assert rows["bad"]["instruction_difficulty"] is None
        assert result.metrics == {"instruction_difficulty": 2.5}
        assert result.details["instruction_difficulty"]["failure_reasons"] == {"rejected:no_score": 1}
        assert result.details["instruction_difficulty"]["n_missing"] == 1
        assert result.details["skipped"]["response_quality"] == "not in judge_aspects"
    (failure,) = read_jsonl(tmp_path / "one" / "judge" / "fake-judge" / "failed.jsonl")
    assert failure["id"].startswith("bad:difficulty:") and failure["reason"] == "rejected:no_score"


def test_an_unreachable_judge_is_one_line(tmp_path, run_folder):
    dead = GeneratorConfig(
        name="dead", backend="openai", model="m", base_urls=["http://127.0.0.1:9/v1"], timeout_s=2
    )
    with pytest.raises(AgorabenchError) as info:
        compute_intrinsic(
            run_folder, tmp_path / "out", IntrinsicConfig(judge=dead, engine=engine(tmp_path), embedder=None)
        )
    assert "dead" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="unknown generator"):
        compute_intrinsic(run_folder, tmp_path / "out", IntrinsicConfig(judge="no-such-judge", embedder=None))


# ----------------------------------------------------------------------------- tiny random models

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

PAIRS = [
    ("What is 2 + 2?", "2 + 2 = 4."),
    ("Write a poem about the sea.", "Waves roll in,\nsalt on the wind,\nthe tide keeps time."),
    ("Name a colour.", "Blue."),
    (
        "Explain recursion in one sentence.",
        "A function that calls itself on a smaller input until a base case.",
    ),
    ("Translate 'cat' into French.", "chat"),
]


def tiny_tokenizer(chat_template: str | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown tokens
        show_progress=False,
    )
    tok.train_from_iterator([f"{i} {r}" for i, r in PAIRS] * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def tiny_model_folder(folder: Path, kind: str, chat_template: str | None) -> Path:
    """A random 2-layer Llama (hidden 32) saved with a tokenizer; large init so examples differ clearly."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    tokenizer = tiny_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.3,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = (LlamaForCausalLM if kind == "lm" else LlamaForSequenceClassification)(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {
        "lm_plain": tiny_model_folder(root / "lm_plain", "lm", None),
        "lm_chat": tiny_model_folder(root / "lm_chat", "lm", CHATML),
        "rm_chat": tiny_model_folder(root / "rm_chat", "rm", CHATML),
        "rm_plain": tiny_model_folder(root / "rm_plain", "rm", None),
    }


# ----------------------------------------------------------------------------- reward model


@pytest.mark.parametrize("variant", ["rm_chat", "rm_plain"])
def test_reward_scores_are_batching_invariant(tiny, variant):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rm = load_reward_model(str(tiny[variant]), device="cpu")
    batched = reward_scores(rm, PAIRS, batch_size=3)
    # Unbatched, by hand: one example per forward pass, no padding at all.
    tokenizer = AutoTokenizer.from_pretrained(tiny[variant])
    model = AutoModelForSequenceClassification.from_pretrained(tiny[variant]).eval()
    for (instruction, response), score in zip(PAIRS, batched, strict=True):
        if variant == "rm_chat":
            messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
            ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        else:
            ids = tokenizer(f"{instruction}\n\n{response}")["input_ids"]
        with torch.no_grad():
            alone = float(model(input_ids=torch.tensor([ids])).logits[0, 0])
        assert score == pytest.approx(alone, rel=1e-4, abs=1e-6)
    assert len({round(s, 6) for s in batched}) == len(PAIRS)  # every example its own value
    assert rm.chat == (variant == "rm_chat") and rm.num_labels == 1


# ----------------------------------------------------------------------------- perplexity


@pytest.mark.parametrize("variant", ["lm_plain", "lm_chat"])
def test_perplexity_batched_equals_alone_and_differs_across_examples(tiny, variant):
    student = load_student_base(str(tiny[variant]), device="cpu")
    assert student.plain == (variant == "lm_plain")
    batched = response_perplexities(student, PAIRS, batch_size=4)
    alone = response_perplexities(student, PAIRS, batch_size=1)
    for (b, nb), (a, na) in zip(batched, alone, strict=True):
        assert nb == na > 0
        assert b == pytest.approx(a, rel=1e-4)
    values = [b for b, _ in batched]
    # The original code gave every example its batch's mean: here each has its own.
    assert len({round(v, 3) for v in values}) == len(PAIRS)
    assert max(values) / min(values) > 1.01


def test_batches_are_capped_in_examples_and_padded_tokens(tiny):
    from agorabench.metrics.intrinsic.batching import length_sorted_batches

    lengths = [5, 10, 3, 8, 1]
    assert list(length_sorted_batches(lengths, 2)) == [[1, 3], [0, 2], [4]]
    assert list(length_sorted_batches(lengths, 8, max_tokens=16)) == [[1], [3, 0], [2, 4]]
    assert list(length_sorted_batches([50, 10], 4, max_tokens=16)) == [[0], [1]]  # too long: alone
    student = load_student_base(str(tiny["lm_chat"]), device="cpu")
    capped = response_perplexities(student, PAIRS, batch_size=5, max_batch_tokens=60)
    alone = response_perplexities(student, PAIRS, batch_size=1)
    assert [v for v, _ in capped] == pytest.approx([v for v, _ in alone], rel=1e-4)


def test_perplexity_matches_a_hand_computation(tiny):
    import torch

    student = load_student_base(str(tiny["lm_plain"]), device="cpu")
    tokenizer, model = student.tokenizer, student.model
    values = response_perplexities(student, PAIRS, batch_size=5)
    for (instruction, response), (value, n_scored) in zip(PAIRS, values, strict=True):
        # By hand: render the training texts, tokenize them, score every token after the prompt.
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        assert full.startswith(prompt) and full.endswith(response + tokenizer.eos_token)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([full_ids])).logits[0]
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        nll = [-float(log_probs[t - 1, full_ids[t]]) for t in range(len(prompt_ids), len(full_ids))]
        assert n_scored == len(nll)
        assert value == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-5)


def test_scored_tokens_are_the_tokens_the_student_is_trained_on(tiny, tmp_path):
    """Our layout against TRL's own labels from the trainer `agorabench train` builds."""
    from agorabench.training.recipes import load_recipe
    from agorabench.training.sft import build_trainer

    for variant in ("lm_plain", "lm_chat"):
        student = load_student_base(str(tiny[variant]), device="cpu")
        examples = [
            {"prompt": [{"role": "user", "content": i}], "completion": [{"role": "assistant", "content": r}]}
            for i, r in PAIRS
        ]
        trainer = build_trainer(
            examples, student.model, student.tokenizer, load_recipe("tiny"), tmp_path / variant
        )
        for index, (instruction, response) in enumerate(PAIRS):
            batch = trainer.data_collator([trainer.train_dataset[index]])
            ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
            layout = training_layout(student.tokenizer, instruction, response, max_length=128)
            assert layout.ids == ids
            assert [t for t, label in enumerate(labels) if label != -100] == list(
                range(layout.start, len(ids))
            )


def test_examples_longer_than_max_length_are_cut_keeping_the_start(tiny):
    student = load_student_base(str(tiny["lm_plain"]), device="cpu")
    long_pair = ("Say a lot.", "word " * 200)
    (value, n_scored), (short_value, _) = response_perplexities(student, [long_pair, PAIRS[0]], max_length=64)
    layout = training_layout(student.tokenizer, *long_pair, max_length=64)
    assert len(layout.ids) == 64 and n_scored == 64 - layout.start and value is not None
    # An instruction that fills max_length leaves no response token: no value, not a crash.
    ((nothing, zero),) = response_perplexities(student, [("x " * 200, "y")], max_length=32)
    assert nothing is None and zero == 0 and short_value is not None


# ----------------------------------------------------------------------------- diversity


def test_mean_pairwise_cosine_distance_equals_scipy():
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(0)
    for n, d in ((2, 3), (7, 5), (50, 16)):
        e = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=(n, 1))  # norms differ: cosine ignores them
        assert mean_pairwise_cosine_distance(e) == pytest.approx(pdist(e, metric="cosine").mean(), abs=1e-12)
    same = np.tile([[1.0, 2.0, 3.0]], (4, 1))
    assert mean_pairwise_cosine_distance(same) == pytest.approx(0.0, abs=1e-12)
    assert mean_pairwise_cosine_distance(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        mean_pairwise_cosine_distance(np.ones((1, 3)))


class HandEmbedder:
    """Embeds a text as fixed made-up vectors; records what it was asked."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, batch_size, show_progress_bar, convert_to_numpy):
        self.seen += list(texts)
        return np.array([[len(t), t.count("a") + 1.0, 1.0] for t in texts])


def test_diversity_samples_with_a_fixed_seed_above_the_limit():
    texts = [f"text {'a' * i}" for i in range(30)]
    first, again, embedder = HandEmbedder(), HandEmbedder(), HandEmbedder()
    small = diversity(texts, first, sample=10, seed=42)
    assert small.details["sampled"] and small.details["sample_size"] == 10 and small.details["n_texts"] == 30
    assert diversity(texts, again, sample=10, seed=42).value == small.value and first.seen == again.seen
    assert sample_indices(30, 10, 42) != sample_indices(30, 10, 7)
    full = diversity(texts, embedder, sample=30, seed=42)
    assert not full.details["sampled"] and len(embedder.seen) == 30
    from scipy.spatial.distance import pdist

    assert full.value == pytest.approx(pdist(HandEmbedder().encode(texts, 1, False, True), "cosine").mean())
    single = diversity(["only one"], HandEmbedder(), sample=10, seed=42)
    assert single.value is None and "at least 2" in single.details["reason"]


@pytest.fixture(scope="module")
def minilm():
    return load_embedder("all-MiniLM-L6-v2", device="cpu")


def test_shipped_minilm_identical_texts_are_zero_different_are_positive(minilm):
    same = diversity(["The cat sat on the mat."] * 4, minilm, sample=100, seed=0)
    varied = diversity(
        [
            "The cat sat on the mat.",
            "Compute the integral of x^2.",
            "def f(x): return x",
            "Paris is in France.",
        ],
        minilm,
        sample=100,
        seed=0,
    )
    assert same.value == pytest.approx(0.0, abs=1e-5)
    assert varied.value > 0.5


# ----------------------------------------------------------------------------- everything together


def test_compute_intrinsic_writes_flat_metrics_and_per_example_values(tmp_path, run_folder, tiny, minilm):
    with FakeServer(responder=scoring_judge) as server:
        options = IntrinsicConfig(
            judge=fake_judge(server.openai_base_url),
            engine=engine(tmp_path),
            reward_model=str(tiny["rm_chat"]),
            base=str(tiny["lm_plain"]),
            batch_size=2,
            device="cpu",
        )
        result = compute_intrinsic(run_folder, tmp_path / "out", options)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=pytest.fail)
    assert set(summary) == {"metrics", "n", "details"} and summary["n"] == 5
    metrics = summary["metrics"]
    assert set(metrics) == {
        "instruction_difficulty",
        "response_quality",
        "reward",
        "perplexity",
        "instruction_diversity",
        "response_diversity",
    }
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    rows = read_jsonl(tmp_path / "out" / "per_example.jsonl")
    assert [r["id"] for r in rows] == [r[0] for r in RECORDS] and rows == result.per_example
    ppl = [r["perplexity"] for r in rows]
    assert metrics["perplexity"] == pytest.approx(np.mean(ppl))
    assert summary["details"]["perplexity"]["median"] == pytest.approx(np.median(ppl))
    assert metrics["reward"] == pytest.approx(np.mean([r["reward"] for r in rows]))
    assert summary["details"]["perplexity"]["chat_template"].startswith("plain")
    assert summary["details"]["skipped"] == {}
    assert summary["details"]["dataset_sha256"] and not list((tmp_path / "out").glob("*.tmp"))
    # The same values as computing each metric on its own.
    student = load_student_base(str(tiny["lm_plain"]), device="cpu")
    alone = response_perplexities(student, [(r[2], r[3]) for r in RECORDS], batch_size=1)
    assert ppl == pytest.approx([v for v, _ in alone], rel=1e-4)


def test_only_configured_metrics_run_and_subsets_are_seeded(tmp_path, run_folder, minilm):
    result = compute_intrinsic(run_folder, tmp_path / "out", IntrinsicConfig(max_examples=3, seed=1))
    assert set(result.metrics) == {"instruction_diversity", "response_diversity"}
    assert set(result.details["skipped"]) == {
        "instruction_difficulty",
        "response_quality",
        "reward",
        "perplexity",
    }
    assert result.n == 3 and result.details["examples_in_dataset"] == 5
    assert set(read_jsonl(tmp_path / "out" / "per_example.jsonl")[0]) == {"id", "domain"}
    bigger = compute_intrinsic(run_folder, tmp_path / "out4", IntrinsicConfig(max_examples=4, seed=1))
    assert {r["id"] for r in result.per_example} <= {r["id"] for r in bigger.per_example}  # nested
    # One example: diversity is undefined, and says why.
    one = write_jsonl(tmp_path / "one.jsonl", [{"instruction": "a", "response": "b"}])
    single = compute_intrinsic(one, tmp_path / "single", IntrinsicConfig())
    assert single.metrics == {"instruction_diversity": None, "response_diversity": None}
    assert "at least 2" in single.details["response_diversity"]["reason"]


# ----------------------------------------------------------------------------- the embedded model (slow)


@pytest.mark.slow
def test_embedded_smollm2_perplexity(tmp_path):
    pairs = [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("What is the capital of France?", "Paris."),
        ("Name three primary colours.", "Red, yellow and blue."),
        ("What is the capital of France?", "zq xv plk wrrt gh qq zzkj vbn"),
    ]
    student = load_student_base("smollm2-135m-instruct", device="cpu")
    assert not student.plain  # SmolLM2-Instruct brings its ChatML template
    batched = response_perplexities(student, pairs, batch_size=4)
    alone = response_perplexities(student, pairs, batch_size=1)
    for (b, _), (a, _) in zip(batched, alone, strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    values = [v for v, _ in batched]
    assert len({round(v, 4) for v in values}) == 4
    assert (
        values[0] < values[3] and values[2] < values[3]
    )  # a sensible answer is far less surprising than noise
    shutil.rmtree(tmp_path, ignore_errors=True)
