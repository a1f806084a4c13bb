# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mig_config_errors filter with a node's labels missing or present."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fractional.gpu.plugins.filter.mig_config_errors import FilterModule

FILTER = FilterModule().filters()["mig_config_errors"]
CONFIG = {"version": "v1", "mig-configs": {"h100": [
    {"device-filter": "0x233010DE", "devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 8}}]}}


def test_a_missing_count_label_is_refused():
    errors = FILTER(CONFIG, "h100", "NVIDIA-H100-80GB-HBM3", None)
    assert len(errors) == 1 and "no nvidia.com/gpu.count label" in errors[0]


def test_with_labels_the_config_is_checked():
    errors = FILTER(CONFIG, "h100", "NVIDIA-H100-80GB-HBM3", "2")
    assert errors[0].endswith("profile '1g.10gb': 8 instances requested, H100-SXM5-80GB allows at most 7")


def test_no_gpu_selected_is_a_problem_unless_allowed():
    assert "selects none" in FILTER(CONFIG, "h100", "NVIDIA-A30", 2)[0]
    assert FILTER(CONFIG, "h100", "NVIDIA-A30", 2, True) == []


def test_a_count_that_is_not_a_number():
    with pytest.raises(AnsibleFilterError, match="gpu_count must be a number"):
        FILTER(CONFIG, "h100", "NVIDIA-H100-80GB-HBM3", "eight")
