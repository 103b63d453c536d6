"""What the notebooks and the site show; all of it presentation, which no run's fingerprint
covers (runner.codeprint): each model run's figures, drawn from its record by the one function
the notebook and the site share (runs.run_figures), the EDA notebook's figures and the saving,
width and type sizes every figure shares (notebook), the study's cross-run figures (study,
mechanisms), the predictions gallery, what the networks learned (learned, learned_maps,
learned_draw), and the names, order and number formats of runs (display) and notebook tables
(tables)."""
