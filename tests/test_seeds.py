"""Seed loaders: the paper's sources mapped from their own schemas, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from agorabench.data.seeds import SeedSource, load_seeds, load_source
from agorabench.errors import AgorabenchError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_gsm8k_mapping_moves_the_answer_into_a_result_block(tmp_path):
    path = write_jsonl(tmp_path / "gsm.jsonl", [
        {"question": "Ann has 3 pens and buys 4 more. How many?", "answer": "3 + 4 = <<3+4=7>>7 pens.\n#### 7"},
        {"question": "no answer marker", "answer": "7"},
    ])
    rows = load_source(SeedSource(source="gsm8k", path=path), "instance_generation", "math")
    assert len(rows) == 1
    assert rows[0]["response"] == "3 + 4 = 7 pens.\n[RESULT] 7 [/RESULT]"


def test_math_mapping_takes_the_last_boxed_answer(tmp_path):
    path = write_jsonl(tmp_path / "math.jsonl", [
        {"problem": "Find x if 2x = 1.", "solution": "So $x = \\boxed{\\frac{1}{2}}$."},
    ])
    (row,) = load_source(SeedSource(source="math", path=path), "instance_generation", "math")
    assert row["response"].endswith("[RESULT] \\frac{1}{2} [/RESULT]")


def test_mbpp_mapping_fences_code_and_keeps_tests(tmp_path):
    path = write_jsonl(tmp_path / "mbpp.jsonl", [
        {"task_id": 11, "text": "Write a function to double a number.", "code": "def dbl(x):\n    return 2 * x",
         "test_list": ["assert dbl(2) == 4"]},
    ])
    (row,) = load_source(SeedSource(source="mbpp", path=path), "instance_generation", "code")
    assert row["id"] == "mbpp-11" and row["response"].startswith("```python\n") and row["tests"] == ["assert dbl(2) == 4"]


def test_lima_webinstruct_conala_mappings(tmp_path):
    lima = write_jsonl(tmp_path / "lima.jsonl", [{"conversations": ["How do tides work?", "The moon's gravity..."]}])
    (row,) = load_source(SeedSource(source="lima", path=lima), "instance_generation", "general")
    assert row["instruction"] == "How do tides work?" and row["response"].startswith("The moon")

    web = write_jsonl(tmp_path / "web.jsonl", [{"question": "What is 2^10?", "answer": "1024"}])
    (row,) = load_source(SeedSource(source="webinstruct", path=web), "quality_enhancement", "math")
    assert (row["instruction"], row["response"]) == ("What is 2^10?", "1024")

    conala = write_jsonl(tmp_path / "conala.jsonl", [{"intent": "sort a list", "rewritten_intent": "sort list `xs`", "snippet": "xs.sort()"}])
    (row,) = load_source(SeedSource(source="conala", path=conala), "quality_enhancement", "code")
    assert row["instruction"] == "sort list `xs`" and row["response"] == "```python\nxs.sort()\n```"


def test_magpie_keeps_only_the_requested_domain(tmp_path):
    path = write_jsonl(tmp_path / "magpie.jsonl", [
        {"conversations": [{"from": "human", "value": "Solve 2x+1=5"}, {"from": "gpt", "value": "x=2"}], "task_category": "Math"},
        {"conversations": [{"from": "human", "value": "Fix my loop"}], "task_category": "Coding & Debugging"},
        {"conversations": [{"from": "human", "value": "Plan a trip"}], "task_category": "Planning"},
    ])
    spec = SeedSource(source="magpie", path=path)
    assert [r["instruction"] for r in load_source(spec, "response_generation", "math")] == ["Solve 2x+1=5"]
    assert [r["instruction"] for r in load_source(spec, "response_generation", "code")] == ["Fix my loop"]
    assert [r["instruction"] for r in load_source(spec, "response_generation", "general")] == ["Plan a trip"]


def test_several_sources_combine_without_duplicates(tmp_path):
    gsm = write_jsonl(tmp_path / "g.jsonl", [{"question": "Q1?", "answer": "a\n#### 1"}] * 2)
    math = write_jsonl(tmp_path / "m.jsonl", [{"problem": "Q2?", "solution": "\\boxed{2}"}])
    rows = load_seeds([SeedSource(source="gsm8k", path=gsm), SeedSource(source="math", path=math)], "instance_generation", "math")
    assert [r["instruction"] for r in rows] == ["Q1?", "Q2?"]


def test_parquet_and_limit(tmp_path):
    import datasets

    path = tmp_path / "lima.parquet"
    datasets.Dataset.from_list([{"conversations": [f"q{i}", f"a{i}"]} for i in range(5)]).to_parquet(str(path))
    rows = load_source(SeedSource(source="lima", path=str(path), limit=2), "instance_generation", "general")
    assert [r["instruction"] for r in rows] == ["q0", "q1"]


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "seed path not found"),
        ('{"question": "a"}\nnot json\n', "line 2 is not valid JSON"),
        ('{"unrelated": 1}\n', "no usable rows"),
    ],
)
def test_bad_seed_files_give_one_clear_line(tmp_path, content, expected):
    path = tmp_path / "seeds.jsonl"
    if content is not None:
        path.write_text(content)
    spec = SeedSource(source="gsm8k", path=str(path) if content is not None else "./missing/seeds")
    with pytest.raises(AgorabenchError) as raised:
        load_source(spec, "instance_generation", "math")
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_unreachable_hub_dataset_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AgorabenchError) as raised:
        load_source(SeedSource(source="lima", path="GAIR/lima"), "instance_generation", "general")
    assert "GAIR/lima" in str(raised.value) and "\n" not in str(raised.value)


def test_unknown_source_is_named(tmp_path):
    with pytest.raises(AgorabenchError, match="unknown seed source 'alpaca'"):
        load_source(SeedSource(source="alpaca", path=str(tmp_path)), "instance_generation", "general")


def test_bundled_seed_sets_cover_all_nine_settings():
    for method, minimum in (("instance_generation", 30), ("response_generation", 50), ("quality_enhancement", 30)):
        for domain in ("math", "code", "general"):
            rows = load_seeds([SeedSource(source="agorabench")], method, domain)
            assert len(rows) >= minimum, (method, domain)


def test_a_bundled_set_by_name_and_one_line_errors_for_a_wrong_one():
    from agorabench.data.seeds import SeedSource, load_seeds

    rows = load_seeds([SeedSource(source="agorabench", bundled="response_generation_constraints")],
                      "response_generation", "general")
    assert len(rows) >= 100 and all(r["id"].startswith("general-rgc-") for r in rows)
    with pytest.raises(AgorabenchError, match="no bundled set 'nope' for general .bundled: .*gold_constraints"):
        load_seeds([SeedSource(source="agorabench", bundled="nope")], "response_generation", "general")
    with pytest.raises(ValueError, match="source agorabench and no path"):
        SeedSource(source="lima", bundled="gold_constraints")
