# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dump, READ-ONLY, the NVML answers NVIDIA's device plugin and GPU feature discovery rely
on besides those of tests/device/nvml_dump.py: architecture, compute capability, brand,
minor number, fabric info, addressing mode, and the health-check events (supported types,
registration, a short wait). Query functions only; each failure is recorded with its error,
and each query runs in a process of its own, so that one that crashes (a struct pynvml
lays out differently from the driver) is recorded as such and the others still run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pynvml as N


def ask(fn, *args):
    try:
        value = fn(*args)
        return {"value": list(value) if isinstance(value, tuple) else value}
    except N.NVMLError as exc:
        return {"error": str(exc), "code": getattr(exc, "value", None)}
    except Exception as exc:  # pylint: disable=broad-except
        return {"error": f"{type(exc).__name__}: {exc}"}


def fabric_v(handle):
    info = N.c_nvmlGpuFabricInfo_v2_t()
    N.nvmlDeviceGetGpuFabricInfoV(handle, info)
    return {"state": info.state, "status": info.status, "cliqueId": info.cliqueId}


def events(handle):
    out = {"supported": ask(N.nvmlDeviceGetSupportedEventTypes, handle)}
    event_set = N.nvmlEventSetCreate()
    try:
        mask = N.nvmlEventTypeXidCriticalError | N.nvmlEventTypeDoubleBitEccError | N.nvmlEventTypeSingleBitEccError
        out["register_xid_ecc"] = ask(N.nvmlDeviceRegisterEvents, handle, mask & out["supported"].get("value", 0),
                                      event_set)
        started = time.monotonic()
        out["wait_200ms"] = ask(N.nvmlEventSetWait, event_set, 200)
        out["waited_s"] = round(time.monotonic() - started, 2)
    finally:
        N.nvmlEventSetFree(event_set)
    return out


QUERIES = {
    "architecture": N.nvmlDeviceGetArchitecture,
    "cuda_compute_capability": N.nvmlDeviceGetCudaComputeCapability,
    "brand": N.nvmlDeviceGetBrand,
    "minor_number": N.nvmlDeviceGetMinorNumber,
    "fabric_info": lambda h: N.nvmlDeviceGetGpuFabricInfo(h, N.c_nvmlGpuFabricInfo_t()),
    "fabric_info_v": fabric_v,
    "addressing_mode": N.nvmlDeviceGetAddressingMode,
    "attributes": lambda h: str(N.nvmlDeviceGetAttributes(h)),
    "events": events,
}


def one(index, name):
    """Runs one query on GPU ``index``; prints its result as JSON."""
    N.nvmlInit()
    try:
        print(json.dumps(ask(QUERIES[name], N.nvmlDeviceGetHandleByIndex(index)), default=str))
    finally:
        N.nvmlShutdown()


def main():
    if len(sys.argv) == 3:
        one(int(sys.argv[1]), sys.argv[2])
        return
    N.nvmlInit()
    count = N.nvmlDeviceGetCount()
    N.nvmlShutdown()
    gpus = []
    for index in range(count):
        gpu = {"index": index}
        for name in QUERIES:
            run = subprocess.run([sys.executable, __file__, str(index), name], capture_output=True, text=True,
                                 check=False, timeout=60)
            gpu[name] = json.loads(run.stdout) if run.returncode == 0 else {"crashed": run.returncode,
                                                                            "stderr": run.stderr[-300:]}
        gpus.append(gpu)
    json.dump({"gpus": gpus}, sys.stdout, indent=1, sort_keys=True, default=str)
    print()


if __name__ == "__main__":
    main()
