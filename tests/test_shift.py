"""analysis.shift (image_names, near_duplicates, instrument_gap, outputs) on made-up file lists
and tiny arrays, each number worked out by hand."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from analysis.shift import image_names, instrument_gap, near_duplicates
from analysis.shift import outputs as shift

# sol 830 Mastcam right sequence 003651 (two frames), sol 830 MAHLI, sol 831 Mastcam left
FILES = [
    "calibrated/0830MR0036510000500684E01_DRCL.JPG",
    "calibrated/0830MR0036510000500685E01_DRCL.JPG",
    "calibrated/0830MR0036520000500686E01_DRCL.JPG",
    "calibrated/0830MH0002640000203781I01_DRCL.JPG",
    "0831ML0037000000000001E01_DRCL.JPG",
]


def test_parse_name():
    assert image_names.parse_name(FILES[0]) == image_names.ImageKey(830, "MR", "003651")
    assert image_names.parse_name(
        "calibrated/0077ml0005780000102730I01_DRCL.jpg"
    ) == image_names.ImageKey(77, "ML", "000578")
    key = image_names.parse_name(FILES[3])
    assert (key.sol, key.instrument_name, key.sequence) == (830, "MAHLI", "000264")


@pytest.mark.parametrize(
    "bad",
    ["calibrated/830MR0036510000.JPG", "calibrated/0830MR00365.JPG", "notes.txt", "0830M1003651"],
)
def test_parse_name_names_the_bad_file(bad):
    with pytest.raises(ValueError, match="cannot parse MSL file name") as err:
        image_names.parse_name(bad)
    assert repr(bad) in str(err.value)


def test_parse_name_unknown_instrument():
    with pytest.raises(ValueError, match=r"unknown instrument 'XX'.*MH, ML, MR"):
        image_names.parse_name("calibrated/0830XX0036510000500684E01_DRCL.JPG")


def test_instrument_mix():
    mix = image_names.instrument_mix({"a": FILES, "b": FILES[3:4], "c": []})
    assert mix["a"]["images"] == 5
    assert mix["a"]["instruments"] == {"MAHLI": 1, "Mastcam left": 1, "Mastcam right": 3}
    assert mix["a"]["instrument_shares"] == pytest.approx(
        {"MAHLI": 0.2, "Mastcam left": 0.2, "Mastcam right": 0.6}
    )
    assert mix["b"]["instruments"] == {"MAHLI": 1, "Mastcam left": 0, "Mastcam right": 0}
    assert mix["b"]["instrument_shares"]["MAHLI"] == 1.0
    assert mix["c"]["instrument_shares"]["MAHLI"] == 0.0


def test_group_keys_per_grouping():
    assert image_names.group_keys(FILES, "sol") == ["0830"] * 4 + ["0831"]
    assert image_names.group_keys(FILES, "sol_instrument") == ["0830/MR"] * 3 + [
        "0830/MH",
        "0831/ML",
    ]
    assert image_names.group_keys(FILES, "sol_instrument_sequence") == [
        "0830/MR/003651",
        "0830/MR/003651",
        "0830/MR/003652",
        "0830/MH/000264",
        "0831/ML/003700",
    ]
    with pytest.raises(ValueError, match="unknown grouping 'day'"):
        image_names.group_keys(FILES, "day")


def test_group_stats():
    by_sol = image_names.group_stats(FILES, "sol")  # sizes 4, 1
    assert by_sol["groups"] == 2 and by_sol["images"] == 5 and by_sol["largest"] == 4
    assert by_sol["size_counts"] == {"1": 1, "4": 1}
    assert by_sol["singletons"] == 1
    assert by_sol["share_in_groups_of_2_or_more"] == pytest.approx(4 / 5)
    assert by_sol["effective_images"] == pytest.approx(25 / (16 + 1))
    seq = image_names.group_stats(FILES, "sol_instrument_sequence")  # sizes 2, 1, 1, 1
    assert seq["groups"] == 4 and seq["mean_size"] == pytest.approx(1.25)
    assert seq["median_size"] == 1.0
    assert seq["share_in_groups_of_2_or_more"] == pytest.approx(2 / 5)
    per_split = image_names.groups_per_split({"test": FILES})
    assert set(per_split["test"]) == set(image_names.GROUPINGS)
    assert per_split["test"]["sol_instrument"]["groups"] == 3


def test_size_summary_singletons_and_empty():
    s = image_names.size_summary([1, 1, 1])
    assert s["effective_images"] == pytest.approx(3.0)
    assert s["share_in_groups_of_2_or_more"] == 0.0
    assert image_names.size_summary([])["groups"] == 0


def _dhash_by_loop(small: np.ndarray) -> int:
    """dHash of an image already at hash_size x (hash_size + 1): the bits read by hand."""
    bits = "".join(
        "1" if small[r, c + 1] > small[r, c] else "0"
        for r in range(small.shape[0])
        for c in range(small.shape[1] - 1)
    )
    return int(bits, 2)


def test_dhash_matches_a_loop_at_its_own_size():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 8, 9)).astype(np.uint8)
    h = near_duplicates.dhash(imgs)
    assert h.dtype == np.uint64
    assert [int(v) for v in h] == [_dhash_by_loop(i) for i in imgs]


def test_dhash_averages_blocks_when_downscaling():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(3, 16, 18)).astype(float)
    blocks = imgs.reshape(3, 8, 2, 9, 2).mean(axis=(2, 4))
    assert [int(v) for v in near_duplicates.dhash(imgs)] == [_dhash_by_loop(b) for b in blocks]


def test_dhash_bit_order_and_colour():
    ramp = np.tile(np.arange(9.0), (8, 1))  # brighter to the right everywhere: all ones
    assert int(near_duplicates.dhash(ramp[None])[0]) == 2**64 - 1
    assert int(near_duplicates.dhash(ramp[None, :, ::-1])[0]) == 0
    first_row = np.zeros((8, 9))
    first_row[0] = np.arange(9)  # only the first row rises: the 8 most significant bits
    assert near_duplicates.hex_hash(near_duplicates.dhash(first_row[None])[0]) == "ff00000000000000"
    rgb = np.repeat(ramp[None, :, :, None], 3, axis=3)  # gray as three equal channels
    assert int(near_duplicates.dhash(rgb)[0]) == 2**64 - 1
    with pytest.raises(ValueError, match="expected"):
        near_duplicates.dhash(np.zeros((8, 9)))


def test_area_weights_handle_fractional_cells():
    w = near_duplicates._area_weights(3, 2)  # 3 cells into 2: [1, .5] and [.5, 1], normalised
    assert w == pytest.approx(np.array([[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]]))


def test_hamming():
    a = np.array([0, 0xFF, 2**64 - 1], dtype=np.uint64)
    d = near_duplicates.hamming(a, a)
    assert d.tolist() == [[0, 8, 64], [8, 0, 56], [64, 56, 0]]


def test_union_find_components():
    ids = near_duplicates.union_find(6, [(1, 2), (4, 5), (2, 0)])
    assert ids.tolist() == [0, 0, 0, 1, 2, 2]
    assert near_duplicates.union_find(3, []).tolist() == [0, 1, 2]


def test_near_duplicate_clusters_chain_and_threshold():
    # 0b0 -1 bit- 0b1 -1 bit- 0b11: a chain; 0b11 is 2 bits from 0b0. The last is far from all.
    h = np.array([0b0, 0b1, 0b11, 2**64 - 1], dtype=np.uint64)
    assert near_duplicates.near_duplicate_clusters(h, threshold=1).tolist() == [0, 0, 0, 1]
    assert near_duplicates.near_duplicate_clusters(h, threshold=0).tolist() == [0, 1, 2, 3]
    assert near_duplicates.close_pairs(h, threshold=2).tolist() == [[0, 1], [0, 2], [1, 2]]
    stats = near_duplicates.cluster_stats(near_duplicates.near_duplicate_clusters(h, threshold=1))
    assert stats["share_in_groups_of_2_or_more"] == pytest.approx(3 / 4)
    assert stats["groups"] == 2 and stats["largest"] == 3


def test_threshold_sweep_and_nearest():
    h = np.array([0b0, 0b1, 0b11, 2**64 - 1], dtype=np.uint64)
    sweep = near_duplicates.threshold_sweep(h, [0, 1, 2])
    assert [r["pairs"] for r in sweep] == [0, 2, 3]
    assert [r["share_in_clusters_of_2_or_more"] for r in sweep] == pytest.approx([0, 0.75, 0.75])
    near = near_duplicates.nearest_distance(h, np.array([0b111], dtype=np.uint64))
    assert near.tolist() == [3, 2, 1, 61]


def test_near_duplicates_summary_and_image_keys():
    # FILES[0] and [1] (one sequence) and FILES[3] (same sol, MAHLI) are near-identical
    h = np.array([0b0, 0b1, 2**40 - 1, 0b11, 2**64 - 1], dtype=np.uint64)
    labels = np.array([7, 7, 1, 8, 2])
    train = np.array([0b111, 2**64 - 1], dtype=np.uint64)
    clusters, s = near_duplicates.near_duplicates(FILES, h, labels, {"train": train}, threshold=2)
    assert clusters.tolist() == [0, 0, 1, 0, 2]
    assert s["pairs"] == 3 and s["groups"] == 3 and s["threshold"] == 2
    assert s["share_in_groups_of_2_or_more"] == pytest.approx(3 / 5)
    assert s["pairs_same_label"] == pytest.approx(1 / 3)  # (0,1) same; (0,3), (1,3) not
    assert s["pairs_within_group"] == pytest.approx(
        {"sol": 1.0, "sol_instrument": 1 / 3, "sol_instrument_sequence": 1 / 3}
    )
    # sequences {0, 1}, {2}, {3}, {4}; the near-duplicate link (0, 3) joins {0, 1} and {3}
    assert s["joined_with_sequences"]["groups"] == 3
    assert s["joined_with_sequences"]["size_counts"] == {"1": 2, "3": 1}
    # distances to train: 3, 2, 24, 1, 0 -> three within 2 bits
    assert s["with_near_duplicate_in"] == {"train": pytest.approx(3 / 5)}
    none = near_duplicates.near_duplicates(FILES, h, labels, {"val": h[:0]}, threshold=0)[1]
    assert none["pairs"] == 0 and none["pairs_same_label"] is None
    assert none["with_near_duplicate_in"] == {}
    keys = near_duplicates.image_keys(FILES, clusters, h)
    assert keys[FILES[1]] == {
        "sol": 830,
        "instrument": "Mastcam right",
        "sequence": "003651",
        "cluster": 0,
        "joined": 0,
        "dhash": "0000000000000001",
    }
    assert [keys[f]["joined"] for f in FILES] == [0, 0, 1, 0, 2]


def test_combine_groupings_joins_through_chains():
    seq = ["a", "a", "b", "c", "d", "d"]
    near = [0, 1, 2, 2, 3, 4]  # images 2 and 3: different sequences, one near-duplicate cluster
    assert near_duplicates.combine_groupings(seq, near).tolist() == [0, 0, 1, 1, 2, 2]
    assert near_duplicates.combine_groupings(seq).tolist() == [0, 0, 1, 2, 3, 3]
    assert near_duplicates.combine_groupings(seq, [0, 1, 1, 2, 3, 3]).tolist() == [0, 0, 0, 1, 2, 2]
    with pytest.raises(ValueError, match="different lengths"):
        near_duplicates.combine_groupings(seq, near[:3])


def test_groups_file_round_trips_one_image_per_line(tmp_path):
    h = np.array([0b0, 0b1, 2**40 - 1, 0b11, 2**64 - 1], dtype=np.uint64)
    splits = {
        "val": near_duplicates.image_keys(FILES[:2], np.array([0, 0]), h[:2]),
        "test": near_duplicates.image_keys(FILES, np.array([0, 0, 1, 0, 2]), h),
        "empty": {},
    }
    header = {"image_size": 48, "near_duplicate_bits": 6}
    path = shift.write_groups(tmp_path / "groups.json", header, splits)
    text = path.read_text()
    assert json.loads(text) == {**header, "splits": splits}
    # "{", the header, "splits": {, an opening and a closing line per split, the images, "}" x 2
    assert len(text.splitlines()) == 1 + len(header) + 1 + 2 * 3 + (2 + 5) + 2
    assert not list(tmp_path.glob(".groups.json.*"))


def test_pairs_within_groups():
    pairs = np.array([[0, 1], [1, 2], [0, 3]])
    keys = ["a", "a", "b", "a"]
    assert near_duplicates.pairs_within_groups(pairs, keys) == pytest.approx(2 / 3)
    assert near_duplicates.pairs_within_groups(np.empty((0, 2)), keys) is None


def test_accuracy_per_instrument_over_seeds():
    y = np.array([1, 1, 2, 3, 4])
    preds = np.array(
        [
            [1, 0, 2, 3, 4],  # MR 2/3, MH 1, ML 1
            [1, 1, 0, 0, 4],  # MR 2/3, MH 0, ML 1
            [0, 0, 0, 3, 0],  # MR 0,   MH 1, ML 0
        ]
    )
    acc = instrument_gap.accuracy_per_instrument(FILES, y, preds)
    assert set(acc) == {"MAHLI", "Mastcam left", "Mastcam right"}
    mr = acc["Mastcam right"]
    assert mr["images"] == 3 and mr["share"] == pytest.approx(0.6)
    assert mr["accuracy_per_seed"] == pytest.approx([2 / 3, 2 / 3, 0])
    assert mr["accuracy"] == pytest.approx(4 / 9)
    assert mr["accuracy_std"] == pytest.approx(statistics.stdev([2 / 3, 2 / 3, 0]))
    one = instrument_gap.accuracy_per_instrument(FILES, y, preds[0])
    assert one["MAHLI"]["accuracy"] == 1.0 and one["MAHLI"]["accuracy_std"] == 0.0
    assert "MAHLI" not in instrument_gap.accuracy_per_instrument(FILES[:3], y[:3], preds[:, :3])
    with pytest.raises(ValueError, match="predictions of shape"):
        instrument_gap.accuracy_per_instrument(FILES, y, preds[:, :4])


VAL_W = {"MH": 0.8, "ML": 0.1, "MR": 0.1}
VAL_P = {"MH": 0.7, "ML": 0.5, "MR": 0.4}  # overall 0.65
TEST_W = {"MH": 0.5, "ML": 0.2, "MR": 0.3}
TEST_P = {"MH": 0.6, "ML": 0.7, "MR": 0.3}  # overall 0.53


def test_decompose_by_hand():
    d = instrument_gap.decompose(VAL_W, VAL_P, TEST_W, TEST_P)
    assert d["a"] == pytest.approx(0.65) and d["b"] == pytest.approx(0.53)
    assert d["gap"] == pytest.approx(-0.12)
    assert d["mix_first"] == pytest.approx({"mix": -0.08, "accuracy": -0.04})
    assert d["accuracy_first"] == pytest.approx({"accuracy": -0.07, "mix": -0.05})
    assert d["shapley"] == pytest.approx({"mix": -0.065, "accuracy": -0.055})
    per = d["per_instrument"]
    assert sum(r["mix"] for r in per.values()) == pytest.approx(-0.065)
    assert sum(r["accuracy"] for r in per.values()) == pytest.approx(-0.055)
    # MH loses 0.3 of the share and scores 0.65 on average, 0.06 above the mean of 0.65 and 0.53
    assert per["MH"]["mix"] == pytest.approx(-0.3 * 0.06)
    assert per["MR"]["mix"] == pytest.approx(0.2 * (0.35 - 0.59))
    assert d["one_split_only"] == []


def test_decompose_isolates_each_factor():
    same_mix = instrument_gap.decompose(VAL_W, VAL_P, VAL_W, TEST_P)
    for order in ("mix_first", "accuracy_first", "shapley"):
        assert same_mix[order]["mix"] == pytest.approx(0)
        assert same_mix[order]["accuracy"] == pytest.approx(same_mix["gap"])
    same_acc = instrument_gap.decompose(VAL_W, VAL_P, TEST_W, VAL_P)
    assert same_acc["shapley"]["accuracy"] == pytest.approx(0)
    assert same_acc["shapley"]["mix"] == pytest.approx(same_acc["gap"]) != 0


def test_decompose_instrument_in_one_split_only():
    d = instrument_gap.decompose(
        {"MH": 1.0}, {"MH": 0.5}, {"MH": 0.5, "MR": 0.5}, {"MH": 0.5, "MR": 0.9}
    )
    assert d["one_split_only"] == ["MR"]
    assert d["gap"] == pytest.approx(0.7 - 0.5)
    assert d["shapley"] == pytest.approx({"mix": 0.2, "accuracy": 0.0})
    with pytest.raises(ValueError, match="no accuracy"):
        instrument_gap.decompose({"MH": 1.0}, {}, {"MH": 1.0}, {})


def test_gap_decomposition_per_seed_and_mean():
    val_files = FILES[:4]  # MR x3, MH
    val_true = np.array([0, 0, 0, 1])
    val_pred = np.array([[0, 0, 0, 1], [0, 0, 9, 9]])  # val acc 1.0, 0.5
    test_files = FILES  # MR x3, MH, ML
    test_true = np.array([0, 0, 0, 1, 2])
    test_pred = np.array([[9, 9, 0, 1, 2], [0, 9, 9, 1, 9]])  # test acc 0.6, 0.4
    g = instrument_gap.gap_decomposition(
        val_files, val_true, val_pred, test_files, test_true, test_pred
    )
    assert [d["gap"] for d in g["per_seed"]] == pytest.approx([-0.4, -0.1])
    assert g["gap"]["mean"] == pytest.approx(-0.25)
    assert g["gap"]["std"] == pytest.approx(statistics.stdev([-0.4, -0.1]))
    assert g["val_accuracy"]["mean"] == pytest.approx(0.75)
    assert g["one_split_only"] == ["Mastcam left"]
    for order in ("mix_first", "accuracy_first", "shapley"):
        assert g[order]["mix"]["mean"] + g[order]["accuracy"]["mean"] == pytest.approx(-0.25)
    # seed 0, Shapley: val w (MR .75, MH .25), p (1, 1); test w (.6, .2, ML .2), p (1/3, 1, 1)
    s0 = g["per_seed"][0]["shapley"]
    assert s0["accuracy"] == pytest.approx((1 / 3 - 1) * (0.75 + 0.6) / 2)
    assert s0["mix"] == pytest.approx(
        (0.6 - 0.75) * (1 + 1 / 3) / 2 + (0.2 - 0.25) * 1 + (0.2 - 0) * 1
    )
    per = g["per_instrument"]
    assert set(per) == {"MAHLI", "Mastcam left", "Mastcam right"}
    assert per["Mastcam right"]["accuracy"]["mean"] == pytest.approx(
        np.mean([d["per_instrument"]["Mastcam right"]["accuracy"] for d in g["per_seed"]])
    )
    assert sum(r["mix"]["mean"] for r in per.values()) == pytest.approx(g["shapley"]["mix"]["mean"])
    assert sum(r["accuracy"]["mean"] for r in per.values()) == pytest.approx(
        g["shapley"]["accuracy"]["mean"]
    )
    with pytest.raises(ValueError, match="2 seeds of val predictions but 1 of test"):
        instrument_gap.gap_decomposition(
            val_files, val_true, val_pred, test_files, test_true, test_pred[0]
        )


def test_predictions_by_instrument_reads_a_predictions_file(tmp_path):
    np.savez(
        tmp_path / "p.npz",
        files=np.array(FILES),
        y_true=np.array([0, 0, 0, 1, 2]),
        y_pred=np.array([[0, 0, 0, 1, 9]]),
        val_files=np.array(FILES[:4]),
        val_true=np.array([0, 0, 0, 1]),
        val_pred=np.array([[0, 0, 0, 9]]),
    )
    out = instrument_gap.predictions_by_instrument(dict(np.load(tmp_path / "p.npz")))
    assert out["test"]["Mastcam left"]["accuracy"] == 0.0
    assert out["val"]["MAHLI"]["accuracy"] == 0.0
    assert out["gap"]["gap"]["mean"] == pytest.approx(0.8 - 0.75)
    only_test = instrument_gap.predictions_by_instrument(
        {"files": np.array(FILES), "y_true": np.zeros(5), "y_pred": np.zeros(5)}
    )
    assert set(only_test) == {"test"}


def test_figures_are_written(tmp_path):
    mix = image_names.instrument_mix({"train": FILES, "test": FILES[3:]})
    assert shift.instrument_figure(mix, tmp_path / "mix.png").stat().st_size > 0
    groups = image_names.groups_per_split({"train": FILES, "test": FILES[3:], "val": []})
    assert shift.group_size_figure(groups, tmp_path / "groups.png").stat().st_size > 0
