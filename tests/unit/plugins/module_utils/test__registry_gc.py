# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the registry_gc runner (_registry_gc.py) against an in-memory registry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import threading

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import ManifestInfo as HeadInfo
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_gc import (
    UNSUPPORTED_MSG, GcRunner, glob_to_regex, resolve_repositories,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._inuse import ImageUse, InUseScanError, object_images
from ansible_collections.registrylink.k8s.plugins.module_utils._retention import Rules

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, tzinfo=UTC)
OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
HOST = 'reg.test:5000'


def sha(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


class FakeRegistry(object):
    """Just enough of RegistryClient: content-addressed manifests and blobs, tags, deletes."""

    def __init__(self, delete_status=202, catalog_error=None):
        self.repos = {}
        self.blobs = {}
        self.delete_status = delete_status
        self.catalog_error = catalog_error
        self.calls = []
        self.lock = threading.Lock()
        self.on_delete = None

    def _log(self, *call):
        with self.lock:
            self.calls.append(call)

    def repo(self, name):
        return self.repos.setdefault(name, {'tags': {}, 'manifests': {}})

    def push_image(self, name, tags, created_days_ago, marker=''):
        config = json.dumps({'created': (NOW - datetime.timedelta(days=created_days_ago)).strftime(
            '%Y-%m-%dT%H:%M:%SZ'), 'architecture': 'amd64', 'os': 'linux', 'x': marker}).encode()
        self.blobs[sha(config)] = config
        manifest = json.dumps({'schemaVersion': 2, 'mediaType': OCI_MANIFEST,
                               'config': {'mediaType': OCI_CONFIG, 'digest': sha(config), 'size': len(config)},
                               'layers': []}, sort_keys=True).encode()
        return self._put(name, tags, manifest)

    def push_index(self, name, tags, children):
        body = json.dumps({'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': [
            {'mediaType': OCI_MANIFEST, 'digest': c, 'size': 1} for c in children]}, sort_keys=True).encode()
        return self._put(name, tags, body)

    def _put(self, name, tags, body):
        digest = sha(body)
        r = self.repo(name)
        r['manifests'][digest] = body
        for t in tags:
            r['tags'][t] = digest
        return digest

    # client API
    def _missing(self, what):
        return RegistryError('%s not found' % what, category='not_found')

    def catalog(self):
        self._log('catalog')
        if self.catalog_error:
            raise self.catalog_error
        return sorted(self.repos)

    def list_tags(self, repo):
        self._log('list_tags', repo)
        if repo not in self.repos:
            raise self._missing(repo)
        return sorted(self.repos[repo]['tags'])

    def _lookup(self, repo, ref):
        r = self.repos.get(repo)
        if r is None:
            raise self._missing(repo)
        digest = ref if ref.startswith('sha256:') else r['tags'].get(ref)
        if digest is None or digest not in r['manifests']:
            raise self._missing('%s:%s' % (repo, ref))
        return digest, r['manifests'][digest]

    def head_manifest(self, repo, ref):
        self._log('head', repo, ref)
        digest, body = self._lookup(repo, ref)
        return HeadInfo(digest, json.loads(body)['mediaType'], len(body), {})

    def get_manifest(self, repo, ref):
        self._log('get', repo, ref)
        digest, body = self._lookup(repo, ref)
        return HeadInfo(digest, json.loads(body)['mediaType'], len(body), {}), json.loads(body)

    def get_blob(self, repo, digest):
        self._log('blob', repo, digest)
        if digest not in self.blobs:
            raise self._missing(digest)
        return self.blobs[digest]

    def delete_manifest(self, repo, digest):
        self._log('delete', repo, digest)
        if self.on_delete:
            self.on_delete(repo, digest)
        if self.delete_status == 405:
            raise RegistryError('DELETE: HTTP 405 UNSUPPORTED', category='unsupported')
        r = self.repos[repo]
        if digest not in r['manifests']:
            raise self._missing(digest)
        del r['manifests'][digest]
        for t in [t for t, d in r['tags'].items() if d == digest]:
            del r['tags'][t]
        return {'status': 202, 'digest': digest}

    def deletes(self):
        return [c for c in self.calls if c[0] == 'delete']


def runner(reg, check_mode=False, repositories=('team/app',), uses=(), **rules):
    def in_use(tag_maps):
        return list(uses), [{'cluster': 'fake', 'images': len(uses), 'complete': True}]
    return GcRunner(reg, Rules(**rules), list(repositories), [HOST], in_use=in_use, check_mode=check_mode,
                    max_concurrency=3, now=NOW, want_diff=True)


def standard():
    reg = FakeRegistry()
    d = {}
    d['v1'] = reg.push_image('team/app', ['v1'], 40, 'a')
    d['v2'] = reg.push_image('team/app', ['v2', 'stable'], 30, 'b')
    d['v3'] = reg.push_image('team/app', ['v3'], 20, 'c')
    d['v4'] = reg.push_image('team/app', ['v4', 'latest'], 1, 'd')
    d['amd'] = reg.push_image('team/app', [], 50, 'amd')
    d['arm'] = reg.push_image('team/app', ['arm-only'], 50, 'arm')
    d['multi'] = reg.push_index('team/app', ['multi'], [d['amd'], d['arm']])
    return reg, d


def remaining(reg, repo='team/app'):
    return sorted(reg.repos[repo]['tags'])


def test_check_mode_plans_and_deletes_nothing_then_real_run_deletes_exactly_the_plan():
    reg, d = standard()
    rules = dict(older_than='25d', tag_exclude=['stable'])
    result, failure = runner(reg, check_mode=True, **rules).run()
    assert failure is None and result['changed'] is True
    assert reg.deletes() == []
    planned = [(e['repository'], e['digest'], e['tags']) for rp in result['plan']['repositories'] for e in rp['delete']]
    # the index is 50 days old (newest child), so it goes, and then its tagged child arm-only
    # is judged by its own tag (50 days): deleted too
    assert planned == sorted([('team/app', d['v1'], ['v1']), ('team/app', d['multi'], ['multi']),
                              ('team/app', d['arm'], ['arm-only'])], key=lambda x: x[1])
    assert result['results'][0]['action'] == 'would_delete'
    assert result['diff']['after']['team/app'] == ['latest', 'stable', 'v2', 'v3', 'v4']
    assert remaining(reg) == ['arm-only', 'latest', 'multi', 'stable', 'v1', 'v2', 'v3', 'v4']
    result2, failure2 = runner(reg, **rules).run()
    assert failure2 is None
    assert sorted((e['repository'], e['digest'], e['tags']) for e in result2['deleted']) == sorted(planned)
    assert remaining(reg) == ['latest', 'stable', 'v2', 'v3', 'v4']


def test_real_run_deleted_list_equals_check_mode_plan():
    reg, d = standard()
    rules = dict(keep_last=2)
    check = runner(reg, check_mode=True, **rules).run()[0]
    planned = sorted((e['repository'], e['digest'], tuple(e['tags']))
                     for rp in check['plan']['repositories'] for e in rp['delete'])
    real, failure = runner(reg, **rules).run()
    assert failure is None
    assert sorted((e['repository'], e['digest'], tuple(e['tags'])) for e in real['deleted']) == planned
    assert real['plan']['fingerprint'] == check['plan']['fingerprint']
    assert real['summary']['deleted'] == len(planned)
    # second run: nothing left to do
    again = runner(reg, **rules).run()[0]
    assert again['changed'] is False and again['deleted'] == []
    assert again['results'][0]['action'] == 'unchanged'


def test_index_children_protected_and_deleted_before_children():
    reg, d = standard()
    # keep the index (newest 1 image by creation: latest/v4), make the index old -> deleted,
    # and check the index is deleted before its tagged child arm-only
    result, failure = runner(reg, older_than='45d').run()
    assert failure is None
    order = [c[2] for c in reg.deletes()]
    assert order.index(d['multi']) < order.index(d['arm'])
    assert remaining(reg) == ['latest', 'stable', 'v1', 'v2', 'v3', 'v4']


def test_kept_index_protects_tagged_child():
    reg, d = standard()
    reg.repos['team/app']['tags']['multi'] = d['multi']
    result, failure = runner(reg, tag_include=['arm-only']).run()
    assert failure is None
    assert 'arm-only' in remaining(reg)
    kept = [e for e in result['plan']['repositories'][0]['keep'] if e['digest'] == d['arm']][0]
    assert kept['reason'] == 'child of kept index %s' % d['multi']


def test_in_use_by_tag_and_digest_protects():
    reg, d = standard()
    uses = [ImageUse(HOST + '/team/app:v1', 'local-1: Deployment default/web container app'),
            ImageUse(HOST + '/team/app@' + d['v3'], 'local-2: Pod x/y container c'),
            ImageUse('elsewhere.io/team/app:v2', 'local-1: Pod a/b container c')]
    result, failure = runner(reg, uses=uses, keep_last=0).run()
    assert failure is None
    assert remaining(reg) == ['v1', 'v3']
    assert result['summary']['protected_in_use'] == 2
    reasons = dict((e['digest'], e['reason']) for e in result['plan']['repositories'][0]['keep'])
    assert reasons[d['v1']].startswith('protected: in use: local-1: Deployment default/web')


def test_in_use_untagged_index_protects_its_tagged_children():
    reg, d = standard()
    del reg.repos['team/app']['tags']['multi']
    uses = [ImageUse(HOST + '/team/app@' + d['multi'], 'local-1: Pod a/b container c')]
    result, failure = runner(reg, uses=uses, tag_include=['arm-only']).run()
    assert failure is None
    assert 'arm-only' in remaining(reg)


def _pod_running(spec_image, image_id):
    pod = {'metadata': {'name': 'web-0', 'namespace': 'shop'},
           'spec': {'containers': [{'name': 'app', 'image': spec_image}]},
           'status': {'containerStatuses': [{'name': 'app', 'imageID': image_id, 'state': {'running': {}}}]}}
    return object_images(pod, 'Pod', 'local-1')


@pytest.mark.parametrize('image_id', ['repo_digest', 'image_id'])
def test_digest_a_pod_runs_survives_its_tag_being_pushed_again(image_id):
    """A Pod started from team/app:1 (then D1) keeps D1 after 1 was pushed again (D2): check mode
    plans no deletion of D1 and the real run deletes nothing of it. The runtime names what it runs
    by repository digest, or (an image it holds under no name) by image ID = config digest."""
    reg = FakeRegistry()
    d1 = reg.push_image('team/app', ['1', 'build-1'], 3, 'one')
    d2 = reg.push_image('team/app', ['1', 'build-2'], 1, 'two')
    config1 = json.loads(reg.repos['team/app']['manifests'][d1])['config']['digest']
    ran = HOST + '/team/app@' + d1 if image_id == 'repo_digest' else config1
    uses = _pod_running(HOST + '/team/app:1', ran)
    # without the Pod, keep_last=1 deletes D1 (build-1): the protection below is the Pod's doing
    plain = runner(reg, check_mode=True, keep_last=1).run()[0]
    assert [e['digest'] for e in plain['plan']['repositories'][0]['delete']] == [d1]
    check = runner(reg, check_mode=True, uses=uses, keep_last=1).run()[0]
    assert check['plan']['repositories'][0]['delete'] == [] and check['changed'] is False
    kept = dict((e['digest'], e['reason']) for e in check['plan']['repositories'][0]['keep'])
    assert kept[d1].startswith('protected: in use: local-1: Pod shop/web-0 container app (imageID)')
    assert check['summary']['protected_in_use'] == 2   # D1 by imageID, D2 by the spec's tag
    real, failure = runner(reg, uses=uses, keep_last=1).run()
    assert failure is None and real['deleted'] == [] and reg.deletes() == []
    assert remaining(reg) == ['1', 'build-1', 'build-2']


def test_digest_a_pod_runs_stays_protected_when_untagged_and_listed_by_an_index():
    # D1 lost every tag; an old index still lists it: the index is kept because of the Pod
    reg = FakeRegistry()
    d1 = reg.push_image('team/app', [], 60, 'one')
    reg.push_image('team/app', ['1'], 1, 'two')
    index = reg.push_index('team/app', ['multi-old'], [d1])
    config1 = json.loads(reg.repos['team/app']['manifests'][d1])['config']['digest']
    result, failure = runner(reg, uses=_pod_running(HOST + '/team/app:1', config1), older_than='30d').run()
    assert failure is None and reg.deletes() == []
    kept = dict((e['digest'], e['reason']) for e in result['plan']['repositories'][0]['keep'])
    assert kept[index].startswith('protected: index listing %s, in use: local-1: Pod shop/web-0' % d1)


def test_in_use_failure_deletes_nothing():
    reg, d = standard()

    def in_use(tag_maps):
        raise InUseScanError('in-use protection: cluster read failed; nothing was deleted', unreadable=['x'])
    gc = GcRunner(reg, Rules(keep_last=0), ['team/app'], [HOST], in_use=in_use, now=NOW)
    with pytest.raises(InUseScanError):
        gc.run()
    assert reg.deletes() == []


def test_unparsable_reference_naming_our_registry_fails_closed():
    reg, d = standard()
    gc = runner(reg, uses=[ImageUse(HOST + '/Team/App:1', 'local-1: Pod a/b container c')], keep_last=0)
    with pytest.raises(ValidationError) as exc:
        gc.run()
    assert 'nothing was deleted' in exc.value.msg
    assert reg.deletes() == []


def test_405_stops_after_first_delete_no_retry():
    reg, d = standard()
    reg.delete_status = 405
    reg.push_image('team/other', ['x'], 99, 'o')
    result, failure = runner(reg, repositories=['team/app', 'team/other'], tag_include=['.*']).run()
    assert failure == UNSUPPORTED_MSG
    assert len(reg.deletes()) == 1
    assert result['deleted'] == []
    assert result['changed'] is False
    planned = result['summary']['planned']
    assert planned >= 3 and len(result['not_deleted']) == planned
    statuses = sorted(set(e['status'] for e in result['not_deleted']))
    assert statuses == ['failed', 'not_attempted']
    assert result['results'][0]['action'] == 'failed'
    # check mode sends no DELETE and lists the would-be deletions
    reg.calls = []
    check, failure = runner(reg, check_mode=True, repositories=['team/app', 'team/other'], tag_include=['.*']).run()
    assert failure is None and reg.deletes() == [] and check['summary']['planned'] == planned


@pytest.mark.parametrize('applied', [True, False])
def test_delete_whose_connection_broke_after_sending_is_unknown_and_the_rerun_converges(applied):
    """A DELETE sent whose answer never came may or may not have been applied: reported ``unknown``
    (not ``failed``), in delete_outcomes too, and the task fails saying so; the rerun deletes only what
    is still there."""
    reg, d = standard()
    broken = []

    def on_delete(repo, digest):
        if not broken:
            broken.append(digest)
            if applied:
                r = reg.repos[repo]
                del r['manifests'][digest]
                for t in [t for t, x in r['tags'].items() if x == digest]:
                    del r['tags'][t]
            err = RegistryError('DELETE https://%s/v2/%s/manifests/%s: connection reset by the server' % (
                HOST, repo, digest), category='connect')
            err.request_sent = True
            raise err

    reg.on_delete = on_delete
    result, failure = runner(reg, tag_include=['v1', 'v3']).run()
    assert result['summary']['planned'] == 2
    (unknown,) = [e for e in result['not_deleted'] if e['status'] == 'unknown']
    assert unknown['digest'] == broken[0] and 'may have been deleted' in unknown['reason']
    assert '1 deletion(s) have an unknown outcome' in failure and 'failed' not in failure.split(':')[0]
    assert result['summary']['unknown'] == 1 and result['summary']['failed'] == 0
    assert result['delete_outcomes']['unknown'] == ['team/app@' + broken[0]]
    assert result['results'][0]['action'] == 'unknown'
    assert (broken[0] in reg.repos['team/app']['manifests']) is not applied
    reg.on_delete = None
    again, failure = runner(reg, tag_include=['v1', 'v3']).run()
    assert failure is None and again['summary']['not_deleted'] == 0
    planned = set(e['digest'] for e in result['not_deleted'])  # the first delete's outcome stops the others
    assert set(e['digest'] for e in again['deleted']) == planned - (set(broken) if applied else set())
    assert remaining(reg) == ['arm-only', 'latest', 'multi', 'stable', 'v2', 'v4']


def test_tag_moved_between_plan_and_delete_is_skipped():
    reg, d = standard()
    gc = runner(reg, tag_include=['v1'])
    original = reg.head_manifest

    def head(repo, ref):
        info = original(repo, ref)
        if ref == 'v1' and any(c[0] == 'list_tags' for c in reg.calls[1:]) and len(
                [c for c in reg.calls if c[:3] == ('head', 'team/app', 'v1')]) > 1:
            return HeadInfo(d['v4'], info.media_type, info.size, {})
        return info
    reg.head_manifest = head
    result, failure = gc.run()
    assert reg.deletes() == []
    assert result['not_deleted'][0]['status'] == 'skipped'
    assert 'now points at' in result['not_deleted'][0]['reason']


def test_tag_pushed_after_planning_onto_planned_digest_is_skipped():
    reg, d = standard()
    gc = runner(reg, tag_include=['v1'])
    original = reg.list_tags
    count = {'n': 0}

    def list_tags(repo):
        count['n'] += 1
        if count['n'] == 2:   # the re-list before deleting: someone tagged v1's image as "prod"
            reg.repos['team/app']['tags']['prod'] = d['v1']
        return original(repo)
    reg.list_tags = list_tags
    result, failure = gc.run()
    assert reg.deletes() == []
    assert 'prod' in result['not_deleted'][0]['reason']
    assert 'v1' in remaining(reg)


def test_plan_fingerprint_mismatch_deletes_nothing():
    reg, d = standard()
    gc = GcRunner(reg, Rules(keep_last=1), ['team/app'], [HOST], now=NOW, plan_fingerprint='sha256:' + '0' * 64)
    result, failure = gc.run()
    assert 'differs from the reviewed plan' in failure
    assert reg.deletes() == []
    check = runner(reg, check_mode=True, keep_last=1).run()[0]
    gc = GcRunner(reg, Rules(keep_last=1), ['team/app'], [HOST], now=NOW,
                  plan_fingerprint=check['plan']['fingerprint'])
    result, failure = gc.run()
    assert failure is None and result['summary']['deleted'] == check['summary']['planned']


def test_globs_resolved_through_catalog():
    reg, d = standard()
    reg.push_image('team/sub/deep', ['x'], 1)
    reg.push_image('other/app', ['x'], 1)
    names, matched = resolve_repositories(reg, ['team/*', 'other/app', 'nomatch/*'])
    assert names == ['other/app', 'team/app']
    assert matched == {'team/*': ['team/app'], 'other/app': ['other/app'], 'nomatch/*': []}
    names = resolve_repositories(reg, ['team/**'])[0]
    assert names == ['team/app', 'team/sub/deep']


def test_glob_without_catalog_is_a_clear_error():
    reg = FakeRegistry(catalog_error=RegistryError('GET /v2/_catalog: HTTP 404', category='not_found'))
    with pytest.raises(RegistryError) as exc:
        resolve_repositories(reg, ['team/*'])
    assert 'needs the registry catalog' in exc.value.msg
    assert exc.value.details['field'] == 'repositories'
    # plain names need no catalog
    assert resolve_repositories(reg, ['team/app'])[0] == ['team/app']


@pytest.mark.parametrize('pattern, name, match', [
    ('team/*', 'team/app', True), ('team/*', 'team/a/b', False), ('team/**', 'team/a/b', True),
    ('app-?', 'app-1', True), ('app-[0-9]', 'app-x', False), ('app-[!0-9]', 'app-x', True),
    ('a.b', 'axb', False),
])
def test_glob_to_regex(pattern, name, match):
    assert bool(glob_to_regex(pattern).match(name)) is match


def test_missing_repository_is_absent():
    reg, d = standard()
    result, failure = runner(reg, repositories=['team/app', 'team/none'], keep_last=1, check_mode=True).run()
    assert failure is None
    assert [r['action'] for r in result['results']] == ['would_delete', 'absent']


def test_read_error_fails_before_any_delete():
    reg, d = standard()
    original = reg.get_blob

    def blob(repo, digest):
        raise RegistryError('GET blob: HTTP 500', category='server_error')
    reg.get_blob = blob
    with pytest.raises(RegistryError):
        runner(reg, keep_last=0).run()
    assert reg.deletes() == []
    reg.get_blob = original


def test_delete_waves_order():
    reg, d = standard()
    from ansible_collections.registrylink.k8s.plugins.module_utils._retention import (
        ManifestInfo, PlanEntry, RepositoryState)
    a, b, c, s = ('sha256:' + x * 64 for x in 'abcd')
    state = RepositoryState('r', {'a': a, 'b': b, 'c': c, 's': s}, {
        a: ManifestInfo(a, children=[b]), b: ManifestInfo(b), c: ManifestInfo(c, subject=b), s: ManifestInfo(s)})
    entries = [PlanEntry('r', x, [x[-1]], 'r', {}) for x in (c, s, b, a)]
    waves, preds = GcRunner.delete_waves(entries, state)
    assert [[e.digest for e in w] for w in waves] == [[a, s], [b], [c]]


# ---------------------------------------------------------------------------------------------
# module glue: gc_for_params, cluster_list

from ansible_collections.registrylink.k8s.plugins.module_utils._registry_gc import cluster_list, gc_for_params  # noqa: E402


def _params(**kw):
    base = dict(registry=HOST, username=None, password=None, registry_validate_certs=True, registry_ca_path=None,
                timeout=10, allow_insecure_http=False, allow_cross_host_realm=False, pull_secret=None,
                repositories=['team/app'], keep_last=None, older_than=None, tag_include=None, tag_exclude=None,
                keep_tags=[], in_use_protection=True, clusters=None, in_use_images=[], registry_aliases=[],
                max_concurrency=4, plan_fingerprint=None, kubeconfig='/kc', context=None, host=None, api_key=None,
                validate_certs=None, ca_cert=None, client_cert=None, client_key=None, proxy=None)
    base.update(kw)
    return base


def test_cluster_list_defaults_to_the_task_connection_and_lays_entries_over_it():
    assert [(c['kubeconfig'], c['context']) for c in cluster_list(_params())] == [('/kc', None)]
    clusters = cluster_list(_params(clusters=[{'context': 'a', 'kubeconfig': None},
                                              {'kubeconfig': '/other', 'context': 'b'}]))
    assert [(c['kubeconfig'], c['context']) for c in clusters] == [('/kc', 'a'), ('/other', 'b')]


class _FakeClientFactory(object):
    def __init__(self, reg):
        self.reg = reg
        self.calls = []

    def __call__(self, registry, **kwargs):
        self.calls.append((registry, kwargs))
        self.reg.netloc = registry
        self.reg.warnings = []
        return self.reg


def test_gc_for_params_scans_every_cluster_and_protects():
    reg, d = standard()
    seen = []

    class Kube(object):
        def __init__(self, params):
            seen.append(params['context'])
            self.core = self.apps = self.batch = self

        def __getattr__(self, name):
            return name

        def list_all(self, resource, func, **kw):
            if resource == 'deployments' and seen[-1] == 'two':
                return [{'metadata': {'name': 'web', 'namespace': 'x'}, 'spec': {'template': {'spec': {
                    'containers': [{'name': 'app', 'image': HOST + '/team/app:v1'}]}}}}]
            return []

    result, failure = gc_for_params(_params(keep_last=0, clusters=[{'context': 'one'}, {'context': 'two'}]),
                                    check_mode=True, client_factory=_FakeClientFactory(reg), kube_factory=Kube)
    assert failure is None and seen == ['one', 'two']
    kept = dict((e['digest'], e['reason']) for e in result['plan']['repositories'][0]['keep'])
    assert kept[d['v1']].startswith('protected: in use: two: Deployment x/web container app')
    assert result['registry'] == HOST


def test_gc_for_params_in_use_protection_off_reads_no_cluster_and_warns():
    reg, d = standard()
    warnings = []

    def kube(params):
        raise AssertionError('no cluster may be read')

    result, failure = gc_for_params(_params(keep_last=0, in_use_protection=False,
                                            in_use_images=[HOST + '/team/app:v2']),
                                    check_mode=True, warn=warnings.append, client_factory=_FakeClientFactory(reg),
                                    kube_factory=kube)
    assert failure is None and 'in_use_protection is false' in warnings[0]
    kept = [e['digest'] for e in result['plan']['repositories'][0]['keep']]
    assert kept == [d['v2']]


@pytest.mark.parametrize('override, field', [
    (dict(registry=None), 'registry'),
    (dict(keep_last=None), 'keep_last'),
    (dict(in_use_images=['Not A/Valid:ref']), 'in_use_images[0]'),
    (dict(max_concurrency=0), 'max_concurrency'),
])
def test_gc_for_params_validates_before_any_request(override, field):
    reg, d = standard()
    factory = _FakeClientFactory(reg)
    params = _params(keep_last=1)
    params.update(override)
    with pytest.raises(ValidationError) as exc:
        gc_for_params(params, client_factory=factory, kube_factory=lambda p: None)
    assert exc.value.details.get('field') == field
    assert factory.calls == [] and reg.calls == []
