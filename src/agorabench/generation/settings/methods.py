"""The three generation methods as engine tasks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from agorabench.generation.engine import derive_seed
from agorabench.generation.settings.base import END_MARKER, SettingTask
from agorabench.generation.settings.themes import GENERAL_FIRST_WORDS, THEMES
from agorabench.generation.task import WorkItem
from agorabench.llm.base import Message


def sample_demonstrations(
    rng: random.Random,
    seed_pool: list[dict[str, Any]],
    run_pool: list[dict[str, Any]],
    from_seeds: int = 2,
    from_run: int = 1,
) -> list[dict[str, Any]]:
    """`from_seeds` seed demonstrations plus `from_run` accepted instances of this run (seeds stand in
    while the run has none), all distinct, in a random order. Deterministic given the rng's state."""
    taken_from_run = rng.sample(run_pool, min(from_run, len(run_pool)))
    wanted_from_seeds = from_seeds + (from_run - len(taken_from_run))
    if wanted_from_seeds > len(seed_pool):
        raise ValueError(f"need {wanted_from_seeds} seed demonstrations, the pool has {len(seed_pool)}")
    chosen = rng.sample(seed_pool, wanted_from_seeds) + taken_from_run
    rng.shuffle(chosen)
    return chosen


class InstanceGeneration(SettingTask):
    """Few-shot: demonstrations and a theme in, a NEW instruction and its response out."""

    method = "instance_generation"
    draws_themes = True
    asks_for_tests = True

    def __init__(self, config, seeds, n, seed):
        super().__init__(config, seeds, n, seed)
        if n is None:
            raise ValueError("instance generation needs -n (how many instances to write)")
        needed = config.demonstrations_from_seeds + config.demonstrations_from_run
        usable = [row for row in seeds if row.get("response")]
        if len(usable) < needed:
            raise ValueError(f"instance generation needs at least {needed} seed pairs, got {len(usable)}")
        # Seeds are demonstrations and also what new instructions must not duplicate.
        self.seed_pool = usable
        for row in usable:
            self.duplicates.add(row["id"], row["instruction"])
        self.run_pool: list[dict[str, Any]] = []  # accepted instances, in acceptance order

    def items(self) -> Iterator[WorkItem]:
        for i in range(self.n):
            yield WorkItem(id=f"{self.domain}-ig-{i:06d}")

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        rng = random.Random(derive_seed(self.run_seed, item.id, attempt))
        demos = sample_demonstrations(
            rng,
            self.seed_pool,
            self.run_pool,
            self.config.demonstrations_from_seeds,
            self.config.demonstrations_from_run,
        )
        theme = rng.choice(THEMES[self.domain])
        context: dict[str, Any] = {"theme": theme}
        first_word = rng.choice(GENERAL_FIRST_WORDS) if self.domain == "general" else None
        if first_word:
            context["first_word"] = first_word
        self._prompt_context[item.id] = {
            "theme": theme,
            "first_word": first_word,
            "seed_ids": [d["id"] for d in demos],
            "demonstration_pool_size": len(self.run_pool),
        }
        shown = [{"instruction": d["instruction"], "response": d["response"]} for d in demos]
        if self.json_output:  # shown in the reply's own shape
            shown = [{**shown_one, "json": self.reply_json(d)} for shown_one, d in zip(shown, demos, strict=True)]
        return self.render(demonstrations=shown, with_tests=self.asks_for_tests and self.domain == "code", **context)

    def accept(self, item: WorkItem, record: dict[str, Any]) -> None:
        super().accept(item, record)
        self.run_pool.append({
            "id": record["id"], "instruction": record["instruction"], "response": record["response"],
            **({"tests": record["tests"]} if record.get("tests") else {}),
        })


class ResponseGeneration(SettingTask):
    """An instruction in, its response out."""

    method = "response_generation"
    writes_instruction = False
    draws_inputs = True

    def __init__(self, config, seeds, n, seed):
        super().__init__(config, seeds, n, seed)
        self.inputs = self.usable_inputs(seeds)
        # example_turns: seed pairs shown as earlier exchanges (a base generator's few-shot prompt).
        self.examples = [row for row in seeds if row.get("response")]
        if config.example_turns and len(self.examples) <= config.example_turns:
            raise ValueError(
                f"example_turns {config.example_turns} needs more than {config.example_turns} seed rows with a "
                f"response; the seeds have {len(self.examples)}"
            )

    def items(self) -> Iterator[WorkItem]:
        for row in self.inputs:
            yield WorkItem(id=f"{self.domain}-rg-{row['id']}", payload=row)

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        examples = self._examples(item)
        self._prompt_context[item.id] = {"seed_ids": [item.payload["id"]], "theme": None}
        if examples:
            self._prompt_context[item.id]["example_ids"] = [row["id"] for row in examples]
        turns: list[Message] = []
        for row in examples:  # as if the model had answered these before, in the format asked of it
            reply = self.reply_json(row) if self.json_output else f"{row['response']}\n{END_MARKER}"
            turns += [*self.render(instruction=row["instruction"]), Message(role="assistant", content=reply)]
        return turns + self.render(instruction=item.payload["instruction"])

    def _examples(self, item: WorkItem) -> list[dict[str, Any]]:
        """The item's example pairs: `example_turns` other seed rows, drawn once per item (seeded), so a
        retry sends the same prompt."""
        if not self.config.example_turns:
            return []
        others = [row for row in self.examples if row["id"] != item.payload["id"]]
        rng = random.Random(derive_seed(self.run_seed, f"{item.id}:examples", 0))
        return rng.sample(others, self.config.example_turns)


class QualityEnhancement(SettingTask):
    """An (instruction, response) pair in, an improved pair out."""

    method = "quality_enhancement"
    keeps_instruction_if_absent = True
    draws_inputs = True

    @staticmethod
    def is_input(row: dict[str, Any]) -> bool:
        return bool(row.get("response"))

    def __init__(self, config, seeds, n, seed):
        super().__init__(config, seeds, n, seed)
        pairs = [row for row in seeds if self.is_input(row)]
        if not pairs:
            raise ValueError("quality enhancement needs (instruction, response) pairs as seeds")
        self.inputs = self.usable_inputs(pairs)

    def items(self) -> Iterator[WorkItem]:
        for row in self.inputs:
            yield WorkItem(id=f"{self.domain}-qe-{row['id']}", payload=row)

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        row = item.payload
        self._prompt_context[item.id] = {
            "seed_ids": [row["id"]],
            "theme": None,
            "original": {"instruction": row["instruction"], "response": row["response"]},
        }
        shown = self.reply_json(row) if self.json_output else None  # the pair in the reply's own shape
        return self.render(instruction=row["instruction"], response=row["response"], pair_json=shown)


METHODS = {cls.method: cls for cls in (InstanceGeneration, ResponseGeneration, QualityEnhancement)}
