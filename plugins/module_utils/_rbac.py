# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rights checked before the first write. Private to this collection.

Reads fail on their own, before anything is written: a denied LIST raises a typed error whose
message names the verb, the resource, the scope and the rule to add (``_k8s.map_api_exception``).
Writes are different: a run that may create but not update Secrets would create some and fail on
the others. So a runner that is about to write first asks the API server, with
SelfSubjectAccessReviews, whether every write it planned is allowed, and fails before the first
write when one is not:

* one review per (verb, resource) at the cluster scope; when that is allowed, nothing more is asked
  (a ClusterRoleBinding: a constant number of requests, whatever the number of namespaces);
* when it is not, one review per namespace that needs the verb (RoleBindings per namespace).

Every authenticated user may create SelfSubjectAccessReviews (the default ``system:basic-user``
ClusterRole); when a cluster forbids even that, the check is skipped with a warning and the writes
themselves report what they may not do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from kubernetes import client as k8s_client
except ImportError:  # pragma: no cover - reported by the module
    k8s_client = None

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import KubernetesAPIError
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import API_GROUPS, missing_rule_advice, rbac_rule

MAX_LISTED = 10


class Needs(object):
    """The writes a run planned: ``add(verb, resource, namespace)`` per write (and per read a
    write may need, such as the GET that re-reads an object after a 409)."""

    def __init__(self):
        self._by_rule = {}

    def add(self, verb, resource, namespace):
        self._by_rule.setdefault((verb, resource), set()).add(namespace)

    def rules(self):
        """``[(verb, resource, sorted namespaces)]`` in a stable order."""
        return [(verb, resource, sorted(nss)) for (verb, resource), nss in sorted(self._by_rule.items())]

    def __bool__(self):
        return bool(self._by_rule)


def can_i(kube, verb, resource, namespace=None):
    """Ask the API server whether the client's credentials may ``verb`` ``resource`` (one
    SelfSubjectAccessReview). :returns: ``(allowed, reason)``."""
    attrs = {'verb': verb, 'resource': resource, 'group': API_GROUPS.get(resource, '')}
    if namespace:
        attrs['namespace'] = namespace
    body = {'apiVersion': 'authorization.k8s.io/v1', 'kind': 'SelfSubjectAccessReview',
            'spec': {'resourceAttributes': attrs}}
    api = k8s_client.AuthorizationV1Api(kube.api_client)
    answer = kube.call('create', 'selfsubjectaccessreviews', api.create_self_subject_access_review, body=body) or {}
    status = answer.get('status') or {}
    return bool(status.get('allowed')) and not status.get('denied'), status.get('reason') or ''


def check_writes(kube, needs, module, warn=None):
    """Fail before the first write when the credentials may not do every write in ``needs``.

    :param kube: a ``_k8s.KubeClient``.
    :param needs: a :class:`Needs`.
    :param module: the module's name, for the message.
    :param warn: callable for the warning when the API server refuses the reviews themselves.
    :returns: the number of reviews asked.
    :raises KubernetesAPIError: (status 403, reason ``Forbidden``) naming every denied verb, resource
        and scope and the rule to add; ``details`` has ``missing_rules`` (list of dicts).
    """
    asked = 0
    missing = []
    try:
        for verb, resource, namespaces in needs.rules():
            asked += 1
            if can_i(kube, verb, resource)[0]:
                continue
            denied = []
            for ns in namespaces:
                asked += 1
                if not can_i(kube, verb, resource, ns)[0]:
                    denied.append(ns)
            if denied:
                missing.append({'verb': verb, 'resource': resource, 'api_group': API_GROUPS.get(resource, ''),
                                'namespaces': denied, 'rule': rbac_rule(verb, resource)})
    except KubernetesAPIError as exc:
        if exc.status != 403:
            raise
        if warn is not None:
            warn('cannot check the rights of these credentials before writing (the API server refuses '
                 'SelfSubjectAccessReviews: %s); a write they may not do fails on its own' % exc.msg)
        return asked
    if missing:
        parts = []
        for m in missing:
            nss = m['namespaces']
            scope = 'in namespace%s %s%s' % ('s' if len(nss) > 1 else '', ', '.join(nss[:MAX_LISTED]),
                                             ' and %d more' % (len(nss) - MAX_LISTED) if len(nss) > MAX_LISTED else '')
            advice = missing_rule_advice(m['verb'], m['resource'], nss[0] if len(nss) == 1 else None)
            if len(nss) > 1:
                advice = advice.replace('a ClusterRole bound with a ClusterRoleBinding',
                                        'a ClusterRole bound in each of them with a RoleBinding (or with a '
                                        'ClusterRoleBinding)')
            parts.append('%s needs to %s %s %s, and the credentials may not. %s'
                         % (module, m['verb'], m['resource'], scope, advice))
        raise KubernetesAPIError('forbidden, nothing was written: %s' % ' '.join(parts),
                                 status=403, reason='Forbidden', missing_rules=missing)
    return asked
