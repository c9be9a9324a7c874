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
