# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retries and timeouts of every remote request, one policy for all modules. Private to this collection.

The options of the ``retries`` doc fragment (``RETRY_ARGSPEC``) become one :class:`RetryPolicy`
per task: ``_module.run_module`` builds it from the module's parameters and installs it with
:func:`set_policy`; ``_k8s.KubeClient`` and ``_distribution.RegistryClient`` ask it, for each
failed attempt, whether to try again and how long to wait (:meth:`RetryPolicy.delay`), and
report every retry to it (:meth:`RetryPolicy.record`). The counts end up in the module's result
as ``retries``. Which responses are retryable is decided by each client (it knows which
requests are safe to repeat); how often and how long to wait is decided here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import parse_retry_after
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

#: Defaults of the ``retries`` doc fragment.
DEFAULT_REQUEST_TIMEOUT = 30
DEFAULT_REQUEST_RETRIES = 5
DEFAULT_RETRY_MAX_WAIT = 30

RETRY_ARGSPEC = dict(
    request_timeout=dict(type='int', default=DEFAULT_REQUEST_TIMEOUT),
    request_retries=dict(type='int', default=DEFAULT_REQUEST_RETRIES),
    retry_max_wait=dict(type='int', default=DEFAULT_RETRY_MAX_WAIT),
)

RETRY_KEYS = tuple(RETRY_ARGSPEC)

#: Backoff without ``Retry-After``: 0.5 s, 1 s, 2 s, ... (plus up to 25 % jitter), at most 8 s.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


class RetryPolicy(object):
    """How long one request may take and how often it is tried again.

    :param timeout: seconds to wait for the connection and then for each read of one response.
    :param retries: retries of one request after a retryable failure (0: none).
    :param max_wait: the longest single wait in seconds; a ``Retry-After`` asking for more is not
        waited for (the request fails at once, naming the wait the server asked for).
    The counters (:meth:`stats`) are shared by every thread of the task.
    """

    def __init__(self, timeout=DEFAULT_REQUEST_TIMEOUT, retries=DEFAULT_REQUEST_RETRIES,
                 max_wait=DEFAULT_RETRY_MAX_WAIT, rand=None):
        self.timeout = timeout
        self.retries = retries
        self.max_wait = max_wait
        self._rand = rand or random.random
        self._lock = threading.Lock()
        self._count = 0
        self._waited = 0.0
        self._by_reason = {}
        self._by_target = {}
        self._unreachable = {}

    @classmethod
    def from_params(cls, params):
        """The policy of a task from its module parameters (keys of ``RETRY_ARGSPEC``; missing keys
        take the defaults).

        :raises ValidationError: naming the option, for a timeout below 1 second, a negative or
            more than 20 retries, or a negative maximum wait.
        """
        params = params or {}
        timeout = params.get('request_timeout')
        retries = params.get('request_retries')
        max_wait = params.get('retry_max_wait')
        timeout = DEFAULT_REQUEST_TIMEOUT if timeout is None else timeout
        retries = DEFAULT_REQUEST_RETRIES if retries is None else retries
        max_wait = DEFAULT_RETRY_MAX_WAIT if max_wait is None else max_wait
        if timeout < 1:
            raise ValidationError('request_timeout: seconds to wait for one answer of the Kubernetes API server, '
                                  'at least 1, got %r' % timeout, field='request_timeout')
        if retries < 0 or retries > 20:
            raise ValidationError('request_retries: how often one request is retried, between 0 and 20, got %r'
                                  % retries, field='request_retries')
        if max_wait < 0:
            raise ValidationError('retry_max_wait: the longest wait in seconds before a retry, 0 or more, got %r'
                                  % max_wait, field='retry_max_wait')
        return cls(timeout=timeout, retries=retries, max_wait=max_wait)

    def delay(self, attempt, retry_after=None):
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        :param attempt: retries already made for this request (0 for the first failure).
        :param retry_after: the ``Retry-After`` header value (delta-seconds or HTTP-date), or None.
        :returns: the server's ``Retry-After`` when it gave one (None when it is longer than
            ``max_wait``), else exponential backoff with jitter capped at ``max_wait``; None when
            ``attempt`` has reached ``retries``.
        """
        if attempt >= self.retries:
            return None
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return asked if asked <= self.max_wait else None
        wait = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** attempt)) * (1 + self._rand() * 0.25)
        return min(wait, float(self.max_wait))

    def give_up_reason(self, attempt, retry_after=None):
        """Why :meth:`delay` returned None, as words for an error message."""
        asked = parse_retry_after(retry_after)
        if attempt < self.retries and asked is not None and asked > self.max_wait:
            return ('the server asked to retry after %d s, longer than retry_max_wait (%d s)'
                    % (int(asked), self.max_wait))
        if self.retries == 0:
            return 'not retried (request_retries=0)'
        return 'gave up after %d retries, request_retries=%d' % (attempt, self.retries)

    def record(self, target, reason, waited):
        """Count one retry: ``target`` (``kubernetes`` or ``registry``), ``reason`` (``HTTP 429``,
        ``connection refused`` ...), ``waited`` seconds before it."""
        with self._lock:
            self._count += 1
            self._waited += waited
            self._by_reason[reason] = self._by_reason.get(reason, 0) + 1
            self._by_target[target] = self._by_target.get(target, 0) + 1

    def mark_unreachable(self, host_port, reason):
        """Remember for the rest of the task that ``host_port`` (``host:port``) refused every retry of a
        request (``reason``: words for later error messages). Every client and the TLS check of the task
        consult it (:meth:`unreachable`), so a registry that is down costs one retry cycle per task, not
        one per image or request."""
        with self._lock:
            self._unreachable.setdefault(host_port, reason)

    def unreachable(self, host_port):
        """Why ``host_port`` was found unreachable earlier in this task, or None."""
        with self._lock:
            return self._unreachable.get(host_port)

    @property
    def count(self):
        """Retries made so far by this task."""
        return self._count

    def stats(self):
        """The ``retries`` result of a task: ``{'count', 'waited_seconds', 'by_reason', 'by_target'}``."""
        with self._lock:
            return {
                'count': self._count,
                'waited_seconds': round(self._waited, 1),
                'by_reason': dict(sorted(self._by_reason.items())),
                'by_target': dict(sorted(self._by_target.items())),
            }


_CURRENT = [RetryPolicy()]


def set_policy(policy):
    """Install ``policy`` for the rest of the task (every client created or used after this)."""
    _CURRENT[0] = policy
    return policy


def current_policy():
    """The policy of the running task (defaults when no module installed one, as in unit tests)."""
    return _CURRENT[0]
