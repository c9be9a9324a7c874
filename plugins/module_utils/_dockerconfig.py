# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker config (``.dockerconfigjson`` / ``.dockercfg``): entries, parse, build, decode, compare, merge, redact.

Private to this collection. Pure: data in, data out, no network, no cluster.

Used by modules to read what users give and to write what the kubelet reads:
``entry_from_params``, ``parse_docker_config``, ``build_config``, ``serialize_config``,
``decode_secret``, ``auths_map``, ``canonical``, ``merge_configs``, ``redacted_view``. The key
written for a registry is ``_registry_host.secret_key``; how the kubelet reads what is
written is ``_kubelet``. Fields are matched the way Go's ``encoding/json`` matches them
(``_go_compat``), as the kubelet does.

Nothing returned by this module for display (warnings, error messages, ``redacted_view``)
contains a password, token, ``auth`` value or rendered config.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import json
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import REDACTED, b64decode_lenient, content_hash
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._go_compat import MISSING, go_b64_auth, go_field, go_fold, split_auth
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import ACR_NULL_GUID, is_ecr_host, same_secret_key, secret_key

SECRET_TYPE_DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson'
SECRET_TYPE_DOCKERCFG = 'kubernetes.io/dockercfg'
DATA_KEYS = {SECRET_TYPE_DOCKERCONFIGJSON: '.dockerconfigjson', SECRET_TYPE_DOCKERCFG: '.dockercfg'}

# top-level config.json keys that are docker client settings, never registries (docker/cli configfile)
_CLIENT_SETTINGS = frozenset(_k.upper() for _k in (
    'credsStore', 'credHelpers', 'HttpHeaders', 'psFormat', 'imagesFormat', 'networksFormat', 'pluginsFormat',
    'volumesFormat', 'statsFormat', 'serviceInspectFormat', 'servicesFormat', 'secretFormat', 'configFormat',
    'nodesFormat', 'tasksFormat', 'detachKeys', 'currentContext', 'proxies', 'experimental', 'plugins',
    'aliases', 'features', 'stackOrchestrator', 'kubernetes', 'cliPluginsExtraDirs'))

NEAR_MISS_REASONS = ('port_mismatch', 'docker_hub_alias', 'label_count', 'case', 'scheme_or_path', 'glob')


class SecretDecodeError(ValidationError, ValueError):
    """A Secret's docker config payload is not valid base64 / UTF-8 / JSON / a JSON object."""


def display_text(text):
    """Text safe to show (undecodable bytes, kept with surrogateescape, replaced)."""
    return text.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')


class RegistryEntry(object):
    """One registry's credentials, validated. ``auth`` is base64 of ``username:password``.

    Attributes: ``server`` (as the user gave it), ``key`` (the normalised ``auths`` key),
    ``username``, ``password``, ``auth``, ``email`` (str or None). ``repr()`` redacts the
    password and ``auth``.
    """

    __slots__ = ('server', 'key', 'username', 'password', 'auth', 'email')

    def __init__(self, server, key, username, password, email=None):
        self.server = server
        self.key = key
        self.username = username
        self.password = password
        self.auth = encode_auth(username, password)
        self.email = email or None

    def to_config_entry(self):
        """The ``auths`` value written for this entry: lowercase ``username``, ``password``,
        ``auth``, plus ``email`` only when set."""
        out = {'username': self.username, 'password': self.password, 'auth': self.auth}
        if self.email:
            out['email'] = self.email
        return out

    def same_credentials(self, other):
        return (self.username, self.password, self.email) == (other.username, other.password, other.email)

    def __eq__(self, other):
        return isinstance(other, RegistryEntry) and self.key == other.key and self.same_credentials(other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def __repr__(self):
        return 'RegistryEntry(server=%r, key=%r, username=%r, password=%r, auth=%r, email=%r)' % (
            self.server, self.key, self.username, REDACTED, REDACTED, self.email)


def entry_key(entry):
    """The normalised ``auths`` key of a RegistryEntry (or of a dict with ``key``/``server``)."""
    if isinstance(entry, RegistryEntry):
        return entry.key
    return entry.get('key') or secret_key(entry.get('server'))[0]


def entry_server(entry):
    """The server spelling the user gave for a RegistryEntry (or dict)."""
    if isinstance(entry, RegistryEntry):
        return entry.server
    return entry.get('server') or entry.get('key')


def encode_auth(username, password):
    """base64 (standard, padded) of the UTF-8 bytes ``username:password``. Returns str."""
    return base64.b64encode(('%s:%s' % (username, password)).encode('utf-8')).decode('ascii')


def decode_auth(auth, field='auth'):
    """Decode an ``auth`` value exactly as the kubelet does (config.go
    ``decodeDockerConfigFieldAuth``): padded -> standard base64, unpadded -> raw base64,
    split on the first ``:``.

    Args: ``auth`` (str). Returns ``(username, password)`` (str).
    Raises: ``ValidationError(field=field)`` when it is not base64, has no ``:`` once
    decoded, or is not UTF-8; the message never contains the value.
    """
    if not isinstance(auth, str):
        raise ValidationError('%s: must be a string' % field, field=field)
    try:
        decoded = go_b64_auth(auth)
    except ValueError:
        raise ValidationError('%s: is not valid base64 (it must be base64 of "username:password")' % field,
                              field=field)
    try:
        text = decoded.decode('utf-8')
    except UnicodeDecodeError:
        raise ValidationError('%s: does not decode to UTF-8 text' % field, field=field)
    if ':' not in text:
        try:
            inner = go_b64_auth(text).decode('utf-8')
        except (ValueError, UnicodeDecodeError):
            inner = ''
        if ':' in inner:
            raise ValidationError('%s: is base64-encoded twice; decode it once (it must be base64 of '
                                  '"username:password")' % field, field=field)
        raise ValidationError('%s: does not contain ":" once decoded (it must be base64 of "username:password")'
                              % field, field=field)
    return tuple(text.split(':', 1))


def _check_text(value, field):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError('%s: must be a string, got %s (quote the value in YAML)'
                              % (field, type(value).__name__), field=field)
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise ValidationError('%s: contains characters that cannot be encoded as UTF-8' % field, field=field)
    return value


def credential_hints(key, username):
    """Advisory warnings about credentials that are known to expire or to be mangled.

    A Harbor robot name that lost its ``$...`` part, ECR 12 h tokens, ACR AAD refresh tokens,
    a GitLab CI job token, GAR access tokens, Google service account keys (``_json_key``).
    Args: ``key`` (normalised key), ``username`` (str). Returns list of str (no secrets).
    """
    hints = []
    if username == 'gitlab-ci-token':
        hints.append('%s: username gitlab-ci-token is a CI job token, which expires when the job ends; use a '
                     'deploy token with read_registry (username gitlab+deploy-token-<n>)' % key)
    if username == 'robot' or username.startswith('robot+'):
        hints.append('%s: username %r looks like a Harbor robot account that lost its "$..." part to shell '
                     'expansion; robot accounts are named robot$<project>+<name> (quote it with single quotes)'
                     % (key, username))
    if username == ACR_NULL_GUID:
        hints.append('%s: username %s means an ACR AAD token, which is short-lived (about 3 hours); use a '
                     'scope-map token or AcrPull on the kubelet identity for long-lived pulls' % (key, ACR_NULL_GUID))
    if username == 'AWS' and is_ecr_host(key, allow_port=True):
        hints.append('%s: ECR authorization tokens last 12 hours; schedule a refresh (rotate playbook) or use the '
                     'ECR credential provider' % key)
    if username == 'oauth2accesstoken':
        hints.append('%s: oauth2accesstoken passwords are Google access tokens valid for about 1 hour; use the '
                     'gar credential provider with a refresh schedule, or the node service account on GKE' % key)
    if username in ('_json_key', '_json_key_base64'):
        hints.append('%s: username %s puts a long-lived Google service account key into every namespace that '
                     'gets this secret; prefer the gar credential provider (a one-hour access token minted from '
                     'the key on the host that runs the module) or, on GKE, the node service account' % (key, username))
    return hints


def _make_entry(server, username, password, auth, email, field, on_disagree='error',
                allow_surrounding_whitespace=False, strict=False, option=None):
    """Shared validation for entry_from_params and parse_docker_config: returns (entry, warnings).

    ``field`` prefixes messages (e.g. ``docker_config: auths['x']``); ``option``, when set,
    is the ``field`` of every ValidationError raised (the module option at fault).
    """
    try:
        return _make_entry_inner(server, username, password, auth, email, field, on_disagree,
                                 allow_surrounding_whitespace, strict)
    except ValidationError as exc:
        if option is None:
            raise
        raise ValidationError(exc.msg, field=option)


def _make_entry_inner(server, username, password, auth, email, field, on_disagree,
                      allow_surrounding_whitespace, strict):
    key, warnings = secret_key(server, field='%s.server' % field if field else 'server')
    prefix = '%s: ' % field if field else ''
    username = _check_text(username, '%susername' % prefix)
    password = _check_text(password, '%spassword' % prefix)
    auth = _check_text(auth, '%sauth' % prefix)
    email = _check_text(email, '%semail' % prefix)
    if auth is not None and auth != '':
        if auth != auth.strip():
            warnings.append('%s: auth had leading/trailing whitespace; ignored it' % key)
            auth = auth.strip()
        if ' ' in auth and auth.split(' ')[0].lower() in ('basic', 'bearer'):
            raise ValidationError('%sauth: starts with "%s"; give only the base64 of "username:password"'
                                  % (prefix, auth.split(' ')[0]), field='auth')
        a_user, a_pass = decode_auth(auth, field='%sauth' % prefix)
        if username or password:
            if (username is not None and username != a_user) or (password is not None and password != a_pass):
                what = 'username' if username is not None and username != a_user else 'password'
                msg = ('%s: auth and username/password disagree (the %s differs)' % (key, what))
                if on_disagree == 'error':
                    raise ValidationError(prefix + msg + '; give either auth or username/password', field='auth')
                warnings.append(msg + '; using auth, as the kubelet does')
        username, password = a_user, a_pass
    else:
        if username is None and password is None:
            raise ValidationError('%s%s: give username and password (or auth)' % (prefix, key), field='username')
        if username is None:
            raise ValidationError('%s%s: password given without username' % (prefix, key), field='username')
        if password is None:
            raise ValidationError('%s%s: username given without password' % (prefix, key), field='password')
    # username
    if username == '':
        raise ValidationError('%s%s: username is empty' % (prefix, key), field='username')
    if ':' in username:
        raise ValidationError('%s%s: username contains ":", which cannot be encoded in auth (it splits on the '
                              'first ":")' % (prefix, key), field='username')
    if username != username.strip():
        raise ValidationError('%s%s: username has leading/trailing whitespace or a newline (copy/paste?)'
                              % (prefix, key), field='username')
    if any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in username):
        raise ValidationError('%s%s: username contains control characters' % (prefix, key), field='username')
    # password
    if password == '':
        raise ValidationError('%s%s: password is empty (an auth of "user:" with an identitytoken is not usable by '
                              'the kubelet)' % (prefix, key), field='password')
    if password != password.strip() and not allow_surrounding_whitespace and username != '_json_key':
        raise ValidationError('%s%s: password has leading/trailing whitespace or a newline, most likely a '
                              'copy/paste accident; strip it' % (prefix, key), field='password')
    if password[:7].lower() == 'bearer ' or password[:6].lower() == 'basic ':
        raise ValidationError('%s%s: password starts with "%s"; give only the token itself'
                              % (prefix, key, password.split(' ')[0]), field='password')
    try:
        inner = go_b64_auth(password).decode('utf-8')
    except (ValueError, UnicodeDecodeError):
        inner = ''
    if ':' in inner and inner.split(':', 1)[0] == username and len(password) >= 8:
        raise ValidationError('%s%s: password is the base64 "auth" value for this username; pass it as auth, or '
                              'give the plain password' % (prefix, key), field='password')
    if '"auths"' in password:
        raise ValidationError('%s%s: password looks like a whole docker config; use docker_config instead'
                              % (prefix, key), field='password')
    if email is not None and email != email.strip():
        warnings.append('%s: removed leading/trailing whitespace from email' % key)
        email = email.strip()
    hints = credential_hints(key, username)
    if strict and username == 'gitlab-ci-token':
        raise ValidationError('%s%s' % (prefix, hints[0]), field='username')
    warnings.extend(hints)
    return RegistryEntry(server.strip() if isinstance(server, str) else server, key, username, password,
                         email), warnings


def entry_from_params(params, allow_surrounding_whitespace=False, strict=False):
    """Validate one registry's module parameters into a RegistryEntry.

    Args: ``params`` (dict): ``server`` (or ``registry``), and ``username`` + ``password``,
    or ``auth`` (base64 of ``username:password``), or both (they must agree); optional
    ``email``. ``allow_surrounding_whitespace`` accepts a password with leading/trailing
    whitespace (always accepted for ``_json_key``); ``strict`` turns the CI-job-token
    warning about a GitLab CI job token into an error.
    Returns: ``(RegistryEntry, warnings)``; values are kept byte for byte (``$`` in Harbor
    robot names, quotes, backslashes, braces, newlines inside a password, non-ASCII);
    ``auth`` is always computed from ``username:password``.
    Raises: ``ValidationError`` naming the field, never quoting a password or ``auth``:
    missing server/credentials, non-string values, ``auth`` not base64 / no ``:`` /
    encoded twice / disagreeing with username/password, empty username or password,
    ``:`` or surrounding whitespace in the username, surrounding whitespace in the
    password, a ``Bearer ``/``Basic `` prefix, a password that is itself the base64
    ``auth``, or a whole docker config pasted as password.
    """
    if not isinstance(params, dict):
        raise ValidationError('registry: expected a dict with server, username and password', field='server')
    server = params.get('server')
    if server in (None, ''):
        server = params.get('registry')
    if server in (None, ''):
        raise ValidationError('server: is required (the registry host, e.g. registry.example.com)', field='server')
    return _make_entry(server, params.get('username'), params.get('password'), params.get('auth'),
                       params.get('email'), field=None, on_disagree='error',
                       allow_surrounding_whitespace=allow_surrounding_whitespace, strict=strict)


def _loads_json(text):
    """``json.loads`` without NaN/Infinity; a document nested too deeply for Python's parser is a
    ValueError (never a RecursionError)."""
    def _no_constants(name):
        raise ValueError('invalid JSON constant %s' % name)
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError('nested too deeply to read')


def _looks_b64(text):
    return bool(re.match(r'^[A-Za-z0-9+/_-]+={0,2}$', text))


def _load_config_value(value, field):
    """dict / JSON text / bytes / base64 of JSON -> (dict, warnings)."""
    warnings = []
    if isinstance(value, dict):
        try:
            return copy.deepcopy(value), warnings
        except RecursionError:
            raise ValidationError('%s: is nested too deeply (a docker config is a few levels deep)' % field,
                                  field=field)
    if isinstance(value, bytes):
        try:
            value = value.decode('utf-8')
        except UnicodeDecodeError:
            raise ValidationError('%s: is not UTF-8 text' % field, field=field)
    if not isinstance(value, str):
        raise ValidationError('%s: expected a dict, a JSON string or base64 of JSON, got %s'
                              % (field, type(value).__name__), field=field)
    text = value.strip()
    if not text:
        raise ValidationError('%s: is empty' % field, field=field)
    try:
        doc = _loads_json(text)
    except ValueError as exc:
        if not _looks_b64(text.replace('\n', '').replace('\r', '')):
            raise ValidationError('%s: is not valid JSON (%s)' % (field, str(exc).split(':', maxsplit=1)[0]), field=field)
        try:
            decoded = b64decode_lenient(text).decode('utf-8').strip()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ValidationError('%s: is neither JSON nor base64 of JSON' % field, field=field)
        if decoded.startswith('eyJ') or decoded.startswith('ew'):
            raise ValidationError('%s: is base64-encoded twice; give the JSON, or base64 of it once' % field,
                                  field=field)
        try:
            doc = _loads_json(decoded)
        except ValueError:
            raise ValidationError('%s: is base64 of something that is not JSON' % field, field=field)
        warnings.append('%s: was base64-encoded; decoded it once (give the JSON or a dict to avoid this)' % field)
    if not isinstance(doc, dict):
        raise ValidationError('%s: must be a JSON object, got a JSON %s' % (field, type(doc).__name__), field=field)
    return doc, warnings


def parse_docker_config(value, identity_token='refuse', provided=(), on_missing='fail', field='docker_config'):
    """Read a docker ``config.json`` / ``.dockerconfigjson`` / ``.dockercfg`` into entries.

    Accepts a dict, a JSON string (or bytes), or base64 of JSON (decoded once, with a
    warning; base64 of base64 is refused). Accepts the ``{"auths": {...}}`` form
    (``auths`` matched case-insensitively like Go) and the legacy flat ``.dockercfg`` map
    (top-level keys are registries). Entry fields are matched case-insensitively
    (``Username``...); ``auth`` wins over username/password when both are present
    and they disagree (config.go ``UnmarshalJSON``), with a warning. Fields the kubelet
    ignores are ignored (``email`` is kept). ``identitytoken`` (what ``az acr login`` writes): with an empty
    password the entry is unusable by the kubelet; ``identity_token='refuse'`` reports it
    as having no inline credentials, ``'rewrite'`` turns it into username (from ``auth``,
    else ``00000000-0000-0000-0000-000000000000``) + password = the token, with a warning;
    the empty-password ``auth`` is never kept. An ``identitytoken`` next to a real password
    is dropped with a warning.

    Registries without inline credentials (``credsStore`` / ``credHelpers`` / ``{}``
    entries / token-only entries) are refused with a ValidationError listing each
    one and why (``delegated to helper "desktop"``), unless their normalised key is in
    ``provided`` (the caller has credentials for them) or ``on_missing='warn'``.

    Args: ``value``; ``identity_token`` ('refuse'|'rewrite'); ``provided`` (iterable of
    servers/keys); ``on_missing`` ('fail'|'warn'); ``field`` (option name).
    Returns: ``(entries, warnings)``: list of RegistryEntry (one per normalised key, in
    document order), list of str (no secrets).
    Raises: ``ValidationError(field=field)`` for undecodable input, non-object shapes,
    invalid entries, registries without inline credentials, two spellings of one key
    with different credentials (naming both spellings), or no usable entry.
    """
    if identity_token not in ('refuse', 'rewrite'):
        raise ValueError('identity_token must be refuse or rewrite')
    # 1. the document and its form
    doc, warnings = _load_config_value(value, field)
    auths, creds_store, cred_helpers = _config_registries(doc, field, warnings)
    # 2. one entry per registry, or the reason the kubelet could not use it
    entries, missing = [], []
    for loc, raw in auths.items():
        entry, reason = _read_registry(loc, raw, field, identity_token, cred_helpers.get(loc) or creds_store,
                                       warnings)
        if entry is not None:
            entries.append(entry)
        else:
            missing.append((loc, reason))
    for loc, helper in cred_helpers.items():
        if loc not in auths:
            missing.append((loc, 'no inline credentials (delegated to helper "%s")' % helper))
    # 3. registries without credentials: fail or warn
    _check_missing(missing, provided, entries, on_missing, field, warnings)
    if not entries and not missing:
        raise ValidationError('%s: holds no registries' % field, field=field)
    # 4. one entry per key
    return _one_per_key(entries, field, warnings), warnings


def _config_registries(doc, field, warnings):
    """The registry map of a config.json, ``credsStore`` and ``credHelpers`` (phase 1 of parse_docker_config)."""
    auths = go_field(doc, 'auths')
    creds_store = go_field(doc, 'credsStore')
    cred_helpers = go_field(doc, 'credHelpers')
    creds_store = creds_store if isinstance(creds_store, str) and creds_store else None
    cred_helpers = cred_helpers if isinstance(cred_helpers, dict) else {}
    if auths is not MISSING:
        if auths is None:
            auths = {}
        if not isinstance(auths, dict):
            raise ValidationError('%s: "auths" must be an object mapping registry to credentials' % field,
                                  field=field)
    elif creds_store or cred_helpers or any(go_fold(str(k)) in _CLIENT_SETTINGS for k in doc):
        auths = {}
    else:
        auths = doc
        bad = [k for k, v in doc.items() if v is not None and not isinstance(v, dict)]
        if bad:
            raise ValidationError('%s: not a docker config: no "auths" object, and %s %s not registry entries'
                                  % (field, ', '.join(repr(k) for k in sorted(bad)[:5]),
                                     'is' if len(bad) == 1 else 'are'), field=field)
        if doc:
            warnings.append('%s: read a legacy .dockercfg map (no "auths" wrapper); it is written in the current '
                            'form' % field)
    return auths, creds_store, cred_helpers


def _registry_fields(raw, where, field):
    """The string fields of one ``auths`` entry, matched like Go's encoding/json (None when absent)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError('%s must be an object with username/password or auth' % where, field=field)
    vals = {}
    for name in ('username', 'password', 'auth', 'email', 'identitytoken', 'registrytoken'):
        v = go_field(raw, name)
        v = None if v is MISSING else v
        if v is not None and not isinstance(v, str):
            raise ValidationError('%s.%s must be a string' % (where, name), field=field)
        vals[name] = v
    return vals


def _read_registry(loc, raw, field, identity_token, helper, warnings):
    """``(RegistryEntry, None)`` for one registry of a config, or ``(None, reason)`` when it holds no
    credentials the kubelet can use (phase 2 of parse_docker_config)."""
    where = '%s: auths[%r]' % (field, loc)
    vals = _registry_fields(raw, where, field)
    if vals['identitytoken']:
        a_user, a_pass = vals['username'], vals['password']
        if vals['auth']:
            try:
                a_user, a_pass = decode_auth(vals['auth'], field='%s.auth' % where)
            except ValidationError as exc:
                raise ValidationError(exc.msg, field=field)
        if a_pass:
            warnings.append('%s: dropped the identitytoken (the kubelet ignores it); kept the username/password'
                            % where)
        elif identity_token == 'rewrite':
            user = a_user or ACR_NULL_GUID
            entry, w = _make_entry(loc, user, vals['identitytoken'], None, vals['email'], field=where,
                                   option=field)
            warnings.append('%s: the identitytoken was rewritten as the password of %s (the kubelet ignores '
                            'identitytoken); such tokens are short-lived' % (where, user))
            warnings.extend(w)
            return entry, None
        else:
            return None, ('identitytoken only (the kubelet ignores identitytoken; give this registry '
                          'username and password in registries, e.g. the ACR token as password)')
    if not (vals['auth'] or vals['username'] or vals['password']):
        if helper:
            return None, 'no inline credentials (delegated to helper "%s")' % helper
        if vals['registrytoken']:
            return None, 'registrytoken only (the kubelet ignores registrytoken)'
        return None, 'no inline credentials (empty entry)'
    entry, w = _make_entry(loc, vals['username'], vals['password'], vals['auth'], vals['email'],
                           field=where, on_disagree='warn', allow_surrounding_whitespace=True,
                           option=field)
    warnings.extend(w)
    return entry, None


def _check_missing(missing, provided, entries, on_missing, field, warnings):
    """Refuse (or, with ``on_missing='warn'`` and some usable entry, warn about) the registries
    without usable credentials that the caller does not provide (phase 3 of parse_docker_config)."""
    provided_keys = set(same_secret_key(p) for p in provided or ())
    still_missing = [{'registry': loc, 'reason': reason} for loc, reason in missing
                     if same_secret_key(loc) not in provided_keys and loc not in provided_keys]
    if not still_missing:
        return
    listing = '; '.join('%s: %s' % (m['registry'], m['reason']) for m in still_missing)
    if on_missing == 'fail' or not entries:
        raise ValidationError('%s: %d registr%s without credentials the kubelet can use: %s. Give username/'
                              'password for them, or remove them from the config'
                              % (field, len(still_missing), 'y' if len(still_missing) == 1 else 'ies', listing),
                              field=field, registries_without_credentials=still_missing)
    warnings.append('%s: skipped registries without inline credentials: %s' % (field, listing))


def _one_per_key(entries, field, warnings):
    """Entries in document order, one per registry key (phase 4 of parse_docker_config): the same
    credentials under two spellings are kept once, different credentials are refused."""
    by_key = {}
    unique = []
    for entry in entries:
        other = by_key.get(entry.key)
        if other is None:
            by_key[entry.key] = entry
            unique.append(entry)
        elif other.same_credentials(entry):
            warnings.append('%s: %r and %r are the same registry key %s with the same credentials; kept one'
                            % (field, other.server, entry.server, entry.key))
        else:
            raise ValidationError('%s: %r and %r both normalise to the registry key %s but hold different '
                                  'credentials; keep only one' % (field, other.server, entry.server, entry.key),
                                  field=field)
    return unique


def build_config(entries, legacy=False):
    """Build the docker config document to store.

    Args: ``entries`` (list of RegistryEntry, or of dicts accepted by
    ``entry_from_params``), ``legacy`` (bool).
    Returns: ``{"auths": {key: {"username", "password", "auth"[, "email"]}}}`` for
    ``.dockerconfigjson``; with ``legacy=True`` the inner map (``.dockercfg``).
    Raises: ``ValidationError`` when ``entries`` is empty or two entries normalise to the
    same key (naming both spellings).
    """
    if not entries:
        raise ValidationError('no registries to write: give at least one registry', field='registries')
    inner = {}
    spelled = {}
    for entry in entries:
        if not isinstance(entry, RegistryEntry):
            entry = entry_from_params(entry)[0]
        if entry.key in inner:
            raise ValidationError('%r and %r both normalise to the registry key %s; list each registry once'
                                  % (spelled[entry.key], entry.server, entry.key), field='registries')
        inner[entry.key] = entry.to_config_entry()
        spelled[entry.key] = entry.server
    return inner if legacy else {'auths': inner}


def serialize_config(config):
    """Serialise a config for ``data``: ``json.dumps(sort_keys=True, separators=(',', ':'),
    ensure_ascii=False)`` encoded as UTF-8. Deterministic. Returns bytes.
    Raises ``ValidationError(field='docker_config')`` for a document nested too deeply to serialise."""
    try:
        return json.dumps(config, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    except RecursionError:
        raise ValidationError('docker_config: is nested too deeply (a docker config is a few levels deep)',
                              field='docker_config')


def decode_secret(secret_type, data):
    """Decode a Secret's docker config from its ``data`` map (base64 values, as the API returns).

    Reads ``.dockerconfigjson`` for ``kubernetes.io/dockerconfigjson`` and ``.dockercfg``
    for ``kubernetes.io/dockercfg`` (secrets.go); for any other type, whichever of the two
    keys is present (e.g. an Opaque secret, which the kubelet ignores).
    Args: ``secret_type`` (str), ``data`` (dict of str -> base64 str).
    Returns: the parsed JSON document as stored (dict; not reshaped: the ``{"auths": ...}``
    form or the flat map).
    Raises: ``SecretDecodeError`` (a ``ValidationError`` and a ``ValueError``,
    ``field='data'``) when the key is missing or empty, or the value is not base64, not
    UTF-8, not JSON (base64 applied twice is named as such), or not a JSON object.
    Messages never contain the payload.
    """
    data = data or {}
    key = DATA_KEYS.get(secret_type)
    if key is None:
        key = next((k for k in ('.dockerconfigjson', '.dockercfg') if k in data), None)
        if key is None:
            raise SecretDecodeError('secret of type %s has neither .dockerconfigjson nor .dockercfg' % secret_type,
                                    field='data')
    raw = data.get(key)
    if raw in (None, '', b''):
        raise SecretDecodeError('data[%s] is missing or empty' % key, field='data')
    if isinstance(raw, bytes):
        raw = raw.decode('ascii', 'replace')
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SecretDecodeError('data[%s] is not valid base64' % key, field='data')
    try:
        text = payload.decode('utf-8')
    except UnicodeDecodeError:
        raise SecretDecodeError('data[%s] does not decode to UTF-8 text' % key, field='data')
    try:
        doc = _loads_json(text)
    except ValueError:
        if text.strip().startswith('eyJ') or text.strip().startswith('ew'):
            raise SecretDecodeError('data[%s] holds base64-encoded JSON: the config was base64-encoded twice'
                                    % key, field='data')
        raise SecretDecodeError('data[%s] is not valid JSON' % key, field='data')
    if not isinstance(doc, dict):
        raise SecretDecodeError('data[%s] is JSON but not an object' % key, field='data')
    return doc


def auths_map(config):
    """The registry map of a docker config in either form: the value of the ``auths`` wrapper
    (matched case-insensitively, as Go's ``encoding/json`` and so the kubelet do) when it is an
    object, else the flat ``.dockercfg`` map itself. ``{}`` for anything that is not a dict."""
    return _form(config, None)[2] if isinstance(config, dict) else {}


def _form(config, legacy):
    """('auths'|'flat', wrapper key or None, map, other top-level dict)."""
    if legacy is True:
        return 'flat', None, config, {}
    wrapper = None
    for k in config:
        if isinstance(k, str) and go_fold(k) == 'AUTHS':
            wrapper = k
    if legacy is False or (wrapper is not None and isinstance(config[wrapper], dict)):
        inner = config.get(wrapper) if wrapper is not None else {}
        other = dict((k, v) for k, v in config.items() if k != wrapper)
        return 'auths', wrapper, inner if isinstance(inner, dict) else {}, other
    return 'flat', None, config, {}


def _canonical_entry(raw):
    if not isinstance(raw, dict):
        return {'raw': raw}
    vals = {}
    for name in ('username', 'password', 'auth', 'email'):
        v = go_field(raw, name)
        vals[name] = v if isinstance(v, str) else ''
    user, password, valid = vals['username'], vals['password'], True
    consistent = True
    if vals['auth']:
        try:
            user, password = split_auth(go_b64_auth(vals['auth']))
            if (vals['username'] or vals['password']) and (user, password) != (vals['username'], vals['password']):
                consistent = False
        except ValueError:
            valid = False
            user, password = vals['username'], vals['password']
    out = {'fields': sorted(str(k) for k in raw), 'username': user, 'password': password,
           'consistent': consistent, 'valid': valid}
    out['auth'] = encode_auth(user, password) if valid else vals['auth']
    if vals['email']:
        out['email'] = vals['email']
    extras = dict((k, v) for k, v in raw.items() if go_fold(str(k)) not in ('USERNAME', 'PASSWORD', 'AUTH', 'EMAIL'))
    if extras:
        out['extra'] = json.loads(serialize_config(extras).decode('utf-8'))
    return out


def canonical(config, legacy=None):
    """A comparable normal form of a docker config, for idempotency.

    Equal for documents that differ only in key order, whitespace, JSON escaping or
    ``auth`` encoding (padded/unpadded); different when the credentials the kubelet
    reads change, when the stored shape changes (field names such as ``Username`` vs
    ``username``, an added/missing ``auth``, extra fields like ``identitytoken``, the
    ``auths`` wrapper present or not), when ``auth`` disagrees with
    username/password, or when a key is spelled differently.

    Args: ``config`` (dict, or JSON text/bytes); ``legacy`` (None: detect the form --
    a top-level ``auths`` object means ``.dockerconfigjson`` -- True: flat
    ``.dockercfg`` map, False: ``auths`` form).
    Returns: dict ``{"form", "wrapper", "auths": {key: {...}}, "other": {...}}``. It holds
    credentials: compare it, never return or log it.
    Raises: ``ValidationError`` when ``config`` is not a JSON object (or undecodable text).
    """
    if not isinstance(config, dict):
        config, _w = _load_config_value(config, 'config')
    form, wrapper, inner, other = _form(config, legacy)
    return {
        'form': form,
        'wrapper': wrapper,
        'auths': dict((str(k), _canonical_entry(v)) for k, v in inner.items()),
        'other': json.loads(serialize_config(other).decode('utf-8')),
    }


def merge_configs(current, desired, merge):
    """The config to write, given the live one and the desired one.

    ``merge=False``: exactly ``desired``. ``merge=True``: the live entries for other
    registries are kept as they are (order kept), live entries that are the same registry
    as a desired entry (any spelling that normalises to the same key, e.g. ``docker.io``
    and ``https://index.docker.io/v1/``: otherwise the kubelet could keep trying the stale
    one first) are replaced by the desired ones, and other top-level fields of the live
    document are kept. The result has the desired document's form (``auths`` or flat).

    Args: ``current`` (dict or None), ``desired`` (dict), ``merge`` (bool).
    Returns: a new dict (inputs are not modified). Raises nothing for well-formed dicts.
    """
    if not merge or not current:
        return copy.deepcopy(desired)
    d_form, d_wrapper, d_inner, d_other = _form(desired, None)
    _c_form, _c_wrapper, c_inner, c_other = _form(current, None)
    desired_keys = set(same_secret_key(k) for k in d_inner)
    merged = {}
    for loc, value in c_inner.items():
        if same_secret_key(loc) not in desired_keys:
            merged[loc] = copy.deepcopy(value)
    for loc, value in d_inner.items():
        merged[loc] = copy.deepcopy(value)
    if d_form == 'flat':
        return merged
    out = copy.deepcopy(c_other) if _c_form == 'auths' else {}
    out.update(copy.deepcopy(d_other))
    out[d_wrapper or 'auths'] = merged
    return out


def redacted_view(config, legacy=None):
    """A secret-free view of a docker config for results and diffs.

    Args: ``config`` (dict; either form, see ``canonical``), ``legacy`` (as in ``canonical``).
    Returns: ``{key: {"username": str or None, "password": "<redacted>", "auth":
    "<redacted>", ["email": str], ["identitytoken": "<redacted>"], ["auth_invalid": True],
    "content_hash": "hmac-sha256:<12 hex>"}}``: the redacted markers appear only for fields
    that are present; ``username`` is the one the kubelet uses (decoded from ``auth`` when
    that is set); ``content_hash`` (``_common.content_hash`` of the entry's serialised
    JSON) changes when any credential changes, so a diff shows which registry changed
    without showing a value.
    """
    if not isinstance(config, dict):
        config, _w = _load_config_value(config, 'config')
    _form_name, _wrapper, inner, _other = _form(config, legacy)
    view = {}
    for loc, raw in inner.items():
        item = {}
        if isinstance(raw, dict):
            c = _canonical_entry(raw)
            item['username'] = display_text(c['username']) if c['username'] else None
            for k in raw:
                folded = go_fold(str(k))
                if folded in ('PASSWORD', 'AUTH', 'IDENTITYTOKEN', 'REGISTRYTOKEN'):
                    item[folded.lower()] = REDACTED
                elif folded == 'EMAIL' and isinstance(raw[k], str) and raw[k]:
                    item['email'] = raw[k]
            if not c['valid']:
                item['auth_invalid'] = True
        else:
            item['username'] = None
        item['content_hash'] = content_hash(serialize_config({str(loc): raw}))
        view[str(loc)] = item
    return view
