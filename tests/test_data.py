"""The loader on tiny generated MSL folders: parsing, validation, clear errors."""

from __future__ import annotations

import pytest

from analysis import paths
from analysis.data.index import DataError, Entry, load_index, used_classes


def test_loads_a_valid_folder(tiny_msl):
    index = load_index(tiny_msl)
    assert {s: len(e) for s, e in index.splits.items()} == {"train": 4, "val": 4, "test": 4}
    assert index.classes[3] == "sun"
    assert used_classes(index) == [0, 1, 2]  # class 3 has no image
    assert index.unlisted_files() == ["0999ML0000090000E01_DRCL.JPG"]
    assert index.skipped == []


def test_file_name_gives_sol_and_instrument():
    e = Entry("calibrated/0077ML0005780000102730I01_DRCL.JPG", 15, 1)
    assert (e.sol, e.instrument) == (77, "Mastcam left")
    assert Entry("calibrated/1060MH000.JPG", 1, 1).instrument == "MAHLI"


def test_checksum_follows_the_split_lists(tiny_msl):
    before = load_index(tiny_msl).sha256
    split = tiny_msl / paths.SPLIT_FILES["val"]
    split.write_text(split.read_text().replace(" 0\n", " 1\n", 1))
    assert load_index(tiny_msl).sha256 != before


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("calibrated/0001.JPG", "expected '<image path> <class id>'"),
        ("calibrated/0010ML0000000000E01_DRCL.JPG seven", "expected '<image path> <class id>'"),
        ("calibrated/0010ML0000000000E01_DRCL.JPG 42", "unknown class id 42"),
        ("calibrated/9999ML_missing.JPG 1", "not found"),
    ],
)
def test_bad_split_line_names_file_line_and_content(tiny_msl, line, reason):
    split = tiny_msl / paths.SPLIT_FILES["train"]
    lines = split.read_text().splitlines()
    lines.insert(2, line)
    split.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_index(tiny_msl)
    msg = str(err.value)
    assert f"{split}:3:" in msg and reason in msg and repr(line) in msg


def test_skip_bad_entries_reports_them(tiny_msl):
    split = tiny_msl / paths.SPLIT_FILES["test"]
    split.write_text(split.read_text() + "calibrated/nope.JPG 1\ngarbage\n")
    index = load_index(tiny_msl, skip_bad=True)
    assert len(index.splits["test"]) == 4
    assert [(s.list_file, s.line) for s in index.skipped] == [
        (paths.SPLIT_FILES["test"], 5),
        (paths.SPLIT_FILES["test"], 6),
    ]


def test_bad_synset_line(tiny_msl):
    (tiny_msl / paths.SYNSET_FILE).write_text("0 apxs\nx broken\n")
    with pytest.raises(DataError, match=r"msl_synset_words-indexed.txt:2: expected"):
        load_index(tiny_msl)


@pytest.mark.parametrize("case", ["missing", "empty", "wrong"])
def test_wrong_data_dir_says_what_was_expected(tmp_path, case):
    target = tmp_path / "data"
    if case != "missing":
        target.mkdir()
    if case == "wrong":
        (target / "photos").mkdir()
    with pytest.raises(DataError) as err:
        load_index(target)
    msg = str(err.value)
    assert str(target) in msg and "make data" in msg and paths.SYNSET_FILE in msg


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "env"))
    assert paths.data_dir() == tmp_path / "env"
    assert paths.data_dir(tmp_path / "flag") == tmp_path / "flag"  # a CLI flag wins
    monkeypatch.delenv("DATA_DIR")
    assert paths.data_dir() == paths.DEFAULT_DATA_DIR


def test_real_split_lists(real_data):
    index = load_index(real_data)
    sizes = {s: len(e) for s, e in index.splits.items()}
    assert sizes == {"train": 3746, "val": 1640, "test": 1305}
    assert len(index.classes) == 25 and len(used_classes(index)) == 24
    assert len(index.unlisted_files()) == 46
