# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the modules that take a mig-parted configuration."""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    # Keep in step with MIG_CONFIG_ARGUMENT_SPEC in plugins/module_utils/mig_config.py.
    DOCUMENTATION = r"""
options:
  config:
    description:
      - The mig-parted configuration itself (a mapping with C(version) and C(mig-configs)).
      - Exactly one of O(config) and O(config_file) is required.
    type: dict
  config_file:
    description:
      - Path, on the managed host, of a mig-parted configuration file (YAML or JSON).
      - Reading YAML needs PyYAML on the managed host.
    type: path
  config_name:
    description:
      - The configuration to use, a key of C(mig-configs) (for example V(all-1g.10gb)).
      - May be omitted when the configuration holds only one.
    type: str
  allow_no_match:
    description:
      - Accept a configuration that selects none of the host's GPUs (nothing is changed or
        checked; a warning says so). By default that fails, as C(mig-parted assert) does,
        since it is most often a C(device-filter) written for another model.
    type: bool
    default: false
requirements:
  - PyYAML on the managed host when O(config_file) is YAML.
"""
