# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# shellcheck shell=bash
# go_build: build one Go command from a module at a pinned version, cached outside the
# clone; go_build_local: the lab's own Go code; go_module_dir: a pinned module's source.
# Sourced by tests/lab/build.sh (the lab's binaries), operator_build.sh (NVIDIA's GPU
# Operator controller), operator_chart.sh (its chart) and kai.sh (KAI).
#
# The caller sets: cache (cache root), bin_dir (directory that gets a symlink per tool),
# and defines log and die.

# No Go setting of the machine is read (`go env -w`, its GOENV file, GOFLAGS and the like
# in the environment): every setting a build needs is written here, so that a developer's
# machine builds as a fresh one does. GOPROXY alone is taken from the environment (a site
# may reach Go modules only through its own proxy).
export GOENV=off GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw" GOSUMDB=sum.golang.org
export GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
unset GONOSUMDB GONOPROXY GOPRIVATE GOINSECURE GOWORK GO111MODULE

# go_build TOOL MODULE VERSION PACKAGE [LDFLAGS] [STAGING]
# Builds PACKAGE of MODULE@VERSION in a throw-away consumer module into
# $cache/bin/TOOL-VERSION/TOOL and links it as $bin_dir/TOOL; a cached binary is reused.
# Environment: GO_BUILD_CGO=1 builds with cgo (NVIDIA's go-nvml needs it); GO_BUILD_NO_LINK=1
# builds without linking; GO_BUILD_NOSUMDB="MOD..." fetches those dependencies without the
# checksum database (it lacks some pseudo-versions) and then requires their go.sum lines to
# be the ones MODULE's own go.sum pins; GO_BUILD_MODULE_SUM=h1:... fetches MODULE itself
# without the database and requires its hash to be that pin (versions.env).
# Building as a consumer (rather than `go install mod@ver`) lets modules whose go.mod
# carries `replace` lines (k8s.io/kubernetes, etcd) build: only the consumer's own replaces
# apply. STAGING (any non-empty value) maps k8s.io/kubernetes's ./staging replaces to the
# published v0.X.Y tags of the same release.
go_build() {
  local tool=$1 module=$2 version=$3 package=$4 ldflags=${5:-} staging=${6:-}
  : "${cache:?go_build needs cache set}" "${bin_dir:?go_build needs bin_dir set}"
  local out="$cache/bin/$tool-$version/$tool"
  if [[ -x $out ]]; then
    [[ -n ${GO_BUILD_NO_LINK:-} ]] || ln -sf "$out" "$bin_dir/$tool"
    return
  fi
  log "building $tool $version from $module (first time only; cached in $cache)"
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: $work is local and gone when the trap fires
  trap "rm -rf '$work'" RETURN
  (
    cd "$work"
    go mod init fgpu.lab/build >/dev/null 2>&1
    go mod edit -require "$module@$version"
    if [[ -n $staging ]]; then
      local gomod staging_version
      gomod=$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
      staging_version="v0.${version#v1.}"
      sed -n '/^replace (/,/^)/p' "$gomod" | awk -v v="$staging_version" \
        '$2 == "=>" && $3 ~ /^\.\/staging\// {print "-replace=" $1 "=" $1 "@" v}' \
        | xargs go mod edit
    fi
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" >tools.go
    local nosumdb=${GO_BUILD_NOSUMDB:-} module_sum=${GO_BUILD_MODULE_SUM:-} unlisted
    unlisted=${nosumdb// /,}
    [[ -z $module_sum ]] || unlisted="${unlisted:+$unlisted,}$module"
    GONOSUMDB=$unlisted go mod tidy >tidy.log 2>&1 || { cat tidy.log >&2; exit 1; }
    if [[ -n $module_sum ]]; then
      grep -qxF "$module $version $module_sum" go.sum \
        || { echo "$module@$version does not have the hash versions.env pins ($module_sum)" >&2; exit 1; }
    fi
    if [[ -n $nosumdb ]]; then
      local upstream_sum dep line
      upstream_sum="$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')/go.sum"
      for dep in $nosumdb; do
        while read -r line; do
          grep -qxF "$line" "$upstream_sum" || { echo "$line is not in $module@$version's go.sum" >&2; exit 1; }
        done < <(grep "^$dep " go.sum)
      done
    fi
    mkdir -p "$(dirname "$out")"
    CGO_ENABLED=${GO_BUILD_CGO:-0} go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$package"
    mv "$out.tmp" "$out"
  ) || die "building $tool $version failed (output above); check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and that $(go version | cut -d' ' -f3) can build it"
  [[ -n ${GO_BUILD_NO_LINK:-} ]] || ln -sf "$out" "$bin_dir/$tool"
}

# go_build_local TOOL DIR
# Builds the Go module in DIR (this clone's own code, with its go.sum) into
# $cache/bin/TOOL-<hash of its sources>/TOOL and links it as $bin_dir/TOOL.
go_build_local() {
  local tool=$1 dir=$2 hash
  hash=$(cd "$dir" && cat go.mod go.sum ./*.go <(go version) | sha256sum | cut -c1-16)
  local out="$cache/bin/$tool-$hash/$tool"
  if [[ ! -x $out ]]; then
    log "building $tool from $dir (first time only; cached in $cache)"
    mkdir -p "$(dirname "$out")"
    (cd "$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out.tmp" .) \
      || die "building $tool from $dir failed (output above)"
    mv "$out.tmp" "$out"
  fi
  ln -sf "$out" "$bin_dir/$tool"
}

# go_module_dir MODULE VERSION SUM
# Downloads MODULE@VERSION from the module proxy (if not cached) and prints its directory,
# after checking the module's h1: hash against SUM: for versions the checksum database does
# not list, the pin in versions.env is the check (the download itself skips the database).
go_module_dir() {
  local module=$1 version=$2 want=$3 json sum dir
  json=$(GONOSUMDB=$module go mod download -json "$module@$version" 2>&1) \
    || die "could not download $module@$version from the Go module proxy ($(go env GOPROXY)): $(sed -n 's/.*"Error": "\(.*\)",*/\1/p' <<<"$json")"
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*/\1/p' <<<"$json")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*/\1/p' <<<"$json")
  [[ $sum == "$want" ]] \
    || die "$module@$version has hash ${sum:-(none)}, versions.env pins $want; refusing it"
  echo "$dir"
}
