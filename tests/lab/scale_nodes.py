# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A STAND-IN for NFD, NVIDIA's GPU feature discovery and NVIDIA's device plugin on the lab's
light scale nodes, one small process for all of them. Used only for scale: the benchmark
(tests/benchmarks/fleet_bench.py) and the scale_faults scenario.

Why a stand-in: a lab node normally runs NVIDIA's own device plugin and GFD, for real, in the
pods the GPU Operator deploys (tests/lab/nvidia_operands.py), about 125 MB and a few
processes per node: a thousand nodes that way do not fit a test machine. The scale nodes
(`lab.py up --extra-nodes N`) carry nvidia.com/gpu.deploy.operands=false, which makes the GPU
Operator deploy no operand there (github.com/NVIDIA/gpu-operator controllers/state_manager.go,
hasOperandsDisabled), and this process keeps what NFD, GFD and the plugin would publish:

  1. NFD: the node's machine labels (lab.py nfd_labels: PCI vendor 10de present, kernel, OS)
     and NFD's record of them (annotation nfd.node.kubernetes.io/feature-labels);
  2. GFD, once the operator's controller has marked the node nvidia.com/gpu.present=true:
     nvidia.com/gpu.product (the product name, blanks as '-', k8s-device-plugin
     internal/lm/resource.go), .count, .memory (MiB), .family, nvidia.com/mig.capable, from
     the simulated model of the node (tests/gpusim/models.yaml);
  3. the device plugin: the config the ClusterPolicy names (spec.devicePlugin.config: the
     ConfigMap, in the operator's namespace, and its default key), the node's key from its
     nvidia.com/device-plugin.config label; with time slicing or MPS of nvidia.com/gpu at N
     replicas, capacity and allocatable nvidia.com/gpu = GPUs x N (or nvidia.com/gpu.shared
     with renameByDefault, nvidia.com/gpu then 0), labels nvidia.com/gpu.replicas = N,
     nvidia.com/gpu.sharing-strategy = time-slicing | mps and the product with -SHARED when
     not renamed (k8s-device-plugin api/config/v1, docs/gpu-sharing.md). A key the
     ConfigMap lacks, or a config the plugin refuses, leaves the node as it is (the config
     manager keeps the last config).

Written from NVIDIA's documented behaviour, independently of the collection's code
(plugins/module_utils/device_plugin_config.py): the scale tests check the collection against
it. It proves nothing about NVIDIA's plugin (the base nodes and the time_slicing scenario run
the real one); no MIG on these nodes.

    scale_nodes.py run       a pass every --interval seconds, in the foreground (lab.py up
                             starts it with the lab, as one of its pod runners)
    scale_nodes.py sync      one pass, then exit (prints what it changed)

Cost per pass: one list of the light nodes, the ClusterPolicy and its ConfigMap, and a patch
only for a node that differs. On a real fleet each node's GFD and device plugin publish for
their own node, all at once; the patches here go out WRITERS at a time, each over a kept-alive
connection, so that a thousand nodes re-advertise in seconds, not minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlparse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

NAME = "scale-nodes"
CONFIG_LABEL = "nvidia.com/device-plugin.config"
PRESENT = "nvidia.com/gpu.present"
GPU = "nvidia.com/gpu"
SHARED = ".shared"
NO_SHARING = {"strategy": "none", "rename": False, "replicas": 1}
WRITERS = 8


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {NAME}: {msg}", file=sys.stderr, flush=True)


class Client:
    """The lab's admin identity over one kept-alive HTTPS connection."""

    def __init__(self) -> None:
        self.ctx = ssl.create_default_context(cafile=str(lab.pki("ca.crt")))
        self.ctx.load_cert_chain(str(lab.pki("admin.crt")), str(lab.pki("admin.key")))
        server = urlparse(yaml.safe_load(lab.kubeconfig_path().read_text())["clusters"][0]["cluster"]["server"])
        self.host, self.port = server.hostname, server.port
        self.conn = None

    def call(self, method: str, path: str, body: dict | None = None):
        """The decoded answer; None for 404. Raises ConnectionError when the apiserver is gone."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
            headers = {"Accept": "application/json", "User-Agent": "fgpu-lab-scale-nodes"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/merge-patch+json"
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise ConnectionError(f"the apiserver does not answer: {exc}") from exc
                continue
            if response.status == 404:
                return None
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: HTTP {response.status} {payload[:300]!r}")
            return json.loads(payload)
        return None


def sharing(text: str) -> dict:
    """The sharing of nvidia.com/gpu in a device plugin config file, as the plugin reads it;
    ValueError when the plugin would refuse the file."""
    config = yaml.safe_load(text) or {}
    if config.get("version", "v1") != "v1":
        raise ValueError(f"unknown version {config.get('version')!r}")
    section = (config.get("sharing") or {})
    kind = "mps" if section.get("mps") is not None else "timeSlicing"
    options = section.get(kind)
    if options is None:
        return dict(NO_SHARING)
    resources = options.get("resources")
    if not resources:
        raise ValueError("no resources specified")
    replicas = 1
    for resource in resources:
        if int(resource.get("replicas", 0)) < 2:
            raise ValueError("number of replicas must be >= 2")
        if resource.get("name") in (GPU, "gpu"):
            replicas = int(resource["replicas"])
    return {"strategy": "mps" if kind == "mps" else "time-slicing",
            "rename": bool(options.get("renameByDefault", False)), "replicas": replicas}


def gfd_labels(model: dict, count: int) -> dict:
    product = "-".join(model["product_name"].split())
    return {GPU + ".product": product, GPU + ".count": str(count),
            GPU + ".memory": str(model["memory_mib"]),
            GPU + ".family": str(model.get("architecture", "")).lower(),
            "nvidia.com/mig.capable": str(bool(model.get("profiles"))).lower()}


def wanted(node: dict, model: dict, count: int, nfd: dict, config: dict | None) -> tuple[dict, dict]:
    """(labels, resources) the node should carry. Before the operator marks it a GPU node,
    NFD's labels only; ``config`` None: the plugin keeps its last config (the sharing labels
    and resources stay as they are)."""
    labels = dict(nfd)
    if (node["metadata"].get("labels") or {}).get(PRESENT) != "true":
        return labels, {}
    gfd = gfd_labels(model, count)
    product = gfd.pop(GPU + ".product")
    labels.update(gfd)
    if config is None:
        return labels, {}
    shared = config["replicas"] > 1
    renamed = shared and config["rename"]
    labels[GPU + ".product"] = product + ("-SHARED" if shared and not renamed else "")
    labels[GPU + ".replicas"] = str(config["replicas"])
    labels[GPU + ".sharing-strategy"] = config["strategy"] if shared else "none"
    if renamed:
        return labels, {GPU: "0", GPU + SHARED: str(count * config["replicas"])}
    return labels, {GPU: str(count * config["replicas"]), GPU + SHARED: None}


class StandIn:
    def __init__(self, namespace: str) -> None:
        self.client = Client()
        self.writers = threading.local()  # one connection per writer thread
        self.namespace = namespace
        self.models = yaml.safe_load((lab.REPO / "tests" / "gpusim" / "models.yaml").read_text())
        self.nfd = lab.nfd_labels(lab.load_host())

    def light_nodes(self) -> dict:
        if not lab.light_nodes_file().exists():
            return {}
        return {n["name"]: n for n in (yaml.safe_load(lab.light_nodes_file().read_text()) or {}).get("nodes", [])}

    def configs(self):
        """The device plugin's configs by key and the default key; None when the ClusterPolicy
        names a ConfigMap that does not exist (the plugin would not start)."""
        policy = self.client.call("GET", "/apis/nvidia.com/v1/clusterpolicies/cluster-policy")
        ref = (((policy or {}).get("spec") or {}).get("devicePlugin") or {}).get("config") or {}
        if not ref.get("name"):
            return {}, ""
        cm = self.client.call("GET", f"/api/v1/namespaces/{self.namespace}/configmaps/{quote(ref['name'])}")
        if cm is None:
            return None
        return cm.get("data") or {}, ref.get("default") or ""

    def sync(self) -> list[str]:
        described = self.light_nodes()
        if not described:
            return []
        found = self.configs()
        listed = self.client.call("GET", f"/api/v1/nodes?labelSelector={quote(lab.LIGHT_LABEL)}%3Dtrue")
        changed, writes = [], []
        for node in listed["items"]:
            name = node["metadata"]["name"]
            if name not in described:
                continue
            gpu = described[name]["gpu"]
            labels = node["metadata"].get("labels") or {}
            config = dict(NO_SHARING)
            if found is None:
                config = None
            else:
                data, default = found
                key = labels.get(CONFIG_LABEL) or default
                if key:
                    try:
                        config = sharing(data[key])
                    except (KeyError, ValueError, TypeError, yaml.YAMLError):
                        config = None
            want_labels, want_resources = wanted(node, self.models[gpu["model"]], int(gpu["count"]),
                                                 self.nfd, config)
            label_patch = {k: v for k, v in want_labels.items() if labels.get(k) != v}
            recorded = (node["metadata"].get("annotations") or {}).get(lab.NFD_LABELS_ANNOTATION)
            nfd_record = ",".join(sorted(self.nfd))
            metadata_patch = None
            if label_patch or recorded != nfd_record:
                metadata_patch = {"metadata": {
                    "labels": label_patch, "annotations": {lab.NFD_LABELS_ANNOTATION: nfd_record}}}
            status = node.get("status") or {}
            res_patch = {}
            for field in ("capacity", "allocatable"):
                have = status.get(field) or {}
                diff = {k: v for k, v in want_resources.items()
                        if have.get(k) != v and not (v is None and k not in have)}
                if diff:
                    res_patch[field] = diff
            if metadata_patch or res_patch:
                writes.append((name, metadata_patch, {"status": res_patch} if res_patch else None))
            if label_patch or res_patch:
                changed.append(name)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            # list(): the first failed write raises here, after the others finished.
            list(pool.map(self.write, writes))
        return changed

    def write(self, job: tuple) -> None:
        name, metadata_patch, status_patch = job
        if not hasattr(self.writers, "client"):
            self.writers.client = Client()
        if metadata_patch:
            self.writers.client.call("PATCH", f"/api/v1/nodes/{name}", metadata_patch)
        if status_patch:
            self.writers.client.call("PATCH", f"/api/v1/nodes/{name}/status", status_patch)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "sync"])
    parser.add_argument("--namespace", default=os.environ.get("FGPU_OPERATOR_NAMESPACE", "gpu-operator"))
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    stand_in = StandIn(args.namespace)
    if args.command == "sync":
        print("\n".join(stand_in.sync()))
        return 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    log(f"keeping the light scale nodes of {lab.light_nodes_file()} every {args.interval}s")
    down_since = None
    while not stop:
        try:
            changed = stand_in.sync()
            if changed:
                log(f"{len(changed)} node(s) updated: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}")
            if down_since is not None:
                log("the apiserver answers again")
            down_since = None
        except (ConnectionError, RuntimeError) as exc:
            if down_since is None:
                down_since = time.monotonic()
                log(f"waiting for the apiserver: {exc}")
        time.sleep(args.interval)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
