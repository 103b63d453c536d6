"""One model run: the training recipe (train), the steps from data to metrics (experiment),
the metrics.json record (record), and what a run records about itself: provenance, time per
phase (phases) and CPU contention (cpuload)."""
