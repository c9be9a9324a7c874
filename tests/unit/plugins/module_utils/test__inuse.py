# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for in-use image discovery (_inuse.py): extraction, resolution, fail-closed scanning."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import KubernetesAPIError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._inuse import (
    KINDS, ImageUse, InUseScanError, cluster_label, object_images, parse_use, protected_digests,
    scan_clusters,
)

D1 = 'sha256:' + '1' * 64
D2 = 'sha256:' + '2' * 64
D3 = 'sha256:' + '3' * 64
REG = 'reg.example.com:5000'


def pod_spec(*images, **kw):
    spec = {'containers': [{'name': 'c%d' % i, 'image': im} for i, im in enumerate(images)]}
    if kw.get('init'):
        spec['initContainers'] = [{'name': 'init', 'image': kw['init']}]
    if kw.get('ephemeral'):
        spec['ephemeralContainers'] = [{'name': 'debug', 'image': kw['ephemeral']}]
    return spec


def meta(name='web', namespace='default'):
    return {'name': name, 'namespace': namespace}


@pytest.mark.parametrize('kind, obj', [
    ('Pod', {'metadata': meta(), 'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}),
    ('Deployment', {'metadata': meta(), 'spec': {'template': {'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}),
    ('StatefulSet', {'metadata': meta(), 'spec': {'template': {'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}),
    ('DaemonSet', {'metadata': meta(), 'spec': {'template': {'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}),
    ('ReplicaSet', {'metadata': meta(), 'spec': {'template': {'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}),
    ('Job', {'metadata': meta(), 'spec': {'template': {'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}),
    ('CronJob', {'metadata': meta(), 'spec': {'jobTemplate': {'spec': {'template': {
        'spec': pod_spec('a:1', init='b:1', ephemeral='c:1')}}}}}),
])
def test_object_images_every_kind_and_container_list(kind, obj):
    uses = object_images(obj, kind, 'local-1')
    assert [u.image for u in uses] == ['b:1', 'a:1', 'c:1']
    assert uses[0].source == 'local-1: %s default/web container init' % kind
    assert not any(u.resolved for u in uses)


def test_object_images_pod_status_image_ids_and_dedup():
    pod = {'metadata': meta(), 'spec': pod_spec('reg/app:1', 'reg/app:1'),
           'status': {'containerStatuses': [
               {'name': 'c0', 'imageID': 'docker-pullable://reg.example.com:5000/app@' + D1},
               {'name': 'c1', 'imageID': ''}],
               'initContainerStatuses': [{'name': 'i', 'imageID': D2}]}}
    uses = object_images(pod, 'Pod')
    assert [(u.image, u.resolved) for u in uses] == [
        ('reg/app:1', False), (D2, True), ('docker-pullable://reg.example.com:5000/app@' + D1, True)]
    assert uses[0].source == 'Pod default/web container c0'


@pytest.mark.parametrize('obj', [{}, {'spec': None}, {'spec': {'template': None}}, {'metadata': None}])
def test_object_images_tolerates_missing_fields(obj):
    assert object_images(obj, 'Deployment') == []


@pytest.mark.parametrize('image, resolved, expected', [
    ('reg.example.com:5000/team/app:1.0', False, ('reg.example.com:5000', 'team/app', '1.0', None)),
    ('reg.example.com:5000/team/app', False, ('reg.example.com:5000', 'team/app', 'latest', None)),
    ('reg.example.com:5000/app@' + D1, False, ('reg.example.com:5000', 'app', None, D1)),
    ('reg.example.com:5000/app:1@' + D1, False, ('reg.example.com:5000', 'app', '1', D1)),
    ('nginx', False, ('docker.io', 'library/nginx', 'latest', None)),
    ('docker-pullable://reg.example.com:5000/app@' + D1, True, ('reg.example.com:5000', 'app', None, D1)),
    (D1, True, (None, None, None, D1)),
    ('Not A Valid/Image', False, None),
])
def test_parse_use(image, resolved, expected):
    assert parse_use(ImageUse(image, 'x', resolved)) == expected


def test_protected_digests_resolves_tags_digests_and_hosts():
    tag_maps = {'team/app': {'1.0': D1, '2.0': D2}, 'other': {'1.0': D3}}
    uses = [
        ImageUse(REG + '/team/app:1.0', 'local-1: Deployment default/web container app'),
        ImageUse('REG.EXAMPLE.COM:5000/team/app@' + D2, 'local-2: Pod x/y container c'),
        ImageUse('elsewhere.io/team/app:2.0', 'local-1: Pod a/b container c'),   # other registry
        ImageUse(REG + '/team/app:9.9', 'local-1: Pod a/b container c'),         # tag not in registry
        ImageUse(D3, 'local-1: Pod a/b container c (imageID)', resolved=True),   # bare digest: any repo
        ImageUse('mirror.local/other:1.0', 'in_use_images'),                     # alias
    ]
    protected, unparsable = protected_digests(uses, [REG, 'mirror.local'], tag_maps)
    assert unparsable == []
    assert sorted(protected) == ['*', 'other', 'team/app']
    assert protected['team/app'][D1] == 'in use: local-1: Deployment default/web container app (%s/team/app:1.0)' % REG
    assert D2 in protected['team/app']
    assert protected['*'] == {D3: 'in use: local-1: Pod a/b container c (imageID) (%s)' % D3}
    assert protected['other'] == {D3: 'in use: in_use_images (mirror.local/other:1.0)'}


def test_protected_digests_merges_reasons():
    uses = [ImageUse(REG + '/app:1', 'c%d' % i) for i in range(10)]
    protected = protected_digests(uses, [REG], {'app': {'1': D1}})[0]
    reason = protected['app'][D1]
    assert reason.startswith('in use: c0 ') and reason.count('; ') == 4


def test_protected_digests_reports_unparsable_mentions_of_our_registry():
    uses = [ImageUse(REG + '/Bad Name:1', 'p1'), ImageUse('unrelated Bad', 'p2')]
    protected, unparsable = protected_digests(uses, [REG], {})
    assert protected == {}
    assert [u.source for u in unparsable] == ['p1']


# ---------------------------------------------------------------------------------------
# scanning, fail closed

class FakeApi(object):
    def __init__(self, kind_items, fail):
        for kind, _resource, _attr, method in KINDS:
            setattr(self, method, (kind, kind_items.get(kind, []), kind in fail))


class FakeClient(object):
    def __init__(self, kind_items=None, fail=()):
        api = FakeApi(kind_items or {}, set(fail))
        self.core = self.apps = self.batch = api
        self.listed = []

    def list_all(self, resource, func, namespace=None, **kwargs):
        kind, items, fails = func
        self.listed.append(resource)
        if fails:
            raise KubernetesAPIError('forbidden: the credentials cannot list %s cluster-wide' % resource, status=403)
        return items


def deployment(image, name='web'):
    return {'metadata': meta(name), 'spec': {'template': {'spec': pod_spec(image)}}}


def test_scan_clusters_collects_every_kind():
    clients = {
        'local-1': FakeClient({'Deployment': [deployment(REG + '/app:1')], 'CronJob': [
            {'metadata': meta('cj'), 'spec': {'jobTemplate': {'spec': {'template': {'spec': pod_spec(REG + '/b:1')}}}}}]}),
        'local-2': FakeClient({'Pod': [{'metadata': meta('p'), 'spec': pod_spec(REG + '/c:1')}]}),
    }
    uses, report = scan_clusters([{'context': 'local-1'}, {'context': 'local-2'}], lambda p: clients[p['context']])
    assert sorted(u.image for u in uses) == [REG + '/app:1', REG + '/b:1', REG + '/c:1']
    assert sorted(clients['local-1'].listed) == sorted(r for _k, r, _a, _m in KINDS)
    assert report == [{'cluster': 'local-1', 'images': 2, 'complete': True},
                      {'cluster': 'local-2', 'images': 1, 'complete': True}]


def test_scan_clusters_fails_closed_on_any_list_failure_and_names_all():
    clients = {
        'local-1': FakeClient({'Deployment': [deployment(REG + '/app:1')]}, fail=['ReplicaSet', 'CronJob']),
        'local-2': FakeClient({}),
    }
    with pytest.raises(InUseScanError) as exc:
        scan_clusters([{'context': 'local-1'}, {'context': 'local-2'}], lambda p: clients[p['context']])
    assert exc.value.details['unreadable'] == [
        'local-1: cannot list replicasets: forbidden: the credentials cannot list replicasets cluster-wide',
        'local-1: cannot list cronjobs: forbidden: the credentials cannot list cronjobs cluster-wide']
    assert 'nothing was deleted' in exc.value.msg


def test_scan_clusters_fails_closed_when_a_cluster_cannot_be_connected():
    def factory(params):
        if params['context'] == 'bogus':
            raise ValidationError('cannot load the cluster connection: context bogus not found', field='context')
        return FakeClient({})

    with pytest.raises(InUseScanError) as exc:
        scan_clusters([{'context': 'local-1'}, {'context': 'bogus'}], factory)
    assert exc.value.details['unreadable'] == [
        'bogus: cannot connect: cannot load the cluster connection: context bogus not found']


def test_scan_clusters_unexpected_exception_is_a_failure_too():
    class Broken(FakeClient):
        def list_all(self, resource, func, namespace=None, **kwargs):
            raise RuntimeError('socket closed')

    with pytest.raises(InUseScanError) as exc:
        scan_clusters([{'context': 'x'}], lambda p: Broken())
    assert len(exc.value.details['unreadable']) == len(KINDS)
    assert 'RuntimeError: socket closed' in exc.value.details['unreadable'][0]


@pytest.mark.parametrize('params, index, expected', [
    ({'context': 'local-1', 'kubeconfig': '/k'}, 0, 'local-1'),
    ({'kubeconfig': '/path/kc'}, 1, '/path/kc'),
    ({'kubeconfig': {'apiVersion': 'v1'}}, 2, 'cluster[2]'),
    ({'host': 'https://1.2.3.4:6443', 'api_key': 'secret'}, 0, 'https://1.2.3.4:6443'),
    (None, 3, 'cluster[3]'),
])
def test_cluster_label_never_uses_secrets(params, index, expected):
    assert cluster_label(params, index) == expected


# ---------------------------------------------------------------------------------------
# in use means the digest the kubelet runs (container status imageID)

def running_pod(spec_image, image_id, name='web', container='app', field='containers'):
    status_field = {'containers': 'containerStatuses', 'initContainers': 'initContainerStatuses'}[field]
    return {'metadata': meta(name), 'spec': {field: [{'name': container, 'image': spec_image}]},
            'status': {status_field: [{'name': container, 'image': spec_image, 'imageID': image_id,
                                       'state': {'running': {}}}]}}


def test_object_images_pairs_each_image_id_with_its_spec_container():
    pod = {'metadata': meta(), 'spec': {
        'initContainers': [{'name': 'app', 'image': REG + '/init:1'}],
        'containers': [{'name': 'app', 'image': REG + '/team/app:1'}, {'name': 'side', 'image': REG + '/side:1'}]},
        'status': {
            'initContainerStatuses': [{'name': 'app', 'imageID': REG + '/init@' + D3}],
            'containerStatuses': [{'name': 'side', 'imageID': REG + '/side@' + D2},
                                  {'name': 'app', 'imageID': REG + '/team/app@' + D1},
                                  {'name': 'gone', 'imageID': REG + '/x@' + D1}]}}
    resolved = [(u.image, u.spec_image) for u in object_images(pod, 'Pod') if u.resolved]
    # the init container and a container may share a name: each list is paired with its own
    assert resolved == [(REG + '/init@' + D3, REG + '/init:1'), (REG + '/side@' + D2, REG + '/side:1'),
                        (REG + '/team/app@' + D1, REG + '/team/app:1'), (REG + '/x@' + D1, None)]


def test_image_id_is_protected_after_its_tag_was_pushed_again():
    # the Pod was started from team/app:1 when it was D1; the tag now points at D2
    uses = object_images(running_pod(REG + '/team/app:1', REG + '/team/app@' + D1), 'Pod', 'local-1')
    protected, unparsable = protected_digests(uses, [REG], {'team/app': {'1': D2, 'old': D1}})
    assert unparsable == []
    assert protected == {'team/app': {
        D1: 'in use: local-1: Pod default/web container app (imageID) (%s/team/app@%s)' % (REG, D1),
        D2: 'in use: local-1: Pod default/web container app (%s/team/app:1)' % REG}}


def test_image_id_under_another_name_of_the_registry_protects_the_spec_repository():
    # the runtime reports the first name it holds for the image: here an alias we were not told about
    uses = object_images(running_pod(REG + '/team/app:1', 'localhost:5000/mirror/app@' + D1), 'Pod')
    protected = protected_digests(uses, [REG], {'team/app': {'1': D2}})[0]
    assert sorted(protected['team/app']) == [D1, D2]
    assert 'mirror/app' not in protected


def test_image_id_of_another_registry_protects_nothing_of_ours():
    uses = object_images(running_pod('elsewhere.io/team/app:1', 'elsewhere.io/team/app@' + D1), 'Pod')
    assert protected_digests(uses, [REG], {'team/app': {'1': D2}}) == ({}, [])


def test_bare_image_id_is_protected_in_every_repository():
    uses = object_images(running_pod(REG + '/team/app:1', 'sha256:' + 'c' * 64), 'Pod')
    protected = protected_digests(uses, [REG], {'team/app': {'1': D2}})[0]
    assert protected['*'] == {'sha256:' + 'c' * 64: 'in use: Pod default/web container app (imageID) (sha256:%s)'
                              % ('c' * 64)}
    assert protected['team/app'] == {D2: 'in use: Pod default/web container app (%s/team/app:1)' % REG}


_hexdigest = st.text('0123456789abcdef', min_size=64, max_size=64).map(lambda h: 'sha256:' + h)
_tag = st.from_regex(r'\A[a-z0-9][a-z0-9._-]{0,8}\Z')
_repo = st.sampled_from(['app', 'team/app', 'team/tools/app'])


@settings(max_examples=200, deadline=None)
@given(repo=_repo, tag=_tag, ran=_hexdigest, now=st.one_of(st.none(), _hexdigest),
       form=st.sampled_from(['{host}/{repo}@{d}', 'docker-pullable://{host}/{repo}@{d}',
                             '{host}/{repo}:{tag}@{d}']),
       host=st.sampled_from([REG, 'REG.example.com:5000', 'alias.local']))
def test_property_the_digest_a_container_runs_is_always_protected(repo, tag, ran, now, form, host):
    """Whatever the spec's tag points at now (another digest, or nothing), the digest named by the
    imageID is protected in the spec's repository, and the tag's current digest too."""
    image_id = form.format(host=host, repo=repo, tag=tag, d=ran)
    uses = object_images(running_pod('%s/%s:%s' % (REG, repo, tag), image_id), 'Pod', 'c1')
    tag_maps = {repo: {tag: now}} if now else {}
    protected, unparsable = protected_digests(uses, [REG], tag_maps)
    assert unparsable == []
    assert ran in protected[repo]
    if now:
        assert now in protected[repo]
    assert set(protected) == {repo}
