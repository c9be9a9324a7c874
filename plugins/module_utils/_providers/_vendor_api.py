# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON-over-HTTPS client for registry vendor APIs (Harbor, GitLab, Artifactory). Private to this collection.

One place for what every vendor provider needs: HTTPS only, the CA bundle, a timeout, retries on
429 and 5xx answers that are safe to repeat (reads, and deletes), and errors that name the call,
the HTTP status and the server's own message, never a secret. Writes (POST, PUT, PATCH) are not
retried: a rotation repeated blindly would kill the secret the first one returned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError

_URL_RE = re.compile(r'^https://[^/\s?#@]+(/[^\s?#]*)?$')
RETRY_STATUSES = (429, 502, 503, 504)
SAFE_METHODS = ('GET', 'HEAD', 'DELETE')
# What marks a credential this collection minted, in its name or description at the vendor, followed by
# the owner ``<Secret name>@<kube-system UID>`` (so reruns find it and clean-up deletes only ours).
OWNER_MARKER = 'registrylink.k8s owner='


def owned_label(options):
    """A minted credential's name or description: ``<credential_name or rl-<Secret name>> (registrylink.k8s owner=<owner>)``."""
    short = options.get('credential_name') or 'rl-%s' % (options.get('owner') or '').partition('@')[0]
    return '%s (%s%s)' % (short, OWNER_MARKER, options.get('owner'))


def check_api_url(value, field):
    """Normalise an API base URL (``https://host[:port][/path]``, no trailing slash); no network.

    :raises ValidationError: not a string, not https, user info, query or fragment in it.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError('%s: the base URL of the API is required (for example https://harbor.example.com)'
                              % field, field=field)
    url = value.strip().rstrip('/')
    if url.lower().startswith('http://'):
        raise ValidationError('%s: %s is plain HTTP; the API credentials are only sent over https://' % (field, url),
                              field=field)
    if not _URL_RE.match(url):
        raise ValidationError('%s: %r is not an https:// URL without user, query or fragment' % (field, value),
                              field=field)
    return url


def check_ca_path(value, field):
    """``value`` expanded when it names an existing file (None passes); no network."""
    if value in (None, ''):
        return None
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        raise ValidationError('%s: the CA bundle %s does not exist or is not a file' % (field, value), field=field)
    return path


class ApiResponse(object):
    """Status, headers and the decoded JSON body (None when empty or not JSON)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class VendorApi(object):
    """JSON calls to one vendor API. ``auth``: a ``(user, password)`` pair for HTTP Basic or None;
    ``headers``: extra headers (a token header); ``what``: the API's name for messages."""

    def __init__(self, base_url, what, auth=None, headers=None, ca_path=None, timeout=30, session=None,
                 retries=2, sleep=time.sleep):
        self.base_url = base_url.rstrip('/')
        self.what = what
        self.auth = auth
        self.headers = dict(headers or {})
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        self._session = session

    def _requests(self):
        if self._session is None:
            import requests  # listed in _module.DEPENDENCIES; imported late so validation works without it
            self._session = requests.Session()
            self._session.trust_env = False
        return self._session

    def call(self, method, path, label, json_body=None, params=None, expect=(200,)):
        """One call; returns an :class:`ApiResponse` whose status is in ``expect``.

        :raises ProviderError: transport error, or any other status, with ``status`` and the
            server's message in the text and the details.
        """
        import requests
        url = self.base_url + path
        headers = {'Accept': 'application/json'}
        headers.update(self.headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._requests().request(method, url, json=json_body, params=params, headers=headers,
                                                auth=self.auth, timeout=self.timeout,
                                                verify=self.ca_path or True, allow_redirects=False)
            except requests.exceptions.SSLError as exc:
                raise ProviderError('%s: %s: the TLS certificate of %s is not trusted (%s); set the CA bundle option'
                                    % (self.what, label, self.base_url, _short(exc)), status=0)
            except requests.exceptions.RequestException as exc:
                raise ProviderError('%s: %s: %s is unreachable (%s)' % (self.what, label, self.base_url, _short(exc)),
                                    status=0)
            if resp.status_code in RETRY_STATUSES and method in SAFE_METHODS and attempt <= self.retries:
                self.sleep(_retry_after(resp.headers.get('Retry-After'), attempt))
                continue
            break
        body = None
        if resp.content:
            try:
                body = resp.json()
            except ValueError:
                body = None
        if resp.status_code not in expect:
            raise ProviderError('%s: %s: HTTP %d%s' % (self.what, label, resp.status_code,
                                                       _server_message(body, resp)),
                                status=resp.status_code, server_message=_server_message(body, resp, bare=True))
        return ApiResponse(resp.status_code, resp.headers, body)


def _server_message(body, resp, bare=False):
    """The server's error text: Harbor ``{"errors":[{"code","message"}]}``, GitLab ``{"message"|"error"}``,
    Artifactory ``{"errors":[{"status","message"}]}``; else the reason phrase. At most 300 characters."""
    text = None
    if isinstance(body, dict):
        errors = body.get('errors')
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = '; '.join('%s%s' % ('%s: ' % e['code'] if isinstance(e.get('code'), str) else '',
                                       e.get('message')) for e in errors[:3] if isinstance(e, dict))
        elif body.get('message') is not None:
            text = body['message'] if isinstance(body['message'], str) else json.dumps(body['message'])
        elif isinstance(body.get('error'), str):
            text = body['error']
    if not text:
        text = resp.reason or ''
    text = str(text)[:300]
    if bare:
        return text
    return ' (%s)' % text if text else ''


def _retry_after(value, attempt):
    try:
        return min(max(float(value), 0.0), 10.0)
    except (TypeError, ValueError):
        return min(0.5 * (2 ** (attempt - 1)), 4.0)


def _short(exc):
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
