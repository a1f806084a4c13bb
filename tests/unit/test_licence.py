# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One licence everywhere: the one galaxy.yml names, in every source file's header and in
every role's metadata. Upstream files quoted as test fixtures keep their own notice."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# The header line that says a galaxy.yml licence, as the collection writes it.
HEADER_LINE = {
    "GPL-3.0-or-later":
        "GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)",
}
SOURCE_SUFFIXES = {".py", ".sh", ".c", ".h", ".go"}
HEADER_LINES = 6  # a shebang, an encoding line, a copyright line, then the licence
OTHER_LICENCES = re.compile(r"Apache[- ]2|\bMIT License\b|\bBSD-\d|SPDX-License-Identifier")
UPSTREAM_QUOTES = ("tests/fixtures/",)


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    return [REPO / name for name in listed if name and (REPO / name).is_file()]


def collection_licence() -> str:
    (licence,) = yaml.safe_load((REPO / "galaxy.yml").read_text())["license"]
    return licence


def is_source(path: Path) -> bool:
    if path.suffix in SOURCE_SUFFIXES or path.name == "Makefile":
        return True
    with path.open("rb") as handle:
        return handle.read(2) == b"#!"


def test_every_source_file_carries_the_collection_licence():
    line = HEADER_LINE[collection_licence()]
    missing = [str(path.relative_to(REPO)) for path in tracked_files()
               if is_source(path) and line not in "".join(
                   path.read_text(errors="replace").splitlines(keepends=True)[:HEADER_LINES])]
    assert not missing, "files without the licence header %r:\n%s" % (line, "\n".join(missing))


def test_roles_declare_the_collection_licence():
    licence = collection_licence()
    declared = {path.parent.parent.name: yaml.safe_load(path.read_text())["galaxy_info"]["license"]
                for path in REPO.glob("roles/*/meta/main.yml")}
    assert declared and all(value == licence for value in declared.values()), declared


def test_no_other_licence_is_named():
    named = [str(path.relative_to(REPO)) for path in tracked_files()
             if not str(path.relative_to(REPO)).startswith(UPSTREAM_QUOTES)
             and path != Path(__file__).resolve() and path.name != "COPYING"
             and OTHER_LICENCES.search(path.read_text(errors="replace"))]
    assert not named, named
