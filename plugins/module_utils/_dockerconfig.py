# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker config (``.dockerconfigjson`` / ``.dockercfg``) semantics and kubelet credential matching.

Private to this collection. Pure: data in, data out, no network, no cluster.

Two halves:

* the **writer/reader** used by modules: ``normalize_server``, ``entry_from_params``,
  ``parse_docker_config``, ``build_config``, ``serialize_config``, ``decode_secret``,
  ``canonical``, ``merge_configs``, ``redacted_view``;
* a faithful model of how the **kubelet** reads pull secrets and picks credentials for an
  image, for the probe's diagnosis: ``kubelet_key``, ``kubelet_keyring``,
  ``match_credentials``, ``explain_near_misses``, ``kubelet_lookup``, ``inspect_config``.

Kubelet sources reproduced (kubernetes/kubernetes): ``pkg/credentialprovider/keyring.go``
(``BasicDockerKeyring.Add``/``Lookup``, ``isDefaultRegistryMatch``, ``URLsMatchStr``,
``URLsMatch``, ``ParseSchemelessURL``, ``SplitURL``), ``pkg/credentialprovider/config.go``
(``DockerConfigEntry.UnmarshalJSON``, ``decodeDockerConfigFieldAuth``),
``pkg/credentialprovider/secrets/secrets.go`` (``MakeDockerKeyring``), and Go's
``net/url.Parse``, ``net.SplitHostPort``, ``path/filepath.Match`` and ``encoding/json``
field matching where the kubelet relies on them. Image names are normalised with
``_imageref`` (distribution/reference ``normalize.go``).

Nothing returned by this module for display (warnings, error messages, ``redacted_view``,
match results) contains a password, token, ``auth`` value or rendered config.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import json
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import REDACTED, content_hash
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference

DOCKER_HUB_KEY = 'https://index.docker.io/v1/'
# the keyring key the kubelet derives from DOCKER_HUB_KEY (keyring.go defaultRegistryHost)
DOCKER_HUB_KEYRING_KEY = 'index.docker.io'
# host names people use for Docker Hub; all are written as DOCKER_HUB_KEY
DOCKER_HUB_ALIASES = ('docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com')
# aliases the kubelet never matches for docker.io/... images (they are not docker.io / index.docker.io)
_HUB_NEVER_MATCHED = ('registry-1.docker.io', 'registry.hub.docker.com')

SECRET_TYPE_DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson'
SECRET_TYPE_DOCKERCFG = 'kubernetes.io/dockercfg'
DATA_KEYS = {SECRET_TYPE_DOCKERCONFIGJSON: '.dockerconfigjson', SECRET_TYPE_DOCKERCFG: '.dockercfg'}

ACR_NULL_GUID = '00000000-0000-0000-0000-000000000000'
_ECR_HOST_RE = re.compile(r'^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(?::\d+)?$')
_GLOB_CHARS = '*?['

# top-level config.json keys that are docker client settings, never registries (docker/cli configfile)
_CLIENT_SETTINGS = frozenset(_k.upper() for _k in (
    'credsStore', 'credHelpers', 'HttpHeaders', 'psFormat', 'imagesFormat', 'networksFormat', 'pluginsFormat',
    'volumesFormat', 'statsFormat', 'serviceInspectFormat', 'servicesFormat', 'secretFormat', 'configFormat',
    'nodesFormat', 'tasksFormat', 'detachKeys', 'currentContext', 'proxies', 'experimental', 'plugins',
    'aliases', 'features', 'stackOrchestrator', 'kubernetes', 'cliPluginsExtraDirs'))

NEAR_MISS_REASONS = ('port_mismatch', 'docker_hub_alias', 'label_count', 'case', 'scheme_or_path', 'glob')


class SecretDecodeError(ValidationError, ValueError):
    """A Secret's docker config payload is not valid base64 / UTF-8 / JSON / a JSON object."""


class KubeletKeyringError(ValidationError):
    """The kubelet itself would fail to build its keyring from these secrets (``MakeDockerKeyring``
    returns the JSON error), so the pull fails before any credential is tried. ``secret`` names
    the offending secret."""


_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Go compatibility helpers (encoding/base64, encoding/json field folding, net/url, net, filepath)
# ---------------------------------------------------------------------------------------------

def _go_fold(name):
    """encoding/json ``foldName``: case-insensitive field-name key (ASCII, plus the two
    non-ASCII runes whose fold orbit contains an ASCII letter: U+017F and U+212A)."""
    return name.replace('\u017f', 's').replace('\u212a', 'k').upper()


def _go_field(obj, name):
    """The value Go's ``json.Unmarshal`` stores in the struct field ``name``: keys match
    case-insensitively and a later key overwrites an earlier one. ``_MISSING`` if absent."""
    want = _go_fold(name)
    found = _MISSING
    for key, value in obj.items():
        if isinstance(key, str) and _go_fold(key) == want:
            found = value
    return found


def _go_b64_auth(field):
    """``decodeDockerConfigFieldAuth`` (config.go) up to the split: padded -> StdEncoding,
    unpadded -> RawStdEncoding; Go's decoder skips ``\\r`` and ``\\n``; non-strict trailing bits.

    Returns the decoded bytes; raises ValueError with a secret-free message.
    """
    padded = field.strip().endswith('=')
    data = field.replace('\r', '').replace('\n', '')
    if not re.match(r'^[A-Za-z0-9+/]*={0,2}$', data):
        raise ValueError('not valid base64')
    if padded:
        if len(data) % 4:
            raise ValueError('not valid base64 (bad padding)')
    else:
        if '=' in data or len(data) % 4 == 1:
            raise ValueError('not valid base64')
        data += '=' * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('not valid base64')


def _split_auth(decoded):
    """``strings.SplitN(string(decoded), ":", 2)``; returns (user, password) as text
    (undecodable bytes kept with surrogateescape) or raises ValueError."""
    text = decoded.decode('utf-8', 'surrogateescape')
    if ':' not in text:
        raise ValueError("unable to find ':' in decoded auth field")
    user, password = text.split(':', 1)
    return user, password


class _GoURLError(Exception):
    pass


_HEX = '0123456789abcdefABCDEF'


def _go_unescape(s, mode):
    """net/url ``unescape`` for the modes the kubelet hits ('host', 'path', 'userinfo', 'fragment')."""
    out = bytearray()
    i = 0
    raw = s.encode('utf-8', 'surrogateescape')
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            if i + 2 >= len(raw) or chr(raw[i + 1]) not in _HEX or chr(raw[i + 2]) not in _HEX:
                raise _GoURLError('invalid URL escape')
            if mode == 'host' and int(chr(raw[i + 1]), 16) < 8 and raw[i:i + 3] != b'%25':
                raise _GoURLError('invalid URL escape in host')
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
            continue
        if mode == 'host' and c < 0x80 and _go_should_escape_host(c):
            raise _GoURLError('invalid character in host name')
        out.append(c)
        i += 1
    return out.decode('utf-8', 'surrogateescape')


def _go_should_escape_host(c):
    ch = chr(c)
    if ch.isalnum() and c < 0x80:
        return False
    return ch not in "-_.~!$&'()*+,;=:[]<>\""


def _go_valid_optional_port(port):
    if port == '':
        return True
    if port[0] != ':':
        return False
    return all('0' <= ch <= '9' for ch in port[1:])


def _go_parse_host(host):
    if host.startswith('['):
        i = host.rfind(']')
        if i < 0:
            raise _GoURLError("missing ']' in host")
        if not _go_valid_optional_port(host[i + 1:]):
            raise _GoURLError('invalid port after host')
    else:
        i = host.rfind(':')
        if i != -1 and not _go_valid_optional_port(host[i:]):
            raise _GoURLError('invalid port after host')
    return _go_unescape(host, 'host')


def _go_url_parse(raw):
    """The parts of net/url ``Parse`` that decide ``Host`` and ``Path`` for ``scheme://...``
    strings. Returns (host, path); raises _GoURLError where Go returns an error."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in raw):
        raise _GoURLError('invalid control character in URL')
    rest, _sep, fragment = raw.partition('#')
    _go_unescape(fragment, 'fragment')
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*):', rest)
    if not m:
        raise _GoURLError('missing scheme')
    rest = rest[m.end():]
    if rest.endswith('?') and rest.count('?') == 1:
        rest = rest[:-1]
    else:
        rest = rest.split('?', 1)[0]
    if not rest.startswith('//'):
        return '', _go_unescape(rest, 'path')
    authority, path = rest[2:], ''
    if '/' in authority:
        i = authority.index('/')
        authority, path = authority[:i], authority[i:]
    at = authority.rfind('@')
    if at >= 0:
        userinfo = authority[:at]
        if any(not (ch.isalnum() and ord(ch) < 0x80) and ch not in "-._:~!$&'()*+,;=%@" for ch in userinfo):
            raise _GoURLError('net/url: invalid userinfo')
        _go_unescape(userinfo, 'userinfo')
        authority = authority[at + 1:]
    host = _go_parse_host(authority)
    return host, _go_unescape(path, 'path')


def _go_split_host_port(hostport):
    """net ``SplitHostPort``; raises _GoURLError on the errors Go reports."""
    i = hostport.rfind(':')
    if i < 0:
        raise _GoURLError('missing port in address')
    j = k = 0
    if hostport.startswith('['):
        end = hostport.find(']')
        if end < 0:
            raise _GoURLError("missing ']' in address")
        if end + 1 == len(hostport):
            raise _GoURLError('missing port in address')
        if end + 1 != i:
            if hostport[end + 1] == ':':
                raise _GoURLError('too many colons in address')
            raise _GoURLError('missing port in address')
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ':' in host:
            raise _GoURLError('too many colons in address')
    if '[' in hostport[j:]:
        raise _GoURLError("unexpected '[' in address")
    if ']' in hostport[k:]:
        raise _GoURLError("unexpected ']' in address")
    return host, hostport[i + 1:]


class _BadPattern(Exception):
    pass


def _go_scan_chunk(pattern):
    star = False
    while pattern and pattern[0] == '*':
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '\\':
            if i + 1 < len(pattern):
                i += 1
        elif ch == '[':
            inrange = True
        elif ch == ']':
            inrange = False
        elif ch == '*' and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _go_get_esc(chunk):
    if not chunk or chunk[0] in '-]':
        raise _BadPattern()
    if chunk[0] == '\\':
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern()
    r, nchunk = chunk[0], chunk[1:]
    if not nchunk:
        raise _BadPattern()
    return r, nchunk


def _go_match_chunk(chunk, s):
    """filepath ``matchChunk``: returns (rest, ok); raises _BadPattern."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        ch = chunk[0]
        if ch == '[':
            r = ''
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == '^':
                negated = True
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk and chunk[0] == ']' and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _go_get_esc(chunk)
                hi = lo
                if chunk[0] == '-':
                    hi, chunk = _go_get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif ch == '?':
            if not failed:
                if s[0] == '/':
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if ch == '\\':
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return '', False
    return s, True


def _go_filepath_match(pattern, name):
    """path/filepath ``Match`` (unix): ``*``, ``?``, ``[...]`` with ``^`` negation and ``\\``
    escapes. Returns bool; raises _BadPattern for a malformed pattern (Go's ErrBadPattern)."""
    while pattern:
        star, chunk, pattern = _go_scan_chunk(pattern)
        if star and chunk == '':
            return '/' not in name
        t, ok = _go_match_chunk(chunk, name)
        if ok and (len(t) == 0 or len(pattern) > 0):
            name = t
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != '/':
                t, ok = _go_match_chunk(chunk, name[i + 1:])
                if ok:
                    if len(pattern) == 0 and len(t) > 0:
                        i += 1
                        continue
                    name = t
                    found = True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _star, chunk, pattern = _go_scan_chunk(pattern)
            _go_match_chunk(chunk, '')
        return False
    return len(name) == 0


# ---------------------------------------------------------------------------------------------
# Kubelet key derivation and matching (keyring.go)
# ---------------------------------------------------------------------------------------------

def kubelet_key(config_key):
    """The keyring key the kubelet derives from a docker config key, or None if it skips it.

    ``BasicDockerKeyring.Add`` (pkg/credentialprovider/keyring.go): prefix ``https://``
    unless the key starts with ``https://`` or ``http://`` (case-sensitive), ``url.Parse``
    (an error skips the entry: "Entry %q in dockercfg invalid"), drop the first 3
    characters of a path starting with ``/v1/`` or ``/v2/``, and return ``host`` (with its
    port) or ``host + path`` when the path is neither empty nor ``/``.

    Args: ``config_key`` (str). Returns: str or None. Raises nothing.
    Examples: ``https://index.docker.io/v1/`` -> ``index.docker.io``;
    ``https://reg.io/v2/team`` -> ``reg.io/team``; ``reg.io/v2`` -> ``reg.io/v2``.
    """
    value = config_key
    if not (value.startswith('https://') or value.startswith('http://')):
        value = 'https://' + value
    try:
        host, path = _go_url_parse(value)
    except _GoURLError:
        return None
    if path.startswith('/v2/') or path.startswith('/v1/'):
        path = path[3:]
    if path and path != '/':
        return host + path
    return host


def _parse_schemeless(value):
    """``ParseSchemelessURL`` + ``SplitURL``: (labels, port, path) or raises _GoURLError."""
    host, path = _go_url_parse('https://' + value)
    try:
        hostname, port = _go_split_host_port(host)
    except _GoURLError:
        hostname, port = host, ''
    return hostname.split('.'), port, path


def _labels_match(glob_parts, target_parts):
    for glob_label, target_label in zip(glob_parts, target_parts):
        if not _go_filepath_match(glob_label, target_label):
            return False
    return True


def urls_match(glob, target):
    """``URLsMatchStr(glob, target)`` (keyring.go): True when the schemeless ``target`` is
    covered by the keyring key ``glob``.

    Rules: ports equal as strings (no port != ``:443``); the hosts have the same number of
    ``.``-labels; ``target.Path`` starts with ``glob.Path`` (plain string prefix); every
    label matches with ``filepath.Match`` (case-sensitive; ``*``/``?``/``[...]`` within one
    label). A parse error or a malformed glob is "no match", as in ``Lookup``.

    Args: ``glob`` (keyring key, str), ``target`` (normalised image name, str). Returns bool.
    """
    try:
        gparts, gport, gpath = _parse_schemeless(glob)
        tparts, tport, tpath = _parse_schemeless(target)
    except _GoURLError:
        return False
    if gport != tport or len(gparts) != len(tparts) or not tpath.startswith(gpath):
        return False
    try:
        return _labels_match(gparts, tparts)
    except _BadPattern:
        return False


def is_default_registry_match(image_name):
    """keyring.go ``isDefaultRegistryMatch``: would this (normalised) image pull from Docker Hub?

    False if the first ``/``-component is empty; True if there is no ``/``, if the first
    component is ``docker.io`` or ``index.docker.io``, or if it contains neither ``.`` nor
    ``:`` (so ``localhost/x`` counts, exactly as in the kubelet). Args: str. Returns bool.
    """
    parts = image_name.split('/', 1)
    if not parts[0]:
        return False
    if len(parts) == 1:
        return True
    if parts[0] in ('docker.io', 'index.docker.io'):
        return True
    return '.' not in parts[0] and ':' not in parts[0]


def _norm_configs(configs):
    """Accept [(name, config), (name, config, secret_type), {'name','config','type'}]."""
    out = []
    for item in configs or []:
        if isinstance(item, dict):
            name, config, stype = item.get('name'), item.get('config'), item.get('type')
        elif len(item) == 2:
            (name, config), stype = item, None
        else:
            name, config, stype = item[0], item[1], item[2]
        out.append((name, config, stype or SECRET_TYPE_DOCKERCONFIGJSON))
    return out


def _kubelet_entries(config, secret_type):
    """What ``secrets.go`` ``MakeDockerKeyring`` reads from one secret's parsed JSON.

    Returns (entries, ignored_reason, error): ``entries`` a list of
    ``(config_key, username, password)``; ``ignored_reason`` set when the kubelet skips the
    secret (type); ``error`` set when ``json.Unmarshal`` would fail (the kubelet then fails
    the whole pull). Emulates Go's case-insensitive field matching and
    ``DockerConfigEntry.UnmarshalJSON`` (``auth`` overrides username/password).
    """
    if secret_type not in DATA_KEYS:
        return [], 'secret type %s is ignored by the kubelet' % secret_type, None
    if config is None:
        return [], None, None
    if not isinstance(config, dict):
        return [], None, 'cannot unmarshal %s into the docker config' % type(config).__name__
    if secret_type == SECRET_TYPE_DOCKERCONFIGJSON:
        headers = _go_field(config, 'HttpHeaders')
        if headers not in (_MISSING, None) and (
                not isinstance(headers, dict) or any(not isinstance(v, str) and v is not None
                                                     for v in headers.values())):
            return [], None, 'HttpHeaders is not a map of strings'
        auths = _go_field(config, 'auths')
        if auths in (_MISSING, None):
            return [], None, None
        if not isinstance(auths, dict):
            return [], None, 'auths is not an object'
    else:
        auths = config
    entries = []
    for loc, raw in auths.items():
        if raw is None:
            entries.append((loc, '', ''))
            continue
        if not isinstance(raw, dict):
            return [], None, 'entry %r is not an object' % loc
        values = {}
        for field in ('username', 'password', 'email', 'auth'):
            value = _go_field(raw, field)
            if value is _MISSING or value is None:
                value = ''
            if not isinstance(value, str):
                return [], None, 'entry %r: %s is not a string' % (loc, field)
            values[field] = value
        user, password = values['username'], values['password']
        if values['auth']:
            try:
                user, password = _split_auth(_go_b64_auth(values['auth']))
            except ValueError as exc:
                return [], None, 'entry %r: auth field: %s' % (loc, exc)
        entries.append((loc, user, password))
    return entries, None, None


def _display(text):
    """Text safe to show (undecodable bytes replaced)."""
    return text.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')


def kubelet_keyring(configs):
    """Build the kubelet's pull-secret keyring (``secrets.go`` ``MakeDockerKeyring`` +
    ``BasicDockerKeyring.Add``).

    Args: ``configs``: list of ``(secret_name, config)`` or ``(secret_name, config,
    secret_type)`` (or dicts with ``name``/``config``/``type``), in the pod's
    ``imagePullSecrets`` order. ``config`` is the parsed JSON stored in the secret: the
    ``{"auths": ...}`` document for ``kubernetes.io/dockerconfigjson`` (the default), the
    flat map for ``kubernetes.io/dockercfg``; ``None`` for an empty payload.
    Returns: dict ``{"index": [keys, reverse-sorted], "creds": {key: [cred, ...]},
    "skipped": [{"secret", "config_key", "reason"}], "ignored": [{"secret", "reason"}],
    "error": None or {"secret", "reason"}}``; a cred is ``{"secret", "config_key",
    "username", "password"}`` (holds the password: never return it). All secrets share one
    keyring, credentials under one key accumulate in secret order. Raises nothing.
    """
    index = set()
    creds = {}
    skipped, ignored = [], []
    error = None
    for name, config, stype in _norm_configs(configs):
        entries, ignored_reason, err = _kubelet_entries(config, stype)
        if ignored_reason:
            ignored.append({'secret': name, 'reason': ignored_reason})
            continue
        if err:
            if error is None:
                error = {'secret': name, 'reason': err}
            continue
        for loc, user, password in entries:
            key = kubelet_key(loc)
            if key is None:
                skipped.append({'secret': name, 'config_key': loc,
                                'reason': 'the kubelet cannot parse this key as a URL and skips it'})
                continue
            creds.setdefault(key, []).append({'secret': name, 'config_key': loc,
                                              'username': user, 'password': password})
            index.add(key)
    return {'index': sorted(index, reverse=True), 'creds': creds, 'skipped': skipped,
            'ignored': ignored, 'error': error}


def _match_view(cred, key, via):
    return {'secret': cred['secret'], 'key': key, 'config_key': cred['config_key'],
            'username': _display(cred['username']), 'via': via,
            'empty_credentials': not cred['username'] and not cred['password']}


def _lookup(image_name, keyring):
    matches = []
    for key in keyring['index']:
        if urls_match(key, image_name):
            matches.extend(_match_view(c, key, 'match') for c in keyring['creds'][key])
    if matches:
        return matches
    if is_default_registry_match(image_name) and DOCKER_HUB_KEYRING_KEY in keyring['creds']:
        return [_match_view(c, DOCKER_HUB_KEYRING_KEY, 'docker_hub_fallback')
                for c in keyring['creds'][DOCKER_HUB_KEYRING_KEY]]
    return []


def match_credentials(image, configs):
    """The pull-secret credentials the kubelet tries for ``image``, in the order it tries them.

    ``BasicDockerKeyring.Lookup`` (keyring.go): every key of the reverse-sorted index that
    ``URLsMatchStr(key, image)`` contributes all its credentials (a longer path sorts before
    its parent, a literal host before ``*``); only when nothing matched and
    ``isDefaultRegistryMatch(image)``, the credentials under the exact key
    ``index.docker.io`` (config key ``https://index.docker.io/v1/``). The image is first
    normalised like ``ParseImageName`` (repository only: ``team/app:1.0`` ->
    ``docker.io/team/app``). Pull-secret credentials come before the node's
    (``UnionDockerKeyring``), which this function does not know.

    Args: ``image`` (str), ``configs`` (see ``kubelet_keyring``).
    Returns: list of ``{"secret", "key", "config_key", "username", "via":
    "match"|"docker_hub_fallback", "empty_credentials": bool}`` (never a password); ``[]``
    means the pull goes out anonymously unless node credentials apply.
    Raises: ``ValidationError(field='image')`` for an image the kubelet rejects
    (``InvalidImageName``); ``KubeletKeyringError`` when a secret's JSON would make
    ``MakeDockerKeyring`` fail (then the kubelet tries no credentials at all and the pull
    fails).
    """
    ref = parse_image_reference(image)
    keyring = kubelet_keyring(configs)
    if keyring['error']:
        raise KubeletKeyringError(
            'the kubelet cannot read pull secret %s (%s): it fails the pull without trying any credentials'
            % (keyring['error']['secret'], keyring['error']['reason']), field='imagePullSecrets',
            secret=keyring['error']['secret'])
    return _lookup(ref.name, keyring)


def _key_host(loc):
    """A lenient reading of a config key for diagnosis: (scheme or '', hostport, path)."""
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://', loc)
    scheme = m.group(1) if m else ''
    rest = loc[m.end():] if m else loc
    hostport, sep, path = rest.partition('/')
    return scheme, hostport, (sep + path)


def _split_lenient(hostport):
    try:
        host, port = _go_split_host_port(hostport)
    except _GoURLError:
        host, port = hostport, ''
    return host, port


def _safe_match(glob_parts, target_parts):
    try:
        return len(glob_parts) == len(target_parts) and _labels_match(glob_parts, target_parts)
    except _BadPattern:
        return False


def _near_miss(loc, key, image_name, image_registry):
    """(reason, detail) when the config key ``loc`` (keyring key ``key`` or None) almost
    matches ``image_name``; None when it is unrelated."""
    t_host, t_port = _split_lenient(image_name.split('/', 1)[0])
    t_path = '/' + image_name.split('/', 1)[1]
    t_parts = t_host.split('.')
    scheme, i_hostport, i_path = _key_host(loc)
    i_host, i_port = _split_lenient(i_hostport.lower())
    i_parts = i_host.split('.')
    related = _safe_match(i_parts, t_parts) or (
        i_host in DOCKER_HUB_ALIASES and image_registry == 'docker.io')
    if scheme and scheme not in ('https', 'http') or key is None:
        if related:
            if key is None:
                return ('scheme_or_path', 'the kubelet cannot parse %r as a URL and skips it' % loc)
            return ('scheme_or_path', 'the kubelet only strips a lowercase https:// or http:// scheme; %r is read '
                                      'as host %r' % (loc, key.split('/')[0]))
        return None
    k_hostport = key.split('/', 1)[0]
    k_path = '/' + key.split('/', 1)[1] if '/' in key else ''
    k_host, k_port = _split_lenient(k_hostport)
    k_parts = k_host.split('.')
    if image_registry == 'docker.io' and k_host.lower() in DOCKER_HUB_ALIASES and k_host.lower() != 'docker.io':
        if k_host.lower() in _HUB_NEVER_MATCHED:
            return ('docker_hub_alias', 'key %s is never used for Docker Hub images (they are looked up as '
                                        'docker.io/...); use %s' % (loc, DOCKER_HUB_KEY))
        if key != DOCKER_HUB_KEYRING_KEY:
            return ('docker_hub_alias', 'index.docker.io is only used through the Docker Hub fallback, which needs '
                                        'the exact key %s (no port or repository path); for a path-scoped key '
                                        'use docker.io/<path>' % DOCKER_HUB_KEY)
        return ('docker_hub_alias', 'the Docker Hub fallback to %s is only used when no other key matched the image'
                % loc)
    lower_parts = [p.lower() for p in k_parts]
    if (k_host != k_host.lower() or k_path != k_path.lower()) and _safe_match(lower_parts, t_parts) \
            and k_port == t_port and t_path.startswith(k_path.lower()):
        return ('case', 'the kubelet compares hosts and paths case-sensitively; image hosts are lowercase: '
                        'use %s' % key.lower())
    if _safe_match(lower_parts, t_parts) and k_port != t_port:
        return ('port_mismatch', 'key port %r != image port %r; the kubelet compares ports exactly (no port is '
                                 'not :443)' % (k_port or '(none)', t_port or '(none)'))
    if len(k_parts) != len(t_parts) and min(len(k_parts), len(t_parts)) >= 2:
        n = min(len(k_parts), len(t_parts))
        try:
            suffix_ok = _labels_match([p.lower() for p in k_parts[-n:]], t_parts[-n:])
        except _BadPattern:
            suffix_ok = False
        if suffix_ok:
            return ('label_count', 'key host %s has %d labels, image host %s has %d; a kubelet glob matches one '
                                   'label only' % (k_host, len(k_parts), t_host, len(t_parts)))
    if any(ch in k_host for ch in _GLOB_CHARS) and len(k_parts) == len(t_parts):
        literal = [(g, t) for g, t in zip(k_parts, t_parts) if not any(ch in g for ch in _GLOB_CHARS)]
        try:
            _labels_match(k_parts, t_parts)
            bad = False
        except _BadPattern:
            bad = True
        if bad:
            return ('glob', 'malformed glob in key %s: the kubelet treats it as no match' % loc)
        if len(literal) >= 2 and all(g == t for g, t in literal):
            return ('glob', 'glob %s does not match host %s' % (k_host, t_host))
    if _safe_match(k_parts, t_parts) and k_port == t_port and not t_path.startswith(k_path):
        return ('scheme_or_path', 'key path %s is not a prefix of image path %s' % (k_path, t_path))
    return None


def explain_near_misses(image, configs):
    """Keys in the pull secrets that almost applied to ``image`` but were not used, and why.

    Uses the same kubelet model as ``match_credentials`` (keyring.go / config.go /
    secrets.go). A key is listed when it did not contribute credentials but concerns the
    image's registry. ``reason`` is one of ``NEAR_MISS_REASONS``:
    ``port_mismatch`` (ports differ: ``reg:443`` vs ``reg``), ``docker_hub_alias``
    (``registry-1.docker.io``, ``index.docker.io/<path>``, or the Hub fallback key shadowed
    by another match), ``label_count`` (``*.example.com`` vs ``example.com`` /
    ``a.b.example.com``), ``case`` (uppercase host or path), ``scheme_or_path`` (an
    unparseable key, a scheme the kubelet does not strip, or a path that is not a prefix of
    the image path), ``glob`` (a glob label that does not match, or a malformed glob).

    Args: ``image`` (str), ``configs`` (see ``kubelet_keyring``).
    Returns: list of ``{"secret", "config_key", "key", "reason", "detail"}`` in keyring
    order (``key`` is None when the kubelet skips the entry). No secrets.
    Raises: ``ValidationError(field='image')`` for an invalid image.
    """
    ref = parse_image_reference(image)
    keyring = kubelet_keyring(configs)
    used = set((m['secret'], m['config_key']) for m in _lookup(ref.name, keyring))
    out = []
    seen = set()
    for key in keyring['index']:
        for cred in keyring['creds'][key]:
            ident = (cred['secret'], cred['config_key'])
            if ident in used or ident in seen:
                continue
            seen.add(ident)
            miss = _near_miss(cred['config_key'], key, ref.name, ref.registry)
            if miss:
                out.append({'secret': cred['secret'], 'config_key': cred['config_key'], 'key': key,
                            'reason': miss[0], 'detail': miss[1]})
    for item in keyring['skipped']:
        miss = _near_miss(item['config_key'], None, ref.name, ref.registry)
        if miss:
            out.append({'secret': item['secret'], 'config_key': item['config_key'], 'key': None,
                        'reason': miss[0], 'detail': miss[1]})
    return out


def kubelet_lookup(image, configs):
    """Everything the probe reports about one image and a pod's pull secrets.

    Args: ``image`` (str), ``configs`` (see ``kubelet_keyring``).
    Returns: dict ``{"image": str, "name": normalised repository (what the kubelet looks up),
    "matches": [...as match_credentials...], "anonymous": bool (no pull-secret credential
    applies; node credentials may still), "keyring_error": None or {"secret", "reason"}
    (the kubelet fails the pull before trying credentials), "near_misses": [...as
    explain_near_misses...], "ignored_secrets": [{"secret", "reason"}], "skipped_keys":
    [{"secret", "config_key", "reason"}]}``. No secrets.
    Raises: ``ValidationError(field='image')`` for an invalid image.
    """
    ref = parse_image_reference(image)
    keyring = kubelet_keyring(configs)
    matches = [] if keyring['error'] else _lookup(ref.name, keyring)
    return {
        'image': image,
        'name': ref.name,
        'matches': matches,
        'anonymous': not matches and not keyring['error'],
        'keyring_error': keyring['error'],
        'near_misses': explain_near_misses(image, configs),
        'ignored_secrets': keyring['ignored'],
        'skipped_keys': keyring['skipped'],
    }


def inspect_config(secret_type, config):
    """Secret-level problems that make a pull secret useless to the kubelet (for diagnosis).

    Args: ``secret_type`` (str), ``config`` (parsed JSON from ``decode_secret``, or None).
    Returns: list of ``{"code", "message"}`` (no secrets); codes: ``wrong_secret_type``
    (secrets.go reads only the two docker types; an Opaque secret is ignored),
    ``shape_mismatch`` (``auths`` wrapper under ``kubernetes.io/dockercfg``, or no ``auths``
    under ``kubernetes.io/dockerconfigjson``: BR-03), ``unreadable`` (the kubelet's JSON
    decoding fails and the pull fails), ``identitytoken_only`` / ``registrytoken_only``
    (config.go reads only username/password/email/auth: BR-19), ``empty_credentials``
    (an entry with no username/password: BR-01), ``no_entries``.
    """
    issues = []
    if secret_type not in DATA_KEYS:
        return [{'code': 'wrong_secret_type',
                 'message': 'secret type %s is ignored by the kubelet; only %s (key .dockerconfigjson) and %s '
                            '(key .dockercfg) are read' % (secret_type, SECRET_TYPE_DOCKERCONFIGJSON,
                                                           SECRET_TYPE_DOCKERCFG)}]
    if isinstance(config, dict):
        has_auths = _go_field(config, 'auths') is not _MISSING
        if secret_type == SECRET_TYPE_DOCKERCFG and has_auths:
            issues.append({'code': 'shape_mismatch',
                           'message': 'a kubernetes.io/dockercfg secret holds an "auths" wrapper: the kubelet reads '
                                      'a registry literally named "auths" and no credentials for %s'
                                      % ', '.join(sorted(str(k) for k in (_go_field(config, 'auths') or {})))})
        elif secret_type == SECRET_TYPE_DOCKERCONFIGJSON and not has_auths and config:
            issues.append({'code': 'shape_mismatch',
                           'message': 'a kubernetes.io/dockerconfigjson secret has no "auths" wrapper: the kubelet '
                                      'finds no credentials for %s' % ', '.join(sorted(str(k) for k in config))})
    entries, _ignored, err = _kubelet_entries(config, secret_type)
    if err:
        issues.append({'code': 'unreadable', 'message': 'the kubelet cannot decode this secret (%s) and fails '
                                                        'every pull that references it' % err})
        return issues
    if not entries and not issues:
        issues.append({'code': 'no_entries', 'message': 'the secret holds no registry entries'})
    raw_map = {}
    if isinstance(config, dict):
        raw_map = config if secret_type == SECRET_TYPE_DOCKERCFG else (_go_field(config, 'auths') or {})
        if not isinstance(raw_map, dict):
            raw_map = {}
    for loc, user, password in entries:
        if user or password:
            if not password:
                raw = raw_map.get(loc) if isinstance(raw_map.get(loc), dict) else {}
                if _go_field(raw, 'identitytoken') not in (_MISSING, None, ''):
                    issues.append({'code': 'identitytoken_only',
                                   'message': 'entry %s has an identitytoken and an empty password: the kubelet '
                                              'ignores identitytoken and sends an empty password' % loc})
            continue
        raw = raw_map.get(loc) if isinstance(raw_map.get(loc), dict) else {}
        if _go_field(raw, 'identitytoken') not in (_MISSING, None, ''):
            code, what = 'identitytoken_only', 'identitytoken'
        elif _go_field(raw, 'registrytoken') not in (_MISSING, None, ''):
            code, what = 'registrytoken_only', 'registrytoken'
        else:
            code, what = 'empty_credentials', None
        if what:
            msg = 'entry %s only has an %s, which the kubelet ignores' % (loc, what)
        else:
            msg = 'entry %s has no username/password/auth (credentials delegated to a helper?)' % loc
        issues.append({'code': code, 'message': msg})
    return issues


# ---------------------------------------------------------------------------------------------
# Writer / reader side
# ---------------------------------------------------------------------------------------------

_HOST_CHARS_RE = re.compile(r'^[A-Za-z0-9._\-*\[\]]+$')
_PATH_RE = re.compile(r'^(?:/[a-z0-9._-]*)+$')


def normalize_server(server, field='server'):
    """The ``auths`` key to write for a registry server, and warnings.

    The key is the **kubelet's own keyring key** (``BasicDockerKeyring.Add`` in
    pkg/credentialprovider/keyring.go), written without a scheme, so that what we write is
    exactly what the kubelet matches (and ``docker``/``crane``, which also reduce keys to
    the host, agree):

    * a lowercase-or-not ``https://``/``http://`` scheme is dropped (the kubelet ignores it);
    * a path starting with ``/v1/`` or ``/v2/`` loses that prefix (``/v2/team`` -> ``/team``),
      ``/`` or an empty path gives the bare ``host[:port]``; other paths are kept: the
      kubelet scopes the credential to that repository prefix (plain string prefix);
    * Docker Hub in any spelling (``docker.io``, ``index.docker.io``,
      ``registry-1.docker.io``, ``registry.hub.docker.com``, with scheme, ``/v1/``,
      ``/v1``, ``/v2/``, a port) is written as ``DOCKER_HUB_KEY``
      (``https://index.docker.io/v1/``), which the kubelet uses for every ``docker.io/...``
      image through its Docker Hub fallback and which Docker clients look up; a Hub key
      with a repository path is written ``docker.io/<path>``, the only Hub spelling whose
      path scoping the kubelet honours (``index.docker.io/<path>`` has the wrong label
      count and is not the fallback key).

    Keys the kubelet would never match for the images the user means are **normalised**
    (so pulls work) and a warning names the change: ``registry-1.docker.io`` /
    ``registry.hub.docker.com`` (never matched for ``docker.io/...`` images), uppercase in
    the host or path (matching is case-sensitive, image names are lowercase), ``/v1`` or
    ``/v2`` without a trailing slash (the kubelet would read it as a repository path),
    surrounding whitespace. An explicit ``:443`` or ``:80`` is **kept** with a warning: the
    kubelet compares ports as strings, so such a key matches only images written with that
    port, and an image reference may legitimately carry it; the warning names the fix (use
    the bare host, or list both spellings). Globs (``*.azurecr.io``) are kept.

    Args: ``server`` (str), ``field`` (option name for errors).
    Returns: ``(key, warnings)``; ``warnings`` is a list of str (no secrets).
    Raises: ``ValidationError(field=field)`` for a non-string or empty server, inner
    whitespace, a scheme other than http(s), user info, a query or fragment (``?`` is
    also refused as a glob: the kubelet's URL parser reads it as a query), a bad port,
    empty labels, characters the kubelet's URL parser rejects, a malformed glob, or a path
    that can never prefix a repository name.
    """
    warnings = []
    if not isinstance(server, str):
        raise ValidationError('%s: expected a registry host such as registry.example.com, got %s'
                              % (field, type(server).__name__), field=field)
    text = server.strip()
    if text != server:
        warnings.append('%s: removed leading/trailing whitespace from %r' % (field, text))
    if not text:
        raise ValidationError('%s: the registry server is empty; give a host such as registry.example.com'
                              % field, field=field)
    if '@' in text:
        # may hold user:password -- never echo it
        raise ValidationError('%s: the registry server contains user info (@); give only the host and pass '
                              'credentials in username/password' % field, field=field)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7f for ch in text):
        raise ValidationError('%s: the registry server %r contains whitespace or control characters'
                              % (field, text), field=field)
    scheme, hostport, path = _key_host(text)
    if scheme:
        if scheme.lower() not in ('http', 'https'):
            raise ValidationError('%s: %r: the kubelet only understands https:// or http:// (and ignores the '
                                  'scheme); give the registry host, e.g. %s' % (field, text, hostport), field=field)
    elif '://' in text or text.startswith('//'):
        raise ValidationError('%s: %r is not a registry host' % (field, text), field=field)
    if '?' in text or '#' in text:
        raise ValidationError('%s: %r contains "?" or "#": the kubelet parses keys as URLs, so they would start a '
                              'query or fragment (use "*" for a glob label)' % (field, text), field=field)
    if '%' in text or '\\' in text:
        raise ValidationError('%s: %r contains "%%" or "\\", which cannot be used in a registry key'
                              % (field, text), field=field)
    if not hostport:
        raise ValidationError('%s: %r has no host' % (field, text), field=field)
    # host and port
    if hostport.startswith('['):
        m = re.match(r'^\[([0-9A-Fa-f:.]+)\](?::([0-9]*))?$', hostport)
        if not m:
            raise ValidationError('%s: %r is not a valid bracketed IPv6 host[:port]' % (field, text), field=field)
        host, port = '[' + m.group(1) + ']', m.group(2) or ''
    else:
        if hostport.count(':') > 1:
            raise ValidationError('%s: %r has more than one ":"; write an IPv6 address in brackets'
                                  % (field, text), field=field)
        host, _sep, port = hostport.partition(':')
        if not _HOST_CHARS_RE.match(host):
            raise ValidationError('%s: host %r contains characters that are not allowed in a registry host '
                                  '(letters, digits, "-", ".", and the globs "*" and "[...]")' % (field, host),
                                  field=field)
        if any(label == '' for label in host.split('.')):
            raise ValidationError('%s: host %r has an empty label (leading, trailing or doubled "."); the kubelet '
                                  'counts labels, so it would never match' % (field, host), field=field)
        for label in host.split('.'):
            try:
                _go_filepath_match(label, '')
            except _BadPattern:
                raise ValidationError('%s: host label %r is a malformed glob' % (field, label), field=field)
    if port:
        if not port.isdigit() or not port.isascii():
            raise ValidationError('%s: port %r in %r is not a number' % (field, port, text), field=field)
        if (len(port) > 1 and port[0] == '0') or not 0 < int(port) < 65536:
            raise ValidationError('%s: port %r in %r must be 1-65535 without leading zeros (the kubelet compares '
                                  'ports as text)' % (field, port, text), field=field)
    if host != host.lower():
        warnings.append('%s: the kubelet matches registry hosts case-sensitively and image names use lowercase '
                        'hosts: wrote %r instead of %r' % (field, host.lower(), host))
        host = host.lower()
    # path, as the kubelet reduces it (lowercase first: repository paths are always lowercase)
    if path != path.lower():
        warnings.append('%s: repository paths are lowercase and the kubelet compares them case-sensitively: '
                        'wrote path %r instead of %r' % (field, path.lower(), path))
        path = path.lower()
    if path in ('/v1', '/v2'):
        warnings.append('%s: %r: "%s" without a trailing slash would be read by the kubelet as a repository path '
                        'prefix; dropped it' % (field, text, path))
        path = ''
    if path.startswith('/v1/') or path.startswith('/v2/'):
        if path[4:]:
            warnings.append('%s: the kubelet drops a leading "%s" from key paths, so this key is scoped to '
                            'repositories under %s (a namespace literally named %s cannot be path-scoped)'
                            % (field, path[:4], path[3:], path[1:3]))
        path = path[3:]
    if path == '/':
        path = ''
    if path and (not _PATH_RE.match(path) or '//' in path):
        raise ValidationError('%s: path %r in %r can never prefix a repository name (use lowercase letters, '
                              'digits, ".", "_", "-" and "/")' % (field, path, text), field=field)
    # Docker Hub
    if host in DOCKER_HUB_ALIASES:
        if host in _HUB_NEVER_MATCHED:
            written = 'docker.io' + path if path else DOCKER_HUB_KEY
            warnings.append('%s: %s is Docker Hub\'s API host, but the kubelet never uses a key spelled that way for '
                            'Docker Hub images (docker.io/...): wrote %s' % (field, host, written))
        if port:
            warnings.append('%s: Docker Hub image names never carry a port: dropped ":%s"' % (field, port))
        if not path:
            return DOCKER_HUB_KEY, warnings
        if host == 'index.docker.io':
            warnings.append('%s: the kubelet never matches index.docker.io%s (wrong label count, and the Docker Hub '
                            'fallback needs the bare key): wrote docker.io%s' % (field, path, path))
        return 'docker.io' + path, warnings
    if port in ('443', '80'):
        warnings.append('%s: key %s:%s matches only images written with ":%s" (the kubelet compares ports exactly, no '
                        'port is not :%s); if your images are written %s/..., use server %s, or list both'
                        % (field, host, port, port, port, host, host))
    return host + (':' + port if port else '') + path, warnings


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
    return entry.get('key') or normalize_server(entry.get('server'))[0]


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
        decoded = _go_b64_auth(auth)
    except ValueError:
        raise ValidationError('%s: is not valid base64 (it must be base64 of "username:password")' % field,
                              field=field)
    try:
        text = decoded.decode('utf-8')
    except UnicodeDecodeError:
        raise ValidationError('%s: does not decode to UTF-8 text' % field, field=field)
    if ':' not in text:
        try:
            inner = _go_b64_auth(text).decode('utf-8')
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

    BR-07 (Harbor robot name that lost its ``$...`` part), BR-18 (ECR 12 h tokens),
    BR-19 (ACR AAD refresh tokens), BR-20 (GitLab CI job token), GAR access tokens.
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
    if username == 'AWS' and _ECR_HOST_RE.match(key):
        hints.append('%s: ECR authorization tokens last 12 hours; schedule a refresh (rotate playbook) or use the '
                     'ECR credential provider' % key)
    if username == 'oauth2accesstoken':
        hints.append('%s: oauth2accesstoken passwords are Google access tokens valid for about 1 hour; use a '
                     'refresh schedule or Workload Identity' % key)
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
    key, warnings = normalize_server(server, field='%s.server' % field if field else 'server')
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
        inner = _go_b64_auth(password).decode('utf-8')
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
    warning (BR-20) into an error.
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
    def _no_constants(name):
        raise ValueError('invalid JSON constant %s' % name)
    return json.loads(text, parse_constant=_no_constants)


def _looks_b64(text):
    return bool(re.match(r'^[A-Za-z0-9+/_-]+={0,2}$', text))


def _b64_any(text):
    data = text.replace('\r', '').replace('\n', '')
    data += '=' * (-len(data) % 4)
    if '-' in data or '_' in data:
        return base64.urlsafe_b64decode(data)
    return base64.b64decode(data, validate=True)


def _load_config_value(value, field):
    """dict / JSON text / bytes / base64 of JSON -> (dict, warnings)."""
    warnings = []
    if isinstance(value, dict):
        return copy.deepcopy(value), warnings
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
            decoded = _b64_any(text).decode('utf-8').strip()
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
    warning; base64 of base64 is refused: BR-02). Accepts the ``{"auths": {...}}`` form
    (``auths`` matched case-insensitively like Go) and the legacy flat ``.dockercfg`` map
    (top-level keys are registries). Entry fields are matched case-insensitively
    (``Username``...: BR-09); ``auth`` wins over username/password when both are present
    and they disagree (config.go ``UnmarshalJSON``), with a warning. Fields the kubelet
    ignores are ignored (``email`` is kept). ``identitytoken`` (BR-19): with an empty
    password the entry is unusable by the kubelet; ``identity_token='refuse'`` reports it
    as having no inline credentials, ``'rewrite'`` turns it into username (from ``auth``,
    else ``00000000-0000-0000-0000-000000000000``) + password = the token, with a warning;
    the empty-password ``auth`` is never kept. An ``identitytoken`` next to a real password
    is dropped with a warning.

    Registries without inline credentials (``credsStore`` / ``credHelpers`` / ``{}``
    entries / token-only entries: BR-01) are refused with a ValidationError listing each
    one and why (``delegated to helper "desktop"``), unless their normalised key is in
    ``provided`` (the caller has credentials for them) or ``on_missing='warn'``.

    Args: ``value``; ``identity_token`` ('refuse'|'rewrite'); ``provided`` (iterable of
    servers/keys); ``on_missing`` ('fail'|'warn'); ``field`` (option name).
    Returns: ``(entries, warnings)``: list of RegistryEntry (one per normalised key, in
    document order), list of str (no secrets).
    Raises: ``ValidationError(field=field)`` for undecodable input, non-object shapes,
    invalid entries, registries without inline credentials, two spellings of one key
    with different credentials (BR-11, naming both spellings), or no usable entry.
    """
    if identity_token not in ('refuse', 'rewrite'):
        raise ValueError('identity_token must be refuse or rewrite')
    doc, warnings = _load_config_value(value, field)
    auths = _go_field(doc, 'auths')
    creds_store = _go_field(doc, 'credsStore')
    cred_helpers = _go_field(doc, 'credHelpers')
    creds_store = creds_store if isinstance(creds_store, str) and creds_store else None
    cred_helpers = cred_helpers if isinstance(cred_helpers, dict) else {}
    if auths is not _MISSING:
        if auths is None:
            auths = {}
        if not isinstance(auths, dict):
            raise ValidationError('%s: "auths" must be an object mapping registry to credentials' % field,
                                  field=field)
    elif creds_store or cred_helpers or any(_go_fold(str(k)) in _CLIENT_SETTINGS for k in doc):
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
    provided_keys = set()
    for p in provided or ():
        try:
            provided_keys.add(normalize_server(p)[0])
        except ValidationError:
            provided_keys.add(p)

    entries, missing = [], []
    for loc, raw in auths.items():
        where = '%s: auths[%r]' % (field, loc)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValidationError('%s must be an object with username/password or auth' % where, field=field)
        vals = {}
        for name in ('username', 'password', 'auth', 'email', 'identitytoken', 'registrytoken'):
            v = _go_field(raw, name)
            v = None if v is _MISSING else v
            if v is not None and not isinstance(v, str):
                raise ValidationError('%s.%s must be a string' % (where, name), field=field)
            vals[name] = v
        has_inline = bool(vals['auth']) or bool(vals['username']) or bool(vals['password'])
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
                entries.append(entry)
                continue
            else:
                missing.append((loc, 'identitytoken only (the kubelet ignores identitytoken; give this registry '
                                     'username and password in registries, e.g. the ACR token as password)'))
                continue
        if not has_inline:
            helper = cred_helpers.get(loc) or creds_store
            if helper:
                reason = 'no inline credentials (delegated to helper "%s")' % helper
            elif vals['registrytoken']:
                reason = 'registrytoken only (the kubelet ignores registrytoken)'
            else:
                reason = 'no inline credentials (empty entry)'
            missing.append((loc, reason))
            continue
        entry, w = _make_entry(loc, vals['username'], vals['password'], vals['auth'], vals['email'],
                               field=where, on_disagree='warn', allow_surrounding_whitespace=True,
                               option=field)
        warnings.extend(w)
        entries.append(entry)
    for loc, helper in cred_helpers.items():
        if loc not in auths:
            missing.append((loc, 'no inline credentials (delegated to helper "%s")' % helper))

    still_missing = []
    for loc, reason in missing:
        try:
            k = normalize_server(loc)[0]
        except ValidationError:
            k = loc
        if k not in provided_keys and loc not in provided_keys:
            still_missing.append({'registry': loc, 'reason': reason})
    if still_missing:
        listing = '; '.join('%s: %s' % (m['registry'], m['reason']) for m in still_missing)
        if on_missing == 'fail' or not entries:
            raise ValidationError('%s: %d registr%s without credentials the kubelet can use: %s. Give username/'
                                  'password for them, or remove them from the config'
                                  % (field, len(still_missing), 'y' if len(still_missing) == 1 else 'ies', listing),
                                  field=field, registries_without_credentials=still_missing)
        warnings.append('%s: skipped registries without inline credentials: %s' % (field, listing))
    if not entries and not missing:
        raise ValidationError('%s: holds no registries' % field, field=field)

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
    return unique, warnings


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
    ensure_ascii=False)`` encoded as UTF-8. Deterministic. Returns bytes."""
    return json.dumps(config, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def decode_secret(secret_type, data):
    """Decode a Secret's docker config from its ``data`` map (base64 values, as the API returns).

    Reads ``.dockerconfigjson`` for ``kubernetes.io/dockerconfigjson`` and ``.dockercfg``
    for ``kubernetes.io/dockercfg`` (secrets.go); for any other type, whichever of the two
    keys is present (e.g. an Opaque secret: BR-04; the kubelet ignores it).
    Args: ``secret_type`` (str), ``data`` (dict of str -> base64 str).
    Returns: the parsed JSON document as stored (dict; not reshaped: the ``{"auths": ...}``
    form or the flat map).
    Raises: ``SecretDecodeError`` (a ``ValidationError`` and a ``ValueError``,
    ``field='data'``) when the key is missing or empty, or the value is not base64, not
    UTF-8, not JSON (base64 applied twice is named as such: BR-02), or not a JSON object.
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


def _form(config, legacy):
    """('auths'|'flat', wrapper key or None, map, other top-level dict)."""
    if legacy is True:
        return 'flat', None, config, {}
    wrapper = None
    for k in config:
        if isinstance(k, str) and _go_fold(k) == 'AUTHS':
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
        v = _go_field(raw, name)
        vals[name] = v if isinstance(v, str) else ''
    user, password, valid = vals['username'], vals['password'], True
    consistent = True
    if vals['auth']:
        try:
            user, password = _split_auth(_go_b64_auth(vals['auth']))
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
    extras = dict((k, v) for k, v in raw.items() if _go_fold(str(k)) not in ('USERNAME', 'PASSWORD', 'AUTH', 'EMAIL'))
    if extras:
        out['extra'] = json.loads(serialize_config(extras).decode('utf-8'))
    return out


def canonical(config, legacy=None):
    """A comparable normal form of a docker config, for idempotency.

    Equal for documents that differ only in key order, whitespace, JSON escaping or
    ``auth`` encoding (padded/unpadded); different when the credentials the kubelet
    reads change, when the stored shape changes (field names such as ``Username`` vs
    ``username``, an added/missing ``auth``, extra fields like ``identitytoken``, the
    ``auths`` wrapper present or not: BR-03, BR-09), when ``auth`` disagrees with
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


def _same_registry_key(loc):
    try:
        return normalize_server(loc)[0]
    except ValidationError:
        return loc


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
    desired_keys = set(_same_registry_key(k) for k in d_inner)
    merged = {}
    for loc, value in c_inner.items():
        if _same_registry_key(loc) not in desired_keys:
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
            item['username'] = _display(c['username']) if c['username'] else None
            for k in raw:
                folded = _go_fold(str(k))
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
