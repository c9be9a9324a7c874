# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``acr_token`` credential provider: a repository-scoped ACR token's passwords. Private to this collection.

An ACR token (a scope map's repositories and actions) has two password slots, ``password1`` and
``password2``. Each mint regenerates the slot that is **not** in use: the provider record on the
Secrets names the slot their password came from (``slot``, with its ``creationTime`` as ``issued_at``),
and the other slot is regenerated; without a record, the slot that is missing, else the one created
earlier. The slot the Secrets hold stays valid while they are switched to the new password, so no
running node ever holds only a dead password. Every password is generated with an expiry
(``lifetime``), so a password nobody rotates stops working.

One ACR token serves one cluster and one Secret name: a second consumer (another cluster, another
Secret name) regenerates slots by its own record and kills the password this Secret holds. That shows
as the recorded slot's ``creationTime`` being newer than the record's ``issued_at``;
:meth:`AcrTokenProvider.check_records` then warns and the runner mints again.

ARM: ``GET <registry>/tokens/<name>`` (the slots' ``creationTime``), then ``POST
<registry>/generateCredentials`` with ``tokenId``, ``name`` and ``expiry``, a long-running operation
whose result carries the new password (the only time Azure returns it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _azure
from ansible_collections.registrylink.k8s.plugins.module_utils._common import format_rfc3339, parse_rfc3339
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import secret_key

ACR_API = '2025-11-01'
_REGISTRY_RE = re.compile(r'^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]+/providers/'
                          r'Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}$', re.I)
_TOKEN_RE = re.compile(r'^[A-Za-z0-9-]{5,50}$')
SLOTS = ('password1', 'password2')
#: what check mode puts in place of a password that would be generated (never written)
PREVIEW_PASSWORD = 'check-mode-placeholder'


def slot_to_regenerate(passwords, recorded=None):
    """The slot not in use (pure): the slot other than ``recorded`` (the slot this Secret's password came
    from, per its provider record); without one, a missing slot first, else the one created earlier.

    ``passwords``: the token's ``credentials.passwords`` (dicts with ``name``, ``creationTime``).
    """
    if recorded in SLOTS:
        return SLOTS[1 - SLOTS.index(recorded)]
    by_name = dict((p.get('name'), p) for p in passwords or [] if isinstance(p, dict))
    for slot in SLOTS:
        if slot not in by_name or not by_name[slot].get('creationTime'):
            return slot

    def created(slot):
        # parse_rfc3339 takes fractions and answers None for what is not a timestamp: counted as the oldest
        return parse_rfc3339(by_name[slot]['creationTime']) or datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return min(SLOTS, key=lambda s: (created(s), s))


def dead_slot_reason(passwords, record, token_name):
    """Why the password a Secret holds no longer works (pure), or None.

    ``record``: the Secret's provider record (``slot``, ``issued_at``); a record without them (written
    before slots were recorded) is never judged. The password is dead when its slot is gone from the
    token or was created after ``issued_at``: something else regenerated it.
    """
    slot, issued = (record or {}).get('slot'), parse_rfc3339((record or {}).get('issued_at'))
    if slot not in SLOTS or issued is None:
        return None
    by_name = dict((p.get('name'), p) for p in passwords or [] if isinstance(p, dict))
    created = parse_rfc3339((by_name.get(slot) or {}).get('creationTime'))
    if slot not in by_name:
        what = '%s, the slot of the password in this Secret, no longer exists' % slot
    elif created is not None and created > issued:
        what = ('%s, the slot of the password in this Secret (created %s), was regenerated at %s by someone else'
                % (slot, record['issued_at'], by_name[slot]['creationTime']))
    else:
        return None
    return ('ACR token %s: %s, so the password this Secret holds is dead. The token is used by another consumer '
            '(another cluster or another Secret name, or az acr token credential generate): use one ACR token per '
            'cluster and Secret name. Generating a new password for this Secret' % (token_name, what))


class AcrTokenProvider(Provider):
    """Passwords of a repository-scoped ACR token (scope map), rotated slot by slot."""

    name = 'acr_token'
    options = ('registry_resource_id', 'token_name', 'tenant_id', 'client_id', 'client_secret', 'authority_host',
               'arm_endpoint', 'ca_path')
    secret_options = ('client_secret',)
    #: the expiry every generated password gets
    lifetime = 30 * 24 * 3600
    default_refresh_before = 10 * 24 * 3600
    #: minting writes (a slot is regenerated): check mode calls preview_mint() instead
    mint_writes = True
    #: mint/preview_mint take the Secrets' records (the slot they hold); check_records spots a shared token
    uses_records = True

    def __init__(self, warn=None, session_factory=None, arm=None):
        super(AcrTokenProvider, self).__init__(warn=warn, session_factory=session_factory)
        self.arm = arm
        self._warned = False  # the shared-token warning is given once per run

    def validate(self, options):
        """Check and normalise the options (no network)."""
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        for key, value in out.items():
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str):
                out[key] = value.strip() or None
        if not out['server']:
            raise ValidationError('server: provider acr_token needs the registry login server (for example '
                                  'server: myregistry.azurecr.io)', field='server')
        out['server'] = secret_key(out['server'])[0]
        if not out['registry_resource_id'] or not _REGISTRY_RE.match(out['registry_resource_id'].rstrip('/')):
            raise ValidationError('registry_resource_id: %r is not the resource ID of a container registry '
                                  '(az acr show -n <name> --query id)' % out['registry_resource_id'],
                                  field='registry_resource_id')
        out['registry_resource_id'] = out['registry_resource_id'].rstrip('/')
        if not out['token_name'] or not _TOKEN_RE.match(out['token_name']):
            raise ValidationError('token_name: %r is not an ACR token name (5 to 50 letters, digits and dashes; '
                                  'az acr token create -n <name> -r <registry> --scope-map <map>)' % out['token_name'],
                                  field='token_name')
        if out['arm_endpoint'] is not None:
            if not _azure.HTTPS_BASE_RE.match(out['arm_endpoint']):
                raise ValidationError('arm_endpoint: %r is not an https:// URL without a path' % out['arm_endpoint'],
                                      field='arm_endpoint')
            out['arm_endpoint'] = out['arm_endpoint'].rstrip('/')
        _azure.validate_credential_options(out)
        return out

    def _client(self, options):
        if self.arm is not None:
            return self.arm
        endpoint = options.get('arm_endpoint') or _azure.ARM_ENDPOINT

        def token():
            cred = (self.session_factory(options) if self.session_factory is not None
                    else _azure.credential(options, what='provider acr_token'))
            return _azure.get_token(cred, endpoint + '/.default')
        return _azure.ArmClient(token, endpoint=endpoint, ca_path=options.get('ca_path'))

    def _read_token(self, arm, options):
        token_id = '%s/tokens/%s' % (options['registry_resource_id'], options['token_name'])
        try:
            _s, token, _h = arm.request('GET', token_id, ACR_API, what='read ACR token %s' % options['token_name'])
        except AzureAPIError as exc:  # keep status and code
            raise ProviderError(exc.msg, **exc.details)
        props = token.get('properties') or {}
        if (props.get('status') or 'enabled').lower() != 'enabled':
            raise ProviderError('ACR token %s is disabled; enable it (az acr token update --status enabled)'
                                % options['token_name'])
        return token_id, token, props

    def check_records(self, options, records, now):
        """Read-only (one GET of the token): None while the password of the newest record (``records``,
        newest first) still works, else the reason (also warned): its slot was regenerated since."""
        arm = self._client(options)
        _id, _token, props = self._read_token(arm, options)
        reason = dead_slot_reason((props.get('credentials') or {}).get('passwords'), (records or [None])[0],
                                  options['token_name'])
        if reason:
            self.warn(reason)
            self._warned = True
        return reason

    def preview_mint(self, options, now, records=None):
        """Check mode: read the token (it must exist and be enabled) but generate nothing, since a new
        password replaces a slot. The Credentials carry a placeholder password, never written."""
        arm = self._client(options)
        _id, _token, props = self._read_token(arm, options)
        passwords = (props.get('credentials') or {}).get('passwords')
        record = (records or [None])[0]
        self._warn_dead(passwords, record, options)
        slot = slot_to_regenerate(passwords, (record or {}).get('slot'))
        return Credentials(options['server'], options['token_name'], PREVIEW_PASSWORD,
                           now + datetime.timedelta(seconds=self.lifetime), now, record={'slot': slot})

    def _warn_dead(self, passwords, record, options):
        reason = dead_slot_reason(passwords, record, options['token_name'])
        if reason and not self._warned:
            self.warn(reason)
            self._warned = True

    def mint(self, options, now, records=None):
        """Regenerate the slot not in use: the slot other than the one the newest of ``records`` (this
        entry's provider records on the Secrets, newest first) holds; without a record, the current rule
        of :func:`slot_to_regenerate`. Returns Credentials(server, token name, new password, expiry) whose
        ``record`` names the slot and its creationTime (``issued_at``)."""
        arm = self._client(options)
        token_id, token, props = self._read_token(arm, options)
        passwords = (props.get('credentials') or {}).get('passwords')
        record = (records or [None])[0]
        self._warn_dead(passwords, record, options)
        slot = slot_to_regenerate(passwords, (record or {}).get('slot'))
        expiry = now + datetime.timedelta(seconds=self.lifetime)
        body = {'tokenId': token.get('id') or token_id, 'name': slot, 'expiry': format_rfc3339(expiry)}
        try:
            what = 'generate %s of ACR token %s' % (slot, options['token_name'])
            _s, data, headers = arm.request('POST', options['registry_resource_id'] + '/generateCredentials', ACR_API,
                                            body=body, what=what)
            if _s == 202 or not data.get('passwords'):
                data = arm.wait_operation(headers, ACR_API, what='generateCredentials')
        except AzureAPIError as exc:
            raise ProviderError(exc.msg, **exc.details)
        value = created = None
        for p in data.get('passwords') or []:
            if isinstance(p, dict) and p.get('name') == slot and p.get('value'):
                value, created = p['value'], p.get('creationTime')
        if not value:
            raise ProviderError('generateCredentials for ACR token %s returned no %s' % (options['token_name'], slot))
        if parse_rfc3339(created) is None:  # not in the result: read it back (the registry's clock, not ours)
            _id, _token, props = self._read_token(arm, options)
            for p in (props.get('credentials') or {}).get('passwords') or []:
                if isinstance(p, dict) and p.get('name') == slot:
                    created = p.get('creationTime')
        extra = {'slot': slot}
        if parse_rfc3339(created) is not None:
            extra['issued_at'] = created
        username = data.get('username') or options['token_name']
        return Credentials(options['server'], username, value, self.checked_expiry(expiry, now, 'ACR token'), now,
                           record=extra)
