"""The retry policy shared by the Kubernetes and registry clients (_retry.py) and the bulk write report (_bulk.py)."""

import threading

import pytest
from hypothesis import given, strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils import _retry
from ansible_collections.registrylink.k8s.plugins.module_utils._bulk import write_outcome, write_report
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    KubernetesAPIError, ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RetryPolicy


def test_defaults_match_the_doc_fragment():
    policy = RetryPolicy.from_params({})
    assert (policy.timeout, policy.retries, policy.max_wait) == (30, 5, 30)
    assert _retry.RETRY_ARGSPEC['request_timeout']['default'] == 30
    assert set(_retry.RETRY_ARGSPEC) == {'request_timeout', 'request_retries', 'retry_max_wait'}


@pytest.mark.parametrize('params, field', [
    ({'request_timeout': 0}, 'request_timeout'),
    ({'request_retries': -1}, 'request_retries'),
    ({'request_retries': 21}, 'request_retries'),
    ({'retry_max_wait': -1}, 'retry_max_wait'),
])
def test_bad_options_name_the_option(params, field):
    with pytest.raises(ValidationError) as info:
        RetryPolicy.from_params(params)
    assert info.value.field == field and info.value.msg.startswith(field + ':')


@pytest.mark.parametrize('attempt, retry_after, expected', [
    (0, '3', 3.0),          # the server's Retry-After wins
    (4, '0', 0.0),
    (0, '31', None),        # longer than max_wait: not waited for
    (0, None, 0.5),         # backoff 0.5, 1, 2, 4, 8, capped
    (2, None, 2.0),
    (4, None, 8.0),
    (5, '1', None),         # retries used up
    (0, 'soon', 0.5),       # unparsable Retry-After: backoff
])
def test_delay(attempt, retry_after, expected):
    policy = RetryPolicy(retries=5, max_wait=30, rand=lambda: 0.0)
    assert policy.delay(attempt, retry_after) == expected


def test_backoff_is_capped_by_max_wait_and_jitter_is_bounded():
    policy = RetryPolicy(retries=20, max_wait=3, rand=lambda: 1.0)
    assert policy.delay(10) == 3.0
    policy = RetryPolicy(retries=20, max_wait=30, rand=lambda: 1.0)
    assert policy.delay(0) == 0.625


@given(attempt=st.integers(0, 30), retries=st.integers(0, 20), max_wait=st.integers(0, 120),
       retry_after=st.one_of(st.none(), st.integers(0, 1000).map(str), st.text(max_size=20)))
def test_delay_is_bounded(attempt, retries, max_wait, retry_after):
    wait = RetryPolicy(retries=retries, max_wait=max_wait).delay(attempt, retry_after)
    if attempt >= retries:
        assert wait is None
    assert wait is None or 0 <= wait <= max_wait


def test_give_up_reason():
    policy = RetryPolicy(retries=2, max_wait=10)
    assert policy.give_up_reason(2) == 'gave up after 2 retries, request_retries=2'
    assert policy.give_up_reason(0, '60') == 'the server asked to retry after 60 s, longer than retry_max_wait (10 s)'
    assert RetryPolicy(retries=0).give_up_reason(0) == 'not retried (request_retries=0)'


def test_stats_count_across_threads():
    policy = RetryPolicy()

    def work():
        for _round in range(500):
            policy.record('kubernetes', 'HTTP 429', 0.5)

    threads = [threading.Thread(target=work) for _thread in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    policy.record('registry', 'HTTP 503', 1.0)
    assert policy.stats() == {'count': 2001, 'waited_seconds': 1001.0,
                              'by_reason': {'HTTP 429': 2000, 'HTTP 503': 1},
                              'by_target': {'kubernetes': 2000, 'registry': 1}}


def test_set_policy_is_what_clients_read():
    before = _retry.current_policy()
    try:
        policy = _retry.set_policy(RetryPolicy(timeout=7))
        assert _retry.current_policy() is policy
    finally:
        _retry.set_policy(before)


def test_write_outcome_and_report():
    assert write_outcome(KubernetesAPIError('x', status=0, write_outcome='unknown')) == 'unknown'
    assert write_outcome(KubernetesAPIError('x', status=0, write_outcome='not_written')) == 'not_written'
    assert write_outcome(KubernetesAPIError('refused by the server', status=503)) == 'not_written'
    assert write_outcome(RuntimeError('a bug half way')) == 'unknown'
    results = [{'namespace': 'a', 'action': 'created'}, {'namespace': 'b', 'action': 'unchanged'},
               {'namespace': 'c', 'action': 'failed', 'write_outcome': 'unknown'},
               {'namespace': 'd', 'action': 'failed', 'write_outcome': 'not_written'},
               {'namespace': 'e', 'action': 'updated'}]
    assert write_report(results, lambda r: r['namespace'], ('created', 'updated')) == {
        'written': ['a', 'e'], 'not_written': ['d'], 'unknown': ['c']}


def test_unreachable_hosts_are_remembered_per_task():
    first, second = RetryPolicy(), RetryPolicy()
    assert first.unreachable('reg.example.test:443') is None
    first.mark_unreachable('reg.example.test:443', 'connection refused (gave up after 5 retries)')
    first.mark_unreachable('reg.example.test:443', 'a later reason is not kept')
    assert first.unreachable('reg.example.test:443') == 'connection refused (gave up after 5 retries)'
    assert first.unreachable('reg.example.test:5000') is None
    assert second.unreachable('reg.example.test:443') is None  # another task starts afresh
