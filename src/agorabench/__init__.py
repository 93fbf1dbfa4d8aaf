"""agorabench: measure language models as synthetic data generators (AgoraBench, arXiv 2412.03679)."""

__version__ = "0.1.0"
