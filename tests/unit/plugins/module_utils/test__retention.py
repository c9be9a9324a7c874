# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the pure retention planner (_retention.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import random

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._retention import (
    ANY_REPOSITORY, ORDER_CREATED, ORDER_NONE, ORDER_PUSHED, ManifestInfo, RepositoryState, Rules,
    plan_retention, referrers_subject,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def dg(n):
    """A valid sha256 digest built from a small number or letter."""
    return 'sha256:' + ('%x' % n if isinstance(n, int) else n).rjust(64, '0')


def days_ago(n):
    return NOW - datetime.timedelta(days=n)


def repo(tags, created=None, pushed=None, children=None, subjects=None, name='team/app'):
    """tags: {tag: n}; created: {n: days_ago}; pushed: {n: order}; children: {n: [m, ...]}."""
    created = created or {}
    pushed = pushed or {}
    children = children or {}
    subjects = subjects or {}
    ns = set(tags.values()) | set(created) | set(pushed) | set(children) | set(
        c for cs in children.values() for c in cs)
    manifests = {}
    for n in ns:
        manifests[dg(n)] = ManifestInfo(
            dg(n),
            created=days_ago(created[n]) if n in created else None,
            pushed=pushed.get(n),
            children=[dg(c) for c in children.get(n, [])],
            subject=dg(subjects[n]) if n in subjects else None,
        )
    return RepositoryState(name, dict((t, dg(n)) for t, n in tags.items()), manifests)


def remaining(plan, state):
    deleted = set(e.digest for e in plan.deletions())
    return sorted(t for t, d in state.tags.items() if d not in deleted)


def deleted_tags(plan):
    return sorted(t for e in plan.deletions() for t in e.tags)


# ---------------------------------------------------------------------------------------
# rules validation

@pytest.mark.parametrize('kwargs, field', [
    ({}, 'keep_last'),
    ({'tag_exclude': ['^v']}, 'keep_last'),
    ({'keep_tags': ['latest']}, 'keep_last'),
    ({'keep_last': -1}, 'keep_last'),
    ({'keep_last': True}, 'keep_last'),
    ({'keep_last': '3'}, 'keep_last'),
    ({'older_than': '3 weeks'}, 'older_than'),
    ({'older_than': -5}, 'older_than'),
    ({'tag_include': ['(unclosed']}, 'tag_include'),
    ({'keep_last': 1, 'tag_exclude': ['[']}, 'tag_exclude'),
    ({'keep_last': 1, 'keep_tags': ['']}, 'keep_tags'),
])
def test_rules_validation(kwargs, field):
    with pytest.raises(ValidationError) as exc:
        Rules(**kwargs)
    assert exc.value.field == field


@pytest.mark.parametrize('value, seconds', [('30d', 30 * 86400), ('12h', 43200), ('1d12h', 129600), (90, 90)])
def test_rules_older_than_parsed(value, seconds):
    assert Rules(older_than=value).older_than == seconds


def test_rules_from_params_and_to_dict():
    rules = Rules.from_params({'keep_last': 2, 'older_than': '1d', 'tag_include': ['v.*'],
                               'tag_exclude': None, 'keep_tags': ['latest', 'latest']})
    assert rules.to_dict() == {'keep_last': 2, 'older_than': 86400, 'tag_include': ['v.*'],
                               'tag_exclude': [], 'keep_tags': ['latest']}


def test_rules_single_string_pattern():
    assert [p.pattern for p in Rules(tag_include='v1').tag_include] == ['v1']


# ---------------------------------------------------------------------------------------
# each rule on its own, and combinations

BASE_TAGS = {'v1': 1, 'v2': 2, 'v3': 3, 'v4': 4, 'latest': 4, 'dev-1': 5, 'dev-2': 6}
BASE_CREATED = {1: 40, 2: 30, 3: 20, 4: 10, 5: 50, 6: 5}


@pytest.mark.parametrize('rules, expected_remaining', [
    # keep_last counts images (digests), newest first; v4 and latest are one image
    (dict(keep_last=2), ['dev-2', 'latest', 'v4']),
    (dict(keep_last=3), ['dev-2', 'latest', 'v3', 'v4']),
    (dict(keep_last=0), []),
    (dict(keep_last=100), sorted(BASE_TAGS)),
    # older_than: strictly older than the duration
    (dict(older_than='25d'), ['dev-2', 'latest', 'v3', 'v4']),
    (dict(older_than='30d'), ['dev-2', 'latest', 'v2', 'v3', 'v4']),
    (dict(older_than='365d'), sorted(BASE_TAGS)),
    # include is anchored: 'v' alone matches nothing, 'v.' matches v1..v4 but not latest
    (dict(tag_include=['v']), sorted(BASE_TAGS)),
    (dict(tag_include=['v1']), sorted(set(BASE_TAGS) - {'v1'})),
    (dict(tag_include=['dev-.*']), ['latest', 'v1', 'v2', 'v3', 'v4']),
    # a tag of a digest sharing a kept tag survives: v4 and latest share image 4
    (dict(tag_include=['v.*']), ['dev-1', 'dev-2', 'latest', 'v4']),
    (dict(tag_include=['.*'], tag_exclude=['dev-.*']), ['dev-1', 'dev-2']),
    (dict(tag_include=['.*'], keep_tags=['latest']), ['latest', 'v4']),
    (dict(tag_include=['.*'], keep_tags=['v1', 'dev-1']), ['dev-1', 'v1']),
    # keep_last ranks only in-scope images: newest 1 dev image kept, v* untouched
    (dict(tag_include=['dev-.*'], keep_last=1), ['dev-2', 'latest', 'v1', 'v2', 'v3', 'v4']),
    # exclude takes images out of the ranking too
    (dict(keep_last=1, tag_exclude=['dev-.*']), ['dev-1', 'dev-2', 'latest', 'v4']),
    # every rule must agree: newest 1 kept AND younger than 25d kept
    (dict(keep_last=1, older_than='25d'), ['dev-2', 'latest', 'v3', 'v4']),
    (dict(keep_last=4, older_than='1d'), ['dev-2', 'latest', 'v2', 'v3', 'v4']),
    (dict(keep_last=1, older_than='25d', keep_tags=['v1']), ['dev-2', 'latest', 'v1', 'v3', 'v4']),
])
def test_rule_semantics(rules, expected_remaining):
    state = repo(BASE_TAGS, created=BASE_CREATED)
    plan = plan_retention([state], Rules(**rules), now=NOW)
    assert remaining(plan, state) == expected_remaining
    assert plan.repositories[0].ordering == ORDER_CREATED


def test_entry_reasons_and_tag_reasons():
    state = repo({'v1': 1, 'v2': 2, 'keep': 2}, created={1: 10, 2: 9})
    plan = plan_retention([state], Rules(tag_include=['v.*'], older_than='1d'), now=NOW)
    rp = plan.repositories[0]
    assert [e.tags for e in rp.delete] == [['v1']]
    assert 'older than 1d' in rp.delete[0].reason
    assert rp.delete[0].tag_reasons['v1'].startswith('matched by tag_include; created ')
    [kept] = rp.keep
    assert kept.tags == ['keep', 'v2']
    assert kept.reason == 'shares its digest with kept tag(s) keep'
    assert kept.tag_reasons['keep'] == 'kept: not matched by tag_include'
    assert not kept.tag_reasons['v2'].startswith('kept')
    d = plan.to_dict()
    assert d['repositories'][0]['delete'][0]['created'] == '2026-05-22T12:00:00Z'
    assert d['fingerprint'] == plan.fingerprint


def test_older_than_boundary_is_strict():
    state = repo({'a': 1, 'b': 2}, created={1: 30})
    state.manifests[dg(2)].created = NOW - datetime.timedelta(days=30, seconds=1)
    plan = plan_retention([state], Rules(older_than='30d'), now=NOW)
    assert deleted_tags(plan) == ['b']


# ---------------------------------------------------------------------------------------
# ordering: created, fallback to push order, none

def test_ordering_falls_back_to_push_order():
    # creation time unknown for image 3 -> the whole repository is ranked by push order
    state = repo({'a': 1, 'b': 2, 'c': 3}, created={1: 1, 2: 50}, pushed={1: 1, 2: 2, 3: 3})
    plan = plan_retention([state], Rules(keep_last=2), now=NOW)
    assert plan.repositories[0].ordering == ORDER_PUSHED
    assert deleted_tags(plan) == ['a']
    assert 'by push_order' in plan.repositories[0].delete[0].reason


def test_ordering_none_keeps_everything_for_keep_last():
    state = repo({'a': 1, 'b': 2, 'c': 3}, created={1: 1, 2: 50}, pushed={1: 1, 2: 2})
    plan = plan_retention([state], Rules(keep_last=1), now=NOW)
    rp = plan.repositories[0]
    assert rp.ordering == ORDER_NONE
    assert plan.deletions() == []
    assert rp.notes and 'cannot be ranked' in rp.notes[0]
    assert all('cannot be ranked' in e.reason for e in rp.keep)


def test_push_order_as_timestamps_gives_age_for_older_than():
    state = repo({'a': 1, 'b': 2}, pushed={1: days_ago(10), 2: days_ago(1)})
    plan = plan_retention([state], Rules(older_than='5d'), now=NOW)
    assert deleted_tags(plan) == ['a']
    assert 'pushed ' in plan.deletions()[0].reason


def test_unknown_age_is_kept_by_older_than():
    state = repo({'a': 1, 'b': 2}, created={1: 100}, pushed={2: 7})
    plan = plan_retention([state], Rules(older_than='5d'), now=NOW)
    assert deleted_tags(plan) == ['a']
    [kept] = plan.kept()
    assert kept.reason == 'older_than: age unknown (no creation time or push time)'


def test_ties_are_broken_deterministically():
    state = repo({'a': 1, 'b': 2, 'c': 3}, created={1: 5, 2: 5, 3: 5})
    plan = plan_retention([state], Rules(keep_last=1), now=NOW)
    # same creation time and no push order: the lowest digest wins the tie (stable sort
    # over digests in ascending order), so repeated runs keep the same image
    assert remaining(plan, state) == ['a']


def test_missing_manifest_info_means_unknown():
    state = RepositoryState('r', {'a': dg(1), 'b': dg(2)}, {dg(1): ManifestInfo(dg(1), created=days_ago(50))})
    plan = plan_retention([state], Rules(older_than='1d'), now=NOW)
    assert deleted_tags(plan) == ['a']


def test_now_required_for_older_than():
    with pytest.raises(ValueError):
        plan_retention([repo({'a': 1})], Rules(older_than='1d'))


# ---------------------------------------------------------------------------------------
# protection: in use, index children (GC must keep index children), referrers

def test_protected_digest_is_kept_with_reason():
    state = repo(BASE_TAGS, created=BASE_CREATED)
    protected = {'team/app': {dg(1): 'in use: local-1 Deployment default/web'}}
    plan = plan_retention([state], Rules(keep_last=1), protected=protected, now=NOW)
    assert 'v1' in remaining(plan, state)
    entry = [e for e in plan.kept() if e.digest == dg(1)][0]
    assert entry.reason == 'protected: in use: local-1 Deployment default/web'


def test_protection_is_per_repository_unless_any():
    a = repo({'x': 1}, created={1: 99}, name='a')
    b = repo({'x': 1}, created={1: 99}, name='b')
    plan = plan_retention([a, b], Rules(older_than='1d'), protected={'a': {dg(1): 'in use'}}, now=NOW)
    assert [(e.repository, e.digest) for e in plan.deletions()] == [('b', dg(1))]
    plan = plan_retention([a, b], Rules(older_than='1d'), protected={ANY_REPOSITORY: {dg(1): 'in use'}}, now=NOW)
    assert plan.deletions() == []


def config_state():
    """team/app: run-1 (config c1, old), run-2 (config c2, old), multi -> index listing run-1's
    manifest, nested -> index listing that index; everything 90 days old."""
    manifests = {
        dg(1): ManifestInfo(dg(1), created=days_ago(90), config=dg(0xc1)),
        dg(2): ManifestInfo(dg(2), created=days_ago(90), config=dg(0xc2)),
        dg(0xa): ManifestInfo(dg(0xa), created=days_ago(90), children=[dg(1)]),
        dg(0xb): ManifestInfo(dg(0xb), created=days_ago(90), children=[dg(0xa)]),
    }
    tags = {'run-1': dg(1), 'run-2': dg(2), 'multi': dg(0xa), 'nested': dg(0xb)}
    return RepositoryState('team/app', tags, manifests)


def test_bare_image_id_protects_the_manifests_with_that_config_and_their_indexes():
    # a runtime reports an image it holds under no name by its image ID: the config digest
    state = config_state()
    plan = plan_retention([state], Rules(older_than='30d'), protected={ANY_REPOSITORY: {dg(0xc1): 'in use: P'}},
                          now=NOW)
    assert deleted_tags(plan) == ['run-2']
    kept = dict((e.digest, e.reason) for e in plan.kept())
    assert kept[dg(1)] == 'protected: in use: P (image config %s)' % dg(0xc1)
    assert kept[dg(0xa)] == 'protected: index listing %s, in use: P (image config %s)' % (dg(1), dg(0xc1))
    assert kept[dg(0xb)].startswith('protected: index listing %s, index listing %s' % (dg(0xa), dg(1)))


def test_image_id_protects_the_index_even_when_its_manifest_is_protected_by_digest_too():
    # found by the property test: run-1 is in use by digest and by image ID; multi lists it
    state = config_state()
    protected = {ANY_REPOSITORY: {dg(0xc1): 'in use: P'}, 'team/app': {dg(1): 'in use: Q'}}
    plan = plan_retention([state], Rules(older_than='30d'), protected=protected, now=NOW)
    assert deleted_tags(plan) == ['run-2']
    kept = dict((e.digest, e.reason) for e in plan.kept())
    assert kept[dg(1)] == 'protected: in use: Q'
    assert kept[dg(0xa)] == 'protected: index listing %s, in use: Q' % dg(1)


def test_config_digest_protection_is_per_repository_unless_any():
    state = config_state()
    plan = plan_retention([state], Rules(older_than='30d'), protected={'other': {dg(0xc1): 'in use'}}, now=NOW)
    assert sorted(deleted_tags(plan)) == ['multi', 'nested', 'run-1', 'run-2']
    plan = plan_retention([state], Rules(older_than='30d'), protected={'team/app': {dg(0xc2): 'in use'}}, now=NOW)
    assert sorted(deleted_tags(plan)) == ['multi', 'nested', 'run-1']


def test_children_of_kept_index_are_protected():
    # 1.0 -> index a with children b, c; b is also tagged (per-arch tag) and old
    state = repo({'1.0': 0xa, 'amd64-old': 0xb, 'old': 0xd},
                 created={0xa: 1, 0xb: 90, 0xc: 90, 0xd: 90}, children={0xa: [0xb, 0xc]})
    plan = plan_retention([state], Rules(older_than='30d'), now=NOW)
    assert deleted_tags(plan) == ['old']
    entry = [e for e in plan.kept() if e.digest == dg(0xb)][0]
    assert entry.reason == 'child of kept index %s' % dg(0xa)


def test_children_of_protected_untagged_index_are_protected():
    # a pod runs repo@<index digest> that has no tag any more; its child is tagged and old
    state = repo({'arm': 0xb}, created={0xb: 90}, children={0xa: [0xb]})
    plan = plan_retention([state], Rules(older_than='1d'), protected={'team/app': {dg(0xa): 'in use'}}, now=NOW)
    assert plan.deletions() == []


def test_nested_index_children_protected():
    state = repo({'top': 1, 'mid-tag': 2, 'leaf-tag': 3}, created={1: 1, 2: 99, 3: 99}, children={1: [2], 2: [3]})
    plan = plan_retention([state], Rules(older_than='1d'), now=NOW)
    assert deleted_tags(plan) == []


def test_deleted_index_does_not_protect_children():
    state = repo({'old-index': 1, 'old-child': 2}, created={1: 99, 2: 99}, children={1: [2]})
    plan = plan_retention([state], Rules(older_than='1d'), now=NOW)
    assert deleted_tags(plan) == ['old-child', 'old-index']


def test_index_cycle_terminates():
    state = repo({'a': 1, 'b': 2}, created={1: 99, 2: 1}, children={1: [2], 2: [1]})
    plan = plan_retention([state], Rules(older_than='1d'), now=NOW)
    assert plan.deletions() == []


def test_referrers_tag_follows_subject():
    sig_tag = 'sha256-%s.sig' % dg(1).split(':')[1]
    sig_tag2 = 'sha256-%s' % dg(2).split(':')[1]
    assert referrers_subject(sig_tag) == dg(1)
    state = repo({'old': 1, 'new': 2, sig_tag: 0xe1, sig_tag2: 0xe2}, created={1: 99, 2: 1, 0xe1: 99, 0xe2: 99})
    plan = plan_retention([state], Rules(older_than='30d'), now=NOW)
    assert deleted_tags(plan) == ['old', sig_tag]
    kept = [e for e in plan.kept() if e.digest == dg(0xe2)][0]
    assert 'subject %s is not deleted' % dg(2) in kept.reason
    # include '.*' does not make referrers tags candidates on their own
    plan = plan_retention([state], Rules(tag_include=['new']), now=NOW)
    assert deleted_tags(plan) == ['new', sig_tag2]


def test_referrer_with_subject_field_follows_subject():
    state = repo({'keep': 1, 'sbom': 2, 'old': 3, 'old-sbom': 4}, created={1: 1, 2: 99, 3: 99, 4: 99},
                 subjects={2: 1, 4: 3})
    plan = plan_retention([state], Rules(older_than='30d'), now=NOW)
    assert deleted_tags(plan) == ['old', 'old-sbom']
    kept = [e for e in plan.kept() if e.digest == dg(2)][0]
    assert kept.reason == 'referrer of %s, which is not deleted' % dg(1)


# ---------------------------------------------------------------------------------------
# plan shape and determinism

def test_plan_is_sorted_and_fingerprint_stable():
    a = repo({'x': 2, 'y': 1}, created={1: 99, 2: 99}, name='b/app')
    b = repo({'x': 1}, created={1: 99}, name='a/app')
    p1 = plan_retention([a, b], Rules(older_than='1d'), now=NOW)
    p2 = plan_retention([b, a], Rules(older_than='1d'), now=NOW)
    assert [(e.repository, e.digest) for e in p1.deletions()] == [
        ('a/app', dg(1)), ('b/app', dg(1)), ('b/app', dg(2))]
    assert p1.to_dict() == p2.to_dict()
    assert p1.fingerprint.startswith('sha256:') and len(p1.fingerprint) == 71
    p3 = plan_retention([a], Rules(older_than='1d'), now=NOW)
    assert p3.fingerprint != p1.fingerprint


def test_empty_repository():
    plan = plan_retention([RepositoryState('empty', {})], Rules(keep_last=1), now=NOW)
    assert plan.to_dict()['repositories'] == [
        {'repository': 'empty', 'ordering': ORDER_CREATED, 'delete': [], 'keep': [], 'notes': []}]


# ---------------------------------------------------------------------------------------
# property tests

CONFIGS = [dg('c%d' % i) for i in range(3)]
TAG = st.from_regex(r'[a-z0-9][a-z0-9._-]{0,5}', fullmatch=True)


@st.composite
def scenarios(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    digests = [dg(i + 1) for i in range(n)]
    tags = draw(st.dictionaries(TAG, st.sampled_from(digests), min_size=0, max_size=14))
    # a referrers tag now and then
    if draw(st.booleans()):
        subject = draw(st.sampled_from(digests))
        tags['sha256-' + subject.split(':')[1] + '.sig'] = draw(st.sampled_from(digests))
    manifests = {}
    for d in digests:
        created = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=100)))
        pushed = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=20)))
        children = draw(st.lists(st.sampled_from(digests), max_size=3))
        subject = draw(st.one_of(st.none(), st.sampled_from(digests)))
        config = draw(st.one_of(st.none(), st.sampled_from(CONFIGS)))
        manifests[d] = ManifestInfo(d, created=None if created is None else days_ago(created), pushed=pushed,
                                    children=[c for c in children if c != d], subject=subject if subject != d else None,
                                    config=config)
    state = RepositoryState('r', tags, manifests)
    rules = Rules(
        keep_last=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=5))),
        older_than=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=100 * 86400))),
        tag_include=draw(st.sampled_from([['.*'], ['[a-m].*'], ['v.*', '[0-9].*']])),
        tag_exclude=draw(st.sampled_from([None, ['.*-keep'], ['[0-4].*']])),
        keep_tags=draw(st.lists(TAG, max_size=3)),
    )
    protected = {'r': dict((d, 'in use') for d in draw(st.lists(st.sampled_from(digests), max_size=3)))}
    for config in draw(st.lists(st.sampled_from(CONFIGS), max_size=2)):
        protected['r'][config] = 'in use (image ID)'
    return state, rules, protected


def _reachable(state, roots):
    seen = set()
    stack = list(roots)
    while stack:
        d = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        stack.extend(state.info(d).children)
    return seen


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_nothing_protected_or_shared_with_kept_tag_is_deleted(scenario):
    state, rules, protected = scenario
    plan = plan_retention([state], rules, protected=protected, now=NOW)
    deleted = set(e.digest for e in plan.deletions())
    kept_digests = set(state.tags.values()) - deleted
    # every tag either survives with its digest or is deleted with it: no deleted digest
    # carries a tag that the plan keeps
    for entry in plan.deletions():
        assert entry.digest not in protected['r']
        # a protected image ID (config digest) keeps every manifest with that config
        assert state.info(entry.digest).config not in protected['r']
        assert set(entry.tags) == set(t for t, d in state.tags.items() if d == entry.digest)
        for tag in entry.tags:
            assert tag not in rules.keep_tags or referrers_subject(tag)
            assert not entry.tag_reasons[tag].startswith('kept')
    # nothing reachable (children, recursively) from a kept or protected digest is deleted, and
    # no index from which a manifest with a protected config is reachable
    assert not (_reachable(state, kept_digests | set(protected['r'])) & deleted)
    for d in deleted:
        assert not any(state.info(r).config in protected['r'] for r in _reachable(state, [d]))
    # referrers: a deleted manifest's subject is deleted too
    for d in deleted:
        subject = state.info(d).subject
        assert subject is None or subject in deleted
    # the plan covers every tagged digest exactly once
    assert sorted(e.digest for e in plan.deletions() + plan.kept()) == sorted(set(state.tags.values()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_plan_is_deterministic(scenario, rnd):
    state, rules, protected = scenario
    first = plan_retention([state], rules, protected=protected, now=NOW).to_dict()
    items = list(state.tags.items())
    rnd.shuffle(items)
    manifests = list(state.manifests.items())
    rnd.shuffle(manifests)
    shuffled = RepositoryState(state.name, dict(items), dict(manifests))
    second = plan_retention([shuffled], rules, protected=protected, now=NOW).to_dict()
    assert first == second


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_more_protection_never_deletes_more(scenario):
    state, rules, protected = scenario
    base = set(e.digest for e in plan_retention([state], rules, now=NOW).deletions())
    more = set(e.digest for e in plan_retention([state], rules, protected=protected, now=NOW).deletions())
    assert more <= base


def test_random_smoke_many_repositories():
    rnd = random.Random(7)
    states = []
    for r in range(20):
        tags = dict(('t%d' % i, dg(rnd.randint(1, 10))) for i in range(rnd.randint(0, 15)))
        manifests = dict((dg(i), ManifestInfo(dg(i), created=days_ago(rnd.randint(0, 60)))) for i in range(1, 11))
        states.append(RepositoryState('repo%02d' % r, tags, manifests))
    plan = plan_retention(states, Rules(keep_last=3, older_than='7d'), now=NOW)
    assert [rp.name for rp in plan.repositories] == sorted(s.name for s in states)
    for rp, state in zip(plan.repositories, sorted(states, key=lambda s: s.name)):
        assert len(rp.keep) >= min(3, len(set(state.tags.values())))


# ---------------------------------------------------------------------------------------
# the examples of docs/cleanup.md, so the documentation cannot drift from the code

DOC_TAGS = {'v1': 1, 'v2': 2, 'v3': 3, 'stable': 3, 'v4': 4, 'v5': 5, 'latest': 5, 'dev-1': 6}
DOC_CREATED = {1: 90, 2: 60, 3: 40, 4: 10, 5: 1, 6: 50}


@pytest.mark.parametrize('rules, deleted', [
    (dict(keep_last=2), ['dev-1', 'stable', 'v1', 'v2', 'v3']),
    (dict(older_than='30d'), ['dev-1', 'stable', 'v1', 'v2', 'v3']),
    (dict(tag_include=['v.*'], older_than='30d'), ['v1', 'v2']),
    (dict(tag_include=['.*'], keep_tags=['stable']), ['dev-1', 'latest', 'v1', 'v2', 'v4', 'v5']),
    (dict(keep_last=2, older_than='30d'), ['dev-1', 'stable', 'v1', 'v2', 'v3']),
    (dict(keep_last=4, older_than='30d'), ['v1', 'v2']),
    (dict(tag_include=['v.*'], older_than='30d', keep_last=2), ['v1', 'v2']),
])
def test_docs_cleanup_examples(rules, deleted):
    state = repo(DOC_TAGS, created=DOC_CREATED)
    assert deleted_tags(plan_retention([state], Rules(**rules), now=NOW)) == deleted
