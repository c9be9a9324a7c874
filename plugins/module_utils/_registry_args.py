# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the registry connection options. Private to this collection.

Matches the doc fragment ``registrylink.k8s.registry_auth`` option for option. The TLS options
carry a ``registry_`` prefix because the ``cluster`` group already owns ``validate_certs`` and
``ca_cert`` (for the Kubernetes API server) and both groups live in the same modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import check_registry_host

REGISTRY_AUTH_ARGSPEC = dict(
    registry=dict(type='str'),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    registry_validate_certs=dict(type='bool', default=True),
    registry_ca_path=dict(type='path', aliases=['ca_path']),
    timeout=dict(type='int', default=10),
    allow_insecure_http=dict(type='bool', default=False),
    allow_cross_host_realm=dict(type='bool', default=False),
)

REGISTRY_AUTH_KEYS = tuple(REGISTRY_AUTH_ARGSPEC)

REGISTRY_AUTH_REQUIRED_TOGETHER = [['username', 'password']]


def client_kwargs(params):
    """Keyword arguments for ``_distribution.RegistryClient`` from module params (without the registry)."""
    return dict(
        username=params.get('username') or None,
        password=params.get('password') or None,
        ca_path=params.get('registry_ca_path'),
        validate_certs=params.get('registry_validate_certs', True) is not False,
        timeout=params.get('timeout') or 10,
        allow_insecure_http=bool(params.get('allow_insecure_http')),
        allow_cross_host_realm=bool(params.get('allow_cross_host_realm')),
    )


def check_registry_options(params, registry_field='registry', timeout_field='timeout', ca_field='registry_ca_path'):
    """Check the registry connection options of a module's ``params`` before any network access.

    :raises ValidationError: naming the option: a bad ``registry`` (see ``_registry_host.check_registry_host``,
        only when set), a ``timeout`` below 1 second, a ``registry_ca_path`` that is not a file.
    """
    if params.get(registry_field) not in (None, ''):
        check_registry_host(params[registry_field], field=registry_field)
    timeout = params.get(timeout_field)
    if timeout is not None and timeout < 1:
        raise ValidationError('%s: seconds to wait for the registry, at least 1, got %r' % (timeout_field, timeout),
                              field=timeout_field)
    ca_path = params.get(ca_field)
    if ca_path and not os.path.isfile(os.path.expanduser(ca_path)):
        raise ValidationError('%s: the CA bundle %s does not exist or is not a file' % (ca_field, ca_path),
                              field=ca_field)
