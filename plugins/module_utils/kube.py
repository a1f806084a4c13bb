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
    from kubernetes.client.api import apps_v1_api, core_v1_api, custom_objects_api
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


def apis(module):
    """CoreV1Api, AppsV1Api and CustomObjectsApi over one API client for the module's
    connection options, as ``core``, ``apps`` and ``custom``."""
    client = get_api_client(module=module).client.client
    return {"core": core_v1_api.CoreV1Api(client), "apps": apps_v1_api.AppsV1Api(client),
            "custom": custom_objects_api.CustomObjectsApi(client)}


def _read(call, *args):
    """The object a read returns, as JSON; None when the API says it does not exist."""
    try:
        return json.loads(call(*args, _preload_content=False).data)
    except Exception as exc:  # pylint: disable=broad-except  # only a 404 means "none"
        if ApiException is not None and isinstance(exc, ApiException) and exc.status == 404:
            return None
        raise


def get_cluster_object(custom, group, version, plural, name):
    """A cluster-scoped custom resource, or None."""
    return _read(custom.get_cluster_custom_object, group, version, plural, name)


def get_daemonset(apps, namespace, name):
    """A DaemonSet, or None."""
    return _read(apps.read_namespaced_daemon_set, name, namespace)


def list_pods(api, namespace, label_selector):
    """The pods of ``namespace`` that match ``label_selector``, in one request."""
    response = api.list_namespaced_pod(namespace, label_selector=label_selector,
                                       _preload_content=False)
    return json.loads(response.data)["items"]


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
