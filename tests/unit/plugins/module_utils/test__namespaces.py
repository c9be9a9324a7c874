"""Namespace selection and label selectors (pure)."""

import pytest
from hypothesis import given, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import (
    parse_label_selector,
    select_namespaces,
    selector_matches,
)

DEFAULT_EXCLUDE = ['kube-system', 'kube-public', 'kube-node-lease']


def ns(name, labels=None, phase='Active'):
    return {'metadata': {'name': name, 'labels': labels or {}}, 'status': {'phase': phase}}


CLUSTER = [
    ns('default'), ns('kube-system'), ns('kube-public'), ns('kube-node-lease'),
    ns('team-a', {'env': 'prod', 'team': 'a'}), ns('team-b', {'env': 'dev', 'team': 'b'}),
    ns('team-c', {'env': 'prod'}, phase='Terminating'), ns('kube-tools', {'env': 'prod'}),
]


@pytest.mark.parametrize('namespaces, selector, exclude, selected, missing, terminating', [
    (['*'], None, DEFAULT_EXCLUDE, ['default', 'kube-tools', 'team-a', 'team-b'], [], ['team-c']),
    (['team-*'], None, DEFAULT_EXCLUDE, ['team-a', 'team-b'], [], ['team-c']),
    # literal names are never excluded, even kube-system
    (['kube-system', 'team-a'], None, DEFAULT_EXCLUDE, ['kube-system', 'team-a'], [], []),
    # a literal name being deleted is reported, never selected (writes there would fail half-way)
    (['team-c', 'team-a'], None, DEFAULT_EXCLUDE, ['team-a'], [], ['team-c']),
    (['nope', 'team-a'], None, DEFAULT_EXCLUDE, ['team-a'], ['nope'], []),
    (None, 'env=prod', DEFAULT_EXCLUDE, ['kube-tools', 'team-a'], [], ['team-c']),
    (None, 'env=prod', ['kube-*'], ['team-a'], [], ['team-c']),
    (['team-*'], {'env': 'prod'}, DEFAULT_EXCLUDE, ['team-a'], [], ['team-c']),
    (['*'], 'team in (a,b),env!=dev', DEFAULT_EXCLUDE, ['team-a'], [], []),
    (['*'], '!team', [], ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'kube-tools'], [], ['team-c']),
    (['*'], None, [], ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'kube-tools', 'team-a', 'team-b'],
     [], ['team-c']),
])
def test_select(namespaces, selector, exclude, selected, missing, terminating):
    out = select_namespaces(CLUSTER, namespaces, selector, exclude)
    assert out == {'selected': selected, 'missing': missing, 'terminating': terminating}


@pytest.mark.parametrize('namespaces, selector, field', [
    (None, None, 'namespaces'),
    ([], '', 'namespaces'),
    (['Bad_Name'], None, 'namespaces'),
    (['*'], 'env==', None),  # an empty value is allowed by Kubernetes
    (['*'], 'env in ()', 'namespace_selector'),
    (['*'], 'a b c', 'namespace_selector'),
    (['*'], 'env=pr od', 'namespace_selector'),
    (['*'], 42, 'namespace_selector'),
])
def test_bad_selection(namespaces, selector, field):
    if field is None:
        select_namespaces(CLUSTER, namespaces, selector, [])
        return
    with pytest.raises(ValidationError) as err:
        select_namespaces(CLUSTER, namespaces, selector, [])
    assert err.value.field == field


@pytest.mark.parametrize('selector, labels, expected', [
    ('a=b', {'a': 'b'}, True),
    ('a==b', {'a': 'b'}, True),
    ('a=b', {'a': 'c'}, False),
    ('a!=b', {}, True),
    ('a!=b', {'a': 'b'}, False),
    ('a in (x, y)', {'a': 'y'}, True),
    ('a notin (x,y)', {'a': 'z'}, True),
    ('a notin (x,y)', {}, True),
    ('a', {'a': ''}, True),
    ('!a', {'a': ''}, False),
    ('example.com/team=a,tier', {'example.com/team': 'a', 'tier': 'x'}, True),
])
def test_selector_matches(selector, labels, expected):
    assert selector_matches(parse_label_selector(selector), labels) is expected


@given(st.dictionaries(st.from_regex(r'[a-z][a-z0-9]{0,8}', fullmatch=True),
                       st.from_regex(r'[a-z0-9]{0,8}', fullmatch=True), max_size=5))
def test_dict_selector_matches_its_own_labels(labels):
    assert selector_matches(parse_label_selector(labels), labels)


_NAME = st.builds(lambda a, b: a + b, st.sampled_from('abcdefghij'), st.text('abc0123-', max_size=8)).map(
    lambda n: n.rstrip('-') or 'x')


@given(st.lists(_NAME, unique=True, min_size=1, max_size=30))
def test_literal_names_are_selected_exactly_when_they_exist(names):
    cluster = [ns(n) for n in names[::2]]
    out = select_namespaces(cluster, names, None, ['*'])
    assert out['selected'] == sorted(names[::2])
    assert out['missing'] == sorted(names[1::2])


def test_require_literal_namespaces():
    from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import require_literal_namespaces
    sel = select_namespaces(CLUSTER, ['team-*', 'team-c', 'nope'], None, DEFAULT_EXCLUDE)
    with pytest.raises(ValidationError) as err:
        require_literal_namespaces(sel, ['team-*', 'team-c', 'nope'])
    assert 'nope' in err.value.msg and 'team-c' in err.value.msg and 'being deleted' in err.value.msg
    assert err.value.details['terminating_namespaces'] == ['team-c']
    # a terminating namespace reached only through a glob is left out quietly
    require_literal_namespaces(select_namespaces(CLUSTER, ['team-*'], None, []), ['team-*'])


@pytest.mark.parametrize('key, ok', [
    ('app', True), ('example.com/team', True), ('a' * 63, True), ('a' * 64, False),
    ('p.' * 126 + 'x/' + 'n', True), ('p' * 254 + '/n', False), ('Bad_Prefix/x', False), ('x/', False), ('', False),
])
def test_qualified_names_follow_apimachinery(key, ok):
    from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import is_qualified_name
    assert is_qualified_name(key) is ok


# --------------------------------------------------------------------------- namespaced mode (NamespaceScope)

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import KubernetesAPIError, NotFoundError  # noqa: E402
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import NamespaceScope  # noqa: E402


class ScopeKube(object):
    """Namespaces a, b, gone (Terminating); ``cluster_list`` False: RBAC denies the cluster-wide LIST."""

    class core(object):
        list_namespace = read_namespace = staticmethod(lambda **kw: None)

    def __init__(self, cluster_list=True, forbidden_get=()):
        self.cluster_list = cluster_list
        self.forbidden_get = set(forbidden_get)
        self.requests = []
        self.ns = {'a': 'Active', 'b': 'Active', 'gone': 'Terminating'}

    def _obj(self, name):
        return {'metadata': {'name': name, 'labels': {}}, 'status': {'phase': self.ns[name]}}

    def list_all(self, resource, func, namespace=None, **kwargs):
        self.requests.append(('list', resource, namespace))
        if resource == 'namespaces':
            if not self.cluster_list:
                raise KubernetesAPIError('forbidden: the credentials cannot list namespaces cluster-wide', status=403,
                                         reason='Forbidden')
            return [self._obj(n) for n in self.ns]
        return [{'metadata': {'namespace': namespace or 'a', 'name': 'x'}}]

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        self.requests.append((verb, resource, name))
        if name in self.forbidden_get:
            raise KubernetesAPIError('forbidden', status=403, reason='Forbidden')
        if name not in self.ns:
            raise NotFoundError('not found', status=404)
        return self._obj(name)


def test_scope_cluster_wide_is_one_list_per_resource():
    kube = ScopeKube()
    scope = NamespaceScope(kube, ['a', 'b'])
    assert scope.resolve()['selected'] == ['a', 'b'] and not scope.namespaced
    scope.list('secrets', None, None)
    assert kube.requests == [('list', 'namespaces', None), ('list', 'secrets', None)]


def test_scope_falls_back_to_one_read_per_listed_namespace_and_warns():
    warnings = []
    kube = ScopeKube(cluster_list=False)
    scope = NamespaceScope(kube, ['a', 'b', 'missing', 'gone'], warn=warnings.append)
    selection = scope.resolve()
    assert selection == {'selected': ['a', 'b'], 'missing': ['missing'], 'terminating': ['gone']}
    assert scope.namespaced and len(warnings) == 1 and 'namespaced mode' in warnings[0]
    items = scope.list('secrets', None, None)
    assert [i['metadata']['namespace'] for i in items] == ['a', 'b']
    assert kube.requests[-2:] == [('list', 'secrets', 'a'), ('list', 'secrets', 'b')]
    assert len(kube.requests) == 1 + 4 + 2


@pytest.mark.parametrize('selection, words', [
    ({'namespaces': ['team-*']}, 'namespaces has glob(s) team-*'),
    ({'namespaces': None, 'namespace_selector': 'env=prod'}, 'namespace_selector is set'),
])
def test_scope_globs_and_selectors_need_the_cluster_wide_list(selection, words):
    kube = ScopeKube(cluster_list=False)
    with pytest.raises(KubernetesAPIError) as err:
        NamespaceScope(kube, **selection).resolve()
    assert words in err.value.msg and 'list those namespaces by name' in err.value.msg
    assert '{apiGroups: [""], resources: [namespaces], verbs: [list]}' in err.value.msg
    assert kube.requests == [('list', 'namespaces', None)]


def test_scope_a_namespace_it_may_not_read_names_the_rule():
    kube = ScopeKube(cluster_list=False, forbidden_get=['b'])
    with pytest.raises(KubernetesAPIError) as err:
        NamespaceScope(kube, ['a', 'b']).resolve()
    assert 'cannot get namespaces in namespace b' in err.value.msg
    assert '{apiGroups: [""], resources: [namespaces], verbs: [get]} to a Role in namespace b' in err.value.msg
    assert '{apiGroups: [""], resources: [namespaces], verbs: [list]} to a ClusterRole' in err.value.msg
