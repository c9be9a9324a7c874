# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential provider interface and the credentials it returns. Private to this collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.registrylink.k8s.plugins.module_utils._common import REDACTED, format_rfc3339

# An expiry this much beyond the documented lifetime is treated as clock skew and capped.
EXPIRY_SLACK_SECONDS = 300


class Credentials(object):
    """Credentials minted by a provider. Holds a secret: never return, log or ``repr`` it unredacted.

    ``server``: the registry server / key the credentials are for; ``username``, ``password``;
    ``expires_at`` and ``issued_at``: aware UTC datetimes. ``ref``: for a stateful provider, the
    secret-free reference of the credential object at the registry (``{"id": ..., "name": ...}``),
    recorded on the Secret; None for stateless tokens. ``record``: further secret-free fields the
    provider records on the Secret (``slot`` and ``issued_at`` of an ACR token password), or None.
    """

    __slots__ = ('server', 'username', 'password', 'expires_at', 'issued_at', 'ref', 'record')

    def __init__(self, server, username, password, expires_at, issued_at, ref=None, record=None):
        self.server = server
        self.username = username
        self.password = password
        self.expires_at = expires_at
        self.issued_at = issued_at
        self.ref = ref
        self.record = record

    def __repr__(self):
        return 'Credentials(server=%r, username=%r, password=%r, expires_at=%r)' % (
            self.server, self.username, REDACTED, format_rfc3339(self.expires_at) if self.expires_at else None)


class Provider(object):
    """Base of every credential provider (one class per file, listed in ``_providers.PROVIDERS``).

    Class attributes: ``name`` (the value of ``provider:``), ``options`` (the names of the
    registry entry keys it reads besides ``server``), ``lifetime`` (seconds: the service's
    documented token lifetime, used when the service reports no usable expiry),
    ``default_refresh_before`` (seconds) and ``secret_options`` (options that hold a secret:
    left out of the recorded fingerprint).

    ``validate(options)`` checks and normalises a dict of those options plus ``server``
    without any network access and returns the normalised dict; it raises
    ``ValidationError(field=<option>)``. ``mint(options, now)`` returns :class:`Credentials`
    for the normalised options; it raises ``ProviderError``. ``known_server(options)`` is the
    registry key when it is known without minting (else None).

    Providers with ``uses_records = True`` (``acr_token``: which password slot a Secret holds) get
    ``records=`` in ``mint`` and ``preview_mint``: this entry's provider records on every managed
    Secret of this name in the cluster, the newest ``issued_at`` first; the runner also calls
    ``check_records(options, records, now)`` (read-only) while a record is fresh: None, or the
    reason the password in the Secrets no longer works (then it mints again).

    ``warn`` receives warnings (never a secret); ``session_factory`` lets tests replace the
    SDK session.

    Stateful providers (``stateful = True``: Harbor robot accounts, GitLab deploy tokens,
    Artifactory access tokens) mint a credential *object* at the registry, which outlives the run
    and must be reused, rotated and deleted. The runner gives them an ``owner`` string (the
    Secret name and the cluster) in ``options['owner']`` before any call, records ``ref`` on the
    Secret, and calls: ``check(options, ref, now)`` (read-only: is the credential still usable?
    returns None or the reason it is not), ``mint(options, now, current=ref)`` (rotate ``current``
    in place when the provider can, else create), ``preview(options, current)`` (check mode: the
    Credentials a mint would return, password None, no network write), ``owned(options)`` (the
    refs of every credential this owner minted for this entry) and ``retire(options, ref)``
    (delete one).
    """

    name = None
    options = ()
    #: names among ``options`` that hold a secret (never recorded, not even hashed)
    secret_options = ()
    #: True when minting changes something at the vendor (a password slot is regenerated): check mode
    #: then calls ``preview_mint(options, now)``, which must only read, instead of ``mint``
    mint_writes = False
    #: True when mint/preview_mint take ``records=`` and the runner calls ``check_records`` (see above)
    uses_records = False
    lifetime = None
    default_refresh_before = None
    stateful = False

    def __init__(self, warn=None, session_factory=None):
        self.warn = warn or (lambda msg: None)
        self.session_factory = session_factory

    def validate(self, options):  # pragma: no cover - interface
        raise NotImplementedError

    def mint(self, options, now):  # pragma: no cover - interface
        raise NotImplementedError

    def known_server(self, options):
        return options.get('server')

    # -- stateful providers only --------------------------------------------------------

    def check(self, options, ref, now):  # pragma: no cover - interface
        raise NotImplementedError

    def preview(self, options, current):  # pragma: no cover - interface
        raise NotImplementedError

    def owned(self, options):  # pragma: no cover - interface
        raise NotImplementedError

    def retire(self, options, ref):  # pragma: no cover - interface
        raise NotImplementedError

    def checked_expiry(self, reported, now, label):
        """The expiry to record for credentials minted at ``now``.

        ``reported`` (aware datetime or None) is what the service said. When it is missing or
        not in the future -- the controller's clock is wrong, or the endpoint does not report
        real expiries (moto answers 2015-01-01 for every ECR token) -- the documented lifetime
        counted from ``now`` is used and a warning names both causes. An expiry further away
        than the documented lifetime (the controller's clock is behind) is capped to it, so
        that rotation never trusts a token longer than the service promises.
        """
        lifetime = datetime.timedelta(seconds=self.lifetime)
        fallback = now + lifetime
        if reported is None:
            self.warn('%s: the service reported no expiry; recording the documented %s lifetime from now (%s)'
                      % (label, _human(self.lifetime), format_rfc3339(fallback)))
            return fallback
        reported = reported.astimezone(datetime.timezone.utc)
        if reported <= now:
            self.warn('%s: the service reported an expiry of %s, which is not in the future: either the clock of '
                      'the host running the module is wrong (clock skew), or the endpoint does not report real '
                      'expiries (moto answers 2015-01-01 for every token). Recording the documented %s lifetime '
                      'counted from now instead: %s'
                      % (label, format_rfc3339(reported), _human(self.lifetime), format_rfc3339(fallback)))
            return fallback
        if reported > fallback + datetime.timedelta(seconds=EXPIRY_SLACK_SECONDS):
            self.warn('%s: the service reported an expiry of %s, later than its documented %s lifetime allows '
                      '(is the clock of the host running the module behind?); recording %s'
                      % (label, format_rfc3339(reported), _human(self.lifetime), format_rfc3339(fallback)))
            return fallback
        return reported


def _human(seconds):
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return '%dh' % (seconds // 3600)
    if seconds % 60 == 0:
        return '%dm' % (seconds // 60)
    return '%ds' % seconds
