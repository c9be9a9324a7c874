# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed exceptions shared by the collection. Private to this collection: not a public API."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class RegistryLinkError(Exception):
    """Base class of every error a module turns into ``fail_json``.

    ``msg`` is the human message (never contains a secret); ``details`` is a dict of
    extra, secret-free facts that the module returns next to ``msg``.
    """

    def __init__(self, msg, **details):
        super(RegistryLinkError, self).__init__(msg)
        self.msg = msg
        self.details = details


class ValidationError(RegistryLinkError):
    """Bad input, detected before the first write. ``field`` names the offending option."""

    def __init__(self, msg, field=None, **details):
        super(ValidationError, self).__init__(msg, **details)
        self.field = field
        if field is not None:
            self.details.setdefault('field', field)


class KubernetesAPIError(RegistryLinkError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0 when none)."""

    def __init__(self, msg, status=0, reason=None, **details):
        super(KubernetesAPIError, self).__init__(msg, **details)
        self.status = status
        self.reason = reason
        self.details.setdefault('status', status)


class ConflictError(KubernetesAPIError):
    """409 Conflict (stale resourceVersion, or AlreadyExists) after the retries ran out."""


class NotFoundError(KubernetesAPIError):
    """404 Not Found."""


class RegistryError(RegistryLinkError):
    """A registry (OCI distribution) operation failed; ``category`` is a stable class name."""

    def __init__(self, msg, category='server_error', hint=None, **details):
        super(RegistryLinkError, self).__init__(msg)
        self.msg = msg
        self.details = details
        self.category = category
        self.hint = hint
        self.details.setdefault('category', category)
        if hint:
            self.details.setdefault('hint', hint)


class ItemsFailed(RegistryLinkError):
    """Some items (namespaces, ServiceAccounts, deletions...) failed, others may have worked.

    ``details`` is the module's whole result (``changed``, ``results``, ``summary``...), so the
    task fails with ``msg`` and still reports what was done.
    """


class ProviderError(RegistryLinkError):
    """A credential provider could not mint credentials."""


class AzureAPIError(RegistryLinkError):
    """An Azure Resource Manager call failed: ``status`` (HTTP, 0 when none) and ARM's error ``code``."""

    def __init__(self, msg, status=0, code='', **details):
        super(AzureAPIError, self).__init__(msg, status=status, code=code, **details)
        self.status = status
        self.code = code
