# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpusim command line: seed a simulated GPU host, inject faults, reboot it, show it.

    python -m gpusim seed --nodes tests/lab/nodes.yaml --node gpu-h100-0 --out /tmp/h100-0.state
    python -m gpusim seed --model H200-141GB --count 1 --out /tmp/h200.state
    python -m gpusim fault [--state FILE] process-add --gpu 0 --pid 4242 [--name N] [--memory-mib M] [--gi G [--ci C]]
    python -m gpusim fault [--state FILE] process-clear [--gpu 0] [--pid 4242]
    python -m gpusim fault [--state FILE] reset-fails|mig-needs-reset|mig-needs-reboot on|off
    python -m gpusim fault [--state FILE] fail-after-mutations N|off
    python -m gpusim fault [--state FILE] clear
    python -m gpusim reboot [--state FILE]
    python -m gpusim driver-reload [--state FILE]
    python -m gpusim show [--state FILE]

--state defaults to $FGPU_GPUSIM_STATE. Run with PYTHONPATH=tests/gpusim.
"""

import argparse
import sys

from . import host
from .mig import NvmlError
from .state import state_path


def _on_off(text):
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError("expected on or off, got %r" % text)
    return text == "on"


def _count_or_off(text):
    if text == "off":
        return -1
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected a count >= 0 or off")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m gpusim", description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="write a fresh state for one node of the lab, or for a model")
    seed.add_argument("--nodes", help="node description, e.g. tests/lab/nodes.yaml (with --node)")
    seed.add_argument("--node", help="node name in that file")
    seed.add_argument("--model", help="a key of tests/gpusim/models.yaml (instead of --nodes/--node)")
    seed.add_argument("--count", type=int, default=1, help="GPUs of --model")
    seed.add_argument("--out", required=True, help="state file to write")
    seed.add_argument("--driver-version", default="580.95.05")
    seed.add_argument("--cuda-version", type=int, default=13000, help="as NVML reports it (13000: 13.0)")

    for name, text in (("fault", "inject or clear faults"), ("reboot", "reboot the host"),
                       ("driver-reload", "unload and load the NVIDIA driver"),
                       ("show", "print the state as JSON")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state", help="state file (default $FGPU_GPUSIM_STATE)")
        if name == "fault":
            faults = sub.add_subparsers(dest="fault", required=True)
            add = faults.add_parser("process-add", help="a process running on a GPU")
            add.add_argument("--gpu", type=int, required=True)
            add.add_argument("--pid", type=int, required=True)
            add.add_argument("--name", default="python3")
            add.add_argument("--memory-mib", type=int, default=1024)
            add.add_argument("--gi", type=int, help="GPU instance the process runs in")
            add.add_argument("--ci", type=int, help="compute instance (default 0)")
            clear = faults.add_parser("process-clear", help="processes end")
            clear.add_argument("--gpu", type=int)
            clear.add_argument("--pid", type=int)
            for flag in ("reset-fails", "mig-needs-reset", "mig-needs-reboot"):
                faults.add_parser(flag).add_argument("value", type=_on_off, help="on|off")
            faults.add_parser("fail-after-mutations").add_argument("value", type=_count_or_off, help="N|off")
            faults.add_parser("clear", help="all faults off (processes stay)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "seed":
        if args.model:
            host.seed_model(args.model, args.count, args.out, args.node, args.driver_version,
                            args.cuda_version)
        elif args.nodes and args.node:
            host.seed(args.nodes, args.node, args.out, args.driver_version, args.cuda_version)
        else:
            build_parser().error("seed needs --nodes and --node, or --model")
        return 0
    path = state_path(args.state)
    if args.command == "reboot":
        host.reboot(path)
    elif args.command == "driver-reload":
        try:
            host.driver_reload(path)
        except NvmlError as error:
            print("gpusim: the driver cannot be unloaded: %s (processes use a GPU)" % error, file=sys.stderr)
            return 1
    elif args.command == "show":
        print(host.dump(path))
    elif args.fault == "process-add":
        host.add_process(path, args.gpu, args.pid, args.name, args.memory_mib, args.gi, args.ci)
    elif args.fault == "process-clear":
        host.clear_processes(path, args.gpu, args.pid)
    elif args.fault == "clear":
        host.clear_faults(path)
    else:
        host.set_fault(path, args.fault.replace("-", "_"), args.value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
