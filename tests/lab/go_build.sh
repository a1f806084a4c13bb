# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# shellcheck shell=bash
# go_build: build one Go command from a module at a pinned version, cached outside the
# clone. Sourced by tests/lab/build.sh (the lab's binaries) and tests/lab/kai.sh (KAI).
#
# The caller sets: cache (cache root), bin_dir (directory that gets a symlink per tool),
# and defines log and die.

# go_build TOOL MODULE VERSION PACKAGE [LDFLAGS] [STAGING]
# Builds PACKAGE of MODULE@VERSION in a throw-away consumer module into
# $cache/bin/TOOL-VERSION/TOOL and links it as $bin_dir/TOOL; a cached binary is reused.
# Building as a consumer (rather than `go install mod@ver`) lets modules whose go.mod
# carries `replace` lines (k8s.io/kubernetes, etcd) build: only the consumer's own replaces
# apply. STAGING (any non-empty value) maps k8s.io/kubernetes's ./staging replaces to the
# published v0.X.Y tags of the same release.
go_build() {
  local tool=$1 module=$2 version=$3 package=$4 ldflags=${5:-} staging=${6:-}
  : "${cache:?go_build needs cache set}" "${bin_dir:?go_build needs bin_dir set}"
  local out="$cache/bin/$tool-$version/$tool"
  if [[ -x $out ]]; then
    ln -sf "$out" "$bin_dir/$tool"
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
    go mod tidy >tidy.log 2>&1 || { cat tidy.log >&2; exit 1; }
    mkdir -p "$(dirname "$out")"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$package"
    mv "$out.tmp" "$out"
  ) || die "building $tool $version failed (output above); check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and that $(go version | cut -d' ' -f3) can build it"
  ln -sf "$out" "$bin_dir/$tool"
}

# go_module_dir MODULE VERSION SUM
# Downloads MODULE@VERSION from the module proxy (if not cached) and prints its directory,
# after checking the module's h1: hash against SUM: for versions the checksum database does
# not list (the caller exempts MODULE with GONOSUMDB), the pin in versions.env is the check.
go_module_dir() {
  local module=$1 version=$2 want=$3 json sum dir
  json=$(GOFLAGS=-modcacherw go mod download -json "$module@$version" 2>&1) \
    || die "could not download $module@$version from the Go module proxy ($(go env GOPROXY)): $(sed -n 's/.*"Error": "\(.*\)",*/\1/p' <<<"$json")"
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*/\1/p' <<<"$json")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*/\1/p' <<<"$json")
  [[ $sum == "$want" ]] \
    || die "$module@$version has hash ${sum:-(none)}, versions.env pins $want; refusing it"
  echo "$dir"
}
