# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of registry_probe's pull_secret and pod modes: a FAKE Kubernetes API (dicts in memory)
and the FAKE registry transport. The same cases run against the real control plane in
tests/integration/test_registry_probe_cluster.py; here they cover, without a cluster, the pull failures
people meet: a config shape stored under the wrong Secret type, Docker Hub key aliases, scheme and port
mismatches in keys, a pull secret in another namespace, expired ECR tokens, ACR identitytoken entries,
GitLab CI job tokens, rate limits that are not bad passwords, and x509 errors on the node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _diagnose as diag
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import NotFoundError
from ansible_collections.registrylink.k8s.tests.unit.plugins.module_utils.fake_registry_transport import FakeRegistry

USER, PASSWORD = 'ci-puller', 'S3cr3t-Example'
REG = 'reg.example.test:5000'


class FakeCore(object):
    """The CoreV1Api methods the diagnosis calls, over dicts."""

    def __init__(self, objects):
        self.objects = objects  # (kind, namespace, name) -> dict

    def _read(self, kind, name, namespace):
        try:
            return self.objects[(kind, namespace, name)]
        except KeyError:
            raise NotFoundError('not found: %s %s/%s' % (kind, namespace, name), status=404)

    def read_namespaced_secret(self, name, namespace, **kw):
        return self._read('Secret', name, namespace)

    def read_namespaced_pod(self, name, namespace, **kw):
        return self._read('Pod', name, namespace)

    def read_namespaced_service_account(self, name, namespace, **kw):
        return self._read('ServiceAccount', name, namespace)

    def _list(self, kind, namespace, field_selector):
        name = field_selector.split('=', 1)[1]
        found = self.objects.get((kind, namespace, name))
        return {'items': [found] if found else []}

    def list_namespaced_secret(self, namespace, field_selector=None, **kw):
        return self._list('Secret', namespace, field_selector)

    def list_namespaced_pod(self, namespace, field_selector=None, **kw):
        return self._list('Pod', namespace, field_selector)

    def list_namespaced_service_account(self, namespace, field_selector=None, **kw):
        return self._list('ServiceAccount', namespace, field_selector)

    def list_secret_for_all_namespaces(self, field_selector=None, **kw):
        name = field_selector.split('=', 1)[1]
        return {'items': [o for (kind, _ns, n), o in self.objects.items() if kind == 'Secret' and n == name]}

    def list_namespaced_event(self, namespace, field_selector=None, **kw):
        return {'items': [o for (kind, ns, _n), o in self.objects.items() if kind == 'Event' and ns == namespace]}


class FakeKube(object):
    def __init__(self, objects):
        self.core = FakeCore(objects)

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        if namespace is not None:
            kwargs['namespace'] = namespace
        if name is not None:
            kwargs['name'] = name
        return func(**kwargs)

    def list_all(self, resource, func, namespace=None, **kwargs):
        return (self.call('list', resource, func, namespace=namespace, **kwargs) or {}).get('items') or []


def secret(ns, name, config, stype='kubernetes.io/dockerconfigjson', key='.dockerconfigjson'):
    return (('Secret', ns, name), {'metadata': {'name': name, 'namespace': ns}, 'type': stype,
                                   'data': {key: base64.b64encode(json.dumps(config).encode()).decode()}})


def entry(username=USER, password=PASSWORD, **extra):
    out = {'username': username, 'password': password,
           'auth': base64.b64encode(('%s:%s' % (username, password)).encode()).decode()}
    out.update(extra)
    return out


def pod(ns, name, image, pull_secrets=None, sa='default', waiting=None):
    p = {'metadata': {'name': name, 'namespace': ns, 'uid': 'uid-' + name},
         'spec': {'containers': [{'name': 'app', 'image': image}], 'serviceAccountName': sa},
         'status': {'phase': 'Pending'}}
    if pull_secrets:
        p['spec']['imagePullSecrets'] = [{'name': s} for s in pull_secrets]
    if waiting:
        p['status']['containerStatuses'] = [{'name': 'app', 'state': {'waiting': waiting}}]
    return ('Pod', ns, name), p


def sa(ns, name='default', pull_secrets=None):
    return ('ServiceAccount', ns, name), {'metadata': {'name': name}, 'imagePullSecrets': [
        {'name': s} for s in pull_secrets or []]}


def event(ns, pod_name, message, reason='Failed'):
    return ('Event', ns, 'ev-' + str(abs(hash(message)))), {
        'type': 'Warning', 'reason': reason, 'message': message, 'count': 2,
        'involvedObject': {'kind': 'Pod', 'name': pod_name, 'uid': 'uid-' + pod_name},
        'lastTimestamp': '2026-01-01T00:00:00Z'}


def ok_tls(host, port, **kw):
    return {'verified': True}, {'dns': 0, 'connect': 0, 'tls': 0}, None


def setup(objects, registries):
    kube = FakeKube(dict(objects))
    by_host = dict((r.host, r) for r in registries)

    def factory(registry, **kwargs):
        client = RegistryClient(registry, sleep=lambda s: None, **kwargs)
        reg = by_host.get(client.netloc)
        if reg is None:
            reg = FakeRegistry(host=client.netloc)  # an empty registry: every repository is unknown
        reg.mount(client)
        return client
    return kube, factory


def conn():
    return dict(ca_path=None, validate_certs=True, timeout=5, allow_insecure_http=False, allow_cross_host_realm=False)


def registry():
    reg = FakeRegistry(host=REG, auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team/app', '1.0')
    return reg


def diagnose(objects, registries, ns='apps', name='web', secrets=None):
    kube, factory = setup(objects, registries)
    seen = []
    result = diag.diagnose_pod({'pod': {'namespace': ns, 'name': name}}, conn(), register_secret=seen.append,
                               kube_client=kube, client_factory=factory, tls_checker=ok_tls)
    text = json.dumps(result)
    assert PASSWORD not in text
    for value in secrets or ():
        assert value not in text
    return result, seen


def pull_secret(objects, registries, image, ns='apps', name='regcred'):
    kube, factory = setup(objects, registries)
    return diag.probe_with_pull_secret({'image': image, 'pull_secret': {'namespace': ns, 'name': name}}, conn(),
                                       kube_client=kube, client_factory=factory, tls_checker=ok_tls)


IMAGE = REG + '/team/app:1.0'


def test_pod_good_and_password_registered_for_masking():
    result, seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                             pod('apps', 'web', IMAGE, ['regcred']), sa('apps')], [registry()])
    assert result['ok'] is True, result
    c = result['containers'][0]
    assert c['matched'] == {'secret': 'regcred', 'key': REG, 'config_key': REG, 'username': USER, 'via': 'match'}
    assert c['probe']['ok'] and c['probe']['credentials']['source'] == 'pull_secret'
    assert PASSWORD in seen
    assert result['summary'] == {'ok': 1}


def test_namespaced_entry_missing_secret_found_elsewhere():
    result, _seen = diagnose([secret('default', 'regcred', {'auths': {REG: entry()}}),
                              pod('apps', 'web', IMAGE, ['regcred']), sa('apps', pull_secrets=['regcred'])], [registry()])
    c = result['containers'][0]
    assert c['category'] == 'no_credentials_matched'
    assert c['pull_secrets'][0]['problem'] == 'missing' and c['pull_secrets'][0]['found_in'] == ['default']
    assert 'found in: default' in c['hint']
    assert 'Anonymous check: unauthorized' in c['hint']


def test_opaque_secret_is_ignored():
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}, stype='Opaque'),
                              pod('apps', 'web', IMAGE, ['regcred']), sa('apps')], [registry()])
    c = result['containers'][0]
    assert c['category'] == 'no_credentials_matched'
    assert c['pull_secrets'][0]['problem'] == 'wrong_secret_type'


def test_auths_wrapper_under_dockercfg():
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}, stype='kubernetes.io/dockercfg',
                                     key='.dockercfg'),
                              pod('apps', 'web', IMAGE, ['regcred']), sa('apps')], [registry()])
    c = result['containers'][0]
    assert c['category'] == 'no_credentials_matched'
    assert c['pull_secrets'][0]['problem'] == 'shape_mismatch'


@pytest.mark.parametrize('key, reason', [
    ('reg.example.test', 'port_mismatch'),               # scheme, /v1/ and /v2/ in keys / kubernetes#41536
    ('reg.example.test:443', 'port_mismatch'),
    ('Reg.Example.Test:5000', 'case'),
])
def test_near_misses(key, reason):
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {key: entry()}}),
                              pod('apps', 'web', IMAGE, ['regcred']), sa('apps')], [registry()])
    c = result['containers'][0]
    assert c['category'] == 'no_credentials_matched'
    assert c['near_misses'][0]['reason'] == reason


def test_registry_1_docker_io_key_never_matches_hub_images():
    hub = FakeRegistry(host='registry-1.docker.io', auth='bearer', realm='https://auth.docker.io/token',
                       acl={None: {}})
    result, _seen = diagnose([secret('apps', 'hubcred', {'auths': {'registry-1.docker.io': entry()}}),
                              pod('apps', 'web', 'team/app:1.0', ['hubcred']), sa('apps')], [hub])
    c = result['containers'][0]
    assert c['normalized'] == 'docker.io/team/app'
    assert c['category'] == 'no_credentials_matched'
    assert c['near_misses'][0]['reason'] == 'docker_hub_alias'
    assert 'https://index.docker.io/v1/' in c['hint']


def test_index_docker_io_key_matches_through_the_fallback():
    hub = FakeRegistry(host='registry-1.docker.io', auth='bearer', realm='https://auth.docker.io/token',
                       users={USER: PASSWORD}, acl={USER: {'team/app': ['pull']}})
    hub.add_tag('team/app', '1.0')
    result, _seen = diagnose([secret('apps', 'hubcred', {'auths': {'https://index.docker.io/v1/': entry()}}),
                              pod('apps', 'web', 'team/app:1.0', ['hubcred']), sa('apps')], [hub])
    c = result['containers'][0]
    assert c['matched']['via'] == 'docker_hub_fallback'
    assert result['ok'] is True, c


def test_admission_race():
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                              pod('apps', 'web', IMAGE), sa('apps', pull_secrets=['regcred'])], [registry()])
    assert result['service_account']['admission_race'] is True
    c = result['containers'][0]
    assert c['category'] == 'no_credentials_matched'
    assert 'Recreate the Pod' in c['hint']


def test_identitytoken_only_entry():
    config = {'auths': {REG: {'auth': base64.b64encode(b'00000000-0000-0000-0000-000000000000:').decode(),
                              'identitytoken': 'ACR-TOKEN-EXAMPLE'}}}
    result, _seen = diagnose([secret('apps', 'acr', config), pod('apps', 'web', IMAGE, ['acr']), sa('apps')],
                             [registry()], secrets=['ACR-TOKEN-EXAMPLE'])
    c = result['containers'][0]
    assert c['category'] == 'unauthorized'
    assert 'identitytoken' in c['hint']
    assert any(i['code'] == 'identitytoken_only' for i in c['pull_secrets'][0]['issues'])


def test_rate_limit_unauthenticated_despite_pull_secret():
    hub = FakeRegistry(host='registry-1.docker.io', acl={None: {}})
    hub.add_tag('team/app', '1.0')
    msg = ('Failed to pull image "team/app:1.0": 429 Too Many Requests - Server message: toomanyrequests: You have'
           ' reached your unauthenticated pull rate limit.')
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {'registry-1.docker.io': entry()}}),
                              pod('apps', 'web', 'team/app:1.0', ['regcred'],
                                  waiting={'reason': 'ErrImagePull', 'message': msg}),
                              sa('apps'), event('apps', 'web', msg)], [hub])
    c = result['containers'][0]
    assert c['category'] == 'rate_limited'
    assert c['sub_reason'] == 'anonymous_despite_pull_secret'
    assert 'registry-1.docker.io' in c['hint'] and 'not a bad password' in c['hint']
    assert c['waiting_reason'] == 'ErrImagePull'


def test_x509_on_the_node_while_the_controller_trusts_the_ca():
    msg = ('Failed to pull image "%s": rpc error: code = Unknown desc = failed to resolve reference: '
           'x509: certificate signed by unknown authority' % IMAGE)
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                              pod('apps', 'web', IMAGE, ['regcred'],
                                  waiting={'reason': 'ImagePullBackOff', 'message': 'Back-off pulling image'}),
                              sa('apps'), event('apps', 'web', msg)], [registry()])
    c = result['containers'][0]
    assert c['probe']['ok'] is True
    assert c['category'] == 'tls_untrusted'
    assert 'not the cause' in c['hint'] and 'not an authentication failure' in c['hint']
    assert 'registrylink.k8s.node_registry_config' in c['hint'] and REG in c['hint']
    assert c['registry_host'] == REG


def test_rate_limit_on_the_node_points_at_a_mirror_for_that_host():
    # containerd's own words for a 429 on a manifest GET (the HEAD before it is not counted)
    msg = ('Failed to pull image "%s": failed to pull and unpack image "%s": failed to copy: httpReadSeeker: failed'
           ' open: unexpected status code https://%s/v2/team/app/manifests/sha256:00: 429 Too Many Requests'
           % (IMAGE, IMAGE, REG))
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                              pod('apps', 'web', IMAGE, ['regcred'],
                                  waiting={'reason': 'ErrImagePull', 'message': msg}),
                              sa('apps'), event('apps', 'web', msg)], [registry()])
    c = result['containers'][0]
    assert c['category'] == 'rate_limited'
    assert 'registrylink.k8s.node_registry_config' in c['hint'] and 'mirrors' in c['hint'] and REG in c['hint']
    assert 'pod' in result and 'node' in result['pod']
    assert result['events'][0]['count'] == 2


def test_ecr_expired_token_in_pull_secret():
    ecr_host = '111122223333.dkr.ecr.eu-west-1.amazonaws.com'
    ecr = FakeRegistry(host=ecr_host, auth='basic', users={'AWS': 'ECR-TOKEN-EXAMPLE'}, acl={'AWS': {'*': ['pull']}})
    ecr.add_tag('team/app', '1.0')
    body = {'errors': [{'code': 'DENIED', 'message': 'Your authorization token has expired. Reauthenticate and try again.'}]}
    ecr.queue(lambda r: r.headers.get('Authorization'), (403, {}, body))
    result = pull_secret([secret('apps', 'regcred', {'auths': {ecr_host: entry('AWS', 'ECR-TOKEN-EXAMPLE')}})],
                         [ecr], ecr_host + '/team/app:1.0')
    assert result['category'] == 'expired_credentials'
    assert 'ECR-TOKEN-EXAMPLE' not in json.dumps(result)


def test_gitlab_job_token_advice():
    reg = FakeRegistry(host='registry.gitlab.example.test', auth='basic', users={}, acl={})
    reg.add_tag('group/project', '1.0')
    result = pull_secret([secret('apps', 'regcred', {'auths': {'registry.gitlab.example.test': entry(
        'gitlab-ci-token', 'JOB-TOKEN-EXAMPLE')}})], [reg], 'registry.gitlab.example.test/group/project:1.0')
    assert result['category'] == 'unauthorized'
    assert 'deploy token' in result['hint']


def test_pull_secret_mode_no_match_reports_near_misses():
    result = pull_secret([secret('apps', 'regcred', {'auths': {'reg.example.test': entry()}})], [registry()], IMAGE)
    assert result['category'] == 'no_credentials_matched'
    assert result['near_misses'][0]['reason'] == 'port_mismatch'
    assert result['pull_secret']['found'] is True and 'config' not in result['pull_secret']


def test_pull_secret_mode_missing_secret():
    result = pull_secret([], [registry()], IMAGE)
    assert result['category'] == 'no_credentials_matched'
    assert result['pull_secret']['problem'] == 'missing'


def test_path_scoped_key_applies_to_its_path_only():
    reg = FakeRegistry(host='harbor.example.test', auth='basic', users={USER: PASSWORD}, acl={USER: {'*': ['pull']}})
    reg.add_tag('team-a/app', '1.0')
    reg.add_tag('team-b/app', '1.0')
    objects = [secret('apps', 'regcred', {'auths': {'harbor.example.test/team-a': entry()}})]
    good = pull_secret(objects, [reg], 'harbor.example.test/team-a/app:1.0')
    assert good['ok'] is True and good['matched']['key'] == 'harbor.example.test/team-a'
    other = pull_secret(objects, [reg], 'harbor.example.test/team-b/app:1.0')
    assert other['category'] == 'no_credentials_matched'


def raw_secret(ns, name, payload, stype='kubernetes.io/dockerconfigjson', key='.dockerconfigjson'):
    return (('Secret', ns, name), {'metadata': {'name': name, 'namespace': ns}, 'type': stype,
                                   'data': {key: base64.b64encode(payload).decode()}})


@pytest.mark.parametrize('payload', [
    b'\xef\xbb\xbf{"auths":{}}',                      # UTF-8 BOM
    b'{"auths":{}} trailing',
    b'{"auths":{"x.example.test":{"username":"u","password":NaN}}}',
    b'{"auths":5,"auths":{}}',                        # Go: first type error, even if a later value is fine
    b'[]',
])
def test_a_secret_the_kubelet_cannot_decode_fails_the_pull_even_next_to_a_good_one(payload):
    """MakeDockerKeyring fails on any Secret Go's json.Unmarshal rejects: the kubelet tries no credentials at all."""
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                              raw_secret('apps', 'broken', payload),
                              pod('apps', 'web', IMAGE, ['regcred', 'broken']), sa('apps')], [registry()])
    c = result['containers'][0]
    assert result['ok'] is False
    assert c['category'] == 'no_credentials_matched'
    assert 'cannot decode pull secret broken' in c['hint'] and 'without trying any' in c['hint']
    assert [s['problem'] for s in c['pull_secrets']] == [None, 'unreadable']


def test_pull_secret_mode_undecodable_secret():
    kube_objects = [raw_secret('apps', 'regcred', b'{"auths":{"' + REG.encode() + b'":{"auth":"!!"}}}')]
    result = pull_secret(kube_objects, [registry()], IMAGE)
    assert result['ok'] is False and result['category'] == 'no_credentials_matched'
    assert 'every pull that lists it fails' in result['msg']
    assert 'before trying any credentials' in result['hint']


def test_invalid_utf8_is_read_like_the_kubelet():
    """Go replaces invalid UTF-8 with U+FFFD and the kubelet uses the entry; Python's json cannot show it."""
    payload = b'{"auths":{"' + REG.encode() + b'":{"username":"' + USER.encode() + b'","password":"' + \
        PASSWORD.encode() + b'","email":"\xff"}}}'
    result, _seen = diagnose([raw_secret('apps', 'regcred', payload), pod('apps', 'web', IMAGE, ['regcred']),
                              sa('apps')], [registry()])
    c = result['containers'][0]
    assert result['ok'] is True, result
    assert c['matched']['secret'] == 'regcred'
    assert c['pull_secrets'][0]['usable'] is True


def test_image_with_underscore_in_the_first_component_is_diagnosed_not_a_crash():
    result, _seen = diagnose([secret('apps', 'regcred', {'auths': {REG: entry()}}),
                              pod('apps', 'web', 'reg_example.test/team/app:1.0', ['regcred']), sa('apps')],
                             [registry()])
    c = result['containers'][0]
    assert c['category'] == 'invalid_request'
    assert 'not a valid registry host' in c['hint'] and "'reg_example.test/team/app'" in c['hint']
