# Copyright: fractional.gpu contributors
# Apache-2.0 (see LICENSE)
"""Make the working tree importable as ``ansible_collections.fractional.gpu``.

A clone does not sit at ``.../ansible_collections/fractional/gpu``, so this conftest links
the tree under the git-ignored ``.lab/collections/ansible_collections/fractional/gpu`` and
puts ``.lab/collections`` first on sys.path. Tests that run a module or ``ansible`` as a
subprocess use the same directory (``COLLECTIONS_ROOT``) for PYTHONPATH /
ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS_ROOT = REPO_ROOT / ".lab" / "collections"


def _link_collection():
    namespace = COLLECTIONS_ROOT / "ansible_collections" / "fractional"
    namespace.mkdir(parents=True, exist_ok=True)
    link = namespace / "gpu"
    if link.is_symlink() and Path(os.readlink(link)) == REPO_ROOT:
        return
    # Atomic replace: several pytest processes may start at once.
    tmp = namespace / (".gpu.%d" % os.getpid())
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(REPO_ROOT, target_is_directory=True)
    os.replace(tmp, link)


_link_collection()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))
