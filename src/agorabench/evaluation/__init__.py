"""Evaluation: benchmarks, graders, the code-execution sandbox, judges and model runners."""
