# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wall time of a converged re-run of playbooks/site.yml at two fleet sizes, in one run.

For each size the lab is started anew with that many GPU nodes (the lab's own, and copies
of the first node's shape, an 8 x H100 node, in a pool of their own, pool_scale), site.yml
runs once to converge, and then again: the second run is timed and must report changed=0.
Prints one line per size and the ratio of the two times.

The scale pool is time-sliced by default (--scale-strategy mig partitions it instead: every
extra node then also runs nvidia-smi and NVML on its simulated host, which on 2 cores is
mostly the cost of starting the simulator's processes).

    python tests/benchmarks/fleet_bench.py [--sizes 10 100] [--forks 10] [--scale-strategy S]

Run it with the lab's environment (`make lab-up` once builds everything; this script
starts and stops the lab itself) and the venv's python.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
BASE_NODES = len(yaml.safe_load((REPO / "tests/lab/nodes.yaml").read_text())["nodes"])
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def scale_inventory(directory: Path, extra: int, strategy: str) -> Path:
    """The extra nodes as one more pool of the lab inventory's gpu_nodes."""
    path = directory / "scale.yml"
    if strategy == "mig":
        # The extra nodes copy the first node's shape (an H100 node of pool h100).
        pool_vars = yaml.safe_load((REPO / "inventories/lab/group_vars/pool_h100.yml").read_text())
    else:
        pool_vars = {"pool_strategy": "time_slicing",
                     "pool_time_slicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}
    path.write_text(yaml.safe_dump({"all": {"children": {"gpu_nodes": {"children": {
        "pool_scale": {"hosts": {f"gpu-scale-{i}": None for i in range(extra)},
                       "vars": pool_vars}}}}}}))
    return path


def site(inventory: Path, forks: int, env: dict) -> tuple[float, dict]:
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(REPO / "inventories/lab"), "-i",
                           str(inventory), "-f", str(forks), str(REPO / "playbooks/site.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    recap = {host: (int(changed), int(unreachable), int(failed))
             for host, changed, unreachable, failed in RECAP.findall(proc.stdout)}
    if proc.returncode != 0:
        sys.exit(f"site.yml failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}")
    return elapsed, recap


def lab_env() -> dict:
    env = dict(os.environ)
    for line in (Path(env.get("FGPU_LAB_DIR", REPO / ".lab")) / "env").read_text().splitlines():
        key, _sep, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'\"")
    env["ANSIBLE_COLLECTIONS_PATH"] = subprocess.run(
        [*LAB, "collections"], capture_output=True, text=True, check=True).stdout.strip()
    return env


def measure(size: int, forks: int, strategy: str) -> tuple[float, int]:
    extra = max(0, size - BASE_NODES)
    subprocess.run([*LAB, "down"], check=True, capture_output=True)
    subprocess.run([*LAB, "up", "--extra-nodes", str(extra)], check=True, capture_output=True)
    env = lab_env()
    # KAI's components run as processes (as make demo starts them); the GPU Operator's
    # controller, device plugin, GFD and MIG manager run with the lab, for their pods.
    subprocess.run([str(REPO / "tests/lab/kai.sh"), "start"], check=True, capture_output=True,
                   env=env)
    with tempfile.TemporaryDirectory() as tmp:
        inventory = scale_inventory(Path(tmp), extra, strategy)
        site(inventory, forks, env)
        elapsed, recap = site(inventory, forks, env)
    changed = sum(c for c, _u, _f in recap.values())
    print(f"{BASE_NODES + extra:4d} nodes: converged re-run of site.yml {elapsed:7.1f} s, "
          f"changed={changed} over {len(recap)} hosts", flush=True)
    return elapsed, changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10, 100])
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--scale-strategy", choices=["time_slicing", "mig"],
                        default="time_slicing")
    args = parser.parse_args()
    results = [measure(size, args.forks, args.scale_strategy) for size in args.sizes]
    small, large = results[0][0], results[1][0]
    print(f"ratio {args.sizes[1]}/{args.sizes[0]} nodes: {large / small:.2f}x time for "
          f"{args.sizes[1] / args.sizes[0]:.0f}x nodes")
    subprocess.run([*LAB, "down"], check=True, capture_output=True)
    return 0 if all(changed == 0 for _e, changed in results) else 1


if __name__ == "__main__":
    sys.exit(main())
