#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Builds NVIDIA's GPU Operator controller (cmd/gpu-operator) from the operator's Go module
# at the version pinned in tests/lab/versions.env, once, into the cache outside the clone:
#   ${FGPU_CACHE:-~/.cache/fractional-gpu}/bin/gpu-operator-<module version>/gpu-operator
# and prints two lines: the binary, and the module's directory (its assets/ and manifests/
# are the operand manifests the operator's container image carries in /opt/gpu-operator).
# tests/lab/gpu_operator.py runs the binary against the lab.
#
# The checksum database has no entry for this pseudo-version: go_module_dir checks the
# module's hash against GPU_OPERATOR_MODULE_SUM, and the build then fetches it without the
# database and checks the same pin (GO_BUILD_MODULE_SUM).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lab/versions.env
source "$here/versions.env"
cache=${FGPU_CACHE:-$HOME/.cache/fractional-gpu}
bin_dir="$cache/bin/current"
module=github.com/NVIDIA/gpu-operator

die() { echo "operator build: $*" >&2; exit 1; }
log() { echo "operator build: $*" >&2; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go 1.24 or newer (https://go.dev/doc/install) and run again"

# shellcheck source=tests/lab/go_build.sh
source "$here/go_build.sh"

mkdir -p "$bin_dir"
dir=$(go_module_dir "$module" "$GPU_OPERATOR_MODULE_VERSION" "$GPU_OPERATOR_MODULE_SUM")
[[ -d $dir/assets/state-mig-manager ]] || die "$module@$GPU_OPERATOR_MODULE_VERSION has no assets/ directory"
# The operator's Makefile stamps internal/info.version; the pseudo-version is what we have.
GO_BUILD_MODULE_SUM=$GPU_OPERATOR_MODULE_SUM go_build gpu-operator "$module" "$GPU_OPERATOR_MODULE_VERSION" "$module/cmd/gpu-operator" \
  "-X $module/internal/info.version=$GPU_OPERATOR_MODULE_VERSION"
echo "$cache/bin/gpu-operator-$GPU_OPERATOR_MODULE_VERSION/gpu-operator"
echo "$dir"
