"""Metrics of generated data and of the students trained on it: intrinsic metrics of a dataset
(`agorabench.metrics.intrinsic`) and Performance Gap Recovered."""
