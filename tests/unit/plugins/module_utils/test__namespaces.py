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
