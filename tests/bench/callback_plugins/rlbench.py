# -*- coding: utf-8 -*-
# Benchmark helper, not part of the collection: tests/bench only.
"""Snapshot kube-apiserver's ``apiserver_request_total`` at the start of every task.

Enabled by tests/bench/bench.py through ANSIBLE_CALLBACKS_ENABLED=rlbench with
ANSIBLE_CALLBACK_PLUGINS pointing here. Reads the targets from the JSON file named by
RLBENCH_TARGETS and appends one JSON line per snapshot to RLBENCH_SNAPSHOTS, so that the
harness can attribute API requests and time to each task (module). The time a snapshot
takes is recorded too (``scrape_s``) and left out of the per-task times.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = '''
name: rlbench
type: aggregate
short_description: per-task apiserver_request_total snapshots for the registrylink.k8s benchmark
description: Scrapes /metrics of the benchmark's API servers at every task start and at the end of the play.
requirements: [RLBENCH_TARGETS and RLBENCH_SNAPSHOTS in the environment]
'''

import json
import os
import sys
import time

from ansible.plugins.callback import CallbackBase

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metrics  # noqa: E402  (tests/bench/metrics.py)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'rlbench'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._out = os.environ.get('RLBENCH_SNAPSHOTS')
        self._targets = []
        path = os.environ.get('RLBENCH_TARGETS')
        if path:
            with open(path) as fh:
                self._targets = [metrics.Target(**t) for t in json.load(fh)]

    def _snap(self, label):
        if not self._out or not self._targets:
            return
        t0 = time.monotonic()
        series = metrics.scrape_all(self._targets)
        t1 = time.monotonic()
        rec = {'label': label, 't_before': t0, 't': t1, 'scrape_s': t1 - t0,
               'series': dict((name, dict(('|'.join(k), v) for k, v in s.items())) for name, s in series.items())}
        with open(self._out, 'a') as fh:
            fh.write(json.dumps(rec) + '\n')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._snap('task:' + task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._snap('end')
