"""The serving image loads the export: `deploy`'s SavedModel, made with the project's
TensorFlow (2.21), loaded and run under the TensorFlow of AWS's TensorFlow Serving image the
endpoint runs (2.20), in a separate environment (tests/serving_env.py); it gives `predict`'s
top-1 on the published run's test images. No AWS call."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import paths
from runner.serving import aws, export, predict
from tests import serving_env

COMMITTED = paths.ROOT / "results" / predict.published_profile() / "cnn"


def test_the_pinned_serving_tensorflow_is_the_images():
    """The environment holds the version the endpoint's image has, as deploy picks it."""
    assert serving_env.version() == aws.serving_tf_version()
    assert serving_env.version() != ".".join(aws.sm.tensorflow_version().split(".")[:2])


@pytest.mark.skipif(
    not (COMMITTED / "model.keras").exists(), reason="the published cnn's model is not committed"
)
def test_the_serving_tensorflow_loads_the_export(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(COMMITTED.parents[1]))
    artifact = predict.find("cnn")
    with np.load(COMMITTED / "predictions.npz") as z:
        files = [real_data / str(f) for f in z["files"][:64]]
    x, decoded, errors = predict.decode(files, artifact.image_size)
    assert not errors and len(decoded) == 64

    keras_probs = artifact.probabilities(x)
    version_dir = export.saved_model(artifact, tmp_path / "export")
    # What invoke sends: the client's preparation, as float32 (the signature's input).
    loaded, served = serving_env.serve(version_dir, artifact.prepare(x), tmp_path)

    assert loaded.startswith(serving_env.version() + ".")
    assert served.shape == keras_probs.shape
    assert np.array_equal(served.argmax(1), keras_probs.argmax(1))
    np.testing.assert_allclose(served, keras_probs, atol=1e-5)
