# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credential providers of registry_secret: one table, one small interface. Private to this collection.

A registry entry that names ``provider: <name>`` gets its credentials minted instead of
declared; the provider's options are keys of the same entry. The interface
(``_providers._base.Provider``): ``name``, ``options``, ``lifetime``,
``default_refresh_before``, ``validate(options)`` (no network; ``ValidationError`` naming the
option), ``mint(options, now)`` (``Credentials`` with ``server``, ``username``, ``password``,
``expires_at``, ``issued_at``) and ``known_server(options)``.

Adding a provider: one file beside ``_ecr.py`` with a ``Provider`` subclass, one line in
``PROVIDERS``, its option names in the ``registries`` suboptions of the registry_secret module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._acr import AcrProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._acr_token import AcrTokenProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._artifactory import ArtifactoryTokenProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._ecr import EcrProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._gar import GarProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._gitlab import GitlabDeployTokenProvider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._harbor import HarborRobotProvider

__all__ = ['PROVIDERS', 'Credentials', 'Provider', 'get_provider', 'option_names', 'options_fingerprint']

PROVIDERS = {
    AcrProvider.name: AcrProvider,
    AcrTokenProvider.name: AcrTokenProvider,
    EcrProvider.name: EcrProvider,
    GarProvider.name: GarProvider,
    HarborRobotProvider.name: HarborRobotProvider,
    GitlabDeployTokenProvider.name: GitlabDeployTokenProvider,
    ArtifactoryTokenProvider.name: ArtifactoryTokenProvider,
}


def provider_names():
    """The provider names, sorted."""
    return sorted(PROVIDERS)


def option_names():
    """Every option name of every provider (the union), sorted."""
    names = set()
    for cls in PROVIDERS.values():
        names.update(cls.options)
    return sorted(names)


def get_provider(name, field='provider', **kwargs):
    """An instance of the provider called ``name``; ``kwargs`` go to its constructor.

    :raises ValidationError: unknown name, listing the known providers (``field`` names the option).
    """
    cls = PROVIDERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValidationError('%s: unknown provider %r; known providers: %s (or leave provider unset and give '
                              'username and password)' % (field, name, ', '.join(provider_names())), field=field)
    return cls(**kwargs)


def options_fingerprint(name, options, secret_options=()):
    """A stable, secret-free fingerprint of a provider and its normalised options (None values and
    the provider's ``secret_options`` dropped).

    Recorded on the Secret, it tells a later run whether the stored token was minted for the
    same provider entry (same region, account, role, endpoint, server). Options that hold secrets
    (the provider's ``secret_options``, such as an API password) and the run's ``owner`` are left
    out. A plain SHA-256 (the remaining options are not secret, and it must be equal across runs,
    unlike ``_common.content_hash``).
    """
    hidden = set(secret_options) | set(getattr(PROVIDERS.get(name), 'secret_options', ())) | set(['owner'])
    data = dict((k, v) for k, v in options.items() if v is not None and k not in hidden)
    data['provider'] = name
    text = json.dumps(data, sort_keys=True, separators=(',', ':'))
    return 'sha256:' + hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]
