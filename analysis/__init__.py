"""The study's library, in sub-packages by what they own: data, models, training, stats,
study (cross-run), figures and shift (the data-shift analysis); paths holds every path.

Notebooks in ``analysis/notebooks`` are thin narrative over these pure functions.
"""
