"""The cross-run findings the report cites, derived from small hand-made metrics."""

from runner.compare import findings


def model_run(val: float, test: float, kernels, epochs_run=6, **params) -> dict:
    base = {"epochs": 6, "image_size": 64, "class_weighting": "balanced", "kernel_sizes": kernels}
    return {
        "notebook": "cnn",
        "params": {**base, **params},
        "model": {"parameters": 1000 * kernels[0] ** 2, "flops_per_image": 10 * kernels[0] ** 2},
        "train": {"accuracy": 0.9},
        "val": {"accuracy": val, "macro_f1": val / 2, "balanced_accuracy": val},
        "test": {"accuracy": test, "macro_f1": test / 2},
        "timing": {"train_seconds": 10.0 * kernels[0], "epochs_run": [epochs_run]},
    }


def test_kernel_finding_chooses_on_val_and_flags_the_epoch_budget():
    runs = {
        "cnn": model_run(0.40, 0.20, [3, 3, 3, 3], epochs_run=4),
        "kernel-3x3": {**model_run(0.40, 0.20, [3, 3, 3, 3]), "same_computation_as": "cnn"},
        "kernel-5x5": model_run(0.30, 0.26, [5, 5, 5, 5]),
        "kernel-7x7": model_run(0.10, 0.12, [7, 7, 7, 7]),
        # Not kernel experiments: another variable changed as well.
        "cnn-unweighted": model_run(0.50, 0.32, [3, 3, 3, 3], class_weighting="none"),
        "cnn-permuted": model_run(0.15, 0.14, [3, 3, 3, 3], permute_pixels=True),
    }
    k = findings(runs, [], "cnn", "baseline")["kernels"]
    assert k["runs"] == ["cnn", "kernel-5x5", "kernel-7x7"]
    assert k["chosen_on_val"] == "cnn"
    assert k["best_on_test"] == "kernel-5x5"
    assert k["stopped_by_budget"] == ["kernel-5x5", "kernel-7x7"]
    assert k["cost"]["kernel-5x5"]["parameter_ratio"] == 25 / 9
    assert k["cost"]["kernel-7x7"]["train_time_ratio"] == 70 / 30
