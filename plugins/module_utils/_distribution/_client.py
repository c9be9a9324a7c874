# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI distribution (Docker registry v2) client over ``requests``. Private to this collection.

``RegistryClient``: the transport (the one place that sends, retries on 429 / 5xx honouring
``Retry-After`` and follows redirects), the mapping of HTTP failures to ``RegistryError``
categories, and the endpoints (manifests, blobs, tags and catalog with ``Link`` pagination,
``DELETE`` by digest). Authentication is the ``TokenAuth`` mixin (``_auth.py``). Secure by
default: credentials are never sent over plain HTTP, never to a token realm on another host, and
``Authorization`` is never carried over a redirect to another host, unless the caller allows it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import json
import re
import ssl
import time
import warnings

from urllib.parse import quote, urlencode, urljoin, urlsplit

try:
    import requests
    import requests.exceptions
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = exc

from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._auth import TokenAuth
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import (
    category_error, classify_exception, exc_chain, granted_text, looks_expired, parse_error_body, redact_url, safe_headers,
    safe_text,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._headers import (
    format_scope, header_values, next_link, parse_rate_limit, parse_retry_after,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import api_host
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import RetryPolicy, current_policy

USER_AGENT = 'registrylink.k8s/0.1.0'


#: The manifest media types sent in ``Accept`` on every manifest HEAD/GET (docs/reference/registry-protocol.md).
#: Without the list types a registry may down-convert a manifest list to schema 1 or answer 404.
MANIFEST_MEDIA_TYPES = (
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
)
MANIFEST_ACCEPT = ', '.join(MANIFEST_MEDIA_TYPES)

DIGEST_RE = re.compile(r'^sha256:[0-9a-f]{64}$')
TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$')
REPOSITORY_RE = re.compile(r'^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$')

RETRY_STATUSES = (429, 500, 502, 503, 504)
# DELETE is retried only where the request was almost certainly not processed.
RETRY_STATUSES_UNSAFE = (429, 502, 503, 504)
# Methods retried after a connection that broke once the request may have been sent (they change nothing).
IDEMPOTENT_METHODS = ('GET', 'HEAD')


#: Exceptions raised only once the connection was made and the request (or part of it) was written: the
#: connection broke or a read timed out afterwards, so the server may have processed the request.
SENT_THEN_BROKEN = frozenset((
    'ProtocolError', 'RemoteDisconnected', 'ConnectionResetError', 'ConnectionAbortedError', 'BrokenPipeError',
    'ReadTimeout', 'ReadTimeoutError', 'ChunkedEncodingError', 'IncompleteRead',
))
#: Exceptions of a connection that was never made (nothing was sent).
NOT_CONNECTED = frozenset((
    'NewConnectionError', 'ConnectTimeoutError', 'ConnectTimeout', 'ConnectionRefusedError', 'NameResolutionError',
))


def _refused(chain):
    names = set(type(e).__name__ for e in chain)
    return bool(names & set(('NewConnectionError', 'ConnectionRefusedError'))) or \
        'connection refused' in ' '.join(str(e) for e in chain).lower()


def request_sent(exc, category):
    """Whether a request that failed with the transport exception ``exc`` (classified as ``category``) may
    have reached the server. True only for the errors of a connection that broke or timed out after the
    request was written (``SENT_THEN_BROKEN``: reset, remote disconnect, broken pipe, read timeout, a
    truncated chunked body); False for everything else: no connection (refused, DNS, a TLS handshake that
    failed, no connection within the connect timeout), a proxy that could not open the tunnel, and a request
    the client rejected before sending it (an invalid URL or header)."""
    if category == 'dns' or category.startswith('tls_') or category == 'plain_http':
        return False
    chain = list(exc_chain(exc))
    names = set(type(e).__name__ for e in chain)
    if names & NOT_CONNECTED or _refused(chain):
        return False
    return bool(names & SENT_THEN_BROKEN)


def connection_refused(exc, category):
    """Whether ``exc`` (classified as ``category``) is a connection that could not be made (refused: a
    registry restarting); such a request was not sent and is retried for every method."""
    return category == 'connect' and _refused(list(exc_chain(exc)))


def _rejected_before_sending(exc):
    """``(category, detail)`` for a request that ``requests`` / ``http.client`` rejected before connecting
    (an invalid URL or header), else None. The detail never quotes a header value (it may be a token)."""
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema)):
        return 'invalid_request', 'not sent: the URL is not valid'
    if isinstance(exc, requests.exceptions.InvalidHeader) or (isinstance(exc, ValueError) and not isinstance(
            exc, (OSError, requests.exceptions.RequestException)) and 'header' in str(exc).lower()):
        return 'invalid_request', ('not sent: a request header is not valid (a value with CR/LF or leading '
                                   'whitespace; not shown, it may carry a credential)')
    return None


ManifestInfo = collections.namedtuple('ManifestInfo', ['digest', 'media_type', 'size', 'headers'])


def check_digest(value, field='digest'):
    """Return ``value`` with surrounding whitespace and CR/LF stripped if it is ``sha256:<64 lowercase hex>``.

    Raises ``RegistryError`` (category ``invalid_digest``) otherwise (a trailing ``\\r``
    copied from a header line, a digest of another algorithm, upper-case hex).
    """
    if not isinstance(value, str):
        raise category_error('%s: expected a string sha256:<64 hex digits>, got %s' % (field, type(value).__name__),
                             'invalid_digest', field=field)
    text = value.strip(' \t\r\n')
    if not DIGEST_RE.match(text):
        shown = text if len(text) <= 80 else text[:77] + '...'
        raise category_error('%s: %r is not a digest of the form sha256:<64 lowercase hex digits>' % (field, shown),
                             'invalid_digest', field=field)
    return text


def is_digest(ref):
    return isinstance(ref, str) and ref.startswith('sha256:')


def sha256_digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _host_port(url):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # an invalid port: requests rejects the URL before connecting
        port = None
    if port is None:
        port = 443 if parts.scheme == 'https' else 80
    return (parts.hostname or '').lower(), port


class RegistryClient(TokenAuth):
    """A client for one registry.

    ``base_url_or_host``: ``host``, ``host:port``, ``https://host[:port]`` or ``http://host[:port]``
    (a path such as ``/v1/`` is ignored; Docker Hub aliases map to ``registry-1.docker.io``). Without a
    scheme HTTPS is used; with ``allow_insecure_http`` a host that answers HTTPS with plain HTTP is
    retried over HTTP.

    Credentials (``username``/``password``) are sent only when the registry asks for them (a 401
    challenge), only over HTTPS (unless ``allow_insecure_http``), and to a Bearer realm only when
    its host is the registry host (unless ``allow_cross_host_realm``). TLS uses ``ca_path`` (a
    CA bundle file or directory) when given, else the system trust store; ``validate_certs=False``
    disables verification. ``timeout`` is seconds per connect and per read.

    ``trace`` records each HTTP exchange as ``{step, method, url, status, elapsed_ms}`` (URLs
    without query strings) and ``warnings`` collects ``Warning`` response headers.
    """

    def __init__(self, base_url_or_host, username=None, password=None, ca_path=None, validate_certs=True,
                 timeout=10, allow_insecure_http=False, allow_cross_host_realm=False,
                 max_retries=None, max_retry_wait=None, session=None, sleep=None, page_size=1000):
        if not HAS_REQUESTS:
            raise category_error('the Python library "requests" is required', 'invalid_request')
        scheme, netloc = api_host(base_url_or_host)
        if scheme == 'http' and not allow_insecure_http:
            raise category_error(
                'registry %s: plain HTTP was requested but allow_insecure_http is false' % netloc, 'plain_http',
                registry=netloc)
        self.netloc = netloc
        self.scheme = scheme or 'https'
        self._scheme_explicit = scheme is not None
        self.username = username or None
        self._password = password if password else None
        if (self.username is None) != (self._password is None):
            if self._password is None:
                raise category_error('registry %s: username given without a password' % netloc, 'invalid_request',
                                     field='password')
            raise category_error('registry %s: password given without a username' % netloc, 'invalid_request',
                                 field='username')
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.allow_insecure_http = allow_insecure_http
        self.allow_cross_host_realm = allow_cross_host_realm
        # None: the task's RetryPolicy (request_retries, retry_max_wait of the retries doc fragment)
        self._policy = None
        if max_retries is not None or max_retry_wait is not None:
            base = current_policy()
            self._policy = RetryPolicy(timeout=base.timeout,
                                       retries=base.retries if max_retries is None else max_retries,
                                       max_wait=base.max_wait if max_retry_wait is None else max_retry_wait)
        self.page_size = page_size
        self._sleep = sleep if sleep is not None else time.sleep
        self.session = session or requests.Session()
        self.session.headers['User-Agent'] = USER_AGENT
        # Never let requests pick credentials from ~/.netrc: credentials come from the task only.
        self.session.trust_env = True
        self.session.auth = _no_netrc_auth
        # Passed on every request: a session-level verify would lose against REQUESTS_CA_BUNDLE.
        if ca_path and validate_certs:
            self._verify = ca_path
        else:
            self._verify = bool(validate_certs)
        self.trace = []
        self.warnings = []
        self.challenge = None        # the Challenge chosen at ping (None: anonymous access allowed)
        self.challenges = []         # every challenge the registry offered
        self.auth_scheme = None      # 'bearer' | 'basic' | None
        self.api_version = None
        self._pinged = False
        self._tokens = {}            # scope string -> Token
        self.last_token = None       # the last Token used (claims are reportable, the value is not)
        self.token_requests = 0

    # -- properties ---------------------------------------------------------------------------

    @property
    def policy(self):
        """The retry policy: the task's (``_retry.current_policy``) unless the caller fixed one."""
        return self._policy or current_policy()

    @property
    def base_url(self):
        return '%s://%s' % (self.scheme, self.netloc)

    @property
    def has_credentials(self):
        return self.username is not None

    def _url(self, path):
        return self.base_url + path

    # -- transport: the one place that sends, retries and follows redirects -------------------

    def _fail_if_unreachable(self, method, url, step):
        """Raise at once (not sent) when ``url``'s host:port refused every retry earlier in this task."""
        host_port = '%s:%d' % _host_port(url)
        why = self.policy.unreachable(host_port)
        if why is None:
            return
        if _host_port(url) == _host_port(self.base_url):
            who = 'the registry %s' % self.netloc
        else:
            who = 'the host %s' % host_port
        err = category_error('%s %s: not sent: %s was found unreachable earlier in this task (%s)'
                             % (method, redact_url(url), who, why), 'connect',
                             url=redact_url(url), host=urlsplit(url).netloc, step=step)
        err.request_sent = False
        raise err

    def _send(self, method, url, step, headers=None, auth_header=None, data=None, allow_retry=True,
              max_redirects=5):
        """Send one logical request: retries on 429/5xx (honouring Retry-After), redirects followed by hand.

        ``auth_header`` (an ``Authorization`` value) is attached only while the request stays on the
        same scheme, host and port as ``url``; a redirect elsewhere drops it (docs/reference/registry-protocol.md).
        Transport failures become ``RegistryError`` with a stable category and ``request_sent`` (False: the
        request never reached the server; True: it may have been processed). A refused connection (the
        request was not sent) is retried for every method, a connection that broke after the request
        was sent only for GET and HEAD (``SENT_THEN_BROKEN``); any other transport error is not retried.
        Each retry is counted in the task's retry policy. Once every retry of a refused connection to a
        host:port failed (the registry, a token realm or a redirect target), later requests of the task
        (every client, and ``registry_probe``'s TLS check) to that host:port fail at once (not sent).
        """
        origin = _host_port(url)
        origin_scheme = urlsplit(url).scheme
        attempt = 0
        current = url
        redirects = 0
        retry_statuses = RETRY_STATUSES if method in ('GET', 'HEAD') else RETRY_STATUSES_UNSAFE
        while True:
            self._fail_if_unreachable(method, current, step)
            req_headers = dict(headers or {})
            same_origin = _host_port(current) == origin and urlsplit(current).scheme == origin_scheme
            if auth_header and same_origin:
                if urlsplit(current).scheme != 'https' and not self.allow_insecure_http:
                    raise category_error('refusing to send credentials over plain HTTP to %s' % redact_url(current),
                                         'plain_http', url=redact_url(current))
                req_headers['Authorization'] = auth_header
            start = time.time()
            try:
                with warnings.catch_warnings():
                    if self._verify is False:
                        # asked for explicitly and reported in the result; urllib3's warning would only
                        # pollute the module's output
                        warnings.simplefilter('ignore')
                    resp = self.session.request(method, current, headers=req_headers, data=data,
                                                timeout=(self.timeout, self.timeout), verify=self._verify,
                                                allow_redirects=False)
            except Exception as exc:  # requests raises many types; classify them all
                if requests is None or not isinstance(exc, (requests.exceptions.RequestException, OSError,
                                                            ssl.SSLError, ValueError)):
                    raise
                elapsed = int((time.time() - start) * 1000)
                category, detail, extra = classify_exception(exc)
                sent = request_sent(exc, category)
                refused = connection_refused(exc, category)
                rejected = None if (sent or refused) else _rejected_before_sending(exc)
                if rejected is not None:
                    category, detail = rejected
                self.trace.append({'step': step, 'method': method, 'url': redact_url(current), 'status': None,
                                   'elapsed_ms': elapsed, 'error': category})
                if refused or (category == 'connect' and sent and method in IDEMPOTENT_METHODS):
                    policy = self.policy
                    wait = policy.delay(attempt) if allow_retry else None
                    if wait is not None:
                        policy.record('registry', 'connection broken' if sent else 'connection refused', wait)
                        attempt += 1
                        self._sleep(wait)
                        continue
                    if allow_retry:
                        detail = '%s (%s)' % (detail, policy.give_up_reason(attempt))
                        extra['retried'] = attempt
                        if refused:
                            policy.mark_unreachable('%s:%d' % _host_port(current), detail)
                elif category in ('connect', 'timeout') and sent and method not in IDEMPOTENT_METHODS:
                    detail += ('; the request was sent, so it may have been processed (not retried: %s is not '
                               'idempotent)' % method)
                elif category == 'connect' and not sent:
                    detail += ' (not sent; not retried)'
                host = urlsplit(current).netloc
                err = category_error('%s %s: %s' % (method, redact_url(current), detail), category,
                                     url=redact_url(current), host=host, step=step, **extra)
                err.request_sent = sent
                raise err
            elapsed = int((time.time() - start) * 1000)
            self.trace.append({'step': step, 'method': method, 'url': redact_url(current),
                               'status': resp.status_code, 'elapsed_ms': elapsed})
            for warning in header_values(resp.headers, 'Warning'):
                if warning not in self.warnings and len(self.warnings) < 20:
                    self.warnings.append(warning)

            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get('Location'):
                redirects += 1
                if redirects > max_redirects:
                    raise category_error('%s %s: too many redirects' % (method, redact_url(url)),
                                         'invalid_response', url=redact_url(url), step=step)
                target = urljoin(current, resp.headers['Location'])
                if urlsplit(target).scheme == 'http' and urlsplit(current).scheme == 'https' \
                        and not self.allow_insecure_http:
                    raise category_error('%s %s: redirected to plain HTTP (%s), refused' % (
                        method, redact_url(current), redact_url(target)), 'plain_http', url=redact_url(target),
                        step=step)
                resp.close()
                if resp.status_code == 303:
                    method, data = 'GET', None
                current = target
                continue

            if allow_retry and resp.status_code in retry_statuses:
                policy = self.policy
                wait = policy.delay(attempt, resp.headers.get('Retry-After'))
                if wait is not None:
                    policy.record('registry', 'HTTP %d' % resp.status_code, wait)
                    attempt += 1
                    resp.close()
                    self._sleep(wait)
                    continue
                # read by _error_for: the message says why it gave up
                resp._registrylink_gave_up = policy.give_up_reason(attempt, resp.headers.get('Retry-After'))
                resp._registrylink_retries = attempt
            return resp

    # -- error mapping -------------------------------------------------------------------------

    def _error_for(self, resp, method, what, step, body=None, repository=None, reference=None):
        """Build the RegistryError for a non-success response."""
        status = resp.status_code
        if body is None:
            body = safe_text(resp)
        codes, messages = parse_error_body(body)
        text = '; '.join(messages)
        detail = ': %s' % ', '.join(codes) if codes else ''
        if text:
            detail += ' (%s)' % text
        where = '%s %s' % (method, what)
        extra = {'status': status, 'step': step}
        gave_up = ''
        if getattr(resp, '_registrylink_gave_up', None):
            gave_up = ' (%s)' % resp._registrylink_gave_up
            extra['retried'] = resp._registrylink_retries
        if codes:
            extra['codes'] = codes
        if repository:
            extra['repository'] = repository
        if reference:
            extra['reference'] = reference
        if status == 401:
            ch = getattr(resp, '_registrylink_challenge', None)
            scope_error = ch.params.get('error') if ch is not None else None
            if looks_expired(text):
                return category_error('%s: HTTP 401%s' % (where, detail), 'expired_credentials', **extra)
            if self.auth_scheme == 'bearer' and self.has_credentials:
                granted = granted_text(self.last_token)
                msg = '%s: HTTP 401%s after a successful token exchange%s' % (where, detail, granted)
                if scope_error:
                    extra['challenge_error'] = scope_error
                return category_error(
                    msg, 'denied', ambiguous_not_found=True,
                    hint='The token service accepted the credentials but the token does not allow this on the'
                         ' repository. Either the account lacks permission, or the repository does not exist:'
                         ' registries answer 401 for both by design.', **extra)
            if not self.has_credentials:
                return category_error(
                    '%s: HTTP 401%s, no credentials were sent' % (where, detail), 'unauthorized',
                    hint='The registry requires authentication for this repository (or the repository does not'
                         ' exist: registries answer 401 for both). Provide credentials.', **extra)
            return category_error('%s: HTTP 401%s, the registry rejected the credentials' % (where, detail),
                                  'unauthorized', **extra)
        if status == 403:
            if looks_expired(text):
                return category_error('%s: HTTP 403%s' % (where, detail), 'expired_credentials', **extra)
            return category_error('%s: HTTP 403%s' % (where, detail), 'denied', **extra)
        if status == 404:
            what_missing = 'repository or tag'
            if 'NAME_UNKNOWN' in codes:
                what_missing = 'repository'
            elif 'MANIFEST_UNKNOWN' in codes:
                what_missing = 'manifest (tag or digest)'
            elif 'BLOB_UNKNOWN' in codes:
                what_missing = 'blob'
            extra['missing'] = what_missing
            return category_error('%s: HTTP 404%s, %s not found' % (where, detail, what_missing), 'not_found',
                                  **extra)
        if status == 405:
            return category_error('%s: HTTP 405%s' % (where, detail), 'unsupported', **extra)
        if status == 429:
            retry_after = parse_retry_after(resp.headers.get('Retry-After'))
            if retry_after is not None:
                extra['retry_after'] = int(retry_after)
            rate = parse_rate_limit(resp.headers)
            if rate:
                extra['rate_limit'] = rate
            unauth = 'unauthenticated' in text.lower()
            if unauth:
                extra['unauthenticated'] = True
            return category_error('%s: HTTP 429%s%s' % (where, detail, gave_up), 'rate_limited', **extra)
        if 500 <= status < 600:
            return category_error('%s: HTTP %d%s%s' % (where, status, detail, gave_up), 'server_error', **extra)
        if status == 400:
            if 'DIGEST_INVALID' in codes:
                return category_error('%s: HTTP 400%s' % (where, detail), 'invalid_digest', **extra)
            return category_error('%s: HTTP 400%s' % (where, detail), 'invalid_request', **extra)
        return category_error('%s: unexpected HTTP %d%s' % (where, status, detail), 'invalid_response', **extra)

    # -- operations ----------------------------------------------------------------------------

    @staticmethod
    def _check_repository(repo):
        if not isinstance(repo, str) or not REPOSITORY_RE.match(repo):
            raise category_error('repository %r is not a valid repository name (lowercase path components)' % (repo,),
                                 'invalid_request', field='repository')
        return repo

    @staticmethod
    def _check_reference(ref):
        if is_digest(ref):
            return check_digest(ref, field='reference')
        if not isinstance(ref, str) or not TAG_RE.match(ref):
            raise category_error('reference %r is neither a tag nor a sha256 digest' % (ref,), 'invalid_request',
                                 field='reference')
        return ref

    def _manifest_info(self, resp, ref):
        headers = safe_headers(resp.headers)
        digest = None
        raw = resp.headers.get('Docker-Content-Digest')
        if raw:
            digest = check_digest(raw, field='Docker-Content-Digest')
        elif is_digest(ref):
            digest = ref
        media_type = (resp.headers.get('Content-Type') or '').split(';')[0].strip() or None
        size = None
        if resp.headers.get('Content-Length'):
            try:
                size = int(resp.headers['Content-Length'])
            except ValueError:
                size = None
        return ManifestInfo(digest, media_type, size, headers)

    def head_manifest(self, repo, ref):
        """``HEAD /v2/<repo>/manifests/<ref>`` with every manifest media type in Accept (pull scope).

        Returns ``ManifestInfo(digest, media_type, size, headers)``; ``digest`` is the checked
        ``Docker-Content-Digest`` (None if the registry omitted it for a tag). HEAD does not count
        against Docker Hub pull limits.
        """
        repo = self._check_repository(repo)
        ref = self._check_reference(ref)
        path = '/v2/%s/manifests/%s' % (repo, quote(ref, safe=':'))
        resp = self._request('HEAD', path, format_scope('repository', repo, 'pull'), 'manifest',
                             headers={'Accept': MANIFEST_ACCEPT})
        if resp.status_code != 200:
            raise self._error_for(resp, 'HEAD', '%s/v2/%s/manifests/%s' % (self.netloc, repo, ref), 'manifest',
                                  repository=repo, reference=ref)
        return self._manifest_info(resp, ref)

    def get_manifest(self, repo, ref):
        """``GET`` the manifest; returns ``(ManifestInfo, body_dict)``.

        The body's sha256 is checked against ``Docker-Content-Digest`` (and against ``ref`` when it is a
        digest); when the header is absent the computed digest is reported. A ``mediaType`` field that
        disagrees with ``Content-Type`` is rejected (docs/reference/registry-protocol.md).
        """
        repo = self._check_repository(repo)
        ref = self._check_reference(ref)
        path = '/v2/%s/manifests/%s' % (repo, quote(ref, safe=':'))
        resp = self._request('GET', path, format_scope('repository', repo, 'pull'), 'manifest',
                             headers={'Accept': MANIFEST_ACCEPT})
        where = '%s/v2/%s/manifests/%s' % (self.netloc, repo, ref)
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', where, 'manifest', repository=repo, reference=ref)
        content = resp.content
        info = self._manifest_info(resp, ref)
        computed = sha256_digest(content)
        if info.digest and info.digest != computed:
            raise category_error('GET %s: body digest %s does not match Docker-Content-Digest %s' % (
                where, computed, info.digest), 'invalid_response', repository=repo, reference=ref)
        if is_digest(ref) and ref != computed:
            raise category_error('GET %s: body digest %s does not match the requested digest' % (where, computed),
                                 'invalid_response', repository=repo, reference=ref)
        try:
            body = json.loads(content.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise category_error('GET %s: the manifest is not JSON' % where, 'invalid_response',
                                 repository=repo, reference=ref)
        if not isinstance(body, dict):
            raise category_error('GET %s: the manifest is not a JSON object' % where, 'invalid_response',
                                 repository=repo, reference=ref)
        media_type = info.media_type
        if body.get('mediaType') and media_type and body['mediaType'] != media_type:
            raise category_error('GET %s: manifest mediaType %s disagrees with Content-Type %s' % (
                where, body['mediaType'], media_type), 'invalid_response', repository=repo, reference=ref)
        if not media_type and body.get('mediaType'):
            media_type = body['mediaType']
        info = ManifestInfo(computed, media_type, len(content), info.headers)
        return info, body

    def get_blob(self, repo, digest):
        """``GET /v2/<repo>/blobs/<digest>`` (redirects followed without Authorization to other hosts);
        returns the bytes after checking their sha256."""
        repo = self._check_repository(repo)
        digest = check_digest(digest)
        path = '/v2/%s/blobs/%s' % (repo, digest)
        resp = self._request('GET', path, format_scope('repository', repo, 'pull'), 'blob')
        where = '%s/v2/%s/blobs/%s' % (self.netloc, repo, digest)
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', where, 'blob', repository=repo, reference=digest)
        content = resp.content
        if sha256_digest(content) != digest:
            raise category_error('GET %s: content digest mismatch' % where, 'invalid_response', repository=repo,
                                 reference=digest)
        return content

    def _paginate(self, first_path, scope, step, key):
        """Follow ``Link: <...>; rel="next"`` verbatim; synthesise ``last=`` only when no Link is sent."""
        url = self._url(first_path)
        if self.page_size:
            url += '?' + urlencode([('n', str(self.page_size))])
        out = []
        seen_items = set()
        seen_urls = set()
        pages = 0
        while url:
            if url in seen_urls:
                break  # a registry pointing back at a page we read: stop rather than loop
            seen_urls.add(url)
            pages += 1
            resp = self._request('GET', url, scope, step)
            if resp.status_code != 200:
                raise self._error_for(resp, 'GET', redact_url(url), step)
            try:
                data = json.loads(safe_text(resp))
            except ValueError:
                raise category_error('GET %s: the answer is not JSON' % redact_url(url), 'invalid_response',
                                     step=step)
            items = (data.get(key) or []) if isinstance(data, dict) else []
            new = 0
            for item in items:
                if isinstance(item, str) and item not in seen_items:
                    seen_items.add(item)
                    out.append(item)
                    new += 1
            link = next_link(resp.headers.get('Link'), url)
            if link:
                url = link
                continue
            url = None
            if self.page_size and new and len(items) >= self.page_size:
                url = self._url(first_path) + '?' + urlencode([('n', str(self.page_size)), ('last', items[-1])])
        return out

    def list_tags(self, repo):
        """All tags of ``repo`` (``GET /v2/<repo>/tags/list``, every page), in the registry's order."""
        repo = self._check_repository(repo)
        return self._paginate('/v2/%s/tags/list' % repo, format_scope('repository', repo, 'pull'), 'tags', 'tags')

    def first_tags(self, repo, n=10):
        """The first page (at most ``n``) of ``repo``'s tags: a cheap existence check for a repository."""
        repo = self._check_repository(repo)
        url = self._url('/v2/%s/tags/list' % repo) + '?' + urlencode([('n', str(n))])
        resp = self._request('GET', url, format_scope('repository', repo, 'pull'), 'tags')
        if resp.status_code != 200:
            raise self._error_for(resp, 'GET', '%s/v2/%s/tags/list' % (self.netloc, repo), 'tags', repository=repo)
        try:
            data = json.loads(safe_text(resp))
        except ValueError:
            data = {}
        tags = (data.get('tags') or []) if isinstance(data, dict) else []
        return [t for t in tags if isinstance(t, str)][:n]

    def catalog(self):
        """All repositories the registry lists (``GET /v2/_catalog``, scope ``registry:catalog:*``).

        The catalog may be filtered by the caller's access: presence proves existence, absence does not.
        """
        return self._paginate('/v2/_catalog', 'registry:catalog:*', 'catalog', 'repositories')

    def delete_manifest(self, repo, digest):
        """``DELETE /v2/<repo>/manifests/<digest>`` (scope ``pull,delete``); the manifest and every tag on it go.

        Only digests are accepted (deleting by tag is not portable). 202 (or 200) is success. 405 raises
        category ``unsupported`` (deletes disabled or a pull-through cache) and is never retried.
        """
        repo = self._check_repository(repo)
        digest = check_digest(digest)
        path = '/v2/%s/manifests/%s' % (repo, digest)
        resp = self._request('DELETE', path, format_scope('repository', repo, ['pull', 'delete']), 'delete')
        where = '%s/v2/%s/manifests/%s' % (self.netloc, repo, digest)
        if resp.status_code in (200, 202, 204):
            return {'status': resp.status_code, 'digest': digest}
        err = self._error_for(resp, 'DELETE', where, 'delete', repository=repo, reference=digest)
        if err.category == 'unsupported':
            err.hint = ('The registry refuses deletes (storage.delete.enabled is false, or the registry is a'
                        ' pull-through cache). No retry will help.')
            err.details['hint'] = err.hint
        elif err.category == 'denied' and self.last_token is not None and self.last_token.granted is not None:
            err.hint = 'The token granted %s; deleting needs the "delete" action on %s.' % (
                granted_text(self.last_token).strip(' ;()') or 'nothing', repo)
            err.details['hint'] = err.hint
        raise err

    # -- reporting -----------------------------------------------------------------------------

    def token_facts(self):
        """Secret-free facts about the last bearer token: ``expires_at`` (epoch), ``granted`` access, issuer."""
        tok = self.last_token
        if tok is None:
            return None
        facts = {'expires_at': tok.expires_at}
        if tok.granted is not None:
            facts['granted'] = tok.granted
        if tok.claims:
            for claim in ('iss', 'aud', 'sub'):
                if claim in tok.claims:
                    facts[claim] = tok.claims[claim]
        return facts


def _no_netrc_auth(request):
    """A no-op requests auth hook: setting it stops ``requests`` from reading ``~/.netrc``."""
    return request
