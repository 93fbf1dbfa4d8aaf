"""JSON-schema-constrained decoding for the models this process runs (the local backend), with llguidance.

`compile_schema(tokenizer, schema, eos_ids)` turns a JSON schema into an llguidance grammar over the
tokenizer's vocabulary, once per (tokenizer, schema, EOS tokens): the cache keeps it for every later
request. `.matcher()` gives each request its own `RowGrammar`: before a token is chosen, `allowed(width)`
is the mask of the tokens the grammar permits next; after, `advance(token)` follows the choice. Once the
object is complete the only tokens allowed are the end-of-sequence ones, so the row ends there.

The JSON is written compactly with `json.dumps`'s separators (`", "`, `": "`) and no other whitespace,
so a small model cannot pad its reply with blank lines until it runs out of tokens. Two more things keep a
reply one whole object rather than one cut off at max_tokens mid-string, which no parser reads:
`within_budget` caps each string that sets no `maxLength` of its own at its share of the row's max_tokens
(a model that would write on is made to close the string and go on), and `matcher(budget)` steers the
row's last tokens to close what is open.

With `python_fields` (`SamplingParams.python_fields`), those string fields of the object must hold Python
that parses: the object is then a Lark grammar (`llm/python_grammar.py`) with the other fields embedded as
JSON schemas, and closing it also closes Python's brackets and strings.

Why llguidance and not xgrammar (both ship binary wheels on PyPI and serve as vLLM's structured-output
backends), measured on the dev machine (2 cores, SmolLM2-135M's 49,152-token vocabulary, one of the
settings' schemas, a 130-token reply): llguidance builds its tokenizer view in ~0.4-0.8 s and a matcher in
~1 ms (it compiles lazily), then ~10 us per token for the mask and ~3 us to advance; xgrammar's tokenizer
view takes ~0.6 s, compiling the schema ~15 ms, its mask ~17 us a token. Both are noise next to a decoding
step (~30 ms). What decided: llguidance's wheel has no dependencies (xgrammar's pulls triton and
apache-tvm-ffi and declares torch and transformers), and xgrammar 0.2.9's string `maxLength` forbids
escapes, i.e. newlines, inside the string.
"""

from __future__ import annotations

import copy
import json
import keyword
import re
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and llguidance load with the model, not with this module
    import torch

# Compact JSON, as json.dumps writes it: no whitespace but after the separators.
JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
# `within_budget`: characters a token of max_tokens is worth (English BPE text averages ~4, code and JSON
# escapes less), and the least a string is allowed.
CHARS_PER_TOKEN = 3
MIN_STRING_CHARS = 32
# `CompiledSchema.matcher`: tokens kept, per string of the schema, to close the object before max_tokens; a
# Python field may need more (its brackets, a block header's body).
CLOSE_TOKENS_PER_STRING = 6
CLOSE_TOKENS_PER_PYTHON_FIELD = 16


class GrammarError(ValueError):
    """The schema cannot be turned into a grammar (unsupported keyword, malformed schema)."""


@dataclass(frozen=True)
class CompiledSchema:
    """One JSON schema's grammar over one tokenizer's vocabulary; `matcher()` for each request."""

    tokenizer: Any  # llguidance.LLTokenizer
    grammar: str  # llguidance's serialised grammar
    vocab_size: int
    eos_ids: tuple[int, ...]
    # Token classes, by preference, of what closes what is open (see `matcher`): bool per token, its text
    # starts with `"`; (with Python fields) the classes of `_PYTHON_CLOSING`; it starts with `,`, `:`, `]`, `}`.
    closers: tuple[torch.Tensor, ...]
    close_tokens: int  # what closing the object may take: CLOSE_TOKENS_PER_STRING per string, and so on

    def matcher(self, budget: int | None = None) -> RowGrammar:
        """A row's grammar. With `budget` (the row's max_tokens), once only `close_tokens` (and 2) are left,
        the row is steered to close what it writes: where the grammar allows tokens that start with `"`
        (ending a string), only those are allowed, else (with Python fields) those that close a Python
        bracket or string, end a line or complete an expression, else those that start with `,`, `:`, `]`
        or `}`, so the object ends within the budget instead of being cut off mid-string."""
        from llguidance import LLMatcher

        matcher = LLMatcher(self.tokenizer, self.grammar, log_level=0)
        if matcher.is_error():
            raise GrammarError(matcher.get_error())
        close_from = None if budget is None else max(0, budget - self.close_tokens - 2)
        return RowGrammar(matcher, self.vocab_size, self.eos_ids, self.closers, close_from)


class RowGrammar:
    """The grammar state of one decoding row."""

    def __init__(
        self,
        matcher: Any,
        vocab_size: int,
        eos_ids: tuple[int, ...],
        closers: tuple[torch.Tensor, ...] = (),
        close_from: int | None = None,
    ):
        self._matcher = matcher
        self._vocab_size = vocab_size
        self._eos_ids = list(eos_ids)
        self._closers = closers
        self._close_from = close_from
        self.tokens = 0  # tokens followed so far

    @property
    def finished(self) -> bool:
        """The object is complete: only an end-of-sequence token may follow."""
        return self._matcher.is_stopped()

    def allowed(self, width: int) -> torch.Tensor:
        """Boolean mask over `width` logits (the model's vocabulary may be wider than the tokenizer's:
        the extra ids are never allowed): True where the grammar permits the token."""
        import numpy as np
        import torch

        mask = torch.zeros(width, dtype=torch.bool)
        if self._matcher.is_stopped() or self._matcher.is_error():
            # Complete (or, which sampling from the mask never causes, broken): end the row.
            mask[[i for i in self._eos_ids if i < width]] = True
            return mask
        bits = np.unpackbits(np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        n = min(width, self._vocab_size)
        mask[:n] = torch.from_numpy(bits[:n].astype(bool))
        if self._close_from is not None and self.tokens >= self._close_from:
            for closers in self._closers:  # where nothing closes (a key being written, say), the grammar leads
                closing = torch.zeros_like(mask)
                closing[:n] = mask[:n] & closers[:n]
                if closing.any():
                    mask = closing
                    break
        if not mask.any():  # nothing fits (cannot happen with a valid grammar): end rather than emit NaNs
            mask[[i for i in self._eos_ids if i < width]] = True
        return mask

    def advance(self, token: int) -> None:
        """Follow the chosen token (once the object is complete, the end-of-sequence tokens that follow)."""
        self.tokens += 1
        if not self._matcher.is_stopped():
            self._matcher.consume_token(token)


def within_budget(schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """`schema` with every string that has no `maxLength` capped at an equal share of `max_tokens`, at
    CHARS_PER_TOKEN characters a token (at least MIN_STRING_CHARS). Unchanged when it has no such string."""
    bounded = copy.deepcopy(schema)
    open_ended = [node for node in _strings(bounded) if "maxLength" not in node]
    if not open_ended:
        return schema
    cap = max(MIN_STRING_CHARS, CHARS_PER_TOKEN * max_tokens // len(open_ended))
    for node in open_ended:
        node["maxLength"] = cap
    return bounded


def _strings(schema: Any) -> list[dict[str, Any]]:
    """The free-text string nodes of a schema (through properties and items; not enums or constants)."""
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "string" and "enum" not in schema and "const" not in schema else []
    for child in (schema.get("properties") or {}).values():
        found += _strings(child)
    return found + _strings(schema.get("items"))


# --- the cache: one tokenizer view per tokenizer, one grammar per (tokenizer, schema, EOS set) --------------

_LOCK = threading.Lock()
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[int, ...], tuple[str, ...]], CompiledSchema]] = (
    weakref.WeakKeyDictionary()
)
_VIEWS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], Any]] = weakref.WeakKeyDictionary()


def compile_schema(
    tokenizer: Any,
    schema: dict[str, Any],
    eos_ids: list[int] | tuple[int, ...],
    python_fields: tuple[str, ...] | list[str] = (),
) -> CompiledSchema:
    """The grammar of `schema` (its `python_fields` holding Python that parses) over a Hugging Face (fast)
    `tokenizer`, built once and cached for as long as the tokenizer lives. Raises GrammarError for a schema
    llguidance cannot enforce, ImportError without llguidance."""
    eos, python = tuple(sorted(set(eos_ids))), tuple(python_fields)
    key = (json.dumps(schema, sort_keys=True, ensure_ascii=False), eos, python)
    with _LOCK:
        cached = _CACHE.setdefault(tokenizer, {}).get(key)
        if cached is not None:
            return cached
        from llguidance import LLMatcher

        try:
            if python:
                from agorabench.llm.python_grammar import object_grammar

                grammar = LLMatcher.grammar_from_lark(object_grammar(schema, python))
            else:
                grammar = LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
        except ValueError as exc:
            raise GrammarError(str(exc)) from None
        view, (quotes, punctuation), python_closing = _tokenizer_view(tokenizer, eos)
        problem = LLMatcher.validate_grammar(grammar, view)
        if problem and not problem.startswith("WARNING"):
            raise GrammarError(problem)
        strings = max(1, len(_strings(schema)) - len(python))
        close_tokens = CLOSE_TOKENS_PER_STRING * strings + CLOSE_TOKENS_PER_PYTHON_FIELD * len(python)
        closers = (quotes, *python_closing, punctuation) if python else (quotes, punctuation)
        compiled = CompiledSchema(view, grammar, view.vocab_size, eos, closers, close_tokens)
        _CACHE[tokenizer][key] = compiled
        return compiled


def _tokenizer_view(
    tokenizer: Any, eos: tuple[int, ...]
) -> tuple[Any, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
    """llguidance's view of the tokenizer (~0.5 s to build), which of its tokens start with a quote and which
    with other characters that close JSON, and the classes of `_PYTHON_CLOSING` (~0.2 s): once per tokenizer
    and EOS set."""
    views = _VIEWS.setdefault(tokenizer, {})
    if eos not in views:
        import llguidance.hf
        import torch

        view = llguidance.hf.from_tokenizer(tokenizer, eos_token=list(eos))
        texts = [view.decode_bytes([i]) for i in range(view.vocab_size)]
        quotes = torch.tensor([t[:1] == b'"' for t in texts], dtype=torch.bool)
        punctuation = torch.tensor([t[:1] in (b",", b":", b"]", b"}") for t in texts], dtype=torch.bool)
        python = tuple(torch.tensor([_closes(t, p) for t in texts], dtype=torch.bool) for p in _PYTHON_CLOSING)
        views[eos] = (view, (quotes, punctuation), python)
    return views[eos]


# What closes open Python (`llm/python_grammar.py`), by preference, as tokens made of nothing else: quotes
# (`\"` is a double quote inside the JSON string) first, as inside a string a bracket is only more string
# (where a quote opens a string, the next ones close it); closing brackets; a line break (JSON's `\n`) and
# indentation, ending a comment or a block header's line; a name (not a keyword) or a number, completing an
# expression.
_PYTHON_CLOSING = (
    re.compile(rb"('|\\\")+"),
    re.compile(rb"(\)|\]|\})+"),
    re.compile(rb"(\\n)+ *"),
    re.compile(rb" ?[A-Za-z0-9_]+"),
)


def _closes(text: bytes, pattern: re.Pattern[bytes]) -> bool:
    # A keyword (`and`, `if`, ...) is no name: it would open more than it closes.
    return bool(pattern.fullmatch(text)) and not keyword.iskeyword(text.strip().decode())
