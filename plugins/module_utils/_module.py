# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module contract: what every module's ``main()`` does, in one place. Private to this collection.

A module file holds its documentation, ``argument_spec()`` and a ``main()`` of a few lines::

    def main():
        run_module(RegistrySecretRunner, argument_spec(), requires=('kubernetes',))

``run_module`` builds the ``AnsibleModule`` (check mode always supported), checks the Python
libraries the module needs (failing with an install hint), and runs
``Runner(params, check_mode, diff, warn, register_secret).run()``. A runner:

* returns the result dict (``changed``, ``results``, ``summary``, ...), with a ``diff`` that
  ``run_module`` keeps only in diff mode;
* calls ``warn(msg)`` for warnings (never a ``warnings`` key);
* calls ``register_secret(value)`` for every secret value it reads that is not a module
  option, so Ansible masks it in every output;
* raises a typed ``RegistryLinkError`` (``_errors``) for bad input or a failed call: the task
  fails with ``msg`` and the error's secret-free ``details`` (``field``, ``category``, ``hint``...);
* raises ``ItemsFailed(msg, **result)`` when some items failed: the task fails with ``msg``
  and the whole result, so the items that did work are still reported.

Modules whose argument spec holds the ``retries`` options (``_retry.RETRY_ARGSPEC``) get the
task's ``RetryPolicy`` installed before the runner starts, and ``retries`` (count, seconds
waited, reasons) in their result, also when they fail.

Any other exception is a bug: the task fails with its type and message; the traceback is
added only at ``-vvv`` (it shows source lines, never local values).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RETRY_KEYS, RetryPolicy, set_policy

#: Python libraries a module may need: import name -> (pip name, why).
DEPENDENCIES = {
    'requests': ('requests', 'to talk to registries'),
    'kubernetes': ('kubernetes', 'to talk to the Kubernetes API'),
    'boto3': ('boto3', 'to call AWS'),
    'google.auth': ('google-auth', 'to call Google Cloud'),
}


def _ignore(_value):
    return None


class Runner(object):
    """The shape of every module's runner: ``Runner(params, check_mode, diff, warn, register_secret).run()``.

    ``params`` is the module's parameters (dict); ``warn(msg)`` adds a warning;
    ``register_secret(value)`` masks a secret value in every output. ``run()`` returns the result
    dict or raises a ``RegistryLinkError`` (``ItemsFailed`` for per-item failures). Subclasses may
    take extra keyword arguments (clients, clocks) that tests inject.
    """

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.warn = warn or _ignore
        self.register_secret = register_secret or _ignore

    def run(self):
        """Do the module's work; returns the result dict."""
        raise NotImplementedError


def missing_dependencies(requires, importer=importlib.import_module):
    """The entries of ``requires`` (keys of ``DEPENDENCIES``) that cannot be imported, as
    ``[(import name, error text)]``."""
    missing = []
    for name in requires:
        try:
            importer(name)
        except ImportError as exc:
            missing.append((name, str(exc)))
    return missing


def _fail_missing(module, missing):
    name, error = missing[0]
    pip_name, why = DEPENDENCIES.get(name, (name, ''))
    msg = missing_required_lib(pip_name, reason=why) if why else missing_required_lib(pip_name)
    module.fail_json(msg=msg, changed=False, missing_libraries=[m[0] for m in missing], import_error=error)


def _keep_diff(result, diff_mode):
    """The result with ``diff`` only in diff mode and only when there is one."""
    diff = result.pop('diff', None)
    if diff_mode and diff:
        result['diff'] = diff
    return result


def run_module(runner_class, argument_spec, requires=(), **module_kwargs):
    """Build the module, check ``requires``, run ``runner_class`` and exit (or fail) with its result.

    Args: ``runner_class`` (the module's runner), ``argument_spec`` (dict), ``requires``
    (iterable of ``DEPENDENCIES`` keys), ``module_kwargs`` (``mutually_exclusive``,
    ``required_together``, ... for ``AnsibleModule``). Never returns.
    """
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **module_kwargs)
    missing = missing_dependencies(requires)
    if missing:
        _fail_missing(module, missing)
    # modules with the retries options report the retries of the task (count, wait, reasons)
    policy = None
    try:
        if RETRY_KEYS[0] in argument_spec:
            policy = set_policy(RetryPolicy.from_params(module.params))
        result = runner_class(module.params, check_mode=module.check_mode, diff=module._diff, warn=module.warn,
                              register_secret=module.no_log_values.add).run()
    except RegistryLinkError as exc:
        details = _keep_diff(dict(exc.details), module._diff)
        details.setdefault('changed', False)
        details.pop('failed', None)
        details.pop('msg', None)
        if policy is not None:
            details['retries'] = policy.stats()
        module.fail_json(msg=exc.msg, **details)
    except Exception as exc:  # a bug: the type and message, never locals that may hold secrets
        extra = {'exception': traceback.format_exc()} if module._verbosity >= 3 else {}
        module.fail_json(msg='%s failed unexpectedly: %s: %s' % (module._name, type(exc).__name__, exc),
                         changed=False, **extra)
    if policy is not None:
        result['retries'] = policy.stats()
    module.exit_json(**_keep_diff(result, module._diff))
