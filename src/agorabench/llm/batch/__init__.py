"""Batch mode (`mode: batch` on a generator): requests go through a provider's batch API at half price.

`base.py` holds what the providers share (queue, grouping, ledger, polling, result mapping; its docstring
tells a batch's life), `ledger.py` the `batches.jsonl` file a rerun resumes from, and one module per
provider (`openai_batch.py`, `anthropic_batch.py`) its SDK calls. The registry's `BackendSpec.batch_factory`
names the provider module's class; docs/engine.md ("Batch mode") is the user's guide.
"""
