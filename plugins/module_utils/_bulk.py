# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded concurrent execution of per-item writes. Private to this collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor


def run_bounded(func, work, max_workers=16):
    """Call ``func(item)`` for every item with at most ``max_workers`` calls in flight.

    :param func: callable taking one item; its return value is collected.
    :param work: list of items.
    :param max_workers: int >= 1, the bound on concurrent calls (and so on API writes).
    :returns: list of ``(item, result, exception)`` in the order of ``work``; exactly one of
        ``result``/``exception`` is meaningful. One item's failure never stops the others.
    """
    work = list(work)
    if not work:
        return []
    workers = max(1, min(int(max_workers or 1), len(work)))

    def guarded(item):
        try:
            return item, func(item), None
        except Exception as exc:  # collected and reported per item
            return item, None, exc

    if workers == 1:
        return [guarded(item) for item in work]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(guarded, work))


def summarize(results, key='action'):
    """Count per-item results by ``key``: ``{'created': 3, 'unchanged': 997}`` (sorted keys)."""
    counts = {}
    for res in results:
        counts[res.get(key)] = counts.get(res.get(key), 0) + 1
    return dict(sorted(counts.items()))


def write_outcome(exc):
    """Whether a write that raised ``exc`` may have been applied: ``not_written`` or ``unknown``.

    A typed error carries ``write_outcome`` when the request got no HTTP answer (``_k8s.KubeClient.call``:
    ``not_written`` when it was never sent, ``unknown`` when the connection broke or timed out after it
    was sent). A typed error without it had an answer from the server, which refused the write
    (``not_written``). Anything else is a bug in the middle of a write: ``unknown``.
    """
    details = getattr(exc, 'details', None)
    if not isinstance(details, dict):
        return 'unknown'
    return details.get('write_outcome') or 'not_written'


def write_report(results, label, written_actions):
    """What a bulk write that failed somewhere did, for the task's result.

    :param results: the per-item results; failed ones have ``action`` ``failed`` and ``write_outcome``.
    :param label: callable(result) -> the item's name (a namespace, ``namespace/serviceaccount``).
    :param written_actions: the actions that mean written (``created``, ``updated``, ``deleted``).
    :returns: ``{'written': [...], 'not_written': [...], 'unknown': [...]}``: written, refused or never
        sent, and possibly applied (read back or rerun to know).
    """
    report = {'written': [], 'not_written': [], 'unknown': []}
    for res in results:
        if res.get('action') in written_actions:
            report['written'].append(label(res))
        elif res.get('action') == 'failed' and res.get('write_outcome') in ('not_written', 'unknown'):
            report[res['write_outcome']].append(label(res))
    return report
