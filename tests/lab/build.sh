#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Builds the lab's binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm; NVIDIA's device plugin, GPU feature discovery and config manager; the
# lab's kubelet stand-in) from their Go modules, once per version, into a cache outside the
# clone: ${FGPU_CACHE:-~/.cache/fractional-gpu}/bin/<tool>-<version>/<tool>.
# A second run finds every binary cached and returns in well under a second.
#
# Usage: tests/lab/build.sh            build whatever is missing
#        tests/lab/build.sh --print-bin print the directory to put on PATH (after building)
#        tests/lab/build.sh --device-plugins  build only NVIDIA's device plugin at every version
#                                       in NVIDIA_DEVICE_PLUGIN_CHECKED and the pinned GFD, and
#                                       print their paths
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lab/versions.env
source "$here/versions.env"
cache=${FGPU_CACHE:-$HOME/.cache/fractional-gpu}
bin_dir="$cache/bin/current"

die() { echo "lab build: $*" >&2; exit 1; }
log() { echo "lab build: $*" >&2; }

command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go 1.24 or newer (https://go.dev/doc/install) and run again"

# go_build (shared with kai.sh): builds one command of a module as a consumer, cached.
# shellcheck source=tests/lab/go_build.sh
source "$here/go_build.sh"

mkdir -p "$bin_dir"
nvidia_plugin_module=github.com/NVIDIA/k8s-device-plugin
nvidia_plugin_ldflags="-X $nvidia_plugin_module/internal/info.version=$NVIDIA_DEVICE_PLUGIN_VERSION"
if [[ ${1:-} == --device-plugins ]]; then
  # The plugin at each version the collection's configs are checked against
  # (tests/unit/plugins/test_device_plugin_upstream.py): not linked, printed.
  for version in $NVIDIA_DEVICE_PLUGIN_CHECKED; do
    GO_BUILD_CGO=1 GO_BUILD_NO_LINK=1 GO_BUILD_NOSUMDB=$NVIDIA_DEVICE_PLUGIN_NOSUMDB go_build nvidia-device-plugin \
      "$nvidia_plugin_module" "$version" "$nvidia_plugin_module/cmd/nvidia-device-plugin" \
      "-X $nvidia_plugin_module/internal/info.version=$version"
    echo "$version $cache/bin/nvidia-device-plugin-$version/nvidia-device-plugin"
  done
  # And the lab's GPU feature discovery, compared with the real GPU's labels.
  GO_BUILD_CGO=1 GO_BUILD_NO_LINK=1 GO_BUILD_NOSUMDB=$NVIDIA_DEVICE_PLUGIN_NOSUMDB go_build gpu-feature-discovery \
    "$nvidia_plugin_module" "$NVIDIA_DEVICE_PLUGIN_VERSION" "$nvidia_plugin_module/cmd/gpu-feature-discovery" \
    "$nvidia_plugin_ldflags"
  echo "gfd $cache/bin/gpu-feature-discovery-$NVIDIA_DEVICE_PLUGIN_VERSION/gpu-feature-discovery"
  exit 0
fi

k8s_minor=${KUBERNETES_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
# Without these the binaries report v0.0.0-master, and Helm refuses charts whose
# kubeVersion constraint it cannot meet.
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"

go_build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
for tool in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go_build "$tool" k8s.io/kubernetes "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$tool" "$k8s_ldflags" staging
done
go_build kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
# kwok ships no default behaviour in its binary: its stage files (node heartbeats, pods
# going Running and away) come from the same module.
kwok_stages="$cache/bin/kwok-$KWOK_VERSION/stages.yaml"
if [[ ! -s $kwok_stages ]]; then
  kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  for stage in node/fast node/heartbeat-with-lease pod/fast; do
    for f in "$kwok_dir/kustomize/stage/$stage"/*.yaml; do
      [[ $(basename "$f") == kustomization.yaml ]] && continue
      printf -- '---\n'; cat "$f"
    done
  done >"$kwok_stages.tmp" || die "reading kwok's stage files from its module failed"
  mv "$kwok_stages.tmp" "$kwok_stages"
fi
ln -sf "$kwok_stages" "$bin_dir/kwok-stages.yaml"

go_build helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

# NVIDIA's device plugin, GPU feature discovery and the config manager sidecar of both
# (tests/lab/nvidia_operands.py runs them); go-nvml calls libnvidia-ml.so.1 through cgo.
for tool in nvidia-device-plugin gpu-feature-discovery config-manager; do
  GO_BUILD_CGO=1 GO_BUILD_NOSUMDB=$NVIDIA_DEVICE_PLUGIN_NOSUMDB go_build "$tool" "$nvidia_plugin_module" \
    "$NVIDIA_DEVICE_PLUGIN_VERSION" "$nvidia_plugin_module/cmd/$tool" "$nvidia_plugin_ldflags"
done
# The kubelet's device manager, as the lab stands in for it (tests/lab/kubelet).
go_build_local fgpu-kubelet "$here/kubelet"


if [[ ${1:-} == --print-bin ]]; then
  echo "$bin_dir"
fi
