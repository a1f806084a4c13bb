# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules of the action group fractional.gpu.kubernetes share: they run on the
controller against the Kubernetes API, through the kubernetes Python library."""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
attributes:
  platform:
    description: Runs on the controller, against the Kubernetes API.
    support: full
    platforms: kubernetes
requirements:
  - kubernetes (Python library)
"""
