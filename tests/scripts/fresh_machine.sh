#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The README's two commands as a newcomer runs them on a fresh machine: a fresh clone of
# REV (default HEAD), then `make demo`, then `make test`, with a fresh HOME, Go module and
# build caches, pip cache and lab cache, and an environment holding only PATH, the locale
# and proxy settings. Everything lives under one temporary directory, removed afterwards
# (FGPU_FRESH_KEEP=1 keeps it). Prints the time of each command; exits non-zero when one
# fails. Run it before resolving a change to what the lab builds: a developer's caches and
# hand-made settings (`go env -w`, ~/.ansible) hide a missing install step.
#
# Usage: tests/scripts/fresh_machine.sh [REV]
#   FGPU_LAB_APISERVER_PORT, FGPU_LAB_ETCD_PORT, FGPU_KAI_PORT_BASE are passed on, to run
#   beside a lab that holds the default ports.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rev=${1:-HEAD}
commit=$(git -C "$repo" rev-parse --verify "$rev^{commit}") || { echo "fresh machine: no commit '$rev'" >&2; exit 2; }
root=$(mktemp -d "${TMPDIR:-/tmp}/fgpu-fresh.XXXXXX")
clone="$root/fractional-gpu"

declare -A took status
say() { printf '\n\033[1m==> fresh machine: %s\033[0m\n' "$*" >&2; }

cleanup() {
  # The lab of the clone may still run when a command failed half-way.
  if [[ -x $clone/.venv/bin/python ]]; then
    (cd "$clone" && run_fresh .venv/bin/python tests/lab/lab.py down >/dev/null 2>&1)
  fi
  # What a failure needs to be understood outlives the directory: the lab's logs.
  if [[ ${status[demo]:-0} != 0 || ${status[test]:-0} != 0 ]] && [[ -d $clone/.lab/logs ]]; then
    local kept
    kept=$(mktemp -d "${TMPDIR:-/tmp}/fgpu-fresh-logs.XXXXXX")
    cp -r "$clone/.lab/logs" "$kept/" 2>/dev/null
    say "the lab's logs are kept in $kept/logs"
  fi
  if [[ -n ${FGPU_FRESH_KEEP:-} ]]; then
    say "kept $root"
  else
    chmod -R u+w "$root" 2>/dev/null
    rm -rf "$root"
  fi
}
trap cleanup EXIT

# run_fresh CMD...: CMD with the environment of a fresh machine's login.
run_fresh() {
  local pass=() name
  for name in LANG LC_ALL TERM http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY \
      NO_PROXY FGPU_LAB_APISERVER_PORT FGPU_LAB_ETCD_PORT FGPU_KAI_PORT_BASE; do
    [[ -n ${!name:-} ]] && pass+=("$name=${!name}")
  done
  env -i "${pass[@]}" PATH="$PATH" HOME="$root/home" USER="$(id -un)" TMPDIR="$root/tmp" \
    GOMODCACHE="$root/home/go/pkg/mod" GOCACHE="$root/home/.cache/go-build" \
    PIP_CACHE_DIR="$root/home/.cache/pip" "$@"
}

mkdir -p "$root/home" "$root/tmp"
say "clone of ${commit:0:12} in $clone; HOME, Go, pip and lab caches under $root/home"
if ! git clone -q --no-local "$repo" "$clone" || ! git -C "$clone" checkout -q "$commit"; then
  echo "fresh machine: cloning $repo at $commit failed" >&2
  exit 2
fi

for target in demo test; do
  say "make $target"
  started=$SECONDS
  (cd "$clone" && run_fresh make "$target")
  status[$target]=$?
  took[$target]=$((SECONDS - started))
  say "make $target exited ${status[$target]} after $((took[$target] / 60)) min $((took[$target] % 60)) s"
  [[ ${status[$target]} == 0 ]] || break
done

printf '\nfresh machine, %s, commit %s, %s cores:\n' "$(date -u +%FT%TZ)" "${commit:0:12}" "$(nproc)"
for target in demo test; do
  [[ -n ${status[$target]:-} ]] || { printf '  make %-5s not run\n' "$target"; continue; }
  printf '  make %-5s %s in %d min %d s\n' "$target" \
    "$([[ ${status[$target]} == 0 ]] && echo passed || echo "FAILED (exit ${status[$target]})")" \
    $((took[$target] / 60)) $((took[$target] % 60))
done
[[ ${status[demo]:-1} == 0 && ${status[test]:-1} == 0 ]]
