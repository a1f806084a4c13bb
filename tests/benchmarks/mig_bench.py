# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG benchmark on a simulated 8 x H100 host (tests/gpusim). One run prints:

1. the time of nvml_validate's fact collection (one NVML session through pynvml and the
   simulated libnvidia-ml.so.1) against reading the same facts from nvidia-smi: ``-q -x``
   alone (modes, MIG device ids, memory, processes; no profiles or placements) and
   ``-q -x`` + ``mig -lgip``/``-lgipp``/``-lgi``/``-lci`` (what mig_geometry reads), with the ratios;
2. the number of mutating nvidia-smi calls mig_geometry makes on a host that already
   matches, and on one where a single GPU differs (from the simulator's mutation log).

Usage: python tests/benchmarks/mig_bench.py [--repeat N]
(run with the python that has ansible-core and nvidia-ml-py; needs a C compiler the first
time, to build the simulated NVML library).

The simulated nvidia-smi is a Python program, so its per-call cost (interpreter start-up)
is not the real tool's; the real nvidia-smi -q -x takes longer on real GPUs. The figures
compare the collection paths of this collection on the simulator, nothing more.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GPUSIM = ROOT / "tests" / "gpusim"
COLLECTIONS = ROOT / ".lab" / "collections"
MODULES = "ansible_collections.fractional.gpu.plugins.modules."

CONFIG = {"version": "v1", "mig-configs": {
    "all-balanced": [{"devices": "all", "mig-enabled": True,
                      "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}],
    "gpu5-changed": [
        {"devices": [0, 1, 2, 3, 4, 6, 7], "mig-enabled": True,
         "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
        {"devices": [5], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
}}


def link_collection():
    namespace = COLLECTIONS / "ansible_collections" / "fractional"
    namespace.mkdir(parents=True, exist_ok=True)
    link = namespace / "gpu"
    if not link.is_symlink():
        link.symlink_to(ROOT, target_is_directory=True)


class CountingPynvml:
    """pynvml, counting the NVML functions called through it."""

    def __init__(self, lib):
        self.lib = lib
        self.calls = 0

    def __getattr__(self, name):
        value = getattr(self.lib, name)
        if name.startswith("nvml") and callable(value):
            self.calls += 1
        return value


def nvml_call_count(collect_gpus) -> int:
    """NVML calls of one fact collection (what nvml_validate and gpu_info do)."""
    import pynvml  # pylint: disable=import-outside-toplevel

    lib = CountingPynvml(pynvml)
    collect_gpus(lib)
    return lib.calls


def worker(kind, repeat):
    """Runs inside the environment of the simulated host; prints JSON timings."""
    sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.fractional.gpu.plugins.module_utils.nvidia_smi import (
        NvidiaSmi,
        cmd_query,
        parse_query_xml,
    )
    from ansible_collections.fractional.gpu.plugins.module_utils.nvml import collect_gpus

    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def xml_only():
        rc, out, err = run(cmd_query())
        assert rc == 0, err
        return parse_query_xml(out)

    paths = {"nvml": collect_gpus,
             "smi_xml": xml_only,
             "smi_full": lambda: NvidiaSmi(run).read_state()}
    collect = paths[kind]
    times, gpus = [], None
    for dummy in range(repeat):
        start = time.perf_counter()
        gpus = collect()
        times.append(time.perf_counter() - start)
    devices = sum(len(g.mig_devices()) for g in gpus)
    extra = {}
    if kind == "nvml":
        extra["calls"] = nvml_call_count(collect_gpus)
    print(json.dumps(dict(times=times, gpus=len(gpus), mig_devices=devices, **extra)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", choices=("nvml", "smi_xml", "smi_full"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeat)
        return 0

    link_collection()
    build = subprocess.run([str(GPUSIM / "build.sh")], capture_output=True, text=True,
                           env=dict(os.environ, FGPU_PYTHON=sys.executable), check=False)
    if build.returncode != 0:
        sys.exit("building the simulated NVML failed:\n" + build.stderr)
    tmp = tempfile.mkdtemp(prefix="mig-bench-")
    state = os.path.join(tmp, "h100.state")
    env = dict(os.environ, FGPU_GPUSIM_STATE=state, FGPU_PYTHON=sys.executable,
               PATH="%s:%s" % (GPUSIM / "bin", os.environ.get("PATH", "")),
               LD_LIBRARY_PATH=build.stdout.strip(), PYTHONPATH=str(COLLECTIONS))
    subprocess.run([sys.executable, "-m", "gpusim", "seed", "--nodes",
                    str(ROOT / "tests" / "lab" / "nodes.yaml"), "--node", "gpu-h100-0",
                    "--out", state], env=dict(env, PYTHONPATH=str(GPUSIM)), check=True)
    log = Path(state + ".mutations.log")

    def geometry(name):
        log.unlink(missing_ok=True)
        args = {"ANSIBLE_MODULE_ARGS": {"config": CONFIG, "config_name": name}}
        proc = subprocess.run([sys.executable, "-m", MODULES + "mig_geometry"],
                              input=json.dumps(args), env=env, capture_output=True, text=True,
                              check=False)
        result = json.loads(proc.stdout)
        if result.get("failed"):
            sys.exit("mig_geometry failed: %s" % result["msg"])
        count = len(log.read_text().splitlines()) if log.exists() else 0
        return result, count

    first = geometry("all-balanced")[1]

    timings = {}
    for kind in ("nvml", "smi_xml", "smi_full"):
        proc = subprocess.run([sys.executable, __file__, "--worker", kind, "--repeat",
                               str(args.repeat)], env=env, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            sys.exit("worker %s failed:\n%s" % (kind, proc.stderr))
        timings[kind] = json.loads(proc.stdout.splitlines()[-1])

    converged, converged_count = geometry("all-balanced")
    one_changed, one_count = geometry("gpu5-changed")

    def ms(values):
        median, fastest = statistics.median(values) * 1000, min(values) * 1000
        return "median %7.1f ms  min %7.1f ms" % (median, fastest)

    nvml = statistics.median(timings["nvml"]["times"])
    print("Simulated host: gpu-h100-0, %d x H100-SXM5-80GB, %d MIG devices "
          "(1g.10gb x2 + 2g.20gb + 3g.40gb per GPU); %d runs each"
          % (timings["nvml"]["gpus"], timings["nvml"]["mig_devices"], args.repeat))
    print("Fact collection:")
    print("  NVML session (nvml_validate)            %s  (%d NVML calls)"
          % (ms(timings["nvml"]["times"]), timings["nvml"]["calls"]))
    for kind, label in (("smi_xml", "nvidia-smi -q -x, parsed"),
                        ("smi_full", "nvidia-smi -q -x + mig -lgip, -lgipp, -lgi, -lci")):
        median = statistics.median(timings[kind]["times"])
        print("  %-40s %s  ratio to NVML %.1fx"
              % (label, ms(timings[kind]["times"]), median / nvml))
    print("Mutating nvidia-smi calls (mig_geometry, from the simulator's mutation log):")
    print("  first run, MIG disabled -> all-balanced   %d" % first)
    print("  converged host (rerun)                    %d  changed=%s"
          % (converged_count, converged["changed"]))
    print("  one GPU changed (GPU 5 -> 1g.10gb x7)     %d  changed_gpus=%s"
          % (one_count, one_changed["changed_gpus"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
