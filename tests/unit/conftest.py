# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes this clone importable as ``ansible_collections.fractional.gpu`` for plain pytest:
a symlink under the git-ignored tests/output/ gives the clone the name Ansible expects."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_COLLECTIONS = _ROOT / "tests" / "output" / ".collection-path"
_LINK = _COLLECTIONS / "ansible_collections" / "fractional" / "gpu"

try:
    import ansible_collections.fractional.gpu  # noqa: F401  pylint: disable=unused-import
except ImportError:
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    if not _LINK.is_symlink():
        _LINK.symlink_to(_ROOT, target_is_directory=True)
    sys.path.insert(0, str(_COLLECTIONS))
