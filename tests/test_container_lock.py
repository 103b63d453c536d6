"""The SageMaker job installs hash-locked packages only (container/requirements.lock, `make
lock`): the lock generator and the entrypoint's install step, against a local wheel folder
(nothing from PyPI), with a wheel that matches its hash and one that does not."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from runner.backends import sagemaker as sm
from runner.backends.sagemaker import lock, requests
from tests.test_sagemaker import FIXTURES, entrypoint, stage

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("aws_rules")]


def probe_wheel(folder: Path, body: str = "VALUE = 1\n") -> Path:
    """A pure-Python wheel, msl_probe 1.0, built by hand (a wheel is a zip with a RECORD)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "msl_probe/__init__.py": body.encode(),
        "msl_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: msl-probe\n"
        b"Version: 1.0\n",
        "msl_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("msl_probe-1.0.dist-info/RECORD,,")
    wheel = folder / "msl_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("msl_probe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_the_lock_pins_every_wheel_with_its_hash(tmp_path):
    wheel = probe_wheel(tmp_path / "wheels")
    text = lock.lock("msl-probe==1.0\n", pip_args=["--no-index", f"--find-links={wheel.parent}"])
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert text.splitlines()[-1] == f"msl-probe==1.0 --hash=sha256:{digest}"
    assert text.startswith("# The SageMaker job's packages")


def test_the_committed_lock_covers_pyproject():
    text = sm.container_requirements()
    pins = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(" --hash=sha256:" in line for line in pins)
    assert any(line.startswith("papermill==") for line in pins)
    assert not any(line.startswith(("tensorflow", "mkdocs")) for line in pins)


IMAGE_MARKERS = lock.markers(lock.PYTHON_VERSION)  # the image's Python on Linux


def locked_versions() -> dict[str, str]:
    text = requests.LOCK_FILE.read_text()
    pins = [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]
    return {lock.canonical(p.split("==")[0]): p.split("==")[1] for p in pins}


def test_the_lock_is_the_local_environment():
    """The job runs what the local runs ran: each locked package that is installed here is
    locked at the installed version (h5py 3.16.0 was locked while 3.14.0 ran here)."""
    from importlib.metadata import distributions

    here = {lock.canonical(d.metadata["Name"]): d.version for d in distributions()}
    differ = {n: (v, here[n]) for n, v in locked_versions().items() if n in here and here[n] != v}
    assert not differ, f"locked (job) vs installed (local): {differ}"


def test_the_lock_holds_every_packages_own_requirements():
    """Every requirement of TensorFlow (the image's) and of each locked package, as declared
    for the image's Python on Linux, is in the lock at a version it accepts: TensorFlow 2.21's
    `h5py<3.15.0` against a lock of h5py 3.16.0, hidden by --no-deps, fails here."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    locked = locked_versions()
    tensorflow = next(d for d in ("tensorflow-cpu", "tensorflow") if _installed(d))
    broken, unread = [], []
    for name in [tensorflow, *locked]:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            unread.append(name)
            continue
        for line in dist.requires or []:
            req = Requirement(line)
            wanted = lock.canonical(req.name)
            if req.marker is not None and not req.marker.evaluate(IMAGE_MARKERS):
                continue
            if requests.IMAGE_BRINGS.match(wanted):
                continue
            have = locked.get(wanted)
            if have is None or not req.specifier.contains(have, prereleases=True):
                broken.append(f"{name} requires {req}; the lock has {wanted}=={have}")
    assert not broken, broken
    # What only the image's Python needs (papermill's aiohttp on 3.12, and its own
    # requirements) is not installed here, so its metadata cannot be read; it was resolved by
    # pip with the rest.
    assert "aiohttp" in unread and "h5py" not in unread


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


def test_a_stale_lock_is_refused(tmp_path, monkeypatch):
    stale = tmp_path / "requirements.lock"
    text = requests.LOCK_FILE.read_text()
    stale.write_text(text.replace("papermill==2.7.0", "papermill==2.6.0"))
    monkeypatch.setattr(requests, "LOCK_FILE", stale)
    with pytest.raises(sm.ConfigError, match=r"does not lock papermill==2\.7\.0 .*`make lock`"):
        sm.container_requirements()


def install_env(wheels: Path, target: Path) -> dict[str, str]:
    """pip as the job runs it, but from a local wheel folder into a throwaway target."""
    return {
        "STUDY_PIP_INSTALL": "1",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_TARGET": str(target),
        "PIP_CONFIG_FILE": os.devnull,
    }


@pytest.mark.parametrize("tampered", [False, True], ids=["locked-wheel", "tampered-wheel"])
def test_the_entrypoint_installs_only_what_matches_the_lock(tmp_path, tiny_msl, tampered):
    wheels = tmp_path / "wheels"
    wheel = probe_wheel(wheels)
    locked = lock.lock("msl-probe==1.0\n", pip_args=["--no-index", f"--find-links={wheels}"])
    if tampered:  # same name and version, other bytes: a replaced upload
        probe_wheel(wheels, body="VALUE = 2  # not what was locked\n")
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() not in locked
    params = {"run_name": "failing", "data_dir": "x", "output_dir": "y"}
    base = stage(tmp_path, FIXTURES / "failing.ipynb", params, tiny_msl)
    (base / "input" / "code" / "requirements.txt").write_text(locked)
    target = tmp_path / "site-packages"
    done = entrypoint(base, "failing.ipynb", install_env(wheels, target))
    log = done.stdout + done.stderr
    assert "installing 1 hash-locked packages" in log
    if tampered:
        assert done.returncode != 0
        assert "DO NOT MATCH THE HASHES" in log
        assert not (target / "msl_probe").exists()
        message = (tmp_path / "ml" / "output" / "message").read_text()
        assert "pip" in message and "install" in message
        assert not (base / "output" / "failing.ipynb").exists()  # the notebook never ran
    else:
        assert (target / "msl_probe" / "__init__.py").read_text() == "VALUE = 1\n"
        assert (base / "output" / "failing.ipynb").exists()  # on to the notebook
