"""Rights checked before the first write: SelfSubjectAccessReviews, cluster scope first, then per namespace."""

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _rbac
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import KubernetesAPIError


class ReviewingKube(object):
    """Answers SelfSubjectAccessReviews from a set of allowed (verb, resource, namespace or None)."""

    def __init__(self, allowed, refuse_reviews=False):
        self.api_client = None
        self.allowed = set(allowed)
        self.refuse_reviews = refuse_reviews
        self.reviews = []

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        assert (verb, resource) == ('create', 'selfsubjectaccessreviews')
        attrs = kwargs['body']['spec']['resourceAttributes']
        self.reviews.append((attrs['verb'], attrs['resource'], attrs.get('namespace')))
        if self.refuse_reviews:
            raise KubernetesAPIError('forbidden: the credentials cannot create selfsubjectaccessreviews', status=403)
        return {'status': {'allowed': (attrs['verb'], attrs['resource'], attrs.get('namespace')) in self.allowed}}


def needs(*triples):
    n = _rbac.Needs()
    for t in triples:
        n.add(*t)
    return n


def test_cluster_wide_grant_costs_one_review_per_rule_whatever_the_namespaces():
    kube = ReviewingKube({('create', 'secrets', None), ('update', 'secrets', None)})
    work = needs(*[('create', 'secrets', 'ns-%d' % i) for i in range(50)] + [('update', 'secrets', 'ns-1')])
    assert _rbac.check_writes(kube, work, 'registry_secret') == 2
    assert kube.reviews == [('create', 'secrets', None), ('update', 'secrets', None)]


def test_namespaced_grants_are_asked_per_namespace():
    kube = ReviewingKube({('update', 'serviceaccounts', 'a'), ('update', 'serviceaccounts', 'b')})
    assert _rbac.check_writes(kube, needs(('update', 'serviceaccounts', 'a'), ('update', 'serviceaccounts', 'b')),
                              'sa_pull_secret') == 3


def test_a_denied_write_names_verb_resource_scope_and_rule():
    kube = ReviewingKube({('create', 'secrets', None), ('update', 'secrets', 'a')})
    with pytest.raises(KubernetesAPIError) as err:
        _rbac.check_writes(kube, needs(('create', 'secrets', 'a'), ('update', 'secrets', 'a'),
                                       ('update', 'secrets', 'b')), 'registry_secret')
    msg = err.value.msg
    assert err.value.status == 403 and err.value.reason == 'Forbidden'
    assert msg.startswith('forbidden, nothing was written: registry_secret needs to update secrets in namespace b')
    assert '{apiGroups: [""], resources: [secrets], verbs: [update]}' in msg
    assert 'a Role in namespace b' in msg
    assert err.value.details['missing_rules'] == [{
        'verb': 'update', 'resource': 'secrets', 'api_group': '', 'namespaces': ['b'],
        'rule': '{apiGroups: [""], resources: [secrets], verbs: [update]}'}]


def test_denied_in_many_namespaces_lists_some_and_counts_the_rest():
    kube = ReviewingKube(set())
    with pytest.raises(KubernetesAPIError) as err:
        _rbac.check_writes(kube, needs(*[('delete', 'pods', 'ns-%02d' % i) for i in range(15)]), 'sa_pull_secret')
    assert 'delete pods in namespaces ns-00, ns-01' in err.value.msg and 'and 5 more' in err.value.msg
    assert 'verbs: [delete]' in err.value.msg and 'RoleBinding' in err.value.msg


def test_reviews_refused_warns_and_lets_the_writes_speak():
    warnings = []
    kube = ReviewingKube(set(), refuse_reviews=True)
    assert _rbac.check_writes(kube, needs(('create', 'secrets', 'a')), 'registry_secret', warn=warnings.append) == 1
    assert len(warnings) == 1 and 'SelfSubjectAccessReviews' in warnings[0]


def test_nothing_planned_asks_nothing():
    kube = ReviewingKube(set())
    assert _rbac.check_writes(kube, _rbac.Needs(), 'registry_secret') == 0
    assert kube.reviews == []
