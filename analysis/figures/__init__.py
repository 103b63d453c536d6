"""What the notebooks and the site show: the notebooks' per-run figures (notebook), the site's
per-run and cross-run figures (runs, study, mechanisms, style), the predictions gallery, what
the networks learned (learned, learned_maps, learned_draw), and the names, order and number
formats of runs (display) and notebook tables (tables)."""
