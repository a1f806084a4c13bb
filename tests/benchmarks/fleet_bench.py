# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/site.yml on the lab at several fleet sizes, one run per size: what a converged
rerun costs, and whether that cost depends on the node count.

For each size the lab is started anew with that many GPU nodes: the lab's own (nodes.yaml,
MIG in host mode, time slicing, KAI; NVIDIA's device plugin and GFD run on them) and light
scale nodes for the rest (`lab.py up --extra-nodes`, kept by the one stand-in process
tests/lab/scale_nodes.py), in a pool of their own, pool_scale, time-sliced. Per size:

  first run   site.yml on the fresh cluster: the operator, pool labels, GPU discovery, MIG,
              the device plugin configs, KAI, the summary (wall time); and, inside it, how
              long NVIDIA's operator took over its first ClusterPolicy (from the object's
              creation by Helm to status.state ready, read every second), which the run
              waits for: the operator's controller marks every GPU node itself, one Update
              per node in turn (github.com/NVIDIA/gpu-operator controllers/state_manager.go
              labelGPUNodes), so that wait grows with the node count in any cluster
  rerun       site.yml again, converged: wall and CPU time (ansible-playbook and all its
              children), changed (must be 0), peak RSS of ansible-playbook and its
              children together (sampled), the API requests

API requests: the lines the lab's apiserver writes to its audit log during the run for the
collection's clients - the Kubernetes Python client's user agent (kubernetes.core's modules
and the collection's own) and Helm's - counted by verb and resource.

Targets (issue 13): rerun 100/10 <= 1.5x and 1000/10 <= 3x, changed=0 and the same API
requests at every size, first run at 1000 nodes under 5 minutes (reported with and without
the operator's first reconcile).

    python tests/benchmarks/fleet_bench.py [--sizes 10 100 1000] [--forks 10]

Run it with the lab's environment (FGPU_LAB_* ports as for `make lab-up`) and the venv's
python; it starts and stops the lab itself. On a shared machine wall times move with the
load: the CPU column is the steadier figure.
"""

from __future__ import annotations

import argparse
import calendar
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))
from lab import audit_offset, collection_requests  # noqa: E402  # pylint: disable=wrong-import-position
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
LAB_DIR = Path(os.environ.get("FGPU_LAB_DIR", REPO / ".lab"))
BASE_NODES = len(yaml.safe_load((REPO / "tests/lab/nodes.yaml").read_text())["nodes"])
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PAGE = 4096


def scale_inventory(directory: Path, extra: int) -> Path:
    """The light scale nodes as one more pool of the lab inventory's gpu_nodes."""
    path = directory / "scale.yml"
    pool_vars = {"pool_strategy": "time_slicing",
                 "pool_time_slicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}
    path.write_text(yaml.safe_dump({"all": {"children": {"gpu_nodes": {"children": {
        "pool_scale": {"hosts": {f"gpu-scale-{i}": None for i in range(extra)},
                       "vars": pool_vars}}}}}}))
    return path


def tree_rss_kib(root: int) -> int:
    """RSS of ``root`` and every descendant, in KiB (from /proc)."""
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * PAGE // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def site(inventory: Path, forks: int, env: dict) -> dict:
    offset = audit_offset()
    started = time.monotonic()
    proc = subprocess.Popen(["ansible-playbook", "-i", str(REPO / "inventories/lab"), "-i",
                             str(inventory), "-f", str(forks), str(REPO / "playbooks/site.yml")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.25):
            peak[0] = max(peak[0], tree_rss_kib(proc.pid))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    done.set()
    reader.join()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = output[0] if output else ""
    time.sleep(1)  # the audit log's last lines
    if proc.returncode != 0:
        sys.exit(f"site.yml failed (rc={proc.returncode}):\n{stdout[-4000:]}")
    recap = {host: int(changed) for host, changed, _u, _f in RECAP.findall(stdout)}
    return {"wall": elapsed, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": peak[0] / 1024,
            "changed": sum(recap.values()), "requests": collection_requests(offset)}


class OperatorReady:
    """Seconds from the ClusterPolicy's creation to the first GET that reads it ready."""

    def __init__(self, env: dict):
        from kubernetes import client, config  # the venv's, as the collection's modules use

        self.api = client.CustomObjectsApi(config.new_client_from_config(env["KUBECONFIG"]))
        self.seconds = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        while not self.done.wait(1):
            try:
                policy = self.api.get_cluster_custom_object("nvidia.com", "v1", "clusterpolicies",
                                                            "cluster-policy")
            except Exception:  # pylint: disable=broad-except  # not created yet
                continue
            if (policy.get("status") or {}).get("state") == "ready":
                created = calendar.timegm(time.strptime(policy["metadata"]["creationTimestamp"],
                                                        "%Y-%m-%dT%H:%M:%SZ"))
                self.seconds = time.time() - created
                return

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.seconds


def lab_env() -> dict:
    env = dict(os.environ)
    for line in (LAB_DIR / "env").read_text().splitlines():
        key, _sep, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'\"")
    env["ANSIBLE_COLLECTIONS_PATH"] = subprocess.run(
        [*LAB, "collections"], capture_output=True, text=True, check=True).stdout.strip()
    return env


def measure(size: int, forks: int) -> dict:
    extra = max(0, size - BASE_NODES)
    subprocess.run([*LAB, "down"], check=True, capture_output=True)
    subprocess.run([*LAB, "up", "--extra-nodes", str(extra)], check=True, capture_output=True)
    env = lab_env()
    # KAI's scheduler and friends, as make demo starts them.
    subprocess.run([str(REPO / "tests/lab/kai.sh"), "start"], check=True, capture_output=True, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        inventory = scale_inventory(Path(tmp), extra)
        operator = OperatorReady(env)
        first = site(inventory, forks, env)
        operator_s = operator.stop()
        rerun = site(inventory, forks, env)
    if operator_s is None:
        sys.exit("the ClusterPolicy was never read ready during the first run")
    result = {"size": BASE_NODES + extra, "first": first["wall"], "operator": operator_s, **rerun}
    print(f"{result['size']:5d} nodes: first run {first['wall']:7.1f} s (the operator's first reconcile "
          f"{operator_s:.0f} s); rerun {rerun['wall']:7.1f} s "
          f"wall, {rerun['cpu']:6.1f} s CPU, changed={rerun['changed']}, "
          f"{sum(rerun['requests'].values())} API requests, peak RSS {rerun['rss_mib']:.0f} MiB",
          flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    try:
        results = [measure(size, args.forks) for size in args.sizes]
    finally:
        subprocess.run([*LAB, "down"], check=False, capture_output=True)
    base = results[0]
    print(f"\n{'nodes':>5}  {'rerun s':>8}  {'ratio':>6}  {'CPU s':>6}  {'CPU ratio':>9}  "
          f"{'API requests':>12}  {'peak RSS MiB':>12}  {'first run s':>11}  {'operator s':>10}  "
          f"{'first less operator s':>21}  changed")
    for row in results:
        print(f"{row['size']:5d}  {row['wall']:8.1f}  {row['wall'] / base['wall']:5.2f}x  {row['cpu']:6.1f}  "
              f"{row['cpu'] / base['cpu']:8.2f}x  {sum(row['requests'].values()):12d}  "
              f"{row['rss_mib']:12.0f}  {row['first']:11.1f}  {row['operator']:10.1f}  "
              f"{row['first'] - row['operator']:21.1f}  {row['changed']}")
    print("\nAPI requests of the converged rerun, by verb and resource:")
    keys = sorted(set().union(*(row["requests"] for row in results)))
    print("  " + " ".join(f"{row['size']:>6}" for row in results) + "  request")
    for key in keys:
        print("  " + " ".join(f"{row['requests'].get(key, 0):6d}" for row in results) + f"  {key}")
    checks = {
        "changed=0 at every size": all(row["changed"] == 0 for row in results),
        "the same API requests at every size": len({sum(row["requests"].values()) for row in results}) == 1,
    }
    for row in results[1:]:
        limit = 1.5 if row["size"] <= 100 else 3.0
        checks[f"rerun {row['size']}/{base['size']} <= {limit}x"] = row["wall"] / base["wall"] <= limit
        if row["size"] >= 1000:
            checks[f"first run at {row['size']} nodes < 300 s"] = row["first"] < 300
            checks[f"first run at {row['size']} nodes less the operator's first reconcile < 300 s"] = \
                row["first"] - row["operator"] < 300
    print()
    for name, ok in checks.items():
        print(f"{'met' if ok else 'NOT MET'}: {name}")
    return 0 if all(row["changed"] == 0 for row in results) else 1


if __name__ == "__main__":
    sys.exit(main())
