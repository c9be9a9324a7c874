# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry host rules: one place that says how a registry host is written for each use.

Private to this collection. Pure: data in, data out, no network.

A registry is named in three different ways, and each use needs its own spelling. The
functions are named for what they return:

+--------------------+------------------------------+-------------------------------+------------------+---------------------------+
| function           | returns                      | Docker Hub becomes            | ``:443``         | used by                   |
+====================+==============================+===============================+==================+===========================+
| ``secret_key``     | the ``auths`` key written in | ``https://index.docker.io/    | kept, with a     | registry_secret, the      |
|                    | a pull secret (the kubelet's | v1/`` (``docker.io/<path>``   | warning (the     | credential providers,     |
|                    | own keyring key, no scheme)  | with a repository path)       | kubelet compares | docker config parse /     |
|                    |                              |                               | ports as text)   | merge (``_dockerconfig``) |
+--------------------+------------------------------+-------------------------------+------------------+---------------------------+
| ``api_host``       | ``(scheme, host[:port])`` to | ``registry-1.docker.io``      | kept             | ``RegistryClient``        |
|                    | send HTTP requests to        |                               |                  | (registry_probe,          |
|                    |                              |                               |                  | registry_gc, verify)      |
+--------------------+------------------------------+-------------------------------+------------------+---------------------------+
| ``image_host``     | the host to compare image    | ``docker.io``                 | dropped          | registry_gc's in-use scan |
|                    | references by                |                               |                  | (``_inuse``)              |
+--------------------+------------------------------+-------------------------------+------------------+---------------------------+

How the kubelet itself reduces a key it reads from a Secret is ``_kubelet.kubelet_key``;
``secret_key`` writes keys that ``kubelet_key`` leaves unchanged.

``secret_key`` has two phases: ``parse_server`` refuses what can never be a registry key
(raises ``ValidationError``), then the kubelet rewrites turn spellings the kubelet would never
match into ones it does, each with a warning. The rules are explained in
docs/reference/kubelet-matching.md.

Also here: the Docker Hub alias table, the ECR host pattern (named groups), the ACR and GAR
host patterns, and ``is_ecr_host`` / ``parse_ecr_host``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._go_compat import (
    BadPattern, go_filepath_match, is_ipv6_literal,
)

#: Every spelling of Docker Hub's host, and what it is. Image names use ``docker.io``; the
#: kubelet's Docker Hub fallback key is ``index.docker.io``; the API is served from
#: ``registry-1.docker.io``; ``registry.hub.docker.com`` is an old web/API name. A pull secret
#: key spelled as an ``api`` or ``web`` host is never matched for ``docker.io/...`` images.
DOCKER_HUB_HOSTS = collections.OrderedDict([
    ('docker.io', 'image'),
    ('index.docker.io', 'fallback'),
    ('registry-1.docker.io', 'api'),
    ('registry.hub.docker.com', 'web'),
])
DOCKER_HUB_ALIASES = tuple(DOCKER_HUB_HOSTS)
DOCKER_HUB_NEVER_MATCHED = tuple(h for h, role in DOCKER_HUB_HOSTS.items() if role in ('api', 'web'))
DOCKER_HUB_IMAGE_HOST = 'docker.io'
DOCKER_HUB_API_HOST = 'registry-1.docker.io'
#: the key written for Docker Hub (what ``kubectl create secret docker-registry`` writes by default)
DOCKER_HUB_KEY = 'https://index.docker.io/v1/'
#: the keyring key the kubelet derives from DOCKER_HUB_KEY (keyring.go ``defaultRegistryHost``)
DOCKER_HUB_KEYRING_KEY = 'index.docker.io'

#: Amazon ECR private registry hosts: ``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn][:port]``.
ECR_HOST_RE = re.compile(r'^(?P<account>\d{12})\.dkr\.ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)'
                         r'\.amazonaws\.com(?P<cn>\.cn)?(?::(?P<port>\d+))?$')
ACR_HOST_RE = re.compile(r'^[a-z0-9]+\.azurecr\.(?:io|cn|us)$')
GAR_HOST_RE = re.compile(r'^(?:[a-z0-9-]+-docker\.pkg\.dev|(?:[a-z]+\.)?gcr\.io)$')
#: the Container Registry hosts (``gcr.io`` and its regional names), served by Artifact Registry since 2025
GCR_HOST_RE = re.compile(r'^(?:[a-z]+\.)?gcr\.io$')
GCR_SHUTDOWN_NOTE = (
    '%s is a Container Registry host, and Container Registry is shut down (writes stopped in March 2025, reads in '
    'May 2025): gcr.io hosts are served by Artifact Registry, from the gcr.io repositories of projects that set them '
    'up (repository gcr.io or us.gcr.io in location us, eu.gcr.io in europe, asia.gcr.io in asia); images that were '
    'not moved are gone. Pulls are authorised by Artifact Registry roles: the puller (on GKE the node pool\'s '
    'service account) needs roles/artifactregistry.reader on that gcr.io repository or its project; '
    'roles/storage.objectViewer grants nothing for pulls any more')
#: the username of ACR tokens exchanged from an Azure AD identity
ACR_NULL_GUID = '00000000-0000-0000-0000-000000000000'

GLOB_CHARS = '*?['

_HOST_CHARS_RE = re.compile(r'^[A-Za-z0-9._\-*\[\]]+$')
_PATH_RE = re.compile(r'^(?:/[a-z0-9._-]*)+$')
_SCHEME_RE = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*)://')

#: A registry server as given, split: ``text`` (without surrounding whitespace), ``host``
#: (``[v6]`` kept in brackets), ``port`` ('' when absent), ``path`` (as given, '' when absent),
#: ``stripped`` (True when surrounding whitespace was removed).
ParsedServer = collections.namedtuple('ParsedServer', ['text', 'host', 'port', 'path', 'stripped'])


def ecr_host(registry_id, region):
    """The ECR registry host of an account in a region (``.amazonaws.com.cn`` for China regions)."""
    return '%s.dkr.ecr.%s.amazonaws.com%s' % (registry_id, region, '.cn' if region.startswith('cn-') else '')


def is_ecr_host(host, allow_port=False):
    """True when ``host`` is an Amazon ECR private registry host (with ``allow_port``, a ``:port`` may follow)."""
    m = ECR_HOST_RE.match(host or '')
    return bool(m) and (allow_port or m.group('port') is None)


def parse_ecr_host(host):
    """``(account, region)`` of an ECR registry host (port-less, path-less), or None."""
    m = ECR_HOST_RE.match(host or '')
    if not m or m.group('port') is not None:
        return None
    return m.group('account'), m.group('region')


def split_server(text):
    """A lenient split of a registry server or config key: ``(scheme or '', host[:port], path)``.

    Nothing is validated or rewritten; ``path`` keeps its leading ``/`` ('' when absent).
    """
    m = _SCHEME_RE.match(text)
    scheme = m.group(1) if m else ''
    rest = text[m.end():] if m else text
    hostport, sep, path = rest.partition('/')
    return scheme, hostport, (sep + path)


def _reduced_path(path):
    """The key path as the kubelet reads it: lowercase, ``/v1`` ``/v2`` prefixes dropped, ``/`` -> ''."""
    path = path.lower()
    if path in ('/v1', '/v2'):
        return ''
    if path.startswith('/v1/') or path.startswith('/v2/'):
        path = path[3:]
    return '' if path == '/' else path


def _parse_text(server, field):
    if not isinstance(server, str):
        raise ValidationError('%s: expected a registry host such as registry.example.com, got %s'
                              % (field, type(server).__name__), field=field)
    text = server.strip()
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
    return text


def _parse_scheme_and_chars(text, field):
    scheme, hostport, path = split_server(text)
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
    return hostport, path


def _parse_host_port(hostport, text, field):
    if hostport.startswith('['):
        m = re.match(r'^\[([0-9A-Fa-f:.]+)\](?::([0-9]*))?$', hostport)
        if not m:
            raise ValidationError('%s: %r is not a valid bracketed IPv6 host[:port]' % (field, text), field=field)
        if not is_ipv6_literal(m.group(1)):
            raise ValidationError('%s: %r: only an IPv6 address may be written in brackets (the kubelet\'s URL parser '
                                  'rejects anything else and skips the key); write an IPv4 address or a host name '
                                  'without brackets' % (field, text), field=field)
        return '[' + m.group(1) + ']', m.group(2) or ''
    if hostport.count(':') > 1:
        raise ValidationError('%s: %r has more than one ":"; write an IPv6 address in brackets'
                              % (field, text), field=field)
    host, _sep, port = hostport.partition(':')
    if not _HOST_CHARS_RE.match(host):
        raise ValidationError('%s: host %r contains characters that are not allowed in a registry host '
                              '(letters, digits, "-", ".", and the glob "*")' % (field, host),
                              field=field)
    if any(label == '' for label in host.split('.')):
        raise ValidationError('%s: host %r has an empty label (leading, trailing or doubled "."); the kubelet '
                              'counts labels, so it would never match' % (field, host), field=field)
    for label in host.split('.'):
        try:
            go_filepath_match(label, '')
        except BadPattern:
            raise ValidationError('%s: host label %r is a malformed glob' % (field, label), field=field)
    if '[' in host or ']' in host:
        raise ValidationError('%s: host %r: the kubelet\'s URL parser (Go net/url) rejects "[" anywhere but at the '
                              'start of an IPv6 address, so a "[...]" glob range is never matched and the key is '
                              'skipped; use "*" for a whole label or list the hosts' % (field, host), field=field)
    return host, port


def _check_port_and_path(port, path, text, field):
    if port:
        if not port.isdigit() or not port.isascii():
            raise ValidationError('%s: port %r in %r is not a number' % (field, port, text), field=field)
        if (len(port) > 1 and port[0] == '0') or not 0 < int(port) < 65536:
            raise ValidationError('%s: port %r in %r must be 1-65535 without leading zeros (the kubelet compares '
                                  'ports as text)' % (field, port, text), field=field)
    reduced = _reduced_path(path)
    if reduced and (not _PATH_RE.match(reduced) or '//' in reduced):
        raise ValidationError('%s: path %r in %r can never prefix a repository name (use lowercase letters, '
                              'digits, ".", "_", "-" and "/")' % (field, reduced, text), field=field)


def parse_server(server, field='server'):
    """Split a registry server given by a user, refusing what can never be a registry key.

    Args: ``server`` (str), ``field`` (option name for errors).
    Returns: ``ParsedServer(text, host, port, path, stripped)``; nothing is rewritten yet.
    Raises: ``ValidationError(field=field)`` for a non-string or empty server, inner
    whitespace, a scheme other than http(s), user info, a query or fragment (``?`` is also
    refused as a glob: the kubelet's URL parser reads it as a query), ``%`` or ``\\``, a bad
    port, empty labels, characters the kubelet's URL parser rejects, a malformed glob, a ``[``
    that does not open an IPv6 address (Go's ``net/url`` rejects ``[...]`` glob ranges and
    bracketed IPv4 or names, so the kubelet would skip the key), or a path that can never
    prefix a repository name.
    """
    text = _parse_text(server, field)
    hostport, path = _parse_scheme_and_chars(text, field)
    host, port = _parse_host_port(hostport, text, field)
    _check_port_and_path(port, path, text, field)
    return ParsedServer(text, host, port, path, text != server)


def _rewrite_case_and_path(parsed, field, warnings):
    host, path = parsed.host, parsed.path
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
                        'prefix; dropped it' % (field, parsed.text, path))
        path = ''
    if path.startswith('/v1/') or path.startswith('/v2/'):
        if path[4:]:
            warnings.append('%s: the kubelet drops a leading "%s" from key paths, so this key is scoped to '
                            'repositories under %s (a namespace literally named %s cannot be path-scoped)'
                            % (field, path[:4], path[3:], path[1:3]))
        path = path[3:]
    if path == '/':
        path = ''
    return host, path


def _docker_hub_key(host, port, path, field, warnings):
    if host in DOCKER_HUB_NEVER_MATCHED:
        written = DOCKER_HUB_IMAGE_HOST + path if path else DOCKER_HUB_KEY
        warnings.append('%s: %s is Docker Hub\'s API host, but the kubelet never uses a key spelled that way for '
                        'Docker Hub images (docker.io/...): wrote %s' % (field, host, written))
    if port:
        warnings.append('%s: Docker Hub image names never carry a port: dropped ":%s"' % (field, port))
    if not path:
        return DOCKER_HUB_KEY
    if host == DOCKER_HUB_KEYRING_KEY:
        warnings.append('%s: the kubelet never matches index.docker.io%s (wrong label count, and the Docker Hub '
                        'fallback needs the bare key): wrote docker.io%s' % (field, path, path))
    return DOCKER_HUB_IMAGE_HOST + path


def kubelet_rewrites(parsed, field='server'):
    """Turn a parsed server into the key the kubelet matches for the images the user means.

    Each rewrite adds a warning naming the change: surrounding whitespace removed; uppercase
    in the host or path lowercased (matching is case-sensitive, image names are lowercase);
    ``/v1`` or ``/v2`` without a trailing slash dropped (the kubelet would read it as a
    repository path); a leading ``/v1/`` or ``/v2/`` dropped (the kubelet does the same);
    Docker Hub in any spelling written as ``DOCKER_HUB_KEY`` (``docker.io/<path>`` with a
    path). An explicit ``:443`` or ``:80`` is kept with a warning. Globs are kept.

    Args: ``parsed`` (``ParsedServer`` from ``parse_server``), ``field`` (for messages).
    Returns: ``(key, warnings)``. Raises nothing.
    """
    warnings = []
    if parsed.stripped:
        warnings.append('%s: removed leading/trailing whitespace from %r' % (field, parsed.text))
    host, path = _rewrite_case_and_path(parsed, field, warnings)
    port = parsed.port
    if host in DOCKER_HUB_HOSTS:
        return _docker_hub_key(host, port, path, field, warnings), warnings
    if port in ('443', '80'):
        warnings.append('%s: key %s:%s matches only images written with ":%s" (the kubelet compares ports exactly, no '
                        'port is not :%s); if your images are written %s/..., use server %s, or list both'
                        % (field, host, port, port, port, host, host))
    return host + (':' + port if port else '') + path, warnings


def secret_key(server, field='server'):
    """The ``auths`` key to write in a pull secret for a registry server, and warnings.

    The key is the **kubelet's own keyring key** (``BasicDockerKeyring.Add``), written
    without a scheme, so that what we write is exactly what the kubelet matches (and
    ``docker``/``crane``, which also reduce keys to the host, agree). ``parse_server``
    refuses what can never work, ``kubelet_rewrites`` fixes what the kubelet would never
    match; see both for the rules.

    Args: ``server`` (str), ``field`` (option name for errors).
    Returns: ``(key, warnings)``; ``warnings`` is a list of str (no secrets).
    Raises: ``ValidationError(field=field)``, see ``parse_server``; and, as a last check,
    for any key the kubelet would not keep exactly as written.
    """
    from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet import kubelet_key
    parsed = parse_server(server, field)
    key, warnings = kubelet_rewrites(parsed, field)
    expected = DOCKER_HUB_KEYRING_KEY if key == DOCKER_HUB_KEY else key
    if kubelet_key(key) != expected:
        # a safety net: parse_server should have refused such a key already
        raise ValidationError('%s: %r: the kubelet would not use the key %s as written (it cannot parse it as a URL '
                              'or reads it differently); give the registry host[:port][/path]'
                              % (field, parsed.text, key), field=field)
    return key, warnings


def same_secret_key(server):
    """``secret_key(server)`` without warnings, or ``server`` itself when it is not a valid key
    (for comparing spellings of entries already stored)."""
    try:
        return secret_key(server)[0]
    except ValidationError:
        return server


_REGISTRY_OPTION_RE = re.compile(r'^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?'
                                 r'(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[^/]*))?(?P<path>/.*)?$')


def check_registry_host(value, field='registry'):
    """Refuse a registry that no request could reach, naming ``field``, before any network access.

    Accepts ``host``, ``host:port``, ``[ipv6]:port``, with an optional ``https://`` / ``http://``
    and path (a docker config key such as ``https://index.docker.io/v1/``).
    :raises ValidationError: empty, another scheme, user info, characters that are not allowed in a
        host name, or a port that is not a number from 1 to 65535.
    """
    text = (value or '').strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not text:
        raise ValidationError('%s: a registry host is required (host, host:port or https://host)' % field, field=field)
    if '@' in text.split('://', 1)[-1].split('/', 1)[0]:
        raise ValidationError('%s: user information in the registry is not supported; give username and password'
                              % field, field=field)
    m = _REGISTRY_OPTION_RE.match(text)
    if not m:
        raise ValidationError('%s: %r is not a registry host (host, host:port or https://host; letters, digits, "-" '
                              'and "." only)' % (field, text), field=field)
    if m.group('scheme') and m.group('scheme').lower() not in ('http', 'https'):
        raise ValidationError('%s: unsupported URL scheme %r (use https:// or a bare host)' % (field, m.group('scheme')),
                              field=field)
    port = m.group('port')
    if port is not None and (not port.isdigit() or not port.isascii() or not 0 < int(port) < 65536):
        raise ValidationError('%s: port %r in %r is not a number from 1 to 65535' % (field, port, text), field=field)


def api_host(base_url_or_host):
    """``(scheme or None, host[:port])`` to send registry API requests to.

    Accepts a host, ``host:port``, an ``http(s)://`` URL or a pull secret key. Docker Hub
    aliases (``docker.io``, ``index.docker.io``, ``https://index.docker.io/v1/``) become the API
    host ``registry-1.docker.io``; a path (``/v1/``, ``/v2/``, a path-scoped key) is dropped;
    the host is lowercased; a port is kept.

    Raises: ``RegistryError`` (category ``invalid_request``, ``field='registry'``) for an empty
    value, a scheme other than http(s), user info, or no host.
    """
    from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import category_error

    text = (base_url_or_host or '').strip()
    if not text:
        raise category_error('registry: a registry host is required', 'invalid_request', field='registry')
    scheme = None
    m = _SCHEME_RE.match(text)
    if m:
        scheme = m.group(1).lower()
        if scheme not in ('http', 'https'):
            raise category_error('registry: unsupported URL scheme %r (use https:// or a bare host)' % scheme,
                                 'invalid_request', field='registry')
        text = text[m.end():]
    netloc = text.split('/', 1)[0]
    if '@' in netloc:
        raise category_error('registry: user information in the registry URL is not supported; use username'
                             ' and password', 'invalid_request', field='registry')
    if not netloc:
        raise category_error('registry: no host in %r' % base_url_or_host, 'invalid_request', field='registry')
    host_only = netloc.rsplit(':', 1)[0] if not netloc.endswith(']') else netloc
    if host_only.lower() in DOCKER_HUB_HOSTS and ':' not in netloc.replace(host_only, '', 1):
        netloc = DOCKER_HUB_API_HOST
    return scheme, netloc.lower()


def image_host(host):
    """The host to compare image references by: ``host[:port]`` lowercased, any scheme and path
    dropped, ``:443`` dropped, Docker Hub aliases -> ``docker.io``."""
    host = (host or '').strip().lower()
    for prefix in ('https://', 'http://'):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split('/', 1)[0]
    if host.endswith(':443'):
        host = host[:-4]
    if host in DOCKER_HUB_HOSTS:
        return DOCKER_HUB_IMAGE_HOST
    return host


def gcr_shutdown_note(host):
    """The explanation of the Container Registry shutdown when ``host`` (a registry host, optionally with a
    port, or an image reference) is a ``gcr.io`` host; None otherwise."""
    name = (host or '').split('/')[0].split(':')[0].lower()
    return GCR_SHUTDOWN_NOTE % name if GCR_HOST_RE.match(name) else None
