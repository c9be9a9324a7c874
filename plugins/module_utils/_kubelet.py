# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A faithful model of how the kubelet reads pull secrets and picks credentials for an image.

Private to this collection. Pure: data in, data out, no network, no cluster. Used by
registry_probe's diagnosis and by registry_gc when it borrows a pull secret:
``kubelet_key``, ``urls_match``, ``is_default_registry_match``, ``kubelet_keyring``,
``match_credentials``, ``explain_near_misses``, ``kubelet_lookup``, ``inspect_config``.

Kubelet sources reproduced (kubernetes/kubernetes): ``pkg/credentialprovider/keyring.go``
(``BasicDockerKeyring.Add``/``Lookup``, ``isDefaultRegistryMatch``, ``URLsMatchStr``,
``URLsMatch``, ``ParseSchemelessURL``, ``SplitURL``), ``pkg/credentialprovider/config.go``
(``DockerConfigEntry.UnmarshalJSON``, ``decodeDockerConfigFieldAuth``) and
``pkg/credentialprovider/secrets/secrets.go`` (``MakeDockerKeyring``); the Go standard library
parts they rely on are in ``_go_compat``. Image names are normalised with ``_imageref``
(distribution/reference ``normalize.go``). The rules, in prose: docs/reference/kubelet-matching.md.

Nothing returned for display (warnings, near misses, match results) contains a password,
token or ``auth`` value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json

from ansible_collections.registrylink.k8s.plugins.module_utils._dockerconfig import DATA_KEYS, SECRET_TYPE_DOCKERCFG, SECRET_TYPE_DOCKERCONFIGJSON, display_text
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._go_json import GoJSONError, go_unmarshal_docker_config
from ansible_collections.registrylink.k8s.plugins.module_utils._go_compat import (
    MISSING, BadPattern, GoURLError, go_b64_auth, go_field, go_filepath_match, go_split_host_port, go_url_parse,
    split_auth,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import (
    DOCKER_HUB_ALIASES, DOCKER_HUB_KEY, DOCKER_HUB_KEYRING_KEY, DOCKER_HUB_NEVER_MATCHED, GLOB_CHARS, split_server,
)

NEAR_MISS_REASONS = ('port_mismatch', 'docker_hub_alias', 'label_count', 'case', 'scheme_or_path', 'glob')


class KubeletKeyringError(ValidationError):
    """The kubelet itself would fail to build its keyring from these secrets (``MakeDockerKeyring``
    returns the JSON error), so the pull fails before any credential is tried. ``secret`` names
    the offending secret."""


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
        host, path = go_url_parse(value)
    except GoURLError:
        return None
    if path.startswith('/v2/') or path.startswith('/v1/'):
        path = path[3:]
    if path and path != '/':
        return host + path
    return host


def _parse_schemeless(value):
    """``ParseSchemelessURL`` + ``SplitURL``: (labels, port, path) or raises GoURLError."""
    host, path = go_url_parse('https://' + value)
    try:
        hostname, port = go_split_host_port(host)
    except GoURLError:
        hostname, port = host, ''
    return hostname.split('.'), port, path


def _labels_match(glob_parts, target_parts):
    for glob_label, target_label in zip(glob_parts, target_parts):
        if not go_filepath_match(glob_label, target_label):
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
    except GoURLError:
        return False
    if gport != tport or len(gparts) != len(tparts) or not tpath.startswith(gpath):
        return False
    try:
        return _labels_match(gparts, tparts)
    except BadPattern:
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


def kubelet_secret_payload(secret_type, data):
    """The bytes the kubelet decodes from a Secret (``secrets.go`` ``MakeDockerKeyring``).

    Args: ``secret_type`` (str), ``data`` (the Secret's ``data``: str -> base64, as the API
    returns it). Returns: bytes of ``.dockerconfigjson`` for ``kubernetes.io/dockerconfigjson``
    or of ``.dockercfg`` for ``kubernetes.io/dockercfg``; None when the kubelet reads nothing
    from the Secret (another type, the key missing, empty, or not base64). Raises nothing.
    """
    key = DATA_KEYS.get(secret_type)
    raw = (data or {}).get(key) if key else None
    if raw in (None, '', b''):
        return None
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None
    return payload or None


def _kubelet_entries(config, secret_type):
    """What ``secrets.go`` ``MakeDockerKeyring`` reads from one secret.

    ``config`` is the payload (bytes) exactly as the kubelet reads it (see
    ``kubelet_secret_payload``), or an already parsed document (dict, encoded back to JSON
    first), or None (nothing to read). The payload is decoded with Go's ``encoding/json``
    semantics (``_go_json``): what Go rejects is an error, and duplicated or case-folded
    fields, invalid UTF-8 and any nesting depth behave as in the kubelet.

    Returns (entries, ignored_reason, error): ``entries`` a list of
    ``(config_key, username, password)``; ``ignored_reason`` set when the kubelet skips the
    secret (type); ``error`` set when ``json.Unmarshal`` fails (the kubelet then fails the
    whole pull, whatever the other Secrets hold). ``auth`` overrides username/password
    (``DockerConfigEntry.UnmarshalJSON``); a bad ``auth`` is an error too, even in an entry
    that a later duplicate key replaces.
    """
    if secret_type not in DATA_KEYS:
        return [], 'secret type %s is ignored by the kubelet' % secret_type, None
    if config is None:
        return [], None, None
    if isinstance(config, (bytes, bytearray)):
        payload = bytes(config)
    else:
        try:
            payload = json.dumps(config, ensure_ascii=True).encode('ascii')
        except (TypeError, ValueError, RecursionError):
            return [], None, 'the docker config cannot be encoded as JSON'
    if not payload:
        return [], None, None
    try:
        decoded = go_unmarshal_docker_config(payload, secret_type == SECRET_TYPE_DOCKERCFG,
                                             lambda auth: split_auth(go_b64_auth(auth)))
    except GoJSONError as exc:
        return [], None, display_text(str(exc))
    return [(loc, user, password) for loc, (user, password) in decoded.items()], None, None


def kubelet_keyring(configs):
    """Build the kubelet's pull-secret keyring (``secrets.go`` ``MakeDockerKeyring`` +
    ``BasicDockerKeyring.Add``).

    Args: ``configs``: list of ``(secret_name, config)`` or ``(secret_name, config,
    secret_type)`` (or dicts with ``name``/``config``/``type``), in the pod's
    ``imagePullSecrets`` order. ``config`` is what the secret stores: best the payload
    bytes the kubelet reads (``kubelet_secret_payload``), decoded here with Go's JSON rules;
    or the parsed document (the ``{"auths": ...}`` document for
    ``kubernetes.io/dockerconfigjson``, the default, the flat map for
    ``kubernetes.io/dockercfg``); ``None`` for an empty payload.
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
            'username': display_text(cred['username']), 'via': via,
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


def _split_lenient(hostport):
    try:
        host, port = go_split_host_port(hostport)
    except GoURLError:
        host, port = hostport, ''
    return host, port


def _safe_match(glob_parts, target_parts):
    try:
        return len(glob_parts) == len(target_parts) and _labels_match(glob_parts, target_parts)
    except BadPattern:
        return False


def _near_miss(loc, key, image_name, image_registry):
    """(reason, detail) when the config key ``loc`` (keyring key ``key`` or None) almost
    matches ``image_name``; None when it is unrelated."""
    t_host, t_port = _split_lenient(image_name.split('/', 1)[0])
    t_path = '/' + image_name.split('/', 1)[1]
    t_parts = t_host.split('.')
    scheme, i_hostport, i_path = split_server(loc)
    i_host, i_port = _split_lenient(i_hostport.lower())
    i_parts = i_host.split('.')
    related = _safe_match(i_parts, t_parts) or (
        i_host in DOCKER_HUB_ALIASES and image_registry == 'docker.io')
    if key is None and '[' in i_hostport and len(i_parts) == len(t_parts):
        return ('glob', 'the kubelet cannot parse %r as a URL ("[" may only open an IPv6 address) and skips it' % loc)
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
        if k_host.lower() in DOCKER_HUB_NEVER_MATCHED:
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
        except BadPattern:
            suffix_ok = False
        if suffix_ok:
            return ('label_count', 'key host %s has %d labels, image host %s has %d; a kubelet glob matches one '
                                   'label only' % (k_host, len(k_parts), t_host, len(t_parts)))
    if any(ch in k_host for ch in GLOB_CHARS) and len(k_parts) == len(t_parts):
        literal = [(g, t) for g, t in zip(k_parts, t_parts) if not any(ch in g for ch in GLOB_CHARS)]
        try:
            _labels_match(k_parts, t_parts)
            bad = False
        except BadPattern:
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


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def inspect_config(secret_type, config, payload=None):
    """Secret-level problems that make a pull secret useless to the kubelet (for diagnosis).

    Args: ``secret_type`` (str), ``config`` (parsed JSON from ``decode_secret``, or None),
    ``payload`` (the bytes the kubelet decodes, ``kubelet_secret_payload``; when given,
    ``unreadable`` and the entries follow Go's decoding of it rather than ``config``).
    Returns: list of ``{"code", "message"}`` (no secrets); codes: ``wrong_secret_type``
    (secrets.go reads only the two docker types; an Opaque secret is ignored),
    ``shape_mismatch`` (``auths`` wrapper under ``kubernetes.io/dockercfg``, or no ``auths``
    under ``kubernetes.io/dockerconfigjson``), ``unreadable`` (the kubelet's JSON
    decoding fails and the pull fails), ``identitytoken_only`` / ``registrytoken_only``
    (config.go reads only username/password/email/auth), ``empty_credentials``
    (an entry with no username/password, e.g. from a credential helper), ``no_entries``.
    """
    issues = []
    if secret_type not in DATA_KEYS:
        return [{'code': 'wrong_secret_type',
                 'message': 'secret type %s is ignored by the kubelet; only %s (key .dockerconfigjson) and %s '
                            '(key .dockercfg) are read' % (secret_type, SECRET_TYPE_DOCKERCONFIGJSON,
                                                           SECRET_TYPE_DOCKERCFG)}]
    if isinstance(config, dict):
        has_auths = go_field(config, 'auths') is not MISSING
        if secret_type == SECRET_TYPE_DOCKERCFG and has_auths:
            issues.append({'code': 'shape_mismatch',
                           'message': 'a kubernetes.io/dockercfg secret holds an "auths" wrapper: the kubelet reads '
                                      'a registry literally named "auths" and no credentials for %s'
                                      % ', '.join(sorted(str(k) for k in _as_dict(go_field(config, 'auths'))))})
        elif secret_type == SECRET_TYPE_DOCKERCONFIGJSON and not has_auths and config:
            issues.append({'code': 'shape_mismatch',
                           'message': 'a kubernetes.io/dockerconfigjson secret has no "auths" wrapper: the kubelet '
                                      'finds no credentials for %s' % ', '.join(sorted(str(k) for k in config))})
    entries, _ignored, err = _kubelet_entries(payload if payload is not None else config, secret_type)
    if err:
        issues.append({'code': 'unreadable', 'message': 'the kubelet cannot decode this secret (%s) and fails '
                                                        'every pull that references it' % err})
        return issues
    if not entries and not issues:
        issues.append({'code': 'no_entries', 'message': 'the secret holds no registry entries'})
    raw_map = {}
    if isinstance(config, dict):
        raw_map = config if secret_type == SECRET_TYPE_DOCKERCFG else (go_field(config, 'auths') or {})
        if not isinstance(raw_map, dict):
            raw_map = {}
    for loc, user, password in entries:
        if user or password:
            if not password:
                raw = raw_map.get(loc) if isinstance(raw_map.get(loc), dict) else {}
                if go_field(raw, 'identitytoken') not in (MISSING, None, ''):
                    issues.append({'code': 'identitytoken_only',
                                   'message': 'entry %s has an identitytoken and an empty password: the kubelet '
                                              'ignores identitytoken and sends an empty password' % loc})
            continue
        raw = raw_map.get(loc) if isinstance(raw_map.get(loc), dict) else {}
        if go_field(raw, 'identitytoken') not in (MISSING, None, ''):
            code, what = 'identitytoken_only', 'identitytoken'
        elif go_field(raw, 'registrytoken') not in (MISSING, None, ''):
            code, what = 'registrytoken_only', 'registrytoken'
        else:
            code, what = 'empty_credentials', None
        if what:
            msg = 'entry %s only has an %s, which the kubelet ignores' % (loc, what)
        else:
            msg = 'entry %s has no username/password/auth (credentials delegated to a helper?)' % loc
        issues.append({'code': code, 'message': msg})
    return issues
