#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_info
short_description: Read the Kubernetes nodes, only the fields GPU sharing looks at
version_added: 0.1.0
description:
  - Lists the nodes in one request and returns each in the Node's own shape, cut to
    C(metadata.name), C(metadata.labels), C(metadata.annotations), C(spec.unschedulable),
    C(spec.taints), C(status.capacity) and C(status.allocatable).
  - The rest of a Node (C(managedFields), conditions, images, system info) is most of its
    size; on a fleet of a thousand nodes leaving it out keeps a read, and every template
    that filters it, several times smaller than M(kubernetes.core.k8s_info)'s.
author:
  - fractional.gpu contributors (@fractional-gpu)
options:
  label_selectors:
    description: Label selectors the nodes must match (all of them), as in M(kubernetes.core.k8s_info).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - fractional.gpu.kubernetes
attributes:
  check_mode:
    description: Reads only.
    support: full
  diff_mode:
    description: Reads only.
    support: none
seealso:
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Read the GPU nodes
  fractional.gpu.node_info:
    label_selectors:
      - nvidia.com/gpu.present=true
  register: gpu_nodes
"""

RETURN = r"""
resources:
  description: The nodes, sorted by name, each cut to the fields named above.
  returned: success
  type: list
  elements: dict
  sample:
    - metadata:
        name: gpu-l40s-0
        labels: {nvidia.com/gpu.present: "true"}
        annotations: {}
      spec: {}
      status:
        capacity: {nvidia.com/gpu: "4"}
        allocatable: {nvidia.com/gpu: "4"}
"""

from ansible_collections.kubernetes.core.plugins.module_utils.ansiblemodule import (
    AnsibleModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (
    CoreException,
)

from ansible_collections.fractional.gpu.plugins.module_utils import kube
from ansible_collections.fractional.gpu.plugins.module_utils.node_metadata import summary


def argument_spec():
    spec = dict(AUTH_ARG_SPEC)
    spec.update(label_selectors=dict(type="list", elements="str", default=[]))
    return spec


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argument_spec(),
                              supports_check_mode=True)
    selector = ",".join(module.params["label_selectors"]) or None
    try:
        nodes = kube.list_nodes(kube.core_api(module), selector)
    except CoreException as exc:
        module.fail_json(msg="Could not read the nodes: %s" % exc)
    except Exception as exc:  # pylint: disable=broad-except  # any failure of the read
        module.fail_json(msg="Could not read the nodes: %s" % kube.error_text(exc))
    nodes = sorted(nodes, key=lambda node: (node.get("metadata") or {}).get("name") or "")
    module.exit_json(changed=False, resources=[summary(node) for node in nodes])


if __name__ == "__main__":
    main()
