"""Supervised fine-tuning of student models on synthetic data (TRL), with recipes as data."""
