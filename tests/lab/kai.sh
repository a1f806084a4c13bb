#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The KAI Scheduler on the lab: its real Helm chart and CRDs, and its real scheduler,
# binder, pod grouper, admission webhook and queue controller built from its Go module and
# run as processes against the lab's apiserver and kwok GPU nodes.
#
#   tests/lab/kai.sh build    fetch the module, package the chart, build the binaries (cached)
#   tests/lab/kai.sh start    build if needed, then run the components (lab must be up)
#   tests/lab/kai.sh stop     stop what start started; idempotent
#   tests/lab/kai.sh status [--quiet]   say what runs; exit 0 only when everything runs
#   tests/lab/kai.sh env      print exports: FGPU_KAI_CHART, FGPU_KAI_VERSION
#
# Everything is cached by version outside the clone, in ${FGPU_CACHE:-~/.cache/fractional-gpu}:
#   charts/kai-scheduler-<version>.tgz, bin/kai-<component>-<version>/kai-<component>.
# Processes, pid files and logs live under $FGPU_LAB_DIR/kai/.
#
# What runs, and what the lab stands in for (see also roles/kai_scheduler/README.md):
# - The chart's kai-operator Deployment is created by Helm; kwok reports its pod Running.
#   The operator itself does NOT run: it would register its webhooks as Service references
#   with failurePolicy Fail, which the lab apiserver cannot reach (no kube-proxy, no pod
#   network), so every Queue and KAI pod write would fail. Instead this script runs the
#   operands the operator would deploy, as processes, with the flags the operator gives them
#   (each waits for KAI's CRDs, which Helm installs, and is restarted if it exits).
# - The scheduler runs with its built-in configuration, which is what the operator renders
#   for the chart's default SchedulingShard (binpack for gpu and cpu).
# - The admission webhook (it gives fractional pods their GPU-sharing ConfigMap references
#   and the `nvidia` runtime class) runs on 127.0.0.1; this script registers it with a url:
#   client config and a throw-away CA, as the operator would through a Service. The queue
#   controller runs without its webhook (which only requires `resources` on a Queue).
#   The pod group controller (pod group status only) does not run.
# - The `nvidia` RuntimeClass that KAI's admission gives GPU-sharing pods is the GPU
#   Operator's: its controller creates it (and removes it with its ClusterPolicy), in the lab
#   as on a real cluster (tests/lab/gpu_operator.py).
# - A GPU-sharing bind makes the binder create a reservation pod on the chosen node and wait
#   until that pod's container annotates it with the GPU it was given (it asks NVML). kwok
#   runs no containers, so the "reservation agent" below writes that one annotation, with a
#   fake GPU UUID, in place of the container. Everything else is KAI's own code.
# Ports: FGPU_KAI_PORT_BASE (default: the lab apiserver's port + 2000) .. +9, for metrics
# and probes on 127.0.0.1; the webhook on +8 listens on all interfaces (KAI's admission has
# no flag for the address). Internal subcommands: `supervise NAME CMD...`,
# `reservation-agent`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/lab/versions.env
source "$here/versions.env"
cache=${FGPU_CACHE:-$HOME/.cache/fractional-gpu}
bin_dir="$cache/bin/current"
lab_dir=${FGPU_LAB_DIR:-$repo/.lab}
kai_dir="$lab_dir/kai"
kubeconfig="$lab_dir/kubeconfig"
chart="$cache/charts/kai-scheduler-$KAI_VERSION.tgz"
namespace=${FGPU_KAI_NAMESPACE:-kai-scheduler}
# Loopback ports for the components' metrics, probes and webhook: base .. base+9. Each lab
# gets its own: by default 2000 above its apiserver's port (18443 for the default lab), so
# that two labs on one machine do not answer each other's webhook calls.
lab_api_port() {
  # No kubeconfig yet (a build before the lab's first start): no port.
  [[ -f $kubeconfig ]] || return 0
  sed -n 's#.*server: https://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$kubeconfig" | head -n 1
}
api_port=$(lab_api_port)
port_base=${FGPU_KAI_PORT_BASE:-$(( ${api_port:-${FGPU_LAB_APISERVER_PORT:-16443}} + 2000 ))}
components=(podgrouper scheduler binder admission queuecontroller reservation-agent)

die() { echo "kai: $*" >&2; exit 1; }
log() { echo "kai: $*" >&2; }

# shellcheck source=tests/lab/go_build.sh
source "$here/go_build.sh"

# --- build ------------------------------------------------------------------------------

package_chart() {
  [[ -s $chart ]] && return
  local src="$1/deployments/kai-scheduler" work
  [[ -f $src/Chart.yaml ]] || die "the module has no deployments/kai-scheduler/Chart.yaml"
  log "packaging the kai-scheduler chart $KAI_VERSION (first time only)"
  work=$(mktemp -d)
  cp -r "$src" "$work/kai-scheduler"
  chmod -R u+w "$work"
  mkdir -p "$(dirname "$chart")"
  # The repository's Chart.yaml says 0.0.0; the release pipeline stamps the tag, as here.
  "$bin_dir/helm" package "$work/kai-scheduler" --version "$KAI_VERSION" \
    --app-version "$KAI_VERSION" -d "$work" >/dev/null \
    || { rm -rf "$work"; die "helm package failed"; }
  mv "$work/kai-scheduler-$KAI_VERSION.tgz" "$chart"
  rm -rf "$work"
}

cmd_build() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH; install Go 1.24 or newer"
  "$here/build.sh" >/dev/null  # helm, kubectl (cached)
  mkdir -p "$bin_dir"
  local started=$SECONDS dir component
  dir=$(go_module_dir "$KAI_MODULE" "$KAI_VERSION" "$KAI_MODULE_SUM")
  package_chart "$dir"
  local version_pkg="$KAI_MODULE/pkg/scheduler/version"
  local ldflags="-X $version_pkg.gitVersion=$KAI_VERSION -X $version_pkg.gitTreeState=clean"
  for component in scheduler binder podgrouper admission queuecontroller; do
    GO_BUILD_MODULE_SUM=$KAI_MODULE_SUM go_build "kai-$component" "$KAI_MODULE" "$KAI_VERSION" "$KAI_MODULE/cmd/$component" "$ldflags"
  done
  log "KAI $KAI_VERSION ready in $((SECONDS - started))s: chart $chart, binaries in $bin_dir"
}

# --- processes --------------------------------------------------------------------------

pid_file() { echo "$kai_dir/run/$1.pid"; }
log_file() { echo "$kai_dir/logs/$1.log"; }

running_pid() {
  local pid
  pid=$(cat "$(pid_file "$1")" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

kc() { "$bin_dir/kubectl" --kubeconfig="$kubeconfig" "$@"; }

port() { echo $((port_base + $1)); }

component_args() {
  local m p
  case $1 in
    podgrouper)
      m=$(port 0) p=$(port 1)
      echo "$bin_dir/kai-podgrouper --metrics-bind-address=127.0.0.1:$m --health-probe-bind-address=127.0.0.1:$p" ;;
    scheduler)
      m=$(port 2) p=$(port 3)
      echo "$bin_dir/kai-scheduler --namespace=$namespace --listen-address=127.0.0.1:$m --plugin-server-port=$p --schedule-period=1s --v=${FGPU_KAI_SCHEDULER_VERBOSITY:-2}" ;;
    binder)
      m=$(port 4) p=$(port 5)
      echo "$bin_dir/kai-binder --metrics-bind-address=127.0.0.1:$m --health-probe-bind-address=127.0.0.1:$p --resource-reservation-namespace=kai-resource-reservation --resource-reservation-service-account=kai-resource-reservation --resource-reservation-app-label=kai-resource-reservation" ;;
    admission)
      m=$(port 6) p=$(port 7)
      echo "$bin_dir/kai-admission --metrics-bind-address=127.0.0.1:$m --health-probe-bind-address=127.0.0.1:$p --webhook-addr=$(port 8) --gpu-sharing-enabled=true --gpu-pod-runtime-class-name=nvidia" ;;
    queuecontroller)
      m=$(port 9)
      echo "$bin_dir/kai-queuecontroller --metrics-listen-address=127.0.0.1:$m --enable-webhook=false" ;;
  esac
}

# supervise NAME CMD...: run CMD once KAI's CRDs exist (Helm installs them), and again
# whenever it exits (the CRDs were removed and come back, a crash): a stand-in for the
# Deployment the operator would create. Runs in its own session; stop kills the group.
lab_alive() {
  local pid
  pid=$(cat "$lab_dir/run/kube-apiserver.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# Ends this process group (a supervised component and its supervisor) once the lab's
# apiserver is gone, so that `lab.py down` without `kai.sh stop` leaves nothing behind.
watch_lab() {
  (
    while lab_alive; do sleep 5; done
    echo "kai: the lab apiserver is gone; stopping"
    kill -TERM 0
  ) &
}

cmd_supervise() {
  local name=$1
  shift
  watch_lab
  while true; do
    until kc get crd queues.scheduling.run.ai podgroups.scheduling.run.ai \
        bindrequests.scheduling.run.ai >/dev/null 2>&1; do
      sleep 1
    done
    echo "kai supervise: starting $name: $*"
    "$@" || true
    echo "kai supervise: $name exited; starting it again in 2s"
    sleep 2
  done
}

# reservation-agent: in place of the reservation pod's container (which asks NVML which
# GPU the device plugin gave it and writes its UUID on the pod), give each reservation pod
# a distinct fake GPU UUID on its node. Only this annotation is simulated.
cmd_reservation_agent() {
  local ns=kai-resource-reservation key=run.ai/reserve_for_gpu_index
  watch_lab
  while true; do
    local listing
    listing=$(kc get pods -n "$ns" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.nodeName}{" "}{.metadata.annotations.run\.ai/reserve_for_gpu_index}{"\n"}{end}' 2>/dev/null) || listing=""
    local name node gpu used index uuid
    while read -r name node gpu; do
      [[ -n $name && -n $node && -z $gpu ]] || continue
      # GPUs already handed out on that node, as the device plugin would know them.
      used=$(awk -v n="$node" '$2 == n && $3 != "" {print $3}' <<<"$listing" | sort -u)
      index=0
      while grep -qx "GPU-$(printf '%08x' "$(cksum <<<"$node" | cut -d' ' -f1)")-fake-gpu-$(printf '%04d' $index)" <<<"$used"; do
        index=$((index + 1))
      done
      uuid="GPU-$(printf '%08x' "$(cksum <<<"$node" | cut -d' ' -f1)")-fake-gpu-$(printf '%04d' $index)"
      if kc annotate pod -n "$ns" "$name" "$key=$uuid" >/dev/null 2>&1; then
        echo "kai reservation-agent: $ns/$name on $node holds $uuid"
        listing+=$'\n'"$name $node $uuid"
      fi
    done <<<"$listing"
    sleep 1
  done
}

start_component() {
  local name=$1 args
  running_pid "$name" >/dev/null && return
  mkdir -p "$kai_dir/run" "$kai_dir/logs" "$kai_dir/tmp"
  read -r -a args <<<"$(component_args "$name")"
  if [[ $name == reservation-agent ]]; then
    KUBECONFIG="$kubeconfig" setsid "$here/kai.sh" reservation-agent \
      >>"$(log_file "$name")" 2>&1 </dev/null &
  else
    KUBECONFIG="$kubeconfig" TMPDIR="$kai_dir/tmp" setsid "$here/kai.sh" supervise "$name" \
      "${args[@]}" >>"$(log_file "$name")" 2>&1 </dev/null &
  fi
  echo $! >"$(pid_file "$name")"
}

# The admission webhook's serving certificate (for 127.0.0.1) and its CA, where
# controller-runtime looks for them: $TMPDIR/k8s-webhook-server/serving-certs.
make_webhook_certs() {
  local dir="$kai_dir/tmp/k8s-webhook-server/serving-certs"
  [[ -s $dir/tls.crt && -s $kai_dir/pki/ca.crt ]] && return
  command -v openssl >/dev/null || die "openssl is not on PATH"
  mkdir -p "$dir" "$kai_dir/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kai-lab-webhook-ca \
    -keyout "$kai_dir/pki/ca.key" -out "$kai_dir/pki/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj /CN=kai-admission -keyout "$dir/tls.key" \
    -out "$kai_dir/pki/tls.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$kai_dir/pki/ext"
  openssl x509 -req -in "$kai_dir/pki/tls.csr" -CA "$kai_dir/pki/ca.crt" \
    -CAkey "$kai_dir/pki/ca.key" -CAcreateserial -days 3650 -extfile "$kai_dir/pki/ext" \
    -out "$dir/tls.crt" >/dev/null 2>&1
}

# What KAI's operator would otherwise create: the admission webhook registration (here by
# url, on loopback).
register_lab_objects() {
  local ca url
  url="https://127.0.0.1:$(port 8)"
  ca=$(base64 -w0 <"$kai_dir/pki/ca.crt")
  kc apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: kai-admission-lab
  labels: {fractional.gpu/lab: kai}
webhooks:
  - name: pod-mutator.kai.scheduler
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    reinvocationPolicy: IfNeeded
    clientConfig: {url: "$url/mutate--v1-pod", caBundle: "$ca"}
    namespaceSelector:
      matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, $namespace]}
    matchConditions:
      - {name: scheduler-name-match, expression: "object.spec.schedulerName == 'kai-scheduler'"}
    rules:
      - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: Namespaced}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: kai-admission-lab
  labels: {fractional.gpu/lab: kai}
webhooks:
  - name: pod-validator.kai.scheduler
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    clientConfig: {url: "$url/validate--v1-pod", caBundle: "$ca"}
    namespaceSelector:
      matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, $namespace]}
    matchConditions:
      - {name: scheduler-name-match, expression: "object.spec.schedulerName == 'kai-scheduler'"}
    rules:
      - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: Namespaced}
YAML
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
  [[ -f $kubeconfig ]] || die "no lab kubeconfig at $kubeconfig; start the lab first (tests/scripts/test.sh lab-up)"
  kc get --raw /readyz >/dev/null 2>&1 || die "the lab apiserver does not answer; start the lab first"
  local name offset ours="" busy=()
  for name in "${components[@]}"; do ours+=$(running_pid "$name" || true); done
  if [[ -z $ours ]]; then
    # Nothing of this lab's KAI runs: its ports must be free.
    for offset in $(seq 0 9); do
      port_busy "$(port "$offset")" && busy+=("$(port "$offset")")
    done
    [[ ${#busy[@]} -eq 0 ]] || die "ports ${busy[*]} on 127.0.0.1 are in use (another lab's KAI?); choose a free range of 10 with FGPU_KAI_PORT_BASE"
  fi
  cmd_build
  make_webhook_certs
  local name
  for name in "${components[@]}"; do
    start_component "$name"
  done
  register_lab_objects
  cmd_env >"$lab_dir/kai.env"
  log "started ${components[*]} (logs in $kai_dir/logs; they wait for KAI's CRDs, which the chart installs); \`source $lab_dir/kai.env\` for FGPU_KAI_CHART"
}

cmd_stop() {
  local name pid stopped=()
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    name=${components[i]}
    if pid=$(running_pid "$name"); then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do running_pid "$name" >/dev/null || break; sleep 0.1; done
      running_pid "$name" >/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
      stopped+=("$name")
    fi
    rm -f "$(pid_file "$name")"
  done
  # The webhook points at a process that no longer runs: remove it, or every KAI pod write
  # in the lab would fail.
  if [[ -f $kubeconfig ]]; then
    kc delete mutatingwebhookconfiguration,validatingwebhookconfiguration \
      -l fractional.gpu/lab=kai --ignore-not-found --request-timeout=10s >/dev/null 2>&1 || true
  fi
  log "stopped ${stopped[*]:-nothing (was not running)}"
}

# status [--quiet]: print each component's state; exit 0 only when all of them run.
cmd_status() {
  local name pid all=0
  for name in "${components[@]}"; do
    if pid=$(running_pid "$name"); then
      [[ ${1:-} == --quiet ]] || printf '%-20s running, pid %s\n' "$name" "$pid"
    else
      [[ ${1:-} == --quiet ]] || printf '%-20s stopped\n' "$name"
      all=1
    fi
  done
  return $all
}

cmd_env() {
  printf 'export FGPU_KAI_CHART=%q\nexport FGPU_KAI_VERSION=%q\n' "$chart" "$KAI_VERSION"
}

case ${1:-} in
  build) cmd_build ;;
  start) cmd_start ;;
  supervise) shift; cmd_supervise "$@" ;;
  reservation-agent) cmd_reservation_agent ;;
  stop) cmd_stop ;;
  status) cmd_status "${2:-}" ;;
  env) cmd_env ;;
  *) die "usage: kai.sh build|start|stop|status|env" ;;
esac
