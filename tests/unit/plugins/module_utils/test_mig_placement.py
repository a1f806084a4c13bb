# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import itertools

import pytest

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
from ansible_collections.fractional.gpu.plugins.module_utils.mig_placement import (
    find_placement,
    fits,
    placement_order,
)

H100 = model_by_key("H100-SXM5-80GB")
A30 = model_by_key("A30-24GB")


def profiles(model, *names):
    return [model.profile(n) for n in names]


def assert_valid(model, profs, starts):
    used = 0
    for prof, start in zip(profs, starts):
        assert start in prof.placements
        bits = ((1 << prof.memory_slices) - 1) << start
        assert not used & bits, "overlap"
        used |= bits
    assert used < (1 << model.memory_slices)


@pytest.mark.parametrize("names", [
    ["1g.10gb"] * 7,
    ["3g.40gb", "3g.40gb"],
    ["4g.40gb", "3g.40gb"],
    ["7g.80gb"],
    ["1g.20gb"] * 4,
    ["2g.20gb"] * 3 + ["1g.10gb"],
    # The MIG user guide's 3-2-1-1 geometry, listed 1g first: the order that fails when
    # handed to the driver without placements.
    ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"],
    ["1g.10gb+me"] + ["1g.10gb"] * 6,
])
def test_valid_geometries_get_a_placement(names):
    profs = profiles(H100, *names)
    starts = find_placement(profs, H100.memory_slices)
    assert starts is not None
    assert_valid(H100, profs, starts)


@pytest.mark.parametrize("names", [
    ["1g.10gb"] * 8,  # 1g never takes slot 7
    ["4g.40gb", "4g.40gb"],  # 4g only at 0
    ["7g.80gb", "1g.10gb"],
    ["3g.40gb", "3g.40gb", "1g.10gb"],
    ["1g.20gb"] * 4 + ["1g.10gb"],
    ["2g.20gb"] * 3 + ["1g.20gb"],  # 2g at 0,2,4 leave 6-7; fits 1g.20gb at 6? yes -> see below
])
def test_impossible_geometries(names):
    profs = profiles(H100, *names)
    expected = names != ["2g.20gb"] * 3 + ["1g.20gb"]
    assert (find_placement(profs, H100.memory_slices) is None) == expected


def test_search_agrees_with_brute_force_on_every_small_h100_multiset():
    # Every multiset of up to 4 profiles: the search finds an assignment exactly when a
    # brute force over all start combinations does.
    names = [p.name for p in H100.profiles]
    for size in range(1, 5):
        for combo in itertools.combinations_with_replacement(names, size):
            profs = profiles(H100, *combo)
            brute = False
            for starts in itertools.product(*[p.placements for p in profs]):
                used, ok = 0, True
                for prof, start in zip(profs, starts):
                    bits = ((1 << prof.memory_slices) - 1) << start
                    if used & bits or start + prof.memory_slices > 8:
                        ok = False
                        break
                    used |= bits
                if ok:
                    brute = True
                    break
            assert fits(profs, 8) == brute, combo


def test_prefers_existing_instances():
    profs = profiles(H100, "1g.10gb", "1g.10gb", "1g.10gb")
    starts = find_placement(profs, 8, prefer=[("1g.10gb", 6), ("1g.10gb", 4), ("2g.20gb", 0)])
    assert sum(1 for s in starts if s in (4, 6)) == 2
    assert_valid(H100, profs, starts)


def test_prefers_as_many_as_fit():
    # Existing 1g at 0 and 4; desired 3g + 3g cannot keep either; 3g + 1g keeps the 1g at 0
    # only if the 3g goes to 4.
    profs = profiles(H100, "3g.40gb", "1g.10gb")
    starts = find_placement(profs, 8, prefer=[("1g.10gb", 0), ("3g.40gb", 4)])
    assert starts == [4, 0]


def test_occupied_mask_is_respected():
    profs = profiles(H100, "3g.40gb")
    assert find_placement(profs, 8, occupied=0b00001111) == [4]
    assert find_placement(profs, 8, occupied=0b00011111) is None


def test_a30_geometries():
    assert fits(profiles(A30, "2g.12gb", "1g.6gb", "1g.6gb"), 4)
    assert fits(profiles(A30, "2g.12gb+me", "2g.12gb"), 4)
    assert not fits(profiles(A30, "4g.24gb", "1g.6gb"), 4)


def test_placement_order_is_biggest_first():
    profs = profiles(H100, "1g.10gb", "7g.80gb", "2g.20gb", "1g.20gb")
    assert [profs[i].name for i in placement_order(profs)] == [
        "7g.80gb", "2g.20gb", "1g.20gb", "1g.10gb"]


@pytest.mark.parametrize("key", ["A100-SXM4-40GB", "A30-24GB", "H100-SXM5-80GB", "B200-180GB"])
def test_every_count_feasible_geometry_has_a_placement(key):
    # With NVIDIA's placement tables, any set within the instance, compute, memory and +me
    # limits has a placement (128 such sets on 8-slice GPUs, 20 on A30); the search must
    # find each one. (Which is also why mig_config's "no placement" check needs a made-up
    # model to fire.)
    model = model_by_key(key)
    feasible = 0
    for counts in itertools.product(*[range(p.max_instances + 1) for p in model.profiles]):
        profs = [p for p, c in zip(model.profiles, counts) for dummy in range(c)]
        if (sum(p.compute_slices for p in profs) > model.compute_slices
                or sum(p.memory_slices for p in profs) > model.memory_slices
                or sum(1 for p in profs if p.media_extensions) > 1):
            continue
        feasible += 1
        starts = find_placement(profs, model.memory_slices)
        assert starts is not None, [p.name for p in profs]
        assert_valid(model, profs, starts)
    assert feasible == (20 if key == "A30-24GB" else 128)
