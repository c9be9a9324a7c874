"""Kubernetes API errors become typed errors whose messages name verb, resource, namespace."""

import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _k8s
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    KubernetesAPIError,
    NotFoundError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RetryPolicy


class FakeApiException(Exception):
    def __init__(self, status, body=None, headers=None, reason=''):
        super(FakeApiException, self).__init__(status)
        self.status = status
        self.body = json.dumps(body) if isinstance(body, dict) else body
        self.headers = headers or {}
        self.reason = reason


def test_403_names_verb_resource_namespace():
    exc = FakeApiException(403, {'message': 'secrets is forbidden: User "bob" cannot create resource'})
    err = _k8s.map_api_exception(exc, 'create', 'secrets', namespace='team-a')
    assert isinstance(err, KubernetesAPIError) and err.status == 403
    assert "cannot create secrets in namespace team-a" in err.msg
    assert err.details == {'status': 403, 'verb': 'create', 'resource': 'secrets', 'namespace': 'team-a'}


def test_403_from_rbac_names_the_rule_to_add_and_where():
    body = {'message': 'secrets is forbidden: User "system:serviceaccount:ci:bot" cannot list resource "secrets" in '
                       'API group "" at the cluster scope'}
    err = _k8s.map_api_exception(FakeApiException(403, body), 'list', 'secrets')
    assert err.msg.startswith('forbidden: the credentials cannot list secrets cluster-wide. Add the rule '
                              '{apiGroups: [""], resources: [secrets], verbs: [list]} to a ClusterRole bound with a '
                              'ClusterRoleBinding')
    assert 'system:serviceaccount:ci:bot' in err.msg
    err = _k8s.map_api_exception(FakeApiException(403, body), 'list', 'deployments', namespace='team-a')
    assert '{apiGroups: ["apps"], resources: [deployments], verbs: [list]} to a Role in namespace team-a' in err.msg


def test_403_from_admission_is_not_blamed_on_rbac():
    body = {'message': 'pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'}
    err = _k8s.map_api_exception(FakeApiException(403, body), 'create', 'pods', namespace='a')
    assert err.reason == 'Forbidden' and 'violates PodSecurity' in err.msg and 'apiGroups' not in err.msg


def test_404_409():
    assert isinstance(_k8s.map_api_exception(FakeApiException(404, {}), 'get', 'secrets', 'a', 'x'), NotFoundError)
    err = _k8s.map_api_exception(FakeApiException(409, {'message': 'the object has been modified'}),
                                 'update', 'serviceaccounts', 'a', 'default')
    assert isinstance(err, ConflictError) and 'serviceaccounts/default' in err.msg


def test_422_lists_fields():
    body = {'message': 'invalid', 'details': {'causes': [{'field': 'metadata.name', 'message': 'bad name'}]}}
    err = _k8s.map_api_exception(FakeApiException(422, body), 'create', 'secrets', 'a', 'Bad')
    assert 'metadata.name: bad name' in err.msg
    assert err.details['invalid_fields'] == ['metadata.name']


def test_403_in_a_terminating_namespace_is_not_blamed_on_rbac():
    body = {'message': 'secrets "x" is forbidden: unable to create new content in namespace term because it '
                       'is being terminated'}
    err = _k8s.map_api_exception(FakeApiException(403, body), 'create', 'secrets', namespace='term')
    assert 'being deleted' in err.msg and 'RBAC' not in err.msg


def test_non_json_body():
    err = _k8s.map_api_exception(FakeApiException(500, '<html>oops</html>', reason='Internal'), 'list', 'secrets')
    assert err.status == 500 and 'oops' in err.msg


class Response(object):
    data = b'{"ok": true}'


def make_client(monkeypatch, **policy):
    monkeypatch.setattr(_k8s, 'ApiException', FakeApiException)
    client = _k8s.KubeClient.__new__(_k8s.KubeClient)
    client._policy = RetryPolicy(rand=lambda: 0.0, **policy)
    client.slept = []
    client._sleep = client.slept.append
    client.request_count = 0
    client._unreachable = None
    client.api_client = type('A', (), {'configuration': type('C', (), {'host': 'https://127.0.0.1:6443'})()})()
    return client


def test_call_retries_429_honouring_retry_after_then_succeeds(monkeypatch):
    calls = []

    def func(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise FakeApiException(429, {'message': 'slow down'}, headers={'Retry-After': '2'})
        return Response()

    client = make_client(monkeypatch, timeout=7)
    assert client.call('list', 'secrets', func, namespace='a') == {'ok': True}
    assert len(calls) == 3 and calls[0]['namespace'] == 'a' and client.request_count == 3
    assert calls[0]['_request_timeout'] == (7, 7)
    assert client.slept == [2.0, 2.0]
    assert client.policy.stats() == {'count': 2, 'waited_seconds': 4.0, 'by_reason': {'HTTP 429': 2},
                                     'by_target': {'kubernetes': 2}}


def test_call_gives_up_after_the_retries_naming_the_request(monkeypatch):
    def func(**kwargs):
        raise FakeApiException(503, {'message': 'etcd unavailable'})

    client = make_client(monkeypatch, retries=3)
    with pytest.raises(KubernetesAPIError) as info:
        client.call('create', 'secrets', func, namespace='team-a')
    err = info.value
    assert err.status == 503 and err.details['retried'] == 3
    assert 'create secrets in namespace team-a' in err.msg and 'gave up after 3 retries, request_retries=3' in err.msg
    assert client.slept == [0.5, 1.0, 2.0] and client.request_count == 4


def test_call_does_not_wait_for_a_retry_after_beyond_max_wait(monkeypatch):
    def func(**kwargs):
        raise FakeApiException(429, {'message': 'later'}, headers={'Retry-After': '120'})

    client = make_client(monkeypatch, max_wait=30)
    with pytest.raises(KubernetesAPIError) as info:
        client.call('list', 'namespaces', func)
    assert 'asked to retry after 120 s, longer than retry_max_wait (30 s)' in info.value.msg
    assert client.slept == [] and client.request_count == 1


def test_timeout_is_not_retried_and_names_the_request(monkeypatch):
    import urllib3

    def func(**kwargs):
        raise urllib3.exceptions.ReadTimeoutError(None, '/api/v1/secrets', 'Read timed out. (read timeout=5)')

    client = make_client(monkeypatch, timeout=5)
    with pytest.raises(KubernetesAPIError) as info:
        client.call('update', 'serviceaccounts', func, namespace='n1', name='default')
    err = info.value
    assert err.reason == 'Timeout' and err.details['write_outcome'] == 'unknown'
    assert 'no answer within request_timeout=5 s to update serviceaccounts/default in namespace n1' in err.msg
    assert client.request_count == 1 and client.slept == []


def test_refused_connection_is_retried_then_later_requests_are_not_sent(monkeypatch):
    import urllib3

    def func(**kwargs):
        raise urllib3.exceptions.MaxRetryError(None, '/api', urllib3.exceptions.NewConnectionError(
            None, 'Failed to establish a new connection: [Errno 111] Connection refused'))

    client = make_client(monkeypatch, retries=2)
    with pytest.raises(KubernetesAPIError) as info:
        client.call('create', 'secrets', func, namespace='a')
    assert info.value.reason == 'Unreachable' and info.value.details['write_outcome'] == 'not_written'
    assert 'connection refused' in info.value.msg and client.request_count == 3
    with pytest.raises(KubernetesAPIError) as info:
        client.call('create', 'secrets', func, namespace='b')
    assert info.value.msg.startswith('not sent: ') and info.value.details['write_outcome'] == 'not_written'
    assert client.request_count == 3


def test_broken_connection_retries_reads_but_not_writes(monkeypatch):
    import urllib3
    calls = []

    def func(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise urllib3.exceptions.ProtocolError('Connection aborted.', ConnectionResetError(104, 'reset'))
        return Response()

    client = make_client(monkeypatch)
    assert client.call('list', 'secrets', func) == {'ok': True}
    assert client.policy.stats()['by_reason'] == {'connection broken': 1}
    calls[:] = []
    with pytest.raises(KubernetesAPIError) as info:
        client.call('update', 'secrets', func, namespace='a', name='s')
    assert info.value.details['write_outcome'] == 'unknown' and 'may or may not have been applied' in info.value.msg


def test_retry_on_conflict(monkeypatch):
    monkeypatch.setattr(_k8s.time, 'sleep', lambda s: None)
    attempts = []

    def op():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConflictError('conflict', status=409)
        return 'done'

    assert _k8s.retry_on_conflict(op) == 'done' and len(attempts) == 3

    def always_conflicts():
        raise ConflictError('c', status=409)

    with pytest.raises(ConflictError):
        _k8s.retry_on_conflict(always_conflicts, attempts=2)


def test_kubeconfig_accepts_a_kubeconfig_style_list(tmp_path):
    """A:B is merged as KUBECONFIG is (the inventory plugin sets such lists): the context and
    cluster come from one file, the user from the other; a missing file is skipped."""
    import yaml
    from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
    first = tmp_path / 'a.yaml'
    second = tmp_path / 'b.yaml'
    first.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config',
        'clusters': [{'name': 'c', 'cluster': {'server': 'https://203.0.113.7:6443'}}],
        'contexts': [{'name': 'x', 'context': {'cluster': 'c', 'user': 'u'}}]}))
    second.write_text(yaml.safe_dump({'users': [{'name': 'u', 'user': {'token': 'tok'}}]}))
    listed = '%s:%s:%s' % (first, tmp_path / 'missing.yaml', second)
    client = _k8s.KubeClient.from_params({'kubeconfig': listed, 'context': 'x'})
    assert client.api_client.configuration.host == 'https://203.0.113.7:6443'
    with pytest.raises(ValidationError, match='does not exist'):
        _k8s.KubeClient.from_params({'kubeconfig': '%s:%s' % (tmp_path / 'no1', tmp_path / 'no2')})
