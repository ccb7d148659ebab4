"""Properties that are the specification, checked on many generated cases (hypothesis).

Each property is what a caller relies on: a loader yields every example once per epoch, data
parallelism gives each rank a disjoint equal share, a launch configuration covers the data with
no block to spare, a tiled product reads what its blocks load, grading puts moved cells back in
their released order, and the hidden tests' checks accept exactly the right answers.
"""

from __future__ import annotations

import math
from fractions import Fraction

import nbformat
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlparallel import kernels
from dlparallel.data import DeviceLoader, LabelledData
from dlparallel.grading.checks import check_choice, check_exact, check_number, check_tensor
from dlparallel.ddp import _shard

FAST = settings(max_examples=40, deadline=None)


def _numbered(n: int) -> LabelledData:
    """n examples whose label is their number and whose input row holds that number too."""
    labels = torch.arange(n)
    return LabelledData(labels.float().unsqueeze(1).repeat(1, 3), labels)


# --- DeviceLoader: every example once per epoch -------------------------------------------------

@FAST
@given(n=st.integers(1, 300), batch_size=st.integers(1, 80), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_device_loader_yields_every_example_once_per_epoch(n, batch_size, shuffle, drop_last, seed):
    assume(not drop_last or batch_size <= n)
    loader = DeviceLoader(_numbered(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        sizes = [len(y) for _, y in batches]
        assert all(size == batch_size for size in sizes[:-1]) and 0 < sizes[-1] <= batch_size
        for x, y in batches:  # inputs stay with their labels
            assert torch.equal(x[:, 0].long(), y)
        seen = torch.cat([y for _, y in batches]).tolist()
        if drop_last:
            assert len(seen) == n - n % batch_size and len(set(seen)) == len(seen)
        else:
            assert sorted(seen) == list(range(n))
        if not shuffle:
            assert seen == list(range(len(seen)))


# --- Sharding for data parallelism: disjoint, equal, the same permutation on every rank ---------

@FAST
@given(n=st.integers(1, 300), world_size=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_shards_are_disjoint_equal_and_cover_all_but_the_remainder(n, world_size, seed):
    data = _numbered(n)
    shards = [_shard(data, rank, world_size, seed).labels.tolist() for rank in range(world_size)]
    assert all(len(shard) == n // world_size for shard in shards)
    union = [example for shard in shards for example in shard]
    assert len(set(union)) == len(union) == world_size * (n // world_size)
    assert set(union) <= set(range(n))
    assert _shard(data, 0, world_size, seed).labels.tolist() == shards[0], "a rank's shard depends on the seed only"


# --- launch_config: enough blocks, none to spare ------------------------------------------------

@st.composite
def _launch(draw):
    dims = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 10**6), min_size=dims, max_size=dims))
    threads = []
    for _ in range(dims):
        threads.append(draw(st.integers(1, kernels.MAX_THREADS_PER_BLOCK // math.prod(threads or [1]))))
    return shape, threads


@FAST
@given(_launch())
def test_launch_config_covers_the_data_with_no_block_to_spare(case):
    shape, threads = case
    config = kernels.launch_config(shape, threads)
    assert config.threads == tuple(threads) and len(config.blocks) == len(shape)
    for s, t, b in zip(shape, threads, config.blocks):
        assert b * t >= s > (b - 1) * t


@FAST
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 64))
def test_launch_config_refuses_blocks_beyond_cudas_limit(x, y, z):
    assume(x * y * z > kernels.MAX_THREADS_PER_BLOCK)
    with pytest.raises(ValueError, match="at most"):
        kernels.launch_config((100, 100, 100), (x, y, z))


# --- global_reads: what the tiled kernel's blocks load, counted block by block ------------------

def _tiled_loads(m: int, n: int, k: int, tile: int) -> int:
    """Elements loaded from global memory by every block over every phase (edges padded, not read)."""
    loads = 0
    for block_row in range(-(-m // tile)):
        rows = min(tile, m - block_row * tile)
        for block_col in range(-(-n // tile)):
            cols = min(tile, n - block_col * tile)
            for phase in range(-(-k // tile)):
                depth = min(tile, k - phase * tile)
                loads += rows * depth + depth * cols  # a's tile, then b's tile
    return loads


@FAST
@given(m=st.integers(0, 40), n=st.integers(0, 40), k=st.integers(0, 40), tile=st.integers(1, 32))
def test_global_reads_count_what_the_blocks_load(m, n, k, tile):
    assert kernels.global_reads(m, n, k, "naive") == 2 * m * n * k
    assert kernels.global_reads(m, n, k, "tiled", tile) == _tiled_loads(m, n, k, tile)
    if m % tile == 0 and n % tile == 0:
        assert kernels.global_reads(m, n, k, "tiled", tile) * tile == 2 * m * n * k


# --- RestoreCellOrder: released cells in released order, a student's cells after theirs ---------

RELEASED = [f"cell_{i}" for i in range(6)]


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> dict:
    """nbgrader's resources for a notebook whose released cells are RELEASED, in that order (the
    GPU machines have no nbgrader: skipped there)."""
    Gradebook = pytest.importorskip("nbgrader.api").Gradebook
    url = f"sqlite:///{tmp_path_factory.mktemp('gradebook') / 'gradebook.db'}"
    with Gradebook(url) as book:
        book.add_assignment("ps")
        book.add_notebook("nb", "ps")
        for name in RELEASED:
            book.add_source_cell(name, "nb", "ps", cell_type="code", source=f"# {name}", locked=True)
    return {"nbgrader": {"db_url": url, "notebook": "nb", "assignment": "ps"}}


def _cell(name: str, released: bool) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(f"# {name}")
    if released:
        cell.metadata["nbgrader"] = {"grade_id": name, "locked": True}
    return cell


@FAST
@given(order=st.permutations(RELEASED), own=st.lists(st.integers(0, len(RELEASED)), max_size=5))
def test_moved_cells_go_back_to_their_released_order(gradebook, order, own):
    """The student's notebook: the released cells in any order, with their own cells inserted at
    any positions; each own cell must come back right after the released cell it followed."""
    cells = [_cell(name, True) for name in order]
    for number, position in enumerate(own):
        cells.insert(min(position, len(cells)), _cell(f"own_{number}", False))
    follows, last = {}, None
    for cell in cells:
        if "nbgrader" in cell.metadata:
            last = cell.metadata.nbgrader.grade_id
        else:
            follows[cell.source] = last
    from dlparallel.grading.cells import RestoreCellOrder

    notebook = nbformat.v4.new_notebook(cells=cells)
    restored, _ = RestoreCellOrder().preprocess(notebook, gradebook)
    sources = [c.source for c in restored.cells]
    assert sorted(sources) == sorted(c.source for c in cells)
    assert [s[2:] for s in sources if s[2:] in RELEASED] == RELEASED
    for own_cell, released_before in follows.items():
        position = sources.index(own_cell)
        before = [s[2:] for s in sources[:position] if s[2:] in RELEASED]
        assert (before[-1] if before else None) == released_before, (own_cell, sources)
    again, _ = RestoreCellOrder().preprocess(nbformat.v4.new_notebook(cells=list(restored.cells)), gradebook)
    assert [c.source for c in again.cells] == sources


# --- The hidden tests' checks: right answers pass, wrong ones fail, whatever the values ---------

_values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=24)


@FAST
@given(values=_values, data=st.data())
def test_check_tensor_accepts_the_values_and_names_the_first_wrong_one(values, data):
    expected = torch.tensor(values, dtype=torch.float32)
    check_tensor(expected.clone(), expected)
    check_tensor(expected.double(), expected)  # a float64 answer where float32 was computed
    wrong = data.draw(st.integers(0, len(values) - 1))
    answer = expected.clone()
    answer[wrong] += 1 + 1e-3 * abs(float(expected[wrong]))  # beyond rtol 1e-5 and atol 1e-6
    first = min(i for i in range(len(values)) if float(answer[i]) != float(expected[i]))
    with pytest.raises(AssertionError, match=rf"first at flat index {first}:"):
        check_tensor(answer, expected)
    with pytest.raises(AssertionError, match="has shape"):
        check_tensor(expected.reshape(1, -1), expected)
    with pytest.raises(AssertionError, match="must be a torch.Tensor"):
        check_tensor(values, expected)


@FAST
@given(expected=st.floats(-1e9, 1e9), relative=st.floats(-0.99, 0.99))
def test_check_number_accepts_within_its_tolerance_only(expected, relative):
    rtol = 1e-3
    actual = expected * (1 + relative * rtol)
    check_number(actual, expected, rtol=rtol)
    check_number(torch.tensor([actual], dtype=torch.float64), expected, rtol=rtol)
    if abs(expected) > 1e-200:
        with pytest.raises(AssertionError, match="not the expected value"):
            check_number(expected * (1 + 2 * rtol), expected, rtol=rtol)


@FAST
@given(numerator=st.integers(-10**6, 10**6), denominator=st.integers(1, 10**6), scale=st.integers(1, 50))
def test_check_exact_accepts_equal_fractions_and_no_float(numerator, denominator, scale):
    expected = Fraction(numerator, denominator)
    check_exact(Fraction(numerator * scale, denominator * scale), expected)
    with pytest.raises(AssertionError, match="exact Fraction"):
        check_exact(float(expected), expected)
    with pytest.raises(AssertionError, match="expected"):
        check_exact(expected + Fraction(1, denominator * scale + 1), expected)


@FAST
@given(options=st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=8, unique=True).map("".join),
       data=st.data())
def test_check_choice_accepts_the_letter_in_any_case_and_spacing(options, data):
    expected = data.draw(st.sampled_from(options))
    check_choice(f"  {expected.upper()} ", expected, options=options)
    other = data.draw(st.sampled_from([o for o in options if o != expected]))
    with pytest.raises(AssertionError, match="not the correct choice"):
        check_choice(other, expected, options=options)
