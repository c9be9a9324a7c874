# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Google Cloud access over google-auth: credentials, access tokens, one REST client. Private to this collection.

Credentials come from Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
the gcloud user credentials, or the metadata server: a GCE VM, or a GKE Pod with Workload
Identity) unless ``credentials_file`` names a key or credentials file. ``token_uri``
replaces the OAuth2 token endpoint a key file names (tests, private endpoints). TLS trust
for private endpoints follows requests (``REQUESTS_CA_BUNDLE``). Retries (429, 5xx with
``Retry-After``) live in :class:`GoogleApi` and nowhere else; a 409 is left to the caller
(IAM policy read-modify-write retries the whole cycle).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import time
import warnings

from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner

try:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests
    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported when a module needs it
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = exc

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError

#: the scope Artifact Registry, IAM, Resource Manager and GKE accept
CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
URL_RE = re.compile(r'^https?://[^/\s?#]+(/[^\s]*)?$')
#: ``type`` values of credential files google-auth can load
CREDENTIAL_FILE_TYPES = ('service_account', 'authorized_user', 'external_account',
                         'external_account_authorized_user', 'impersonated_service_account', 'gdch_service_account')
MAX_ATTEMPTS = 4

#: the argument spec of the ``registrylink.k8s.gcp`` doc fragment
GCP_ARGSPEC = dict(
    credentials_file=dict(type='path'),
    token_uri=dict(type='str', no_log=False),
    resource_manager_endpoint=dict(type='str', default='https://cloudresourcemanager.googleapis.com'),
    artifact_registry_endpoint=dict(type='str', default='https://artifactregistry.googleapis.com'),
    iam_endpoint=dict(type='str', default='https://iam.googleapis.com'),
    container_endpoint=dict(type='str', default='https://container.googleapis.com'),
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 30


def require_google_auth(what):
    """Raise ProviderError naming ``what`` when google-auth is not importable."""
    if not HAS_GOOGLE_AUTH:
        raise ProviderError('%s needs the google-auth Python library on the host that runs the module '
                            '(pip install google-auth): %s' % (what, GOOGLE_AUTH_IMPORT_ERROR))


def check_url(value, field, example='https://oauth2.googleapis.com/token'):
    """``value`` stripped, or None; refuse anything but an http(s) URL naming ``field``.

    :raises ValidationError: not a string, or not an http(s) URL.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError('%s: must be a string, got %s' % (field, type(value).__name__), field=field)
    value = value.strip()
    if not value:
        return None
    if not URL_RE.match(value):
        raise ValidationError('%s: %r is not an http(s) URL (for example %s); leave it unset for Google itself'
                              % (field, value, example), field=field)
    return value.rstrip('/')


def check_credentials_file(path, field='credentials_file'):
    """Check a Google credentials file without any network access; returns its ``type``.

    Reads the file (a service account key, gcloud user credentials, a workload identity
    federation configuration); its content is never put into a message.

    :raises ValidationError: missing, unreadable, not JSON, or not a credentials file.
    """
    if not isinstance(path, str):
        raise ValidationError('%s: must be a path (string), got %s' % (field, type(path).__name__), field=field)
    path = os.path.expanduser(path)
    try:
        with open(path, 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError) as exc:
        raise ValidationError('%s: cannot read %s (%s); give the path of a Google credentials file (a service '
                              'account key, or gcloud application default credentials) on the host that runs '
                              'the module, or leave it unset for Application Default Credentials'
                              % (field, path, exc.strerror or exc), field=field)
    except ValueError:
        raise ValidationError('%s: %s is not a JSON credentials file' % (field, path), field=field)
    kind = data.get('type') if isinstance(data, dict) else None
    if kind not in CREDENTIAL_FILE_TYPES:
        raise ValidationError('%s: %s is not a Google credentials file (its "type" must be one of %s)'
                              % (field, path, ', '.join(CREDENTIAL_FILE_TYPES)), field=field)
    if kind == 'service_account' and not all(isinstance(data.get(k), str) and data.get(k)
                                             for k in ('client_email', 'private_key')):
        raise ValidationError('%s: %s is a service account key without client_email or private_key'
                              % (field, path), field=field)
    return kind


def error_text(exc):
    """A secret-free one-line description of a google-auth or transport exception (300 characters at most).

    google-auth's refresh errors carry the token endpoint's error answer (``invalid_grant: ...``),
    never the assertion, key or token that was sent.
    """
    text = '%s: %s' % (type(exc).__name__, exc)
    text = re.sub(r'ya29\.[\w.-]+', '<redacted>', text)
    return text[:300]


def credentials(credentials_file=None, token_uri=None, scopes=(CLOUD_PLATFORM_SCOPE,), what='Google'):
    """``(credentials, project_id)``: ``credentials_file`` when given, else Application Default Credentials.

    :param token_uri: replaces the token endpoint of a key file or user credentials.
    :raises ProviderError: google-auth missing, no credentials found, an unusable file.
    :raises ValidationError: ``token_uri`` given for credentials that have no token endpoint
        (metadata server, federation).
    """
    require_google_auth(what)
    try:
        if credentials_file:
            creds, project = _load_file(os.path.expanduser(credentials_file), list(scopes))
        else:
            creds, project = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        hint = ''
        if not credentials_file:
            hint = (' (no Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS or credentials_file to '
                    'a key file, run `gcloud auth application-default login`, or run on GCE/GKE where the metadata '
                    'server answers)')
        raise ProviderError('%s: cannot load Google credentials: %s%s' % (what, error_text(exc), hint))
    if token_uri:
        if not hasattr(creds, 'with_token_uri'):
            raise ValidationError('token_uri: the %s credentials have no token endpoint to replace (token_uri '
                                  'applies to service account keys and gcloud user credentials)'
                                  % type(creds).__name__, field='token_uri')
        creds = creds.with_token_uri(token_uri)
    return creds, project


def _load_file(path, scopes):
    """Service account keys and user credentials through their own loaders; other types (federation,
    impersonation) through google-auth's generic loader (the file is the user's own, checked by
    :func:`check_credentials_file`)."""
    with open(path, 'rb') as handle:
        info = json.loads(handle.read().decode('utf-8'))
    kind = info.get('type') if isinstance(info, dict) else None
    try:
        if kind == 'service_account':
            import google.oauth2.service_account
            creds = google.oauth2.service_account.Credentials.from_service_account_info(info, scopes=scopes)
            return creds, info.get('project_id')
        if kind == 'authorized_user':
            import google.oauth2.credentials
            return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=scopes), None
    except ValueError as exc:
        raise google.auth.exceptions.DefaultCredentialsError('%s is not a usable %s file: %s' % (path, kind, exc))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        return google.auth.load_credentials_from_file(path, scopes=scopes)


def principal(creds):
    """The identity the credentials act as, for messages and results (an e-mail or a kind), never a secret."""
    email = getattr(creds, 'service_account_email', None)
    if isinstance(email, str) and email and email != 'default':
        return email
    return type(creds).__name__


def access_token(creds, what='Google'):
    """Refresh ``creds`` and return ``(token, expiry)``; ``expiry`` is an aware UTC datetime or None.

    :raises ProviderError: the token endpoint refused (``invalid_grant``, disabled key...) or
        could not be reached.
    """
    require_google_auth(what)
    try:
        creds.refresh(google.auth.transport.requests.Request())
    except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError) as exc:
        raise ProviderError('%s: the Google token endpoint did not issue an access token for %s: %s'
                            % (what, principal(creds), error_text(exc)))
    token = getattr(creds, 'token', None)
    if not isinstance(token, str) or not token:
        raise ProviderError('%s: the Google token endpoint answered without an access token' % what)
    expiry = getattr(creds, 'expiry', None)
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=datetime.timezone.utc)  # google-auth keeps naive UTC
    return token, expiry


class GoogleAPIError(ProviderError):
    """A Google REST call failed; ``status`` is the HTTP status (0: no answer), ``reason`` the API's
    ``error.status`` (``ABORTED``, ``PERMISSION_DENIED``, ``NOT_FOUND``...)."""

    def __init__(self, msg, status=0, reason=None, **details):
        super(GoogleAPIError, self).__init__(msg, http_status=status, google_status=reason, **details)
        self.status = status
        self.reason = reason


class GoogleRunner(Runner):
    """The runner of a module that calls Google APIs: a ``GoogleApi`` made on first use from the
    module's ``credentials_file`` / ``token_uri`` options, and a sleep the tests can replace.

    Subclasses set ``MODULE`` (the module's name, used in credential and API errors) and call
    ``self._api(params)`` with the validated options. ``api`` may be given (tests: a fake).
    """

    MODULE = 'Google'

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, api=None,
                 sleep=time.sleep):
        super(GoogleRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.api = api
        self.sleep = sleep

    def _api(self, p):
        """The API client for the options ``p`` (made once)."""
        if self.api is None:
            creds, _project = credentials(p.get('credentials_file'), p.get('token_uri'), what=self.MODULE)
            self.api = GoogleApi(creds, what=self.MODULE)
        return self.api


class GoogleApi(object):
    """JSON REST calls with one set of credentials (google-auth's AuthorizedSession).

    ``session``: tests may pass any object with ``request(method, url, json=, params=, timeout=)``.
    """

    def __init__(self, creds=None, session=None, what='Google', sleep=time.sleep, timeout=30):
        if session is None:
            require_google_auth(what)
            session = google.auth.transport.requests.AuthorizedSession(creds)
        self.session = session
        self.what = what
        self.sleep = sleep
        self.timeout = timeout

    def call(self, method, url, body=None, params=None, action=None):
        """One API call; returns the decoded JSON answer (``{}`` when empty).

        429 and 5xx are retried (``MAX_ATTEMPTS`` in all, ``Retry-After`` honoured up to 30 s).
        :raises GoogleAPIError: any other error status, or an answer that is not JSON.
        """
        action = action or '%s %s' % (method, url)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                resp = self.session.request(method, url, json=body, params=params, timeout=self.timeout)
            except Exception as exc:  # requests and google-auth raise many types; all end here
                if HAS_GOOGLE_AUTH and isinstance(exc, google.auth.exceptions.RefreshError):
                    raise GoogleAPIError('%s: no access token for the call: %s' % (action, error_text(exc)))
                if attempt < MAX_ATTEMPTS and not isinstance(exc, (ValueError, TypeError)):
                    self.sleep(min(2 ** attempt, MAX_RETRY_AFTER))
                    continue
                raise GoogleAPIError('%s failed: %s' % (action, error_text(exc)))
            if resp.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
                self.sleep(_retry_after(resp.headers.get('Retry-After'), attempt))
                continue
            return self._decode(resp, action)
        raise GoogleAPIError('%s failed after %d attempts' % (action, MAX_ATTEMPTS))  # pragma: no cover

    def _decode(self, resp, action):
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = None
        if resp.status_code >= 400:
            err = (data or {}).get('error') if isinstance(data, dict) else None
            err = err if isinstance(err, dict) else {}
            message = err.get('message') or (resp.reason or '')
            raise GoogleAPIError('%s failed: HTTP %d %s: %s' % (action, resp.status_code, err.get('status') or '',
                                                                str(message)[:300]),
                                 status=resp.status_code, reason=err.get('status'))
        if not isinstance(data, dict):
            raise GoogleAPIError('%s: the answer is not a JSON object (HTTP %d)' % (action, resp.status_code),
                                 status=resp.status_code)
        return data


def _retry_after(header, attempt):
    try:
        return min(max(float(header), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return min(2 ** attempt * 0.5, MAX_RETRY_AFTER)
