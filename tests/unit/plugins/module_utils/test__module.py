# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the module contract (_module.py): dependency checks, typed errors, the bug
catch-all (traceback only at -vvv), diff handling, warnings and per-item failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.registrylink.k8s.plugins.module_utils import _module
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ItemsFailed, ValidationError

missing_dependencies = _module.missing_dependencies


class Exit(Exception):
    def __init__(self, failed, result):
        super(Exit, self).__init__(result.get('msg'))
        self.failed = failed
        self.result = result


class FakeModule(object):
    """Stands in for AnsibleModule: records what run_module does with it."""

    verbosity = 0
    diff_mode = False

    def __init__(self, argument_spec, supports_check_mode, **kwargs):
        assert supports_check_mode is True
        self.params = {'name': 'x'}
        self.check_mode = True
        self._diff = FakeModule.diff_mode
        self._verbosity = FakeModule.verbosity
        self._name = 'registrylink.k8s.example'
        self.kwargs = kwargs
        self.warnings = []
        self.no_log_values = set()

    def warn(self, msg):
        self.warnings.append(msg)

    def exit_json(self, **result):
        raise Exit(False, result)

    def fail_json(self, msg, **result):
        raise Exit(True, dict(result, msg=msg))


@pytest.fixture(autouse=True)
def fake_module(monkeypatch):
    FakeModule.verbosity = 0
    FakeModule.diff_mode = False
    monkeypatch.setattr(_module, 'AnsibleModule', FakeModule)
    monkeypatch.setattr(_module, 'missing_dependencies', lambda requires: [])


def runner_returning(result=None, raises=None):
    class R(_module.Runner):
        seen = {}

        def run(self):
            R.seen.update(params=self.params, check_mode=self.check_mode, diff=self.diff)
            self.warn('careful')
            self.register_secret('s3cret')
            if raises is not None:
                raise raises
            return dict(result)
    return R


def run(runner, **kwargs):
    with pytest.raises(Exit) as info:
        _module.run_module(runner, {'name': {'type': 'str'}}, **kwargs)
    return info.value


def test_runner_gets_params_modes_and_callbacks():
    runner = runner_returning({'changed': False})
    out = run(runner, mutually_exclusive=[['a', 'b']])
    assert not out.failed and out.result == {'changed': False}
    assert runner.seen == {'params': {'name': 'x'}, 'check_mode': True, 'diff': False}


def test_diff_is_kept_only_in_diff_mode_and_only_when_there_is_one():
    result = {'changed': True, 'diff': [{'before': {}, 'after': {'a': 1}}]}
    assert 'diff' not in run(runner_returning(result)).result
    FakeModule.diff_mode = True
    assert run(runner_returning(result)).result['diff'] == result['diff']
    assert 'diff' not in run(runner_returning({'changed': False, 'diff': []})).result


def test_typed_error_fails_with_msg_and_details_and_changed_false():
    out = run(runner_returning(raises=ValidationError('names: bad', field='names')))
    assert out.failed
    assert out.result == {'msg': 'names: bad', 'field': 'names', 'changed': False}


def test_items_failed_keeps_the_whole_result():
    FakeModule.diff_mode = True
    result = {'changed': True, 'results': [{'action': 'created'}, {'action': 'failed'}], 'diff': [{'x': 1}]}
    out = run(runner_returning(raises=ItemsFailed('1 failed', **result)))
    assert out.failed and out.result['msg'] == '1 failed'
    assert out.result['changed'] is True and out.result['results'] == result['results']
    assert out.result['diff'] == [{'x': 1}]


@pytest.mark.parametrize('verbosity, traceback_shown', [(0, False), (2, False), (3, True), (4, True)])
def test_a_bug_fails_with_its_type_and_a_traceback_only_at_vvv(verbosity, traceback_shown):
    FakeModule.verbosity = verbosity
    out = run(runner_returning(raises=KeyError('boom')))
    assert out.failed and out.result['changed'] is False
    assert out.result['msg'] == "registrylink.k8s.example failed unexpectedly: KeyError: 'boom'"
    assert ('exception' in out.result) is traceback_shown
    if traceback_shown:
        assert 'Traceback' in out.result['exception']


def test_missing_dependency_fails_with_an_install_hint(monkeypatch):
    monkeypatch.setattr(_module, 'missing_dependencies', lambda requires: [('boto3', 'No module named boto3')])
    runner = runner_returning({'changed': False})
    out = run(runner, requires=('boto3',))
    assert out.failed and 'boto3' in out.result['msg'] and out.result['missing_libraries'] == ['boto3']


def test_missing_dependencies_imports_each_library():
    def importer(name):
        if name == 'kubernetes':
            raise ImportError('No module named kubernetes')
    assert missing_dependencies(('requests', 'kubernetes'), importer=importer) == [
        ('kubernetes', 'No module named kubernetes')]
    assert missing_dependencies(('requests',)) == []
