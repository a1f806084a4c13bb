# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a module's main() in-process, as Ansible would, and returns its JSON result with the
exit status under ``_rc``."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = info.value.code
    return out


class ApiResponse:
    """What the kubernetes client returns with ``_preload_content=False``, which is how
    plugins/module_utils/kube.py reads: the body as bytes under ``data``."""

    def __init__(self, body):
        self.data = json.dumps(body).encode()
