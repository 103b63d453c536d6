"""The decoded cache: keys, formats, failures, atomic writes, and the warm path."""

from __future__ import annotations

import os

import numpy as np
import pytest

from analysis import paths
from analysis.data import cache
from analysis.data.index import DataError, load_index
from tests.fakes import write_image


def test_key_changes_with_every_input(tiny_msl):
    entries = load_index(tiny_msl).splits["train"]
    base = cache.cache_key(tiny_msl, entries, 32)
    assert cache.cache_key(tiny_msl, entries, 32) == base
    assert cache.cache_key(tiny_msl, entries, 64) != base
    assert cache.cache_key(tiny_msl, entries[:-1], 32) != base
    relabelled = [type(e)(e.file, (e.label + 1) % 3, e.line) for e in entries]
    assert cache.cache_key(tiny_msl, relabelled, 32) != base
    write_image(tiny_msl / entries[0].file, size=(50, 50))  # same name, new content
    assert cache.cache_key(tiny_msl, entries, 32) != base


def test_decode_then_reload_gives_identical_arrays(tiny_msl):
    index = load_index(tiny_msl)
    cold = cache.load_split(index, "train", 16, progress=False)
    assert cold.x.shape == (4, 16, 16, 3) and cold.x.dtype == np.uint8
    assert cold.y.tolist() == [0, 1, 2, 0]
    assert cold.width.tolist() == [40, 41, 42, 43] and cold.height.tolist() == [30] * 4
    folder = next(paths.cache_dir().glob("train-16px-*"))
    stamp = os.stat(folder / "x.npy").st_mtime_ns
    warm = cache.load_split(index, "train", 16, progress=False)
    assert np.array_equal(cold.x, warm.x)
    assert os.stat(folder / "x.npy").st_mtime_ns == stamp  # not decoded again


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_become_rgb(tiny_msl, mode):
    index = load_index(tiny_msl)
    write_image(tiny_msl / index.splits["val"][1].file, mode=mode)
    arrays = cache.load_split(index, "val", 8, progress=False)
    assert arrays.x.shape[-1] == 3 and arrays.mode[1] == mode


@pytest.mark.parametrize("damage", ["truncated", "zero-byte", "not-a-jpeg"])
def test_broken_image_is_named_and_nothing_is_cached(tiny_msl, damage):
    index = load_index(tiny_msl)
    victim = tiny_msl / index.splits["test"][2].file
    data = victim.read_bytes()
    victim.write_bytes(
        {"truncated": data[: len(data) // 3], "zero-byte": b"", "not-a-jpeg": b"hello"}[damage]
    )
    with pytest.raises(DataError) as err:
        cache.load_split(index, "test", 8, progress=False)
    assert victim.name in str(err.value) and "line 3" in str(err.value)
    key = cache.cache_key(index.root, index.splits["test"], 8)
    folder = paths.cache_dir() / f"test-8px-{key}"
    assert not folder.exists() and not list(paths.cache_dir().glob(f".*{key}*"))


def test_limit_keeps_the_first_entries(tiny_msl):
    index = load_index(tiny_msl)
    arrays = cache.load_split(index, "train", 8, limit=2, progress=False)
    assert arrays.files == [e.file for e in index.splits["train"][:2]]
