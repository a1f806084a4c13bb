# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.fractional.gpu.plugins.module_utils.gpu_models import model_by_key
from ansible_collections.fractional.gpu.plugins.module_utils.mig_config import (
    DesiredGpu,
    parse_profile_key,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_planner import (
    CI_PLACEHOLDER,
    plan_gpu,
    plan_host,
    render_layout,
)
from ansible_collections.fractional.gpu.plugins.module_utils.mig_state import (
    ComputeInstance,
    GpuInstance,
    GpuState,
)

H100 = model_by_key("H100-SXM5-80GB")


def gpu(index=0, enabled=True, pending=None, instances=(), model="H100-SXM5-80GB"):
    """instances: (profile name, start[, ci slices]) tuples; ids from 1."""
    m = model_by_key(model)
    state = GpuState(index=index, name=m.product_name,
                     pci_device_id=(m.pci_device_ids[0] << 16) | 0x10DE,
                     mig_capable=m.mig_capable, model=m.key,
                     mig_current=enabled if m.mig_capable else None,
                     mig_pending=(enabled if pending is None else pending) if m.mig_capable else None)
    for i, spec in enumerate(instances):
        name, start = spec[0], spec[1]
        profile = m.profile(name)
        ci = spec[2] if len(spec) > 2 else profile.compute_slices
        cis = [] if ci == 0 else [ComputeInstance(id=0, compute_slices=ci)]
        state.gpu_instances.append(GpuInstance(
            id=i + 1, profile_id=profile.gi_profile_id, profile=profile.name,
            placement_start=start, placement_size=profile.memory_slices,
            compute_slices=profile.compute_slices, compute_instances=cis))
    return state


def want(index=0, enabled=True, names=(), model="H100-SXM5-80GB"):
    keys = tuple(sorted((parse_profile_key(n) for n in names), key=lambda k: k.name))
    return DesiredGpu(index, enabled, keys, model, "mig-configs.t[0]")


def test_converged_gpu_has_no_steps():
    plan = plan_gpu(gpu(instances=[("3g.40gb", 0), ("3g.40gb", 4)]),
                    want(names=["3g.40gb", "3g.40gb"]))
    assert not plan.changed and plan.commands() == []
    assert len(plan.keep) == 2


def test_same_multiset_other_placements_is_converged():
    # The planner would pick 2g@0 + 1g@2; 2g@4 + 1g@6 is the same multiset: no change.
    plan = plan_gpu(gpu(instances=[("2g.20gb", 4), ("1g.10gb", 6)]),
                    want(names=["1g.10gb", "2g.20gb"]))
    assert not plan.changed


def test_disabled_to_seven_1g_on_ampere_takes_a_reset():
    a100 = "A100-SXM4-80GB"
    plan = plan_gpu(gpu(enabled=False, model=a100), want(names=["1g.10gb"] * 7, model=a100))
    assert plan.set_mode is True and plan.reset_expected
    assert [s.start for s in plan.create] == [0, 1, 2, 3, 4, 5, 6]
    assert plan.commands() == [
        ["nvidia-smi", "-i", "0", "-mig", "1"],
        ["nvidia-smi", "-r", "-i", "0"],
        ["nvidia-smi", "mig", "-i", "0", "-cgi", "19:0,19:1,19:2,19:3,19:4,19:5,19:6", "-C"],
    ]


def test_disabled_to_seven_1g_on_hopper_needs_no_reset():
    plan = plan_gpu(gpu(enabled=False), want(names=["1g.10gb"] * 7))
    assert plan.set_mode is True and not plan.reset_expected
    assert plan.commands() == [
        ["nvidia-smi", "-i", "0", "-mig", "1"],
        ["nvidia-smi", "mig", "-i", "0", "-cgi", "19:0,19:1,19:2,19:3,19:4,19:5,19:6", "-C"],
    ]


def test_the_architecture_the_driver_names_wins_over_the_table():
    state = gpu(enabled=False)
    state.architecture = "Ampere"
    assert plan_gpu(state, want(names=["7g.80gb"])).reset_expected


def test_enable_already_pending_needs_reset_only_on_ampere():
    a100 = "A100-SXM4-80GB"
    plan = plan_gpu(gpu(enabled=False, pending=True, model=a100), want(names=["7g.80gb"], model=a100))
    assert plan.set_mode is None and plan.reset_expected
    assert plan.mode_commands() == [["nvidia-smi", "-r", "-i", "0"]]
    # From Hopper on a pending mode is set again: -mig makes it current, no reset.
    plan = plan_gpu(gpu(enabled=False, pending=True), want(names=["7g.80gb"]))
    assert plan.set_mode is True and not plan.reset_expected


def test_cancel_pending_disable():
    plan = plan_gpu(gpu(enabled=True, pending=False, instances=[("7g.80gb", 0)]),
                    want(names=["7g.80gb"]))
    assert plan.set_mode is True and not plan.reset_expected and not plan.changes_layout


def test_disable_destroys_then_flips():
    plan = plan_gpu(gpu(instances=[("3g.40gb", 0), ("3g.40gb", 4)]), want(enabled=False))
    assert plan.commands() == [
        ["nvidia-smi", "mig", "-i", "0", "-dci"],
        ["nvidia-smi", "mig", "-i", "0", "-dgi"],
        ["nvidia-smi", "-i", "0", "-mig", "0"],
    ]
    assert plan.after()["instances"] == [] and plan.after()["mig_enabled"] is False
    a100 = "A100-SXM4-80GB"
    plan = plan_gpu(gpu(instances=[("7g.80gb", 0)], model=a100), want(enabled=False, model=a100))
    assert plan.commands()[-1] == ["nvidia-smi", "-r", "-i", "0"]


def test_disabled_stays_disabled():
    assert not plan_gpu(gpu(enabled=False), want(enabled=False)).changed


def test_cancel_pending_enable():
    plan = plan_gpu(gpu(enabled=False, pending=True), want(enabled=False))
    assert plan.set_mode is False and not plan.reset_expected


def test_partial_change_keeps_what_fits():
    # 7 x 1g -> 3g + 4 x 1g: the 1g at 0..3 (or 4..6 and one more) stay; 3g goes to 4.
    current = gpu(instances=[("1g.10gb", s) for s in range(7)])
    plan = plan_gpu(current, want(names=["3g.40gb"] + ["1g.10gb"] * 4))
    assert [s.start for s in plan.keep] == [0, 1, 2, 3]
    assert [s.start for s in plan.destroy] == [4, 5, 6]
    assert [(s.name, s.start) for s in plan.create] == [("3g.40gb", 4)]
    assert plan.commands() == [
        ["nvidia-smi", "mig", "-i", "0", "-dci", "-gi", "5,6,7"],
        ["nvidia-smi", "mig", "-i", "0", "-dgi", "-gi", "5,6,7"],
        ["nvidia-smi", "mig", "-i", "0", "-cgi", "9:4", "-C"],
    ]


def test_reshape_keeps_one_3g_and_creates_biggest_first():
    current = gpu(instances=[("3g.40gb", 0), ("3g.40gb", 4)])
    plan = plan_gpu(current, want(names=["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]))
    # One 3g can stay (at 0 or 4); the other slot takes 2g + 1g + 1g.
    assert len(plan.keep) == 1
    assert [s.name for s in plan.create] == ["2g.20gb", "1g.10gb", "1g.10gb"]
    created = dict(((s.name, s.start), s) for s in plan.create)
    assert len(created) == 3


def test_gpu_instance_without_compute_instance_is_recreated():
    current = gpu(instances=[("7g.80gb", 0, 0)])
    plan = plan_gpu(current, want(names=["7g.80gb"]))
    assert [s.name for s in plan.destroy] == ["?"]
    assert plan.destroy_commands() == [["nvidia-smi", "mig", "-i", "0", "-dgi"]]
    assert [s.name for s in plan.create] == ["7g.80gb"]


def test_compute_instance_prefix():
    plan = plan_gpu(gpu(instances=[("3g.40gb", 0)]), want(names=["1c.3g.40gb", "3g.40gb"]))
    assert [(s.name, s.start, s.ci_profile_id) for s in plan.create] == [("1c.3g.40gb", 4, 0)]
    assert plan.create_commands() == [
        ["nvidia-smi", "mig", "-i", "0", "-cgi", "9:4"],
        ["nvidia-smi", "mig", "-i", "0", "-gi", CI_PLACEHOLDER, "-cci", "0"],
    ]
    converged = plan_gpu(gpu(instances=[("3g.40gb", 0), ("3g.40gb", 4, 1)]),
                         want(names=["1c.3g.40gb", "3g.40gb"]))
    assert not converged.changed


def test_unmanaged_and_non_mig_gpus():
    host = [gpu(0, instances=[("7g.80gb", 0)]), gpu(1, model="L40S")]
    plan = plan_host(host, {1: want(1, enabled=False, model="L40S")})
    assert not plan.changed
    assert plan.summary()["unmanaged"] == [0]
    assert plan.by_index(0).after() == plan.by_index(0).before()


def test_host_summary_and_changed_gpus():
    host = [gpu(i, instances=[("1g.10gb", s) for s in range(7)]) for i in range(8)]
    desired = dict((i, want(i, names=["1g.10gb"] * 7)) for i in range(8))
    desired[5] = want(5, names=["3g.40gb", "3g.40gb"])
    plan = plan_host(host, desired)
    assert plan.changed_gpus() == [5]
    summary = plan.summary()
    assert summary["changed"] == [5] and summary["layout_changes"] == [5]
    assert summary["instances_destroyed"] == 7 and summary["instances_created"] == 2
    steps = plan.to_list()
    assert [s["changed"] for s in steps].count(True) == 1
    assert steps[5]["commands"][-1] == "nvidia-smi mig -i 5 -cgi 9:0,9:4 -C"


def test_render_layout():
    plan = plan_gpu(gpu(instances=[("4g.40gb", 0)]), want(names=["4g.40gb", "3g.40gb"]))
    before = render_layout([plan.before()])
    after = render_layout([plan.after()], mark_new=True)
    assert before == "GPU 0 (H100-SXM5-80GB): MIG enabled\n  slots 0-3  4g.40gb GI 1\n"
    assert after == ("GPU 0 (H100-SXM5-80GB): MIG enabled\n  slots 0-3  4g.40gb GI 1\n"
                     "  slots 4-7  3g.40gb (new)\n")
    pending = render_layout([plan_gpu(gpu(enabled=False, pending=True), None).before()])
    assert pending == "GPU 0 (H100-SXM5-80GB): MIG disabled (pending: enabled)\n"
