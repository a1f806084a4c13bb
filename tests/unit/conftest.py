# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes this clone importable as ``ansible_collections.fractional.gpu`` for plain pytest:
a symlink under the git-ignored tests/output/ gives the clone the name Ansible expects. It
goes first on sys.path, ahead of any other copy of the collection (one installed into the
Python environment, for instance), and the tests stop unless the import resolves here."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_COLLECTIONS = _ROOT / "tests" / "output" / ".collection-path"
_LINK = _COLLECTIONS / "ansible_collections" / "fractional" / "gpu"

_LINK.parent.mkdir(parents=True, exist_ok=True)
if not _LINK.is_symlink():
    _LINK.symlink_to(_ROOT, target_is_directory=True)
sys.path.insert(0, str(_COLLECTIONS))

import ansible_collections.fractional.gpu as _collection  # noqa: E402  pylint: disable=wrong-import-position

_FOUND = Path(list(_collection.__path__)[0]).resolve()
if _FOUND != _ROOT:
    raise RuntimeError("ansible_collections.fractional.gpu resolves to %s, not this working tree %s: "
                       "remove that copy" % (_FOUND, _ROOT))
