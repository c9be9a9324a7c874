# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for verify mode's stuck-pod selection (_verify.py), with Pod statuses shaped as the
kubelet writes them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import UNFINISHED_PODS
from ansible_collections.registrylink.k8s.plugins.module_utils._verify import stuck_pods

IMAGE = '127.0.0.1:5000/private/busybox:1.35'


def pod(name, phase, state, namespace='apps', field='containerStatuses', last_state=None, deleting=False):
    meta = {'name': name, 'namespace': namespace}
    if deleting:
        meta['deletionTimestamp'] = '2026-01-01T00:00:00Z'
    status = {'name': 'app', 'image': IMAGE, 'imageID': '', 'ready': False, 'state': state,
              'lastState': last_state or {}}
    return {'metadata': meta, 'status': {'phase': phase, field: [status]}}


def waiting(reason):
    return {'waiting': {'reason': reason, 'message': 'Back-off pulling image "%s"' % IMAGE}}


def test_pods_waiting_on_a_pull_are_stuck_whatever_their_phase():
    pods = [
        pod('never-started', 'Pending', waiting('ImagePullBackOff')),
        pod('err', 'Pending', waiting('ErrImagePull')),
        pod('init', 'Pending', waiting('ImagePullBackOff'), field='initContainerStatuses'),
        # the container ran, exited, and its image cannot be pulled again on restart: the kubelet
        # counts it as stopped and reports the Pod Running while it waits in ImagePullBackOff
        pod('restarting', 'Running', waiting('ImagePullBackOff'),
            last_state={'terminated': {'exitCode': 1, 'reason': 'Error'}}),
        pod('creating', 'Pending', waiting('ContainerCreating')),
        pod('crashing', 'Running', waiting('CrashLoopBackOff')),
        pod('running', 'Running', {'running': {'startedAt': '2026-01-01T00:00:00Z'}}),
        pod('other-ns', 'Pending', waiting('ImagePullBackOff'), namespace='elsewhere'),
        pod('going', 'Pending', waiting('ImagePullBackOff'), deleting=True),
    ]
    assert [m['name'] for m in stuck_pods(pods, {'apps'})] == ['err', 'init', 'never-started', 'restarting']


def test_the_list_excludes_only_finished_pods():
    # a field selector of the pods resource: both requirements must hold
    assert UNFINISHED_PODS == 'status.phase!=Succeeded,status.phase!=Failed'
    assert stuck_pods([], {'apps'}) == []
