"""Generator backends behind one async interface (`Backend.complete`), found through the registry."""

from agorabench.llm.base import Backend, Completion, Message, SamplingParams, Usage
from agorabench.llm.registry import BACKENDS, BackendSpec, backend_spec, create_backend, register_backend

__all__ = [
    "BACKENDS", "Backend", "BackendSpec", "Completion", "Message", "SamplingParams", "Usage",
    "backend_spec", "create_backend", "register_backend",
]
