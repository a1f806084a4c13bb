#!/usr/bin/python
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_labels
short_description: Set labels and annotations of many Kubernetes nodes in one call
version_added: 0.1.0
description:
  - Reads the nodes once (one list request), compares the labels and annotations each named
    node carries with the wanted ones, and patches only the nodes that differ (one merge
    patch each, with only the keys that differ, eight in flight at once). A converged fleet
    costs one request, whatever its size.
  - Every key and label value is checked by the apiserver's rules before anything is
    written; a wanted node the cluster lacks fails before anything is written too (unless
    O(missing=ignore)).
  - A failure part-way (the apiserver gone, a patch refused) fails naming O(step), the node
    it failed at, the nodes written and those not written (RV(written), RV(not_written));
    no patch starts after the first failure, those in flight finish and are counted.
    Running it again writes what is still missing.
author:
  - fractional.gpu contributors (@fractional-gpu)
options:
  labels:
    description:
      - Per node name, the labels it must carry; a null value removes the label. Labels not
        named are left as they are.
    type: dict
    default: {}
  annotations:
    description:
      - Per node name, the annotations it must carry; a null value removes the annotation.
    type: dict
    default: {}
  step:
    description: What the writes are for, named in messages (the task's purpose).
    type: str
    default: Write the node labels
  missing:
    description: What a wanted node the cluster lacks does - V(fail) before any write, or V(ignore).
    type: str
    choices: [fail, ignore]
    default: fail
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - fractional.gpu.kubernetes
attributes:
  check_mode:
    description: Reads the nodes and reports what it would patch; writes nothing.
    support: full
  diff_mode:
    description: The wanted keys of each node it patches, before and after.
    support: full
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Label the time-sliced pools' nodes with their device plugin config
  fractional.gpu.node_labels:
    step: Label the pool nodes nvidia.com/device-plugin.config
    labels:
      gpu-l40s-0: {nvidia.com/device-plugin.config: l40s}
      gpu-a100-0: {nvidia.com/device-plugin.config: null}

- name: Record a change on a node
  fractional.gpu.node_labels:
    annotations:
      gpu-h100-0: {fractional.gpu/mig-change: '{"config": "h100-mixed"}'}
"""

RETURN = r"""
changed_nodes:
  description: The nodes patched (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
written:
  description: The nodes patched before a failure part-way (all of RV(changed_nodes) on success).
  returned: always
  type: list
  elements: str
not_written:
  description: The nodes that needed a patch and did not get it because of a failure part-way.
  returned: always
  type: list
  elements: str
missing:
  description: Wanted nodes the cluster lacks.
  returned: always
  type: list
  elements: str
diff:
  description: Per patched node, its wanted keys before and after.
  returned: in diff mode, when a node changes
  type: dict
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
from ansible_collections.fractional.gpu.plugins.module_utils.node_metadata import (
    failure_message,
    input_problems,
    names,
    plan,
    write_all,
)


def argument_spec():
    spec = dict(AUTH_ARG_SPEC)
    spec.update(
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        step=dict(type="str", default="Write the node labels"),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
    )
    return spec


def main():
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argument_spec(),
                              supports_check_mode=True)
    params = module.params
    step = params["step"]
    result = {"changed": False, "changed_nodes": [], "written": [], "not_written": [],
              "missing": []}
    # The wanted keys and values first: a bad input is named as such also when the cluster
    # cannot be reached.
    problems = input_problems(params["labels"], params["annotations"])
    if problems:
        module.fail_json(msg="%s: %d problem(s), nothing was written: %s"
                         % (step, len(problems), "; ".join(problems)), **result)
    try:
        api = kube.core_api(module)
        nodes = kube.list_nodes(api)
    except CoreException as exc:
        module.fail_json(msg="%s: %s; nothing was written" % (step, exc), **result)
    except Exception as exc:  # pylint: disable=broad-except  # any failure of the read
        module.fail_json(msg="%s: could not read the nodes (%s); nothing was written"
                         % (step, kube.error_text(exc)), **result)
    wanted = plan(nodes, params["labels"], params["annotations"])
    result["missing"] = wanted["missing"]
    problems = list(wanted["problems"])
    if wanted["missing"] and params["missing"] == "fail":
        problems.append("no node named %s in the cluster" % names(wanted["missing"]))
    if problems:
        module.fail_json(msg="%s: %d problem(s), nothing was written: %s"
                         % (step, len(problems), "; ".join(problems)), **result)
    todo = sorted(wanted["patches"])
    result["changed"] = bool(todo)
    result["changed_nodes"] = todo
    if module._diff and todo:  # pylint: disable=protected-access
        result["diff"] = {"before": wanted["before"], "after": wanted["after"]}
    if module.check_mode:
        module.exit_json(**result)
    written, not_written, failure = write_all(
        todo, lambda node: kube.patch_node(api, node, wanted["patches"][node]))
    result["written"], result["not_written"] = written, not_written
    if failure:
        result["changed"] = bool(written)
        module.fail_json(msg=failure_message(step, written, not_written, failure[0],
                                             kube.error_text(failure[1])), **result)
    result["written"] = todo
    module.exit_json(**result)


if __name__ == "__main__":
    main()
