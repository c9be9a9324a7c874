# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubelet's verdict on an image pull, read from a Pod's status and its Events. Private to this collection.

Pure: data in, data out. Used by ``pull_canary`` (``_pull_canary.py``): ``kubelet_verdict(pod,
events)`` says whether the kubelet pulled the image (and how long it took, from the ``Pulled``
Event), refused it (``ErrImagePull`` / ``ImagePullBackOff`` and the kubelet's message), could not
schedule or admit the Pod, or has not decided yet; ``timeout_verdict`` describes the last state
when no verdict came in time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

#: The name of the container whose pull is judged.
CONTAINER_NAME = 'canary'
#: Seconds to keep waiting for the Event that completes a verdict (pull time, pull error text).
EVENT_GRACE = 3.0
#: Seconds to keep waiting, after the pull, for the runtime's refusal to start the container (the
#: proof that the image never ran; about 3 s after ``Pulled`` on a busy node).
START_GRACE = 10.0
PULL_FAILURE_REASONS = ('ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull',
                        'RegistryUnavailable', 'SignatureValidationFailed')
VERDICTS = ('pulled', 'pull_failed', 'unschedulable', 'node_rejected', 'pod_rejected', 'timeout', 'vanished',
            'would_run')


_GO_DURATION_PART = re.compile(r'([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\xb5s|\u03bcs|ms|s|m|h)')
_GO_UNITS = {'ns': 1e-9, 'us': 1e-6, '\xb5s': 1e-6, '\u03bcs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}
_PULLED_RE = re.compile(r'Successfully pulled image .* in ((?:[0-9.]+(?:ns|us|\xb5s|\u03bcs|ms|s|m|h))+)')


def parse_go_duration(text):
    """Seconds (float) of a Go ``time.Duration`` string (``215ms``, ``1.5s``, ``1m2.5s``); None if it is not one."""
    if not text:
        return None
    pos = 0
    total = 0.0
    for m in _GO_DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        return None
    return total


def pull_seconds_from_event(message):
    """The pull time the kubelet reports in its ``Pulled`` event, in seconds (float), or None.

    The kubelet (v1.30+) writes ``Successfully pulled image "<image>" in 215ms (215ms including waiting).
    Image size: <n> bytes.``: the first duration is the pull itself, the second adds the time spent
    waiting for other pulls.
    """
    m = _PULLED_RE.search(message or '')
    return parse_go_duration(m.group(1)) if m else None


def _container_status(pod):
    for st in (pod.get('status') or {}).get('containerStatuses') or []:
        if st.get('name') == CONTAINER_NAME:
            return st
    return {}


def _condition(pod, ctype):
    for cond in (pod.get('status') or {}).get('conditions') or []:
        if cond.get('type') == ctype:
            return cond
    return {}


def _events_by_reason(events, *reasons):
    out = [e for e in events or [] if e.get('reason') in reasons]
    out.sort(key=lambda e: e.get('last_timestamp') or e.get('lastTimestamp') or '')
    return out


def _workload_started(status):
    state = status.get('state') or {}
    if state.get('running'):
        return True
    term = state.get('terminated') or {}
    return bool(term) and term.get('reason') not in ('StartError', 'ContainerCannotRun') and bool(term.get('startedAt'))


def kubelet_verdict(pod, events, settled=False):
    """What the kubelet (or the scheduler) has said about one canary Pod so far.

    :param pod: the Pod (dict), or None when it no longer exists.
    :param events: the Pod's Events as dicts with ``reason``, ``message``, ``type``, ``last_timestamp``.
    :param settled: True once the grace for late Events is over: a verdict is then returned even
        when the Event that completes it (the pull time, the pull error's text) has not arrived.
    :returns: None while there is no verdict yet, else a dict: ``verdict`` (``pulled``,
        ``pull_failed``, ``unschedulable``, ``node_rejected``, ``timeout``, ``vanished``),
        ``complete`` (False when an Event is still expected), ``node``, ``pulled`` (bool),
        ``pull_seconds`` (float or None), ``kubelet_message``, ``scheduler_message``,
        ``missing_pull_secrets_event`` (the ``FailedToRetrieveImagePullSecret`` message or None),
        ``workload_started`` (must always be False), ``image_id``, ``container_start`` (the runtime's refusal
        to start the never-running command), ``grace`` (seconds the runner waits for a missing Event).
        A ``pulled`` verdict is complete once the ``Pulled`` event and the container's final state (with the
        image ID and the runtime's refusal) are seen.
    """
    if pod is None:
        return dict(_empty_verdict(None), verdict='vanished')
    spec = pod.get('spec') or {}
    status = pod.get('status') or {}
    out = _empty_verdict(spec.get('nodeName'))
    cs = _container_status(pod)
    out['workload_started'] = _workload_started(cs)
    out['image_id'] = cs.get('imageID') or None
    secret_events = _events_by_reason(events, 'FailedToRetrieveImagePullSecret')
    if secret_events:
        out['missing_pull_secrets_event'] = secret_events[-1].get('message')
    pulled_events = [e for e in _events_by_reason(events, 'Pulled')
                     if 'Successfully pulled image' in (e.get('message') or '')]
    pull_errors = [e for e in _events_by_reason(events, 'Failed')
                   if (e.get('message') or '').startswith('Failed to pull image')]
    waiting = (cs.get('state') or {}).get('waiting') or {}
    terminated = (cs.get('state') or {}).get('terminated') or {}

    if pulled_events or out['image_id']:
        out.update(verdict='pulled', pulled=True)
        if pulled_events:
            seconds = pull_seconds_from_event(pulled_events[-1].get('message'))
            out['pull_seconds'] = None if seconds is None else round(seconds, 6)
            out['kubelet_message'] = pulled_events[-1].get('message')
        start_errors = [e for e in _events_by_reason(events, 'Failed') if e not in pull_errors]
        if terminated.get('message') or start_errors:
            out['container_start'] = (terminated.get('message') or start_errors[-1].get('message') or '')[:500]
        # complete with the kubelet's pull time and the outcome of the start (refused, as designed)
        out['complete'] = bool(pulled_events) and bool(terminated or out['workload_started']) or settled
        out['grace'] = START_GRACE
        return out
    if waiting.get('reason') in PULL_FAILURE_REASONS or pull_errors:
        out.update(verdict='pull_failed', pulled=False)
        out['kubelet_reason'] = waiting.get('reason') or 'ErrImagePull'
        out['kubelet_message'] = (pull_errors[-1].get('message') if pull_errors else None) or waiting.get('message')
        out['complete'] = bool(pull_errors) or settled
        return out
    scheduled = _condition(pod, 'PodScheduled')
    if scheduled.get('status') == 'False' and scheduled.get('reason') == 'Unschedulable':
        failed_scheduling = _events_by_reason(events, 'FailedScheduling')
        out.update(verdict='unschedulable', pulled=False,
                   scheduler_message=scheduled.get('message') or (
                       failed_scheduling[-1].get('message') if failed_scheduling else None))
        return out
    if status.get('phase') == 'Failed':
        if status.get('reason') == 'DeadlineExceeded':
            out.update(verdict='timeout', pulled=False, kubelet_message=status.get('message'))
        else:
            out.update(verdict='node_rejected', pulled=False, kubelet_reason=status.get('reason'),
                       kubelet_message=status.get('message') or status.get('reason'))
        return out
    return None


def retry_outcome(events):
    """After a failed first pull, what the kubelet's retry (after its 10 s back-off) gave: ``pulled``,
    ``failed_again`` (a second ``Failed to pull image`` event, or the first one counted twice), or None yet."""
    if any('Successfully pulled image' in (e.get('message') or '') for e in _events_by_reason(events, 'Pulled')):
        return 'pulled'
    failures = [e for e in _events_by_reason(events, 'Failed') if (e.get('message') or '').startswith(
        'Failed to pull image')]
    if sum(int(e.get('count') or 1) for e in failures) >= 2:
        return 'failed_again'
    return None


def _empty_verdict(node):
    return {'verdict': None, 'complete': True, 'grace': EVENT_GRACE, 'node': node, 'pulled': None, 'pull_seconds': None,
            'kubelet_message': None, 'kubelet_reason': None, 'scheduler_message': None,
            'missing_pull_secrets_event': None, 'workload_started': False, 'image_id': None, 'container_start': None}


def timeout_verdict(pod, events, timeout):
    """The verdict when ``timeout`` seconds passed without one: what the Pod was doing (no secret)."""
    out = _empty_verdict((pod or {}).get('spec', {}).get('nodeName') if pod else None)
    out.update(verdict='timeout', pulled=False)
    if pod is None:
        out['kubelet_message'] = 'no verdict within %d s' % timeout
        return out
    waiting = ((_container_status(pod).get('state') or {}).get('waiting') or {})
    pulling = _events_by_reason(events, 'Pulling')
    if not out['node']:
        state = 'the Pod was not scheduled to a node'
    elif pulling:
        state = 'the kubelet on %s was still pulling (%s)' % (out['node'], pulling[-1].get('message'))
    else:
        state = 'the Pod was on node %s, %s' % (out['node'], waiting.get('reason') or (
            pod.get('status') or {}).get('phase') or 'Pending')
    out['kubelet_message'] = 'no verdict within %d s: %s' % (timeout, state)
    return out
