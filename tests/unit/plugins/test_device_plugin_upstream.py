# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every device plugin config the collection renders for the lab inventory and the Molecule
scenarios, loaded by NVIDIA's own device plugin at each served version (v0.17.4, v0.18.2,
v0.19.1, built from github.com/NVIDIA/k8s-device-plugin by tests/lab/build.sh, cached) under
MIG_STRATEGY none, single and mixed, as the GPU Operator sets it: the plugin's config API
(api/config/v1) and its flag validation decide, not our reading of them.

Each run gives the plugin the config file and the operator's environment and a simulated
host without GPUs (tests/gpusim): it loads and validates the config, prints the config it
runs with, and finds no device to serve. The table of results is printed (pytest -s).
Skipped where no Go toolchain can build the plugin.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.fractional.gpu.plugins.module_utils import device_plugin_config as dpc

ROOT = Path(__file__).resolve().parents[3]
STRATEGIES = ("none", "single", "mixed")
# The operator's DaemonSet environment (GPU Operator assets/state-device-plugin).
OPERATOR_ENV = {"PASS_DEVICE_SPECS": "true", "FAIL_ON_INIT_ERROR": "true", "DEVICE_LIST_STRATEGY": "envvar",
                "DEVICE_ID_STRATEGY": "uuid", "MPS_ROOT": "/run/nvidia/mps"}
# Configs written as a user might, not as the collection renders them: what the plugin does
# with each, beside what the collection says of it.
PROBES = {
    "probe: flags.gdrcopyEnabled": {"version": "v1", "flags": {"gdrcopyEnabled": True}},
    "probe: bare resource name gpu": {"version": "v1", "sharing": {"timeSlicing": {
        "resources": [{"name": "gpu", "replicas": 2}]}}},
    "probe: flags.failOnInitError false": {"version": "v1", "flags": {"failOnInitError": False}},
    "probe: flags.plugin.deviceIDStrategy index": {"version": "v1", "flags": {"plugin": {"deviceIDStrategy": "index"}}},
    "probe: mps failRequestsGreaterThanOne false": {"version": "v1", "sharing": {"mps": {
        "failRequestsGreaterThanOne": False, "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}},
}


def rendered_configs():
    """name -> (pool, config text), for every sharing pool of the lab inventory and of the
    scenarios (also those a scenario shows the collection refusing)."""
    pools = {}
    for path in sorted((ROOT / "inventories" / "lab" / "group_vars").glob("pool_*.yml")):
        settings = yaml.safe_load(path.read_text()) or {}
        if "pool_time_slicing" in settings:
            name = path.stem[len("pool_"):]
            pools[f"inventory {name}"] = dict({"name": name}, **settings["pool_time_slicing"])

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "time_slicing_pools" and isinstance(value, list):
                    for pool in value:
                        pools[f"{where} #{len(pools)} {pool.get('name')}"] = pool
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for path in sorted((ROOT / "extensions" / "molecule").glob("*/*.yml")):
        walk(yaml.safe_load(path.read_text()), f"{path.parent.name}/{path.name}")
    configs = {"default (no sharing)": (None, dpc.to_yaml(dpc.default_config("none")))}
    for name, pool in pools.items():
        if dpc.pool_defaults(pool)["sharing"]:
            configs[name] = (pool, dpc.to_yaml(dpc.render_config(pool)))
    return configs


@pytest.fixture(scope="module")
def plugins():
    """version -> the device plugin binary (built once, cached by tests/lab/build.sh)."""
    if not shutil.which("go") or not shutil.which("cc"):
        pytest.skip("no Go toolchain and C compiler to build NVIDIA's device plugin")
    result = subprocess.run([str(ROOT / "tests" / "lab" / "build.sh"), "--device-plugins"], capture_output=True,
                            text=True, check=False, env=dict(os.environ, FGPU_PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("v", "gfd ")))


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """The simulated NVML library and a host without GPUs: the plugin loads its config,
    then has nothing to serve."""
    build = subprocess.run([str(ROOT / "tests" / "gpusim" / "build.sh")], capture_output=True, text=True,
                           check=False, env=dict(os.environ, FGPU_PYTHON=sys.executable))
    if build.returncode != 0:
        pytest.skip(f"the simulated NVML library does not build here: {build.stderr.strip()[-300:]}")
    sys.path.insert(0, str(ROOT / "tests" / "gpusim"))
    from gpusim import state  # pylint: disable=import-outside-toplevel
    directory = tmp_path_factory.mktemp("plugin-host")
    path = directory / "empty.state"
    state.save(str(path), state.State(host=state.Host(node="empty", driver_version="580.95.05", cuda_version=13000)))
    return {"lib": build.stdout.strip(), "state": str(path), "dir": directory}


def load(binary, config_text, strategy, host):
    """What the plugin does with the config: ("runs", its config as JSON) or ("exits", why)."""
    config = host["dir"] / "config.yaml"
    config.write_text(config_text)
    env = dict(OPERATOR_ENV, MIG_STRATEGY=strategy, CONFIG_FILE=str(config), PATH="/usr/bin:/bin",
               KUBELET_SOCKET=str(host["dir"] / "kubelet.sock"), LD_LIBRARY_PATH=host["lib"],
               FGPU_GPUSIM_STATE=host["state"])
    proc = subprocess.Popen([binary], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    output, deadline = b"", time.monotonic() + 60
    try:
        # Until it exits, or it has loaded its config and found nothing to serve.
        while time.monotonic() < deadline and b"No devices found" not in output:
            if select.select([proc.stderr], [], [], 0.5)[0]:
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    output = output.decode(errors="replace")
    if "Running with config:" in output:
        text = output.split("Running with config:", 1)[1]
        return "runs", json.JSONDecoder().raw_decode(text[text.index("{"):])[0]
    errors = [line.split("] ", 1)[-1] for line in output.splitlines() if line.startswith("E")]
    return "exits", errors[-1] if errors else output[-300:]


@pytest.fixture(scope="module")
def results(plugins, host):
    configs = dict(rendered_configs(), **{name: (None, yaml.safe_dump(c)) for name, c in PROBES.items()})
    table = {}
    versions = {version: binary for version, binary in plugins.items() if version.startswith("v")}
    for name, (_pool, text) in configs.items():
        for version, binary in sorted(versions.items()):
            for strategy in STRATEGIES:
                table[(name, version, strategy)] = load(binary, text, strategy, host)
    print("\nNVIDIA's device plugin on every config (runs / exits: why):")
    for (name, version, strategy), (outcome, detail) in sorted(table.items()):
        print(f"  {name:58} {version:8} {strategy:7} {outcome}" + ("" if outcome == "runs" else f": {detail}"))
    return table, configs


def is_mps(text):
    return "mps" in (yaml.safe_load(text).get("sharing") or {})


def test_every_config_the_collection_accepts_runs_on_every_version(results):
    table, configs = results
    accepted = [name for name, (pool, _text) in configs.items()
                if not name.startswith("probe") and (pool is None or not dpc.config_problems([pool]))]
    assert len(accepted) > 3, accepted
    for (name, version, strategy), (outcome, detail) in table.items():
        if name not in accepted:
            continue
        if is_mps(configs[name][1]) and strategy == "mixed":
            assert outcome == "exits" and "not supported with MPS" in detail, (name, version, detail)
        else:
            assert outcome == "runs", (name, version, strategy, detail)


def test_mps_is_refused_under_mixed_and_forces_fail_requests_greater_than_one(results):
    table, configs = results
    mps = [name for name, (_pool, text) in configs.items() if is_mps(text)]
    assert mps, "no scenario renders an MPS pool"
    for name in mps:
        for (config, version, strategy), (outcome, detail) in table.items():
            if config != name:
                continue
            if strategy == "mixed":
                assert (outcome, detail) == ("exits", "error starting plugins: unable to validate flags: "
                                                      "using --mig-strategy=mixed is not supported with MPS")
            else:
                assert detail["sharing"]["mps"]["failRequestsGreaterThanOne"] is True, (version, strategy)


def test_the_operator_environment_overrides_the_config_files_strategy(results):
    table, _configs = results
    for (name, version, strategy), (outcome, detail) in table.items():
        if outcome == "runs":
            assert detail["flags"]["migStrategy"] == strategy, (name, version)


def probe_runs(table, probe):
    """(version, strategy) -> the config the plugin runs with, for one probe."""
    return {(version, strategy): detail for (name, version, strategy), (outcome, detail) in table.items()
            if name == probe and outcome == "runs"}


def test_gdrcopy_enabled_is_known_from_v0_18(results):
    table, _configs = results
    flags = {key: config["flags"] for key, config in probe_runs(table, "probe: flags.gdrcopyEnabled").items()}
    assert len(flags) == 9
    for (version, _strategy), value in flags.items():
        assert ("gdrcopyEnabled" in value) == (version != "v0.17.4"), (version, value)
    # The pinned GPU Operator release runs a plugin from v0.18: the collection accepts it.
    assert dpc.config_problems([{"name": "p", "flags": {"gdrcopyEnabled": True},
                                 "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}]) == []


def test_a_bare_gpu_name_is_accepted_as_nvidia_com_gpu(results):
    table, _configs = results
    runs = probe_runs(table, "probe: bare resource name gpu")
    assert len(runs) == 9
    for config in runs.values():
        assert [r["name"] for r in config["sharing"]["timeSlicing"]["resources"]] == ["nvidia.com/gpu"]
    pool = {"name": "p", "resources": [{"name": "gpu", "replicas": 2}]}
    assert dpc.config_problems([pool]) == []
    assert dpc.render_config(pool)["sharing"]["timeSlicing"]["resources"][0]["name"] == "nvidia.com/gpu"


@pytest.mark.parametrize("probe, path, operator_value, flags", [
    ("probe: flags.failOnInitError false", ("failOnInitError",), True, {"failOnInitError": False}),
    ("probe: flags.plugin.deviceIDStrategy index", ("plugin", "deviceIDStrategy"), "uuid",
     {"plugin": {"deviceIDStrategy": "index"}}),
])
def test_the_operators_environment_wins_over_the_file_and_the_collection_refuses_it(results, probe, path,
                                                                                    operator_value, flags):
    table, _configs = results
    runs = probe_runs(table, probe)
    assert len(runs) == 9
    for config in runs.values():
        value = config["flags"]
        for key in path:
            value = value[key]
        assert value == operator_value
    problems = dpc.config_problems([{"name": "p", "flags": flags,
                                     "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}], mig_strategy=None)
    assert len(problems) == 1 and "overridden by the GPU Operator" in problems[0], problems


def test_mps_fail_requests_false_is_forced_to_true_and_the_collection_refuses_it(results):
    table, _configs = results
    runs = probe_runs(table, "probe: mps failRequestsGreaterThanOne false")
    assert len(runs) == 6  # MPS under mixed: the plugin exits
    for config in runs.values():
        assert config["sharing"]["mps"]["failRequestsGreaterThanOne"] is True
    problems = dpc.config_problems([{"name": "p", "strategy": "mps", "fail_requests_greater_than_one": False,
                                     "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}])
    assert len(problems) == 1 and "fail_requests_greater_than_one false is overridden" in problems[0]


def test_gfd_labels_the_simulated_h200_as_it_labelled_the_real_one(plugins, tmp_path):
    """NVIDIA's GFD on a simulated single-GPU H200 with the real one's driver version gives
    the labels it gave on the real H200 (tests/fixtures/real), but for the GPU mode, which
    GFD reads from the PCI class in sysfs, where a simulated GPU has no device."""
    sys.path.insert(0, str(ROOT / "tests" / "gpusim"))
    from gpusim import host as gpusim_host  # pylint: disable=import-outside-toplevel
    build = subprocess.run([str(ROOT / "tests" / "gpusim" / "build.sh")], capture_output=True, text=True,
                           check=False, env=dict(os.environ, FGPU_PYTHON=sys.executable))
    if build.returncode != 0:
        pytest.skip("the simulated NVML library does not build here")
    nodes = tmp_path / "nodes.yaml"
    node = {"name": "h200", "pool": "p", "gpu": {"model": "H200-141GB", "count": 1}}
    nodes.write_text(yaml.safe_dump({"nodes": [node]}))
    gpusim_host.seed(str(nodes), "h200", str(tmp_path / "h200.state"), driver_version="580.159.04")
    real = ROOT / "tests" / "fixtures" / "real" / "h200-sxm-141gb-driver-580.159.04"
    for strategy in STRATEGIES:
        output = tmp_path / f"gfd-{strategy}.txt"
        run = subprocess.run([plugins["gfd"]], capture_output=True, text=True, check=False, timeout=60, env={
            "PATH": "/usr/bin:/bin", "MIG_STRATEGY": strategy, "GFD_ONESHOT": "true", "GFD_NO_TIMESTAMP": "true",
            "GFD_OUTPUT_FILE": str(output), "LD_LIBRARY_PATH": build.stdout.strip(),
            "FGPU_GPUSIM_STATE": str(tmp_path / "h200.state")})
        assert run.returncode == 0, run.stderr[-2000:]
        simulated = dict(line.split("=", 1) for line in output.read_text().splitlines())
        expected = dict(line.split("=", 1) for line in
                        (real / f"gfd_labels_mig_strategy_{strategy}.txt").read_text().splitlines())
        assert (simulated.pop("nvidia.com/gpu.mode"), expected.pop("nvidia.com/gpu.mode")) == ("unknown", "compute")
        assert simulated == expected, strategy
