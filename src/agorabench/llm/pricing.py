"""API prices per 1M input / output tokens, and the cost of a request.

Defaults are the prices the AgoraBench paper used; a generator config's `pricing` overrides them.
Open-weight Llama prices are those of a typical hosted provider, as in the paper.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agorabench.llm.base import Usage


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    input_per_mtok: float = Field(ge=0.0, description="US dollars per 1M prompt tokens")
    output_per_mtok: float = Field(ge=0.0, description="US dollars per 1M completion tokens")
    batch_discount: float = Field(
        0.5, gt=0.0, le=1.0, description="fraction of the list price a provider Batch API bills (both bill 50%)"
    )

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input_per_mtok + usage.completion_tokens * self.output_per_mtok) / 1e6

    def for_batch(self) -> Pricing:
        """The price through the provider's Batch API."""
        return Pricing(
            input_per_mtok=self.input_per_mtok * self.batch_discount,
            output_per_mtok=self.output_per_mtok * self.batch_discount,
            batch_discount=1.0,
        )


DEFAULT_PRICES: dict[str, Pricing] = {
    "gpt-4o": Pricing(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4o-2024-08-06": Pricing(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4o-mini": Pricing(input_per_mtok=0.15, output_per_mtok=0.60),
    "gpt-4o-mini-2024-07-18": Pricing(input_per_mtok=0.15, output_per_mtok=0.60),
    "claude-3-5-sonnet-20240620": Pricing(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-3-5-sonnet-20241022": Pricing(input_per_mtok=3.00, output_per_mtok=15.00),
    "meta-llama/Llama-3.1-405B-Instruct": Pricing(input_per_mtok=1.79, output_per_mtok=1.79),
    "meta-llama/Llama-3.1-70B-Instruct": Pricing(input_per_mtok=0.35, output_per_mtok=0.40),
    "meta-llama/Llama-3.1-8B-Instruct": Pricing(input_per_mtok=0.055, output_per_mtok=0.055),
}

