# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement search for MIG GPU instances (stdlib only).

A GPU instance of a profile occupies ``profile.memory_slices`` consecutive memory slots
starting at one of ``profile.placements`` (nvidia-smi ``mig -lgipp``). A set of instances
fits a GPU when each gets a start slot and no two overlap. The driver, asked to create
instances without a placement, picks one itself and can paint itself into a corner
(the MIG user guide's 3g-before-1g example); mig-parted answers that by trying every
creation order. This module searches the placements directly instead: it enumerates every
assignment of start slots, so "no assignment exists" is a proof, and the assignment it
returns can be passed to ``nvidia-smi mig -cgi <id>:<start>`` so creation cannot fail for
lack of room.

Profiles are duck-typed: anything with ``name``, ``memory_slices``, ``compute_slices`` and
``placements`` (gpu_models.MigProfile).
"""

from __future__ import annotations


def _mask(start, size):
    return ((1 << size) - 1) << start


def placement_order(profiles):
    """Indices of ``profiles`` biggest first (memory, then compute slices, then name).

    The order the search places them in, and the order instances are created in.
    """
    return sorted(range(len(profiles)),
                  key=lambda i: (-profiles[i].memory_slices, -profiles[i].compute_slices,
                                 profiles[i].name))


def find_placement(profiles, total_slices, prefer=(), occupied=0):
    """Start slots for ``profiles`` on a GPU with ``total_slices`` memory slots.

    :param profiles: sequence of profiles to place (duplicates allowed).
    :param total_slices: the GPU's memory slices (8, A30: 4).
    :param prefer: iterable of ``(profile_name, start)`` pairs, the instances that already
        exist; among all assignments that fit, the one that reuses most of them wins (so a
        plan destroys and recreates as little as possible).
    :param occupied: bit mask of memory slots already taken.
    :returns: a list of start slots aligned with ``profiles``, or None when no assignment
        fits. Deterministic: biggest profile first, each on a preferred slot if it can,
        else on its lowest free slot.
    """
    order = placement_order(profiles)
    preferred = set((name, int(start)) for name, start in prefer)
    best = {"score": -1, "starts": None}
    # The most reusable instances any assignment could reach, per profile name.
    ceiling = 0
    for name in set(p.name for p in profiles):
        ceiling += min(sum(1 for p in profiles if p.name == name),
                       sum(1 for pair in preferred if pair[0] == name))
    starts = [None] * len(profiles)

    def walk(pos, used, score):
        if pos == len(order):
            if score > best["score"]:
                best["score"], best["starts"] = score, list(starts)
            return best["score"] >= ceiling  # nothing can beat this: stop
        index = order[pos]
        profile = profiles[index]
        # Identical profiles are interchangeable: take their slots in increasing order so
        # each set of slots is visited once.
        floor = -1
        if pos > 0 and profiles[order[pos - 1]].name == profile.name:
            floor = starts[order[pos - 1]]
        candidates = [s for s in profile.placements
                      if s > floor and s + profile.memory_slices <= total_slices]
        # Preferred slots first so the best answer tends to be found early.
        candidates.sort(key=lambda s: ((profile.name, s) not in preferred, s))
        for start in candidates:
            bits = _mask(start, profile.memory_slices)
            if used & bits:
                continue
            starts[index] = start
            gain = 1 if (profile.name, start) in preferred else 0
            if walk(pos + 1, used | bits, score + gain):
                return True
        starts[index] = None
        return False

    walk(0, occupied, 0)
    return best["starts"]


def fits(profiles, total_slices):
    """True when some assignment of start slots fits ``profiles`` on the GPU."""
    return find_placement(profiles, total_slices) is not None
