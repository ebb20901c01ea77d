"""Sentences and labels per stage, made through the run's Translator (one module per stage)."""
