# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the ServiceAccount imagePullSecrets merge (_imagepullsecrets.py): pull secret in another namespace, ServiceAccount patch replaces the list."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._imagepullsecrets import (
    entry_names,
    merge_pull_secrets,
    normalize_names,
    platform_patterns,
    valid_secret_name,
    validate_platform_patterns,
)


def refs(*names):
    return [{'name': n} for n in names]


# --------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize('entries, expected', [
    (None, []),
    ([], []),
    (['a'], ['a']),
    ([{'name': 'a'}], ['a']),
    (['a', {'name': 'b'}], ['a', 'b']),          # ServiceAccount patch replaces the list: strings and {name:} both accepted
    (['b', 'a', 'b', {'name': 'a'}], ['b', 'a']),  # duplicates collapsed, first kept
    ([' regcred '], ['regcred']),
    (['registry.example.test-creds'], ['registry.example.test-creds']),
])
def test_normalize_names(entries, expected):
    assert normalize_names(entries) == expected


@pytest.mark.parametrize('entries, fragment', [
    ([{'name': 'regcred', 'namespace': 'default'}], 'has no namespace'),  # pull secret in another namespace
    ([{'name': 'regcred', 'key': 'x'}], 'unknown key(s) key'),
    ([{}], 'not a valid Secret name'),
    ([''], 'not a valid Secret name'),
    (['RegCred'], 'not a valid Secret name'),
    (['reg_cred'], 'not a valid Secret name'),
    (['a' * 254], 'not a valid Secret name'),
    ([42], 'expected a Secret name'),
    ([['a']], 'expected a Secret name'),
])
def test_normalize_names_rejects(entries, fragment):
    with pytest.raises(ValidationError) as err:
        normalize_names(entries)
    assert fragment in err.value.msg
    assert err.value.field == 'pull_secrets'
    assert 'pull_secrets[0]' in err.value.msg


def test_namespace_key_message_names_the_fix():
    with pytest.raises(ValidationError) as err:
        normalize_names(['ok', {'name': 'regcred', 'namespace': 'default'}])
    assert 'pull_secrets[1]' in err.value.msg
    assert 'registry_secret' in err.value.msg


@pytest.mark.parametrize('name, ok', [
    ('a', True), ('a.b-c', True), ('a' * 253, True), ('-a', False), ('a-', False), ('A', False),
    ('', False), (None, False), ('a..b', False),
])
def test_valid_secret_name(name, ok):
    assert valid_secret_name(name) is ok


# --------------------------------------------------------------------------- merge: examples

@pytest.mark.parametrize('current, names, state, purge, prune, expected, added, removed', [
    # ServiceAccount patch replaces the list: [old] + new -> [old, new], order kept
    (refs('old-secret'), ['new-secret'], 'present', False, None, refs('old-secret', 'new-secret'), ['new-secret'], []),
    # rerun: no duplicate, unchanged
    (refs('old-secret', 'new-secret'), ['new-secret'], 'present', False, None,
     refs('old-secret', 'new-secret'), [], []),
    # absent removes exactly the named entry
    (refs('old-secret', 'new-secret'), ['old-secret'], 'absent', False, None, refs('new-secret'), [], ['old-secret']),
    (refs('a', 'b', 'c'), ['b'], 'absent', False, None, refs('a', 'c'), [], ['b']),
    # absent of a name not there: unchanged
    (refs('a'), ['b'], 'absent', False, None, refs('a'), [], []),
    # None / empty list
    (None, ['a'], 'present', False, None, refs('a'), ['a'], []),
    ([], ['a', 'b'], 'present', False, None, refs('a', 'b'), ['a', 'b'], []),
    (None, ['a'], 'absent', False, None, [], [], []),
    # new entries appended in the order given, existing ones not moved
    (refs('z', 'b'), ['a', 'b', 'c'], 'present', False, None, refs('z', 'b', 'a', 'c'), ['a', 'c'], []),
    # purge: exactly the named set; kept entries keep their order, missing appended
    (refs('x', 'b', 'y', 'a'), ['a', 'b', 'c'], 'present', True, None, refs('b', 'a', 'c'), ['c'], ['x', 'y']),
    (refs('b', 'a'), ['a', 'b'], 'present', True, None, refs('b', 'a'), [], []),
    (refs('x'), [], 'present', True, None, [], [], ['x']),
    # prune: remove references to missing Secrets, never one that is asked for
    (refs('gone', 'a', 'kept'), ['a'], 'present', False, ['gone', 'a'], refs('a', 'kept'), [], ['gone']),
    (refs('gone', 'a'), ['b'], 'absent', False, ['gone'], refs('a'), [], ['gone']),
    # absent removes every occurrence of a named duplicate
    (refs('a', 'b', 'a'), ['a'], 'absent', False, None, refs('b'), [], ['a']),
])
def test_merge_examples(current, names, state, purge, prune, expected, added, removed):
    before = [dict(e) for e in (current or [])]
    out = merge_pull_secrets(current, names, state=state, purge=purge, prune=prune)
    assert out['image_pull_secrets'] == expected
    assert out['added'] == added
    assert out['removed'] == removed
    assert out['changed'] == (expected != before)
    assert (current or []) == before, 'the input list must not be mutated'


def test_duplicates_left_alone_when_nothing_to_write():
    # Someone else's duplicates: a run with nothing to add does not rewrite the list.
    out = merge_pull_secrets(refs('a', 'a', 'b'), ['b'], 'present')
    assert out == {'image_pull_secrets': refs('a', 'a', 'b'), 'changed': False, 'added': [], 'removed': []}


def test_duplicates_collapsed_when_writing_anyway():
    out = merge_pull_secrets(refs('a', 'b', 'a'), ['c'], 'present')
    assert out['image_pull_secrets'] == refs('a', 'b', 'c')
    assert out['changed'] is True


def test_purge_collapses_duplicates():
    out = merge_pull_secrets(refs('a', 'a'), ['a'], 'present', purge=True)
    assert out['image_pull_secrets'] == refs('a')
    assert out['changed'] is True


def test_nameless_entries_kept_unless_purge():
    assert merge_pull_secrets([{}, {'name': 'a'}], ['b'], 'present')['image_pull_secrets'] == [{}, {'name': 'a'}, {'name': 'b'}]
    assert merge_pull_secrets([{}, {'name': 'a'}], ['a'], 'present', purge=True)['image_pull_secrets'] == refs('a')


def test_string_entries_in_live_list_normalised():
    out = merge_pull_secrets(['a'], ['b'], 'present')
    assert out['image_pull_secrets'] == refs('a', 'b')


@pytest.mark.parametrize('state, purge, fragment', [
    ('absent', True, 'purge applies to state=present'),
    ('latest', False, 'state must be present or absent'),
])
def test_merge_rejects(state, purge, fragment):
    with pytest.raises(ValidationError) as err:
        merge_pull_secrets(refs('a'), ['a'], state=state, purge=purge)
    assert fragment in err.value.msg


# --------------------------------------------------------------------------- merge: properties

NAMES = st.sampled_from(['a', 'b', 'c', 'd', 'e', 'regcred', 'old-secret', 'x.y'])
LIVE = st.lists(NAMES, max_size=8).map(lambda ns: [{'name': n} for n in ns])
WANTED = st.lists(NAMES, max_size=5).map(normalize_names)
STATE = st.sampled_from(['present', 'absent'])


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@settings(max_examples=400, deadline=None)
@given(LIVE, WANTED, STATE, st.lists(NAMES, max_size=3))
def test_prop_unnamed_entries_never_removed_or_reordered(current, names, state, prune):
    """Entries that are neither named nor pruned survive, in their original relative order."""
    out = merge_pull_secrets(current, names, state=state, prune=prune)
    new = entry_names(out['image_pull_secrets'])
    others = [n for n in entry_names(current) if n not in names and n not in prune]
    # each distinct other entry still there, first occurrences in the same order
    firsts = []
    for n in others:
        if n not in firsts:
            firsts.append(n)
    assert is_subsequence(firsts, new)
    for n in set(others):
        assert n in new


@settings(max_examples=400, deadline=None)
@given(LIVE, WANTED, STATE, st.booleans())
def test_prop_no_duplicates_written(current, names, state, purge):
    """Whenever the list is written, it holds no duplicate; a named entry is never added twice."""
    if purge and state == 'absent':
        return
    out = merge_pull_secrets(current, names, state=state, purge=purge)
    new = entry_names(out['image_pull_secrets'])
    if out['changed']:
        assert len(new) == len(set(new))
    for n in names:
        assert new.count(n) <= max(1, entry_names(current).count(n))


@settings(max_examples=400, deadline=None)
@given(LIVE, WANTED, STATE, st.booleans(), st.lists(NAMES, max_size=3))
def test_prop_idempotent(current, names, state, purge, prune):
    """Applying the merge to its own output changes nothing."""
    if purge and state == 'absent':
        return
    first = merge_pull_secrets(current, names, state=state, purge=purge, prune=prune)
    second = merge_pull_secrets(first['image_pull_secrets'], names, state=state, purge=purge, prune=prune)
    assert second['changed'] is False
    assert second['image_pull_secrets'] == first['image_pull_secrets']
    assert second['added'] == [] and second['removed'] == []


@settings(max_examples=300, deadline=None)
@given(LIVE, WANTED, st.booleans())
def test_prop_present_attaches_everything_named(current, names, purge):
    out = merge_pull_secrets(current, names, state='present', purge=purge)
    new = entry_names(out['image_pull_secrets'])
    assert set(names) <= set(new)
    if purge:
        assert set(new) == set(names)
    # existing entries come first: the list starts with the (deduplicated) kept entries
    assert new[len(new) - len(out['added']):] == out['added']


@settings(max_examples=300, deadline=None)
@given(LIVE, WANTED)
def test_prop_absent_removes_exactly_the_named(current, names):
    out = merge_pull_secrets(current, names, state='absent')
    new = entry_names(out['image_pull_secrets'])
    assert not set(names) & set(new)
    assert set(new) == set(entry_names(current)) - set(names)
    assert out['removed'] == [n for n in normalize_names(entry_names(current)) if n in names]


@settings(max_examples=300, deadline=None)
@given(LIVE, WANTED, STATE)
def test_prop_changed_iff_added_or_removed(current, names, state):
    out = merge_pull_secrets(current, names, state=state)
    assert out['changed'] == bool(out['added'] or out['removed'])


# --------------------------------------------------------------------------- entries a platform manages

OPENSHIFT = ['{service_account}-dockercfg-*']


def test_purge_leaves_the_openshift_entry_of_this_service_account():
    keep = platform_patterns(OPENSHIFT, 'default')
    out = merge_pull_secrets(refs('default-dockercfg-x7k2p', 'old'), ['regcred'], purge=True, keep=keep)
    assert entry_names(out['image_pull_secrets']) == ['default-dockercfg-x7k2p', 'regcred']
    assert out['removed'] == ['old'] and out['added'] == ['regcred']
    # the next purge runs find nothing to do: no flapping
    again = merge_pull_secrets(out['image_pull_secrets'], ['regcred'], purge=True, keep=keep)
    assert again['changed'] is False


def test_purge_removes_another_service_accounts_dockercfg_and_everything_with_no_patterns():
    keep = platform_patterns(OPENSHIFT, 'default')
    out = merge_pull_secrets(refs('builder-dockercfg-x7k2p', 'regcred'), ['regcred'], purge=True, keep=keep)
    assert entry_names(out['image_pull_secrets']) == ['regcred']
    out = merge_pull_secrets(refs('default-dockercfg-x7k2p', 'regcred'), ['regcred'], purge=True, keep=[])
    assert entry_names(out['image_pull_secrets']) == ['regcred']


def test_a_platform_entry_named_with_absent_is_removed():
    keep = platform_patterns(OPENSHIFT, 'default')
    out = merge_pull_secrets(refs('default-dockercfg-x7k2p', 'regcred'), ['default-dockercfg-x7k2p'], state='absent',
                             keep=keep)
    assert entry_names(out['image_pull_secrets']) == ['regcred']


def test_platform_patterns_escape_glob_characters_of_the_name():
    assert platform_patterns(OPENSHIFT, 'a*b') == ['a[*]b-dockercfg-*']
    assert platform_patterns(['static-*', '{service_account}-x'], 'web') == ['static-*', 'web-x']


@pytest.mark.parametrize('patterns, fragment', [
    ([''], 'empty pattern'),
    (['{sa}-dockercfg-*'], 'placeholder other than {service_account}'),
    (['{service_account}-{suffix}'], 'placeholder other than {service_account}'),
])
def test_platform_patterns_rejected(patterns, fragment):
    with pytest.raises(ValidationError) as err:
        validate_platform_patterns(patterns)
    assert fragment in err.value.msg and err.value.field == 'platform_pull_secrets'


@settings(max_examples=300, deadline=None)
@given(LIVE, WANTED)
def test_prop_purge_with_platform_patterns_is_idempotent_and_keeps_matches(current, names):
    keep = ['*-dockercfg-*', 'b*']
    first = merge_pull_secrets(current, names, purge=True, keep=keep)
    second = merge_pull_secrets(first['image_pull_secrets'], names, purge=True, keep=keep)
    assert second['changed'] is False
    new = entry_names(first['image_pull_secrets'])
    kept = [n for n in entry_names(current) if n.startswith('b') or '-dockercfg-' in n]
    assert set(kept) <= set(new)
    assert set(new) == set(names) | set(kept)
