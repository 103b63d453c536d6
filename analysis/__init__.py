"""The study's library: data, cache, models, training, evaluation and figures.

Notebooks in ``analysis/notebooks`` are thin narrative over these pure functions.
"""
