#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Fetches the real NVIDIA GPU Operator Helm chart for the lab, at the version pinned in
# tests/lab/versions.env, and prints the path of the packaged chart:
#   ${FGPU_CACHE:-~/.cache/fractional-gpu}/charts/gpu-operator-<module version>.tgz
# Nothing of the chart is committed to this repository.
#
# Where it comes from: the operator's Go module, github.com/NVIDIA/gpu-operator, carries the
# chart in deployments/gpu-operator (Chart.yaml, values.yaml, crds/, templates/). The module
# proxy is the one upstream source reachable from the test machines (no GitHub, no Helm
# repository, no container registry). The module path has no /vNN suffix although the
# release tags are v25.x/v26.x, so Go serves it by commit pseudo-version: that is the pin.
#
# Cached by module version: a second run prints the path at once.
#
# Usage: tests/lab/operator_chart.sh           fetch (if needed) and print the chart path
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lab/versions.env
source "$here/versions.env"
cache=${FGPU_CACHE:-$HOME/.cache/fractional-gpu}
module=github.com/NVIDIA/gpu-operator
out="$cache/charts/gpu-operator-$GPU_OPERATOR_MODULE_VERSION.tgz"

die() { echo "operator chart: $*" >&2; exit 1; }
log() { echo "operator chart: $*" >&2; }

if [[ -s $out ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go 1.24 or newer (https://go.dev/doc/install) and run again"
python=${FGPU_PYTHON:-python3}
"$python" -c 'import yaml' 2>/dev/null \
  || die "$python cannot import yaml (PyYAML); run through tests/scripts/test.sh, or set FGPU_PYTHON to the project venv's python"
bin_dir=$("$here/build.sh" --print-bin | tail -n 1)
helm="$bin_dir/helm"
[[ -x $helm ]] || die "helm was not built into $bin_dir; run tests/lab/build.sh"

# shellcheck source=tests/lab/go_build.sh
source "$here/go_build.sh"
src="$(go_module_dir "$module" "$GPU_OPERATOR_MODULE_VERSION" "$GPU_OPERATOR_MODULE_SUM")/deployments/gpu-operator"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
[[ -f $src/Chart.yaml ]] || die "$module@$GPU_OPERATOR_MODULE_VERSION has no deployments/gpu-operator/Chart.yaml"

chart="$work/gpu-operator"
cp -r "$src" "$chart"
chmod -R u+w "$chart"

# Sub-charts: NFD (node-feature-discovery, condition nfd.enabled) is a chart dependency.
# Some operator versions vendor it under charts/ (this pin does); newer ones pull it from
# oci://registry.k8s.io/nfd/charts, which cannot be reached here. Helm refuses to install a
# chart whose Chart.yaml lists a dependency missing from charts/ even when its condition is
# false, and `helm package --dependency-update` would try to fetch it. So: package without
# updating dependencies, and drop from this packaged copy's Chart.yaml (and Chart.lock) any
# dependency that is not vendored. The lab installs with nfd.enabled=false and labels its
# nodes the way NFD would (tests/lab/nvidia_operands.py), with NVIDIA's GPU feature
# discovery's labels.
"$python" - "$chart" <<'PY'
import os
import sys

import yaml

chart = sys.argv[1]
path = os.path.join(chart, "Chart.yaml")
with open(path) as f:
    meta = yaml.safe_load(f)
vendored = set(os.listdir(os.path.join(chart, "charts"))) if os.path.isdir(os.path.join(chart, "charts")) else set()
kept, dropped = [], []
for dep in meta.get("dependencies") or []:
    alias = dep.get("alias") or dep["name"]
    names = {alias, dep["name"]} | {"%s-%s.tgz" % (dep["name"], dep.get("version", "").lstrip("v")),
                                    "%s-%s.tgz" % (dep["name"], dep.get("version", ""))}
    (kept if names & vendored else dropped).append(dep)
if dropped:
    meta["dependencies"] = kept
    with open(path, "w") as f:
        yaml.safe_dump(meta, f, sort_keys=False)
    lock = os.path.join(chart, "Chart.lock")
    if os.path.exists(lock):
        os.remove(lock)
for dep in dropped:
    print("operator chart: dependency %s (%s) is not vendored; dropped from the packaged copy"
          % (dep["name"], dep.get("repository", "")), file=sys.stderr)
PY

mkdir -p "$cache/charts"
"$helm" package "$chart" --destination "$work/pkg" >/dev/null || die "helm package failed"
pkg=$(ls "$work"/pkg/*.tgz)
mv "$pkg" "$out.tmp"
mv "$out.tmp" "$out"
log "packaged $(basename "$pkg") from $module@$GPU_OPERATOR_MODULE_VERSION"
echo "$out"
