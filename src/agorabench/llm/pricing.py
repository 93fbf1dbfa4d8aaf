"""API prices per 1M input / output tokens, and the cost of a request.

The defaults are data: `prices.yaml` next to this module (each price with the page it was read from and the date),
loaded into `DEFAULT_PRICES` by model id and alias; a generator config's `pricing` overrides them. A model not
there has an unknown price. Open-weight Llama prices are those of a typical hosted provider, as in the paper.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel

from agorabench.errors import ConfigError
from agorabench.io import StrictModel, parse_model, read_yaml
from agorabench.llm.base import Usage

PRICES_FILE = Path(__file__).with_name("prices.yaml")


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    input_per_mtok: float = Field(ge=0.0, description="US dollars per 1M prompt tokens")
    output_per_mtok: float = Field(ge=0.0, description="US dollars per 1M completion tokens")
    batch_discount: float = Field(
        0.5, gt=0.0, le=1.0, description="fraction of the list price a provider Batch API bills (both bill 50%)"
    )

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_mtok + usage.completion_tokens * self.output_per_mtok) / 1e6

    def worst_case(self, prompt_tokens: float, max_tokens: float) -> float:
        """The most a request can cost: its prompt and `max_tokens` of output (what a spend cap reserves)."""
        return (prompt_tokens * self.input_per_mtok + max_tokens * self.output_per_mtok) / 1e6

    def for_batch(self) -> Pricing:
        """The price through the provider's Batch API."""
        return Pricing(
            input_per_mtok=self.input_per_mtok * self.batch_discount,
            output_per_mtok=self.output_per_mtok * self.batch_discount,
            batch_discount=1.0,
        )


class PriceEntry(StrictModel):
    """One model's list price in prices.yaml, with where and when it was read."""

    input_per_mtok: float = Field(ge=0.0)
    output_per_mtok: float = Field(ge=0.0)
    aliases: list[str] = Field(default_factory=list, description="other ids billed the same (dated snapshots)")
    checked: datetime.date = Field(description="when the price was read from `source`")
    source: str = Field(description="the page the price was read from")
    note: str | None = None

    def pricing(self) -> Pricing:
        return Pricing(input_per_mtok=self.input_per_mtok, output_per_mtok=self.output_per_mtok)


class PriceTable(RootModel[dict[str, PriceEntry]]):
    """prices.yaml: model id -> entry."""


def load_prices(path: Path = PRICES_FILE) -> tuple[dict[str, Pricing], dict[str, PriceEntry]]:
    """(price by model id and alias, entry by the same ids) from a prices file; a bad file is one line."""
    table = parse_model(PriceTable, read_yaml(path), str(path)).root
    prices: dict[str, Pricing] = {}
    entries: dict[str, PriceEntry] = {}
    for model, entry in table.items():
        for name in (model, *entry.aliases):
            if name in prices:
                raise ConfigError(f"{path}: {name!r} is priced twice")
            prices[name] = entry.pricing()
            entries[name] = entry
    return prices, entries


DEFAULT_PRICES, PRICE_ENTRIES = load_prices()
