#!/usr/bin/env bash
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Builds the simulated NVML, nvml/sim_nvml.c, into libnvidia-ml.so.1 against NVIDIA's real
# nvml.h (PyPI package nvidia-nvml-dev, found through $FGPU_PYTHON, default python3), once
# per source version, into a cache outside the clone:
#   ${FGPU_CACHE:-~/.cache/fractional-gpu}/gpusim/<hash of sources>/libnvidia-ml.so.1
# Prints that directory (put it on LD_LIBRARY_PATH). A second run only hashes and prints.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${FGPU_PYTHON:-python3}
cc=${CC:-cc}
cflags=(-std=c11 -D_GNU_SOURCE -O2 -fPIC -shared -fvisibility=hidden -pthread -Wall -Wextra -Werror
        "-Wl,-soname,libnvidia-ml.so.1")

die() { echo "gpusim build: $*" >&2; exit 1; }

include=$("$python" - <<'PY'
import glob, os, sys
try:
    import nvidia
except ImportError:
    sys.exit("")
for base in nvidia.__path__:
    for header in sorted(glob.glob(os.path.join(base, "*", "include", "nvml.h"))):
        print(os.path.dirname(header))
        sys.exit(0)
PY
) || true
[[ -n $include ]] || die "nvml.h not found through $python; install the nvidia-nvml-dev package pinned" \
  "in requirements.txt (or set FGPU_PYTHON to a venv python that has it)"

hash=$(cat "$here/nvml/sim_nvml.c" "$include/nvml.h" <(printf '%s\n' "$cc" "${cflags[@]}") | sha256sum | cut -c1-16)
out_dir="${FGPU_CACHE:-$HOME/.cache/fractional-gpu}/gpusim/$hash"
if [[ ! -f $out_dir/libnvidia-ml.so.1 ]]; then
  command -v "$cc" >/dev/null 2>&1 || die "no C compiler ($cc) on PATH; install gcc (apt-get install gcc) or set CC"
  mkdir -p "$out_dir"
  tmp=$(mktemp "$out_dir/.libnvidia-ml.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  "$cc" "${cflags[@]}" -I"$include" -o "$tmp" "$here/nvml/sim_nvml.c" ||
    die "compiling nvml/sim_nvml.c failed (output above)"
  chmod 0755 "$tmp"
  mv "$tmp" "$out_dir/libnvidia-ml.so.1"  # atomic: parallel builds never see half a library
fi
echo "$out_dir"
