# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the registry_secret module. Private to this collection.

Flow: validate every input (no network) -> resolve the namespace selection (1 LIST) ->
read the named Secret in every namespace (1 LIST across namespaces with a field selector)
-> plan per namespace (pure: :func:`plan_namespace`) -> refuse the whole run if any
namespace needs ``force`` -> apply with bounded concurrency -> per-namespace results.

Registry entries that name a ``provider`` (``_providers``) get minted credentials. Per
namespace and per provider entry, :func:`token_status` decides from the Secret's
``registrylink.k8s/providers`` record whether the stored token is still good for longer than
``refresh_before``; only then is it kept. Each provider entry is minted at most once per run,
and only when some namespace needs it, before any write. Semantics of mixed cases are in
``docs/rotate.md``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._bulk import (
    run_bounded, summarize, write_outcome, write_report,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._common import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    content_hash,
    format_rfc3339,
    is_managed,
    parse_duration,
    parse_rfc3339,
    utcnow,
)
from ansible_collections.registrylink.k8s.plugins.module_utils import _dockerconfig as dc
from ansible_collections.registrylink.k8s.plugins.module_utils import _providers
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    ItemsFailed,
    KubernetesAPIError,
    NotFoundError,
    ProviderError,
    RegistryLinkError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient, retry_on_conflict
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._rbac import Needs, check_writes
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import parse_ecr_host, secret_key
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import (
    NamespaceScope,
    require_literal_namespaces,
    validate_metadata,
    validate_selection,
)

TYPE_DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson'
TYPE_DOCKERCFG = 'kubernetes.io/dockercfg'
DATA_KEYS = {TYPE_DOCKERCONFIGJSON: '.dockerconfigjson', TYPE_DOCKERCFG: '.dockercfg'}
EXPIRES_AT_ANNOTATION = 'registrylink.k8s/expires-at'
ISSUED_AT_ANNOTATION = 'registrylink.k8s/issued-at'
PROVIDERS_ANNOTATION = 'registrylink.k8s/providers'
STATIC_KEYS = ('username', 'password', 'auth', 'email')
# Where a static entry that names no credentials takes them from (an AWX credential of the
# collection's credential type injects these; docs/awx.md).
ENV_USERNAME = 'REGISTRYLINK_PULL_USERNAME'
ENV_PASSWORD = 'REGISTRYLINK_PULL_PASSWORD'
_DNS_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


class DesiredSecret(object):
    """What the task asks for, validated. Holds credentials: never return or log it.

    ``config``: the docker config dict to write (``{"auths": {...}}``, or the legacy map);
    ``servers``: the sorted normalised registry keys; ``expires_at``: aware datetime of the
    earliest provider-minted credential, or None for static credentials.

    Provider support (all optional; a static-only secret leaves them at their defaults):
    ``static_entries`` (RegistryEntry list, docker_config imports included), ``provider_specs``
    (ProviderSpec list), ``refresh_before`` (seconds), ``merge`` (bool), ``records`` (the
    provider records of this namespace, list of dicts), ``minted`` (True when this namespace
    gets tokens minted by this run), ``stamp_issued_at`` (a static short-lived token such as ECR's),
    ``now`` (aware datetime of the run).
    """

    def __init__(self, name, secret_type, config, servers, labels, annotations, expires_at=None, **kwargs):
        self.name = name
        self.type = secret_type
        self.config = config
        self.servers = servers
        self.labels = labels
        self.annotations = annotations
        self.expires_at = expires_at
        self.static_entries = kwargs.get('static_entries') or []
        self.provider_specs = kwargs.get('provider_specs') or []
        self.refresh_before = kwargs.get('refresh_before')
        self.merge = bool(kwargs.get('merge'))
        self.records = kwargs.get('records') or []
        self.minted = bool(kwargs.get('minted'))
        self.stamp_issued_at = bool(kwargs.get('stamp_issued_at'))
        self.now = kwargs.get('now')
        self._canonical = None  # (config, canonical form), see canonical_config()

    @property
    def static_keys(self):
        return [e.key for e in self.static_entries]

    def canonical_config(self):
        """``dc.canonical(self.config)``, computed once per config object (a bulk run compares
        the same desired config with every namespace's Secret)."""
        cached = self._canonical
        if cached is None or cached[0] is not self.config:
            cached = (self.config, dc.canonical(self.config))
            self._canonical = cached
        return cached[1]

    def copy_with(self, **changes):
        """A shallow copy with some attributes replaced."""
        new = copy.copy(self)
        for key, value in changes.items():
            setattr(new, key, value)
        return new


class ProviderSpec(object):
    """One registry entry with ``provider``: its index, the provider instance, the normalised
    options (no secrets), their fingerprint and the registry key when known before minting."""

    def __init__(self, index, provider, options, fingerprint, known_server):
        self.index = index
        self.provider = provider
        self.options = options
        self.fingerprint = fingerprint
        self.known_server = known_server

    @property
    def label(self):
        return 'registries[%d] (provider %s)' % (self.index, self.provider.name)


def with_env_credentials(params, environ=None, register_secret=None):
    """``params`` with the credentials of the environment filled into static entries that have none.

    A ``registries`` entry without ``provider`` that gives none of ``username``, ``password`` and
    ``auth`` gets ``REGISTRYLINK_PULL_USERNAME`` and ``REGISTRYLINK_PULL_PASSWORD`` when both are set
    (an entry that gives some of them is left as it is, so a half-given entry still fails validation).
    The password is passed to ``register_secret`` so that no output can show it. Pure apart from that.
    """
    environ = os.environ if environ is None else environ
    username, password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if not username or not password or not params.get('registries'):
        return params
    registries = []
    filled = False
    for reg in params['registries']:
        reg = dict(reg or {})
        if not reg.get('provider') and all(reg.get(k) in (None, '') for k in ('username', 'password', 'auth')):
            reg['username'], reg['password'] = username, password
            filled = True
        registries.append(reg)
    if not filled:
        return params
    if register_secret is not None:
        register_secret(password)
    return dict(params, registries=registries)


def validate_params(params, warn=None, provider_factory=None):
    """Validate the module's parameters without any network access (pure).

    Phases: the Secret's name, selection and metadata; then (state=present) the entries of
    ``docker_config`` and ``registries`` (static or minted by a provider), one per registry key;
    then ``refresh_before`` and the document to write.

    :param params: the module params dict.
    :param warn: callable receiving warning strings (never secrets).
    :param provider_factory: ``(name, field, warn) -> Provider`` (tests); default ``_providers.get_provider``.
    :returns: a DesiredSecret, or None for state=absent.
    :raises ValidationError: naming the field and the fix.
    """
    warn = warn or (lambda msg: None)
    name, labels, refresh_before = _validate_metadata(params)
    if params.get('state') == 'absent':
        return None
    secret_type = params.get('type') or TYPE_DOCKERCONFIGJSON
    imported = []
    if params.get('docker_config') not in (None, '', {}):
        # Registries that `registries` gives credentials for may be helper-only in the import.
        provided = [r.get('server') for r in params.get('registries') or [] if r.get('server')]
        imported, warnings = dc.parse_docker_config(params['docker_config'], provided=provided)
        for w in warnings:
            warn(w)
    static_entries, specs = _registry_entries(params, warn, provider_factory)
    declared_keys = _check_one_per_key(static_entries, specs)
    # registries win over docker_config for the same key
    entries = [e for e in imported if dc.entry_key(e) not in declared_keys] + static_entries
    if not entries and not specs:
        raise ValidationError('state=present needs at least one registry: set registries and/or docker_config',
                              field='registries')
    if specs:
        if refresh_before is None:
            refresh_before = min(s.provider.default_refresh_before for s in specs)
        for spec in specs:
            if spec.options.get('credential_lifetime') == 'never':
                continue  # no expiry: refresh_before does not apply
            if refresh_before >= spec.provider.lifetime:
                warn('refresh_before (%ds) is not shorter than the %dh lifetime of %s tokens: every run mints a '
                     'new token and reports a change' % (refresh_before, spec.provider.lifetime // 3600,
                                                         spec.provider.name))
                break
    config = dc.build_config(entries, legacy=(secret_type == TYPE_DOCKERCFG)) if entries else None
    servers = sorted(set([dc.entry_key(e) for e in entries] + [s.known_server for s in specs if s.known_server]))
    annotations = dict(params.get('annotations') or {})
    stamp = any(e.username == 'AWS' and parse_ecr_host(e.key.split(':')[0]) for e in entries)
    return DesiredSecret(name, secret_type, config, servers, labels, annotations, static_entries=entries,
                         provider_specs=specs, refresh_before=refresh_before, merge=params.get('merge'),
                         stamp_issued_at=stamp)


def absent_provider_specs(params, warn=None, provider_factory=None):
    """For state=absent: the provider entries of ``registries`` whose provider is stateful (their
    credentials at the registry are deleted with the Secrets), validated without network access."""
    warn = warn or (lambda msg: None)
    specs = []
    for index, reg in enumerate(params.get('registries') or []):
        if reg.get('provider') not in (None, ''):
            spec = _provider_spec(index, reg, warn, provider_factory)
            if spec.provider.stateful:
                specs.append(spec)
    return specs


def _validate_metadata(params):
    """``(name, labels, refresh_before)`` after checking the name, the selection, the labels and
    annotations and ``refresh_before`` (both states)."""
    name = params.get('name') or ''
    if len(name) > 253 or not _DNS_SUBDOMAIN_RE.match(name):
        raise ValidationError('name: %r is not a valid Secret name (lowercase RFC 1123 subdomain, at most 253 characters)'
                              % name, field='name')
    validate_selection(params.get('namespaces'), params.get('namespace_selector'), params.get('exclude_namespaces'))
    if params.get('max_concurrent_writes') is not None and params['max_concurrent_writes'] < 1:
        raise ValidationError('max_concurrent_writes must be at least 1', field='max_concurrent_writes')
    for field in ('labels', 'annotations'):
        for key, value in (params.get(field) or {}).items():
            if not isinstance(value, str):
                raise ValidationError('%s: the value of %r must be a string (quote it in YAML)' % (field, key), field=field)
    validate_metadata(params.get('labels'), params.get('annotations'))
    labels = dict(params.get('labels') or {})
    if labels.get(MANAGED_BY_LABEL, MANAGED_BY_VALUE) != MANAGED_BY_VALUE:
        raise ValidationError('labels: %s is set by this collection and cannot be overridden' % MANAGED_BY_LABEL,
                              field='labels')
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    refresh_before = None
    if params.get('refresh_before') not in (None, ''):
        refresh_before = parse_duration(params['refresh_before'], field='refresh_before')
    return name, labels, refresh_before


def _registry_entries(params, warn, provider_factory):
    """``(static_entries, provider_specs)`` from ``registries``."""
    static_entries = []
    specs = []
    for index, reg in enumerate(params.get('registries') or []):
        if reg.get('provider') not in (None, ''):
            specs.append(_provider_spec(index, reg, warn, provider_factory))
            continue
        stray = [k for k in _providers.option_names() if reg.get(k) not in (None, '')]
        if stray:
            one = len(stray) == 1
            raise ValidationError('registries[%d]: %s only appl%s to an entry with a provider (for example provider: '
                                  'ecr); remove %s, or set provider'
                                  % (index, ', '.join(stray), 'ies' if one else 'y', 'it' if one else 'them'),
                                  field='registries')
        entry, warnings = _entry_from_registry(index, reg)
        for w in warnings:
            warn(w)
        static_entries.append(entry)
    return static_entries, specs


def _check_one_per_key(static_entries, specs):
    """Refuse two entries of ``registries`` for one registry key; returns ``{key: server as given}``."""
    declared_keys = {}
    for entry in static_entries:
        key = dc.entry_key(entry)
        if key in declared_keys:
            raise ValidationError(
                'registries: %r and %r both normalise to the registry key %r; list each registry once'
                % (declared_keys[key], dc.entry_server(entry), key), field='registries')
        declared_keys[key] = dc.entry_server(entry)
    seen_specs = {}
    for spec in specs:
        if spec.known_server and spec.known_server in declared_keys:
            raise ValidationError('registries[%d]: provider %s would write the registry key %s, which another entry '
                                  'lists with static credentials; list each registry once'
                                  % (spec.index, spec.provider.name, spec.known_server), field='registries')
        for other in seen_specs.values():
            if other.fingerprint == spec.fingerprint or (spec.known_server and spec.known_server == other.known_server):
                raise ValidationError('registries[%d] and registries[%d] name the same provider registry; list each '
                                      'registry once' % (other.index, spec.index), field='registries')
        seen_specs[spec.index] = spec
    return declared_keys


def _entry_from_registry(index, reg):
    try:
        return dc.entry_from_params(reg)
    except ValidationError as exc:
        raise ValidationError('registries[%d]: %s' % (index, exc.msg), field='registries')


def _provider_spec(index, reg, warn, provider_factory):
    prefix = 'registries[%d]' % index
    name = reg.get('provider')

    def provider_warn(msg):
        warn('%s: %s' % (prefix, msg))

    if provider_factory is not None:
        provider = provider_factory(name, field='%s.provider' % prefix, warn=provider_warn)
    else:
        provider = _providers.get_provider(name, field='%s.provider' % prefix, warn=provider_warn)
    static = [k for k in STATIC_KEYS if reg.get(k) not in (None, '')]
    if static:
        raise ValidationError('%s: provider %s mints the credentials; remove %s from this entry'
                              % (prefix, provider.name, ', '.join(static)), field='registries')
    foreign = [k for k in _providers.option_names() if k not in provider.options and reg.get(k) not in (None, '')]
    if foreign:
        raise ValidationError('%s: %s %s not an option of provider %s (its options: %s)'
                              % (prefix, ', '.join(foreign), 'is' if len(foreign) == 1 else 'are', provider.name,
                                 ', '.join(('server',) + tuple(provider.options))), field='registries')
    raw = dict((k, reg.get(k)) for k in ('server',) + tuple(provider.options))
    try:
        options = provider.validate(raw)
    except ValidationError as exc:
        raise ValidationError('%s.%s' % (prefix, exc.msg), field='registries')
    return ProviderSpec(index, provider, options,
                        _providers.options_fingerprint(provider.name, options, provider.secret_options),
                        provider.known_server(options))


def _decode(secret):
    """Decode an existing Secret's docker config; returns (config or None, error message or None)."""
    stype = secret.get('type')
    data = secret.get('data') or {}
    key = DATA_KEYS.get(stype)
    if key is None:
        return None, 'type %s' % stype
    raw = data.get(key)
    if raw is None:
        return None, 'no %s key' % key
    try:
        return dc.decode_secret(stype, data), None
    except (ValidationError, ValueError) as exc:
        return None, str(getattr(exc, 'msg', exc))


def load_records(text):
    """Parse the ``registrylink.k8s/providers`` annotation: a JSON list of ``{server, provider, options,
    expires_at}`` plus, for ``acr_token``, ``slot`` and ``issued_at`` (the password slot the Secret holds and its
    creation time as the registry reported it) and, for stateful providers, ``credential`` (``{id, name}`` of the credential object at
    the registry; the id is an integer or a string). ``expires_at`` is null only for a stateful credential that
    never expires (a Harbor robot with ``credential_lifetime: never``). Anything unreadable yields [] (the tokens
    are then treated as unrecorded)."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ('server', 'provider', 'options'))
                and (parse_rfc3339(item.get('expires_at')) is not None
                     or item.get('expires_at', '') is None and isinstance(item.get('credential'), dict))):
            record = dict((k, item[k]) for k in ('server', 'provider', 'options', 'expires_at'))
            # secret-free extras of some providers (acr_token: the password slot and when it was created)
            if isinstance(item.get('slot'), str) and item['slot']:
                record['slot'] = item['slot']
            if parse_rfc3339(item.get('issued_at')) is not None:
                record['issued_at'] = item['issued_at']
            ref = item.get('credential')
            ident = ref.get('id') if isinstance(ref, dict) else None
            if ((isinstance(ident, int) and not isinstance(ident, bool) or isinstance(ident, str) and ident)
                    and isinstance(ref.get('name'), str)):
                record['credential'] = {'id': ref['id'], 'name': ref['name']}
            elif record['expires_at'] is None:
                continue  # only a credential object at the registry may never expire
            out.append(record)
    return out


def dump_records(records):
    """Serialise provider records deterministically (sorted by server, sorted keys, compact)."""
    ordered = sorted(records, key=lambda r: (r['server'], r['options']))
    return json.dumps(ordered, sort_keys=True, separators=(',', ':'))


def finite_expiries(records):
    """The expiries (aware datetimes) of the records that have one (a never-expiring credential has none)."""
    return [parse_rfc3339(r['expires_at']) for r in records if r.get('expires_at') is not None]


def _expiry_sort_key(record):
    """Sort key: a never-expiring record after every dated one."""
    return (record['expires_at'] or '9999-12-31T23:59:59Z', record['credential']['id'])


def format_time_left(seconds):
    """``11h59m``, ``45m``, ``-2h03m`` (expired): a short human form of a number of seconds."""
    seconds = int(seconds)
    sign = '-' if seconds < 0 else ''
    seconds = abs(seconds)
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    if hours:
        return '%s%dh%02dm' % (sign, hours, minutes)
    return '%s%dm' % (sign, minutes)


def token_status(existing, desired, now):
    """Decide, per provider entry, whether an existing Secret's token can be kept (pure).

    A token is kept ("fresh") when the Secret's provider record names the same provider and
    options (fingerprint), the record's expiry is more than ``desired.refresh_before`` seconds
    away, and the recorded registry key still holds credentials in the Secret. The Secret-level
    ``registrylink.k8s/expires-at`` must be present; when it is earlier than every record (set
    back by hand) it counts for every record.

    :returns: dict spec index -> ``{fresh, reason, record, raw}``; ``raw`` is the stored entry
        (holds a secret) of a fresh token, ``reason`` says why a stale one must be minted again.
    """
    out = {}
    meta = (existing or {}).get('metadata') or {}
    annotations = meta.get('annotations') or {}
    loaded = load_records(annotations.get(PROVIDERS_ANNOTATION))
    records = dict((r['options'], r) for r in loaded)
    # The Secret-level expiry is the earliest record; one set earlier than that by hand (to force a
    # refresh) applies to every record, and a missing one means "no expiry recorded".
    secret_expiry = parse_rfc3339(annotations.get(EXPIRES_AT_ANNOTATION))
    finite = finite_expiries(loaded)
    override = None
    if loaded and secret_expiry is not None and (not finite or secret_expiry < min(finite)):
        override = secret_expiry
    inner = None
    for spec in desired.provider_specs:
        status = {'fresh': False, 'reason': None, 'record': None, 'raw': None}
        out[spec.index] = status
        if existing is None:
            status['reason'] = 'no secret yet'
            continue
        record = records.get(spec.fingerprint)
        if record is None:
            status['reason'] = ('no token recorded for this provider entry' if not records
                                else 'the provider entry changed since the token was minted')
            continue
        if secret_expiry is None and record['expires_at'] is not None:
            status['reason'] = 'no expiry recorded (annotation %s missing or unreadable)' % EXPIRES_AT_ANNOTATION
            continue
        if inner is None:
            inner = dc.auths_map(_decode(existing)[0])
        raw = inner.get(record['server'])
        if not isinstance(raw, dict) or not (raw.get('password') or raw.get('auth')):
            status['reason'] = 'the recorded registry key %s holds no credentials' % record['server']
            continue
        expiry = parse_rfc3339(record['expires_at'])  # None: the credential never expires
        if override is not None:
            expiry = min(expiry, override) if expiry is not None else override
        if expiry is None:
            status.update(fresh=True, record=dict(record), raw=copy.deepcopy(raw))
            continue
        left = (expiry - now).total_seconds()
        if left <= 0:
            status['reason'] = 'expired %s ago' % format_time_left(-left)
            continue
        if left <= desired.refresh_before:
            status['reason'] = 'expires in %s, within refresh_before (%s)' % (
                format_time_left(left), format_time_left(desired.refresh_before))
            continue
        status.update(fresh=True, record=dict(record), raw=copy.deepcopy(raw))
    return out


def shared_status(status, state):
    """A namespace's token status for a stateful provider entry, given the run's decision ``state``
    (see ``RegistrySecretRunner._credential_state``; pure): the shared credential counts as fresh in
    every namespace; a namespace's own fresh record whose credential failed the check is stale."""
    if state.get('shared'):
        record, raw = state['shared']
        return {'fresh': True, 'reason': None, 'record': dict(record), 'raw': copy.deepcopy(raw)}
    if status.get('fresh'):
        return {'fresh': False, 'reason': state.get('reason') or 'the recorded credential cannot be reused',
                'record': None, 'raw': None}
    return status


def desired_for_namespace(desired, statuses, mint):
    """The DesiredSecret of one namespace: static entries plus, per provider entry, the kept
    token (fresh) or a newly minted one (``mint(spec) -> (RegistryEntry, record)``)."""
    legacy = desired.type == TYPE_DOCKERCFG
    inner = {}
    for entry in desired.static_entries:
        inner[entry.key] = entry.to_config_entry()
    records = []
    minted = False
    for spec in desired.provider_specs:
        status = statuses[spec.index]
        if status['fresh']:
            record, value = status['record'], status['raw']
        else:
            entry, record = mint(spec)
            value = entry.to_config_entry()
            minted = True
        if record['server'] in inner:
            raise ValidationError('%s: the token is for the registry key %s, which another entry lists as well; '
                                  'list each registry once' % (spec.label, record['server']), field='registries')
        inner[record['server']] = value
        records.append(record)
    config = inner if legacy else {'auths': inner}
    expires = finite_expiries(records)
    return desired.copy_with(config=config, records=records, minted=minted,
                             servers=sorted(inner), expires_at=min(expires) if expires else None)


def describe(secret_type, config, labels=None, annotations=None):
    """A secret-free view of a docker config for diffs and results.

    :returns: dict with ``type``, ``servers`` (key -> username and redacted markers),
        ``content_hash`` (fingerprint of the serialised config), and the given labels/annotations.
    """
    if config is None:
        return {}
    view = {'type': secret_type, 'servers': dc.redacted_view(config),
            'content_hash': content_hash(dc.serialize_config(config))}
    if labels is not None:
        view['labels'] = dict(sorted(labels.items()))
    if annotations is not None:
        view['annotations'] = dict(sorted(annotations.items()))
    return view


def conflict_reason(existing, desired_type, state, force):
    """Why a namespace's existing Secret needs ``force`` (None when it does not). Pure."""
    if existing is None or force:
        return None
    if not is_managed(existing.get('metadata')):
        return ('secret exists but was not created by registrylink.k8s (no label %s=%s); set force=true to %s'
                % (MANAGED_BY_LABEL, MANAGED_BY_VALUE, 'delete it' if state == 'absent' else 'take it over'))
    if state != 'absent' and existing.get('type') != desired_type:
        return ('secret exists with type %s, not %s; the API forbids changing the type in place: '
                'set force=true to delete and recreate it' % (existing.get('type'), desired_type))
    return None


def plan_namespace(namespace, existing, desired, state, merge=False, force=False):
    """Decide what to do in one namespace (pure).

    :param existing: the current Secret as a dict (from the API), or None.
    :param desired: DesiredSecret (state=present) or None.
    :returns: dict ``{namespace, action, reason, body, before, after}``; ``action`` is one of
        create, update, recreate, unchanged, delete, absent, conflict. ``body`` is the object to write
        (holds credentials: never returned). ``before``/``after`` are secret-free views.
    """
    plan = {'namespace': namespace, 'action': None, 'reason': None, 'body': None,
            'before': {}, 'after': {}}
    current_config = None
    if existing is not None:
        meta = existing.get('metadata') or {}
        current_config, _err = _decode(existing)  # decoded once, used for the view and the comparison
        plan['before'] = describe(existing.get('type'), current_config, meta.get('labels') or {},
                                  meta.get('annotations') or {}) or {'type': existing.get('type')}
    reason = conflict_reason(existing, desired.type if desired is not None else None, state, force)
    if state == 'absent':
        if existing is None:
            plan['action'] = 'absent'
        elif reason:
            plan['action'] = 'conflict'
            plan['reason'] = reason
        else:
            plan['action'] = 'delete'
        return plan

    if existing is None:
        annotations = _annotations(desired, {}, desired.config, content_changed=True)
        plan['action'] = 'create'
        plan['body'] = _body(namespace, desired, None, annotations=annotations)
        plan['after'] = describe(desired.type, desired.config, desired.labels, annotations)
        return plan

    meta = existing.get('metadata') or {}
    if reason:
        plan['action'] = 'conflict'
        plan['reason'] = reason
        return plan
    if existing.get('type') != desired.type:
        annotations = _annotations(desired, {}, desired.config, content_changed=True)
        plan['action'] = 'recreate'
        plan['body'] = _body(namespace, desired, None, annotations=annotations)
        plan['after'] = describe(desired.type, desired.config, desired.labels, annotations)
        return plan

    config = desired.config
    if merge and current_config is not None:
        config = dc.merge_configs(current_config, desired.config, merge=True)
    labels = dict(meta.get('labels') or {})
    labels.update(desired.labels)
    wanted = desired.canonical_config() if config is desired.config else dc.canonical(config)
    same_content = current_config is not None and dc.canonical(current_config) == wanted
    annotations = _annotations(desired, meta.get('annotations') or {}, config, content_changed=not same_content)
    same_meta = labels == (meta.get('labels') or {}) and annotations == (meta.get('annotations') or {})
    if same_content and same_meta:
        plan['action'] = 'unchanged'
        plan['after'] = plan['before']
        return plan
    effective = desired.copy_with(config=config, labels=labels, annotations=annotations)
    plan['action'] = 'update'
    plan['body'] = _body(namespace, effective, existing)
    plan['after'] = describe(desired.type, config, labels, annotations)
    return plan


def _annotations(desired, current, config, content_changed):
    """The annotations to write: the current ones, the task's, and the provider bookkeeping.

    ``registrylink.k8s/providers`` lists a record per provider-minted registry key (with
    ``merge``, records of keys this task does not declare are kept while the key stays in the
    Secret); ``registrylink.k8s/expires-at`` is the earliest recorded expiry; both are removed
    when no record remains. ``registrylink.k8s/issued-at`` is the time of the last mint, or of the
    last write of a static ECR token (valid 12 hours); it is removed when the Secret holds neither.
    """
    annotations = dict(current)
    annotations.update(desired.annotations)
    records = []
    if desired.merge:
        ours = set(r['server'] for r in desired.records) | set(desired.static_keys)
        keys = set(dc.auths_map(config))
        records = [r for r in load_records(current.get(PROVIDERS_ANNOTATION))
                   if r['server'] in keys and r['server'] not in ours]
    records = records + list(desired.records)
    if records:
        annotations[PROVIDERS_ANNOTATION] = dump_records(records)
        if finite_expiries(records):
            annotations[EXPIRES_AT_ANNOTATION] = format_rfc3339(min(finite_expiries(records)))
        else:  # every credential never expires
            annotations.pop(EXPIRES_AT_ANNOTATION, None)
    else:
        annotations.pop(PROVIDERS_ANNOTATION, None)
        annotations.pop(EXPIRES_AT_ANNOTATION, None)
    if desired.minted or (desired.stamp_issued_at and content_changed):
        annotations[ISSUED_AT_ANNOTATION] = format_rfc3339(desired.now or utcnow())
    elif not records and not desired.stamp_issued_at:
        annotations.pop(ISSUED_AT_ANNOTATION, None)
    return annotations


def _body(namespace, desired, existing, annotations=None):
    meta = {'name': desired.name, 'namespace': namespace}
    if existing is not None:
        old = existing.get('metadata') or {}
        meta['resourceVersion'] = old.get('resourceVersion')
        meta['labels'] = dict(desired.labels)
        meta['annotations'] = dict(desired.annotations)
    else:
        meta['labels'] = dict(desired.labels)
        meta['annotations'] = dict(annotations if annotations is not None else desired.annotations)
    payload = dc.serialize_config(desired.config)
    return {
        'apiVersion': 'v1',
        'kind': 'Secret',
        'metadata': meta,
        'type': desired.type,
        'data': {DATA_KEYS[desired.type]: base64.b64encode(payload).decode('ascii')},
    }


#: The requests each planned action makes (``update`` re-reads the Secret after a 409).
WRITE_REQUESTS = {'create': ('create',), 'update': ('update', 'get'), 'recreate': ('delete', 'create'),
                  'delete': ('delete',)}


def write_needs(plans):
    """The rights the planned writes need (``_rbac.Needs``): verb on ``secrets`` per namespace."""
    needs = Needs()
    for plan in plans:
        for verb in WRITE_REQUESTS.get(plan['action'], ()):
            needs.add(verb, 'secrets', plan['namespace'])
    return needs


class RegistrySecretRunner(Runner):
    """Apply registry_secret across a namespace selection; see the module docs for the contract."""

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, kube=None,
                 provider_factory=None, now=None):
        super(RegistrySecretRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.kube = kube
        self.provider_factory = provider_factory
        self.now = now
        self.mint_count = 0

    def run(self):
        """Validate, plan and apply. :returns: the module result dict (never holds a secret)."""
        self.params = with_env_credentials(self.params, register_secret=self.register_secret)
        params = self.params
        state = params.get('state') or 'present'
        desired = validate_params(params, warn=self.warn, provider_factory=self.provider_factory)
        absent_specs = []
        if desired is None:
            absent_specs = absent_provider_specs(params, warn=self.warn, provider_factory=self.provider_factory)
        stateful = [s for s in (desired.provider_specs if desired is not None else absent_specs)
                    if s.provider.stateful]
        now = self.now or utcnow()
        if desired is not None:
            desired.now = now
        self._desired = desired
        if self.kube is None:
            self.kube = KubeClient.from_params(params, pool_size=params.get('max_concurrent_writes') or 16)
        kube = self.kube
        if stateful:
            owner = '%s@%s' % (params['name'], self._cluster_uid(sorted(set(s.provider.name for s in stateful))))
            for spec in stateful:
                spec.options['owner'] = owner
        scope = NamespaceScope(kube, params.get('namespaces'), params.get('namespace_selector'),
                               params.get('exclude_namespaces'), warn=self.warn)
        selection = scope.resolve()
        if state == 'present':
            require_literal_namespaces(selection, params.get('namespaces'))
        namespaces = selection['selected']
        secrets = scope.list('secrets', kube.core.list_secret_for_all_namespaces, kube.core.list_namespaced_secret,
                             field_selector='metadata.name=%s' % params['name'])
        existing_by_ns = dict(((s.get('metadata') or {}).get('namespace'), s) for s in secrets)
        if desired is not None and desired.provider_specs:
            plans = self._plan_with_providers(namespaces, existing_by_ns, desired, now)
        else:
            plans = [plan_namespace(ns, existing_by_ns.get(ns), desired, state, merge=params.get('merge'),
                                    force=params.get('force'))
                     for ns in namespaces]
        conflicts = [p for p in plans if p['action'] == 'conflict']
        if conflicts:
            results = [self._result(p, failed=(p['action'] == 'conflict'), skipped=(p['action'] != 'conflict'))
                       for p in plans]
            raise RegistryLinkError(
                'nothing was changed: %d namespace(s) need force=true: %s' % (
                    len(conflicts), '; '.join('%s: %s' % (p['namespace'], p['reason']) for p in conflicts[:10])),
                results=results, summary=summarize(results), failed_namespaces=[p['namespace'] for p in conflicts])

        outcomes = {}
        to_write = [p for p in plans if p['action'] in ('create', 'update', 'recreate', 'delete')]
        if not self.check_mode or params.get('check_rights'):
            # check_rights: a check-mode pass of a role asks too, so that the role fails before its first write
            check_writes(kube, write_needs(to_write), 'registry_secret', warn=self.warn)
        if not self.check_mode:
            for plan, _res, exc in run_bounded(self._apply, to_write, params.get('max_concurrent_writes') or 16):
                if exc is not None:
                    outcomes[plan['namespace']] = exc
        results = []
        for plan in plans:
            exc = outcomes.get(plan['namespace'])
            results.append(self._result(plan, error=exc))
        failed = [r['namespace'] for r in results if r['action'] == 'failed']
        changed = any(r['action'] in ('created', 'updated', 'deleted') for r in results)
        credentials = None
        if stateful:
            credentials = self._settle_credentials(stateful, namespaces, existing_by_ns, bool(failed) or bool(outcomes),
                                                   partial_view=scope.namespaced)
            changed = changed or any(c['action'] in ('created', 'rotated', 'deleted') for c in credentials)
        servers = desired.servers if desired is not None else []
        if desired is not None and desired.provider_specs:
            servers = sorted(set(servers).union(*[p['desired'].servers for p in plans if p.get('desired')]))
        result = {
            'changed': changed,
            'results': results,
            'summary': summarize(results),
            'servers': servers,
            'namespaces': namespaces,
        }
        if credentials is not None:
            result['credentials'] = credentials
        expiries = [r['expires_at'] for r in results if r.get('expires_at')]
        if expiries:
            result['expires_at'] = min(expiries)
        diffs = [{'before_header': '%s/%s' % (p['namespace'], params['name']),
                  'after_header': '%s/%s' % (p['namespace'], params['name']),
                  'before': p['before'], 'after': p['after'] if p['action'] not in ('delete',) else {}}
                 for p in plans if p['action'] not in ('unchanged', 'absent')]
        result['diff'] = diffs
        if failed:
            result['failed_namespaces'] = failed
            result['write_outcomes'] = write_report(results, lambda r: r['namespace'],
                                                    ('created', 'updated', 'deleted'))
            raise ItemsFailed('%d namespace(s) failed: %s' % (len(failed), '; '.join(
                '%s: %s' % (r['namespace'], r.get('msg')) for r in results if r['action'] == 'failed')[:2000]),
                **result)
        return result

    def _apply(self, plan):
        kube = self.kube
        ns = plan['namespace']
        name = self.params['name']
        action = plan['action']
        pending = {'body': plan['body']}
        if action == 'create':
            try:
                kube.call('create', 'secrets', kube.core.create_namespaced_secret, namespace=ns, body=plan['body'])
                return action
            except ConflictError:
                # AlreadyExists: another writer (an overlapping run) created it since the LIST; re-read it
                # and bring it to this task's content with its resourceVersion, like any update.
                pending.pop('body')
                action = 'update'
        if action == 'update':
            def attempt():
                body = pending.pop('body', None)
                if body is None:
                    # 409: someone wrote in between; re-read and re-plan this one namespace.
                    current = kube.call('get', 'secrets', kube.core.read_namespaced_secret, namespace=ns, name=name)
                    replan = plan_namespace(ns, current, plan.get('desired') or self._desired, 'present',
                                            merge=self.params.get('merge'), force=self.params.get('force'))
                    if replan['action'] == 'unchanged':
                        return  # the other writer wrote exactly this content
                    if replan['action'] != 'update':
                        raise ConflictError('secret changed while being updated: now needs %s' % replan['action'])
                    body = replan['body']
                kube.call('update', 'secrets', kube.core.replace_namespaced_secret, namespace=ns, name=name, body=body)

            retry_on_conflict(attempt)
        elif action == 'recreate':
            kube.call('delete', 'secrets', kube.core.delete_namespaced_secret, namespace=ns, name=name)
            kube.call('create', 'secrets', kube.core.create_namespaced_secret, namespace=ns, body=plan['body'])
        elif action == 'delete':
            try:
                kube.call('delete', 'secrets', kube.core.delete_namespaced_secret, namespace=ns, name=name)
            except NotFoundError:
                pass
        return action

    def _plan_with_providers(self, namespaces, existing_by_ns, desired, now):
        """Plans for a task with provider entries: refuse before minting when any namespace needs
        force; otherwise decide per namespace which tokens to keep, mint each provider entry at most
        once (only when some namespace needs it), and plan with the namespace's own DesiredSecret."""
        params = self.params
        force = params.get('force')
        reasons = dict((ns, conflict_reason(existing_by_ns.get(ns), desired.type, 'present', force))
                       for ns in namespaces)
        if any(reasons.values()):
            plans = []
            for ns in namespaces:
                existing = existing_by_ns.get(ns)
                plan = {'namespace': ns, 'action': 'conflict' if reasons[ns] else 'skipped', 'reason': reasons[ns],
                        'body': None, 'before': {}, 'after': {'servers': dict((k, {}) for k in desired.servers)}}
                if existing is not None:
                    plan['before'] = {'type': existing.get('type')}
                plans.append(plan)
            return plans
        minted = {}

        def mint(spec):
            if spec.index not in minted:
                minted[spec.index] = self._mint(spec, desired, now)
            return minted[spec.index]

        self._stateful = {}
        for spec in desired.provider_specs:
            if spec.provider.stateful:
                self._stateful[spec.index] = self._credential_state(spec, existing_by_ns, desired, now)

        self._records = {}
        dead = {}
        for spec in desired.provider_specs:
            if spec.provider.uses_records:
                self._records[spec.index] = self._recorded(spec, existing_by_ns)
                fresh = any(token_status(existing_by_ns.get(ns), desired, now)[spec.index]['fresh'] for ns in namespaces)
                if fresh and self._records[spec.index]:
                    try:
                        dead[spec.index] = spec.provider.check_records(spec.options, self._records[spec.index], now)
                    except ProviderError as exc:
                        raise ProviderError('%s: %s' % (spec.label, exc.msg), **exc.details)

        plans = []
        for ns in namespaces:
            existing = existing_by_ns.get(ns)
            statuses = token_status(existing, desired, now)
            for index, state in self._stateful.items():
                statuses[index] = shared_status(statuses[index], state)
            for index, reason in dead.items():
                if reason and statuses[index]['fresh']:
                    statuses[index] = {'fresh': False, 'reason': reason, 'record': None, 'raw': None}
            ns_desired = desired_for_namespace(desired, statuses, mint)
            plan = plan_namespace(ns, existing, ns_desired, 'present', merge=params.get('merge'), force=force)
            plan['desired'] = ns_desired
            token = {'refreshed': not all(s['fresh'] for s in statuses.values()),
                     'expires_at': None, 'expires_in': None, 'time_left': 'never'}
            if ns_desired.expires_at is not None:
                left = (ns_desired.expires_at - now).total_seconds()
                token.update(expires_at=format_rfc3339(ns_desired.expires_at), expires_in=int(left),
                             time_left=format_time_left(left))
            stale = [s['reason'] for s in statuses.values() if not s['fresh']]
            if stale:
                token['refresh_reason'] = stale[0]
            plan['token'] = token
            plans.append(plan)
        return plans

    def _cluster_uid(self, providers=()):
        """The UID of the ``kube-system`` namespace: a stable identity of the cluster.

        One LIST of namespaces with the field selector ``metadata.name=kube-system``; when RBAC denies
        it (namespaced mode), one GET of ``namespaces/kube-system``, which a ClusterRole can grant for
        that one name. When both are denied the error names the right and how to grant it.
        """
        kube = self.kube
        try:
            items = kube.list_all('namespaces', kube.core.list_namespace, field_selector='metadata.name=kube-system')
        except KubernetesAPIError as exc:
            if exc.details.get('status') != 403:
                raise
            try:
                items = [kube.call('get', 'namespaces', kube.core.read_namespace, name='kube-system')]
            except KubernetesAPIError as inner:
                if inner.details.get('status') != 403:
                    raise
                raise KubernetesAPIError(
                    'forbidden: provider %s records the cluster\'s identity, the UID of namespace kube-system, as the '
                    'owner of the credentials it mints at the registry, and these credentials may neither list '
                    'namespaces cluster-wide nor get namespaces/kube-system (namespaced mode). Grant get on '
                    'namespaces/kube-system: a ClusterRole with the rule {apiGroups: [""], resources: [namespaces], '
                    'resourceNames: [kube-system], verbs: [get]} bound with a ClusterRoleBinding, for example '
                    '"kubectl create clusterrole registrylink-cluster-identity --verb=get --resource=namespaces '
                    '--resource-name=kube-system" and "kubectl create clusterrolebinding registrylink-cluster-identity '
                    '--clusterrole=registrylink-cluster-identity --serviceaccount=<namespace>:<name>" '
                    '(docs/reliability.md, "Namespaced mode"). API server said: %s'
                    % (', '.join(providers) or 'of this entry', inner.msg.rsplit('API server said: ', 1)[-1]),
                    status=403, reason='Forbidden', verb='get', resource='namespaces', name='kube-system')
        uid = ((items[0].get('metadata') or {}).get('uid') if items and items[0] else None)
        if not uid:
            raise ProviderError('cannot read the UID of namespace kube-system, which names the cluster in the '
                                'ownership record of minted credentials')
        return uid

    def _credential_state(self, spec, existing_by_ns, desired, now):
        """Decide, for one stateful provider entry, which credential this run uses (reads only).

        Every managed Secret of this name in the cluster is looked at, selected or not: the newest
        fresh record (see :func:`token_status`) whose credential still passes the provider's
        ``check`` is shared by every namespace (no mint). Otherwise the newest recorded credential
        is the one to rotate (``current``; the provider creates a new one when it is gone).
        :returns: dict ``{shared: (record, raw) or None, current: ref or None, reason, action, used}``.
        """
        fresh = []
        recorded = []
        for secret in existing_by_ns.values():
            if not is_managed(secret.get('metadata')):
                continue
            annotations = (secret.get('metadata') or {}).get('annotations') or {}
            for record in load_records(annotations.get(PROVIDERS_ANNOTATION)):
                if record['options'] == spec.fingerprint and record.get('credential'):
                    recorded.append(record)
            status = token_status(secret, desired, now).get(spec.index) or {}
            if status.get('fresh') and status['record'].get('credential'):
                fresh.append((status['record'], status['raw']))
        state = {'shared': None, 'current': None, 'reason': None, 'action': None, 'used': None}
        if fresh:
            fresh.sort(key=lambda item: _expiry_sort_key(item[0]), reverse=True)
            record, raw = fresh[0]
            reason = spec.provider.check(spec.options, record['credential'], now)
            if reason is None:
                state.update(shared=(record, raw), current=record['credential'], action='kept',
                             used=record['credential'])
                return state
            state['reason'] = reason
        if recorded:
            recorded.sort(key=_expiry_sort_key, reverse=True)
            state['current'] = recorded[0]['credential']
        return state

    def _settle_credentials(self, specs, selected, existing_by_ns, failed, partial_view=False):
        """After the writes: report the credential each stateful entry uses, and delete the ones this
        Secret's owner minted that no Secret uses any more (only when every write succeeded; a
        credential still named by a Secret outside the selection is kept). Check mode only reports.
        With ``partial_view`` (namespaced mode: Secrets outside the selection cannot be read) nothing
        is deleted: whether another namespace still uses a credential is unknown (fail closed)."""
        selected = set(selected)
        outside = set()
        for ns, secret in existing_by_ns.items():
            if ns in selected:
                continue
            annotations = (secret.get('metadata') or {}).get('annotations') or {}
            for record in load_records(annotations.get(PROVIDERS_ANNOTATION)):
                if record.get('credential'):
                    outside.add((record['provider'], record['credential']['id']))
        out = []
        for spec in specs:
            state = getattr(self, '_stateful', {}).get(spec.index) or {}
            base = {'provider': spec.provider.name, 'server': spec.known_server}
            used = state.get('used')
            if used:
                out.append(dict(base, name=used['name'], id=used['id'], action=state['action']))
            if failed:
                self.warn('%s: some namespaces failed, so no credential of this entry is deleted at the registry in '
                          'this run' % spec.label)
                continue
            if partial_view:
                self.warn('%s: in namespaced mode the Secrets outside the selected namespaces cannot be read, so no '
                          'credential this Secret minted is deleted at the registry (one may still be in use there)'
                          % spec.label)
                continue
            for ref in spec.provider.owned(spec.options):
                if used and ref['id'] == used['id']:
                    continue
                entry = dict(base, name=ref['name'], id=ref['id'])
                if (spec.provider.name, ref['id']) in outside:
                    entry.update(action='kept', msg='still named by a Secret outside the selected namespaces')
                    out.append(entry)
                    continue
                if not self.check_mode:
                    spec.provider.retire(spec.options, ref)
                entry['action'] = 'deleted'
                out.append(entry)
            if used and state.get('action') == 'rotated':
                users = sorted(ns for ns, secret in existing_by_ns.items() if ns not in selected and any(
                    r.get('credential', {}).get('id') == used['id'] for r in load_records(
                        ((secret.get('metadata') or {}).get('annotations') or {}).get(PROVIDERS_ANNOTATION))))
                if users:
                    self.warn('%s: the secret of %s was rotated; the Secrets %s in namespaces outside the selection '
                              '(%s) still hold the old one, which stopped working: include them in namespaces'
                              % (spec.label, used['name'], self.params['name'], ', '.join(users[:10])))
        return out

    def _mint(self, spec, desired, now):
        """Mint one provider entry: returns (RegistryEntry, record). Raises ProviderError / ValidationError.

        A stateful provider rotates the entry's current credential (or creates one); in check mode it
        only previews (no write at the registry), with a placeholder password that is never written.
        """
        state = getattr(self, '_stateful', {}).get(spec.index)
        try:
            kwargs = {}
            if spec.provider.uses_records:
                kwargs['records'] = getattr(self, '_records', {}).get(spec.index) or []
            if state is None and self.check_mode and spec.provider.mint_writes:
                creds = spec.provider.preview_mint(spec.options, now, **kwargs)  # minting would write at the vendor
            elif state is None:
                creds = spec.provider.mint(spec.options, now, **kwargs)
            elif self.check_mode:
                creds = spec.provider.preview(spec.options, state['current'])
                creds.password = '(minted when not in check mode)'
            else:
                creds = spec.provider.mint(spec.options, now, current=state['current'])
        except ValidationError as exc:
            raise ValidationError('%s: %s' % (spec.label, exc.msg), field='registries')
        except ProviderError as exc:
            raise ProviderError('%s: %s' % (spec.label, exc.msg), **exc.details)
        self.mint_count += 1
        if creds.password and not (self.check_mode and (state is not None or spec.provider.mint_writes)):
            self.register_secret(creds.password)
        if state is not None:
            current = state['current']
            state['used'] = creds.ref
            state['action'] = 'rotated' if (creds.ref and current and creds.ref['id'] == current['id']) else 'created'
        key = secret_key(creds.server)[0]
        if key in desired.static_keys:
            raise ValidationError('%s: the token is for the registry key %s, which another entry lists with static '
                                  'credentials; list each registry once' % (spec.label, key), field='registries')
        entry = dc.RegistryEntry(creds.server, key, creds.username, creds.password)
        record = {'server': key, 'provider': spec.provider.name, 'options': spec.fingerprint,
                  'expires_at': format_rfc3339(creds.expires_at) if creds.expires_at is not None else None}
        if creds.ref:
            record['credential'] = {'id': creds.ref['id'], 'name': creds.ref['name']}
        if creds.record:
            record.update(creds.record)
        return entry, record

    def _recorded(self, spec, existing_by_ns):
        """This entry's provider records on every managed Secret of this name, the newest ``issued_at`` first."""
        out = []
        for secret in existing_by_ns.values():
            if not is_managed(secret.get('metadata')):
                continue
            annotations = (secret.get('metadata') or {}).get('annotations') or {}
            out.extend(r for r in load_records(annotations.get(PROVIDERS_ANNOTATION))
                       if r['options'] == spec.fingerprint and r['provider'] == spec.provider.name)
        out.sort(key=lambda r: parse_rfc3339(r.get('issued_at')) or parse_rfc3339('1970-01-01T00:00:00Z'), reverse=True)
        return out

    def _result(self, plan, error=None, failed=False, skipped=False):
        mapping = {'create': 'created', 'update': 'updated', 'recreate': 'updated', 'delete': 'deleted',
                   'unchanged': 'unchanged', 'absent': 'absent', 'conflict': 'failed'}
        res = {'namespace': plan['namespace'], 'name': self.params['name'],
               'action': mapping.get(plan['action'], plan['action']),
               'servers': sorted((plan['after'] or plan['before'] or {}).get('servers', {}).keys())}
        if plan['action'] == 'recreate':
            res['recreated'] = True
        if plan['reason'] and plan['action'] == 'conflict':
            res['msg'] = plan['reason']
        if plan.get('token') and not skipped:
            res.update(plan['token'])
        if skipped:
            res['action'] = 'skipped'
        if error is not None:
            res['action'] = 'failed'
            res['msg'] = getattr(error, 'msg', None) or str(error)
            res['write_outcome'] = write_outcome(error)
        return res
