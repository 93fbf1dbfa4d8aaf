"""Instructions shared by several benchmarks' prompts (part of what each benchmark's `version` covers)."""

from __future__ import annotations

MATH_INSTRUCTION = "Solve the problem step by step. End with the final answer as [RESULT] answer [/RESULT]."
CODE_INSTRUCTION = "Complete the following Python code. Reply with the code in a ```python block."
