"""The generation engine: scheduling, retries, cache, resume, accounting."""
