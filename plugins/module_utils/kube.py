# -*- coding: utf-8 -*-
# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API for the collection's own modules, through kubernetes.core's client (so
they take the same connection options and K8S_AUTH_* environment as its modules).

Lists are read as raw JSON, one request each: a thousand nodes are one response, parsed
once, not a thousand model objects.
"""

from __future__ import absolute_import, division, print_function

import json

__metaclass__ = type

try:
    from kubernetes.client.api import core_v1_api
    from kubernetes.client.exceptions import ApiException
except ImportError:
    # AnsibleK8SModule reports a missing kubernetes library.
    ApiException = None

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
        get_api_client,
    )
except ImportError:
    get_api_client = None

MERGE_PATCH = "application/merge-patch+json"


def core_api(module):
    """CoreV1Api over kubernetes.core's API client for the module's connection options."""
    return core_v1_api.CoreV1Api(get_api_client(module=module).client.client)


def list_nodes(api, label_selector=None):
    """Every node (matching ``label_selector``), as the API returns them, in one request."""
    kwargs = {"label_selector": label_selector} if label_selector else {}
    response = api.list_node(_preload_content=False, **kwargs)
    return json.loads(response.data)["items"]


def patch_node(api, name, patch):
    """A merge patch of node ``name`` (None in it removes a key)."""
    api.patch_node(name, patch, _content_type=MERGE_PATCH, _preload_content=False)


def error_text(exc):
    """One line saying why a request failed: the API's status and message, or the
    connection error."""
    if ApiException is not None and isinstance(exc, ApiException):
        message = exc.reason
        try:
            message = json.loads(exc.body).get("message") or message
        except (TypeError, ValueError, AttributeError):
            pass
        return "HTTP %s: %s" % (exc.status, message)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
