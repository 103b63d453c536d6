"""The data shift between the splits: what file names say (image_names), near-duplicate test
images (near_duplicates), accuracy per instrument and the val→test gap (instrument_gap), and
the shift notebook's outputs (outputs)."""
