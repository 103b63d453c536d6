"""The cross-run study: comparisons between runs, the controlled experiments (controls), the
mechanism findings (mechanisms), the recipe search and GPU scout (scout), every finding the
site states (findings), the replication on another machine (replication) and what the study
costs (cost)."""
