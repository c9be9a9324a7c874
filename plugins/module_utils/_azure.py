# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure access: azure-identity credentials and a small ARM REST client. Private to this collection.

``credential(...)`` picks a service principal secret when one is given, else azure-identity's
``DefaultAzureCredential`` chain. ``ArmClient`` sends ARM requests with a bearer token for the
ARM audience, retries 429 (``Retry-After``) and 5xx with bounded back-off, maps ARM's error body
(``{"error": {"code", "message"}}``) to ``AzureAPIError`` and polls long-running operations.
Every endpoint can be moved (sovereign clouds, Azure Stack, tests): ``authority_host``,
``arm_endpoint``, ``ca_path``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import AzureAPIError, ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - modules check their libraries first
    HAS_REQUESTS = False

#: Authority hosts Microsoft's instance discovery knows; any other is a private cloud (Azure Stack, tests).
KNOWN_AUTHORITIES = ('login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn')
ARM_ENDPOINT = 'https://management.azure.com'
TIMEOUT = 30
RETRIES = 4

GUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
TENANT_RE = re.compile(r'^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|'
                       r'[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)$')
HTTPS_BASE_RE = re.compile(r'^https://[^/\s?#]+/?$')

#: Options shared by the modules that call Azure (doc fragment ``registrylink.k8s.azure``).
#: The environment fallbacks (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST) are applied by
#: ``validate_credential_options``; AZURE_CLIENT_SECRET is read by the credential chain itself.
AZURE_ARGSPEC = dict(
    tenant_id=dict(type='str'),
    client_id=dict(type='str'),
    client_secret=dict(type='str', no_log=True),
    authority_host=dict(type='str'),
    arm_endpoint=dict(type='str'),
    ca_path=dict(type='path'),
)


def azure_identity(what='this task'):
    """The ``azure.identity`` package. :raises ProviderError: not installed (with the pip hint)."""
    try:
        import azure.identity
    except ImportError as exc:
        raise ProviderError('%s needs the Python package azure-identity on the host that runs the module '
                            '(pip install azure-identity, or pip install -r requirements-azure.txt): %s' % (what, exc))
    return azure.identity


def env(name):
    """The environment variable ``name``, stripped; None when unset or blank."""
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def validate_credential_options(opts, prefix=''):
    """Normalise ``tenant_id``, ``client_id``, ``client_secret``, ``authority_host``, ``ca_path`` of ``opts``
    (dict, changed in place and returned) with the ``AZURE_*`` environment fallbacks. No network.
    ``prefix`` is put before option names in messages. :raises ValidationError: naming the option."""
    for key in ('tenant_id', 'client_id', 'client_secret', 'authority_host', 'ca_path'):
        value = opts.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError('%s%s: must be a string, got %s' % (prefix, key, type(value).__name__), field=key)
        opts[key] = (value.strip() or None) if isinstance(value, str) else None
    for opt, name in (('tenant_id', 'AZURE_TENANT_ID'), ('client_id', 'AZURE_CLIENT_ID'),
                      ('authority_host', 'AZURE_AUTHORITY_HOST')):
        if opts[opt] is None:
            opts[opt] = env(name)
    if opts['tenant_id'] is not None and not TENANT_RE.match(opts['tenant_id']):
        raise ValidationError('%stenant_id: %r is not a Microsoft Entra tenant ID (a GUID) or domain name'
                              % (prefix, opts['tenant_id']), field='tenant_id')
    if opts['client_id'] is not None and not GUID_RE.match(opts['client_id']):
        raise ValidationError('%sclient_id: %r is not an application (client) ID, which is a GUID'
                              % (prefix, opts['client_id']), field='client_id')
    if opts['client_secret'] is not None and (opts['tenant_id'] is None or opts['client_id'] is None):
        missing = 'tenant_id' if opts['tenant_id'] is None else 'client_id'
        raise ValidationError('%s%s: a client_secret needs tenant_id and client_id (options, or AZURE_TENANT_ID '
                              'and AZURE_CLIENT_ID in the environment)' % (prefix, missing), field=missing)
    if opts['authority_host'] is not None:
        if not HTTPS_BASE_RE.match(opts['authority_host']):
            raise ValidationError('%sauthority_host: %r is not an https:// URL of a Microsoft Entra authority '
                                  '(for example https://login.microsoftonline.us)' % (prefix, opts['authority_host']),
                                  field='authority_host')
        opts['authority_host'] = opts['authority_host'].rstrip('/')
    if opts['ca_path'] is not None and not os.path.isfile(opts['ca_path']):
        raise ValidationError('%sca_path: %s is not a readable file (a PEM bundle of the CAs to trust)'
                              % (prefix, opts['ca_path']), field='ca_path')
    return opts


def credential(opts, what='this task'):
    """The azure-identity credential for normalised ``opts``: ``ClientSecretCredential`` when
    ``client_secret`` is set, else ``DefaultAzureCredential`` (interactive login excluded;
    ``client_id`` chooses a user-assigned managed identity or the workload identity client)."""
    identity = azure_identity(what)
    kwargs = {}
    if opts.get('authority_host'):
        kwargs['authority'] = opts['authority_host']
        host = opts['authority_host'].split('://', 1)[1].rstrip('/').lower()
        if host not in KNOWN_AUTHORITIES:
            kwargs['disable_instance_discovery'] = True
    if opts.get('ca_path'):
        kwargs['connection_verify'] = opts['ca_path']
    if opts.get('client_secret'):
        return identity.ClientSecretCredential(opts['tenant_id'], opts['client_id'], opts['client_secret'], **kwargs)
    if opts.get('client_id'):
        kwargs['managed_identity_client_id'] = opts['client_id']
        kwargs['workload_identity_client_id'] = opts['client_id']
    if opts.get('tenant_id'):
        kwargs['workload_identity_tenant_id'] = opts['tenant_id']
    return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True, **kwargs)


CREDENTIAL_HINT = ('set tenant_id, client_id and client_secret (or AZURE_TENANT_ID, AZURE_CLIENT_ID, '
                   'AZURE_CLIENT_SECRET), or run where workload identity, a managed identity or "az login" '
                   'provides credentials')


def get_token(cred, scope):
    """An Entra access token string for ``scope`` from ``cred``; closes ``cred``.

    :raises ProviderError: category ``azure_credentials`` with a hint, never a secret.
    """
    try:
        return cred.get_token(scope).token
    except ProviderError:
        raise
    except Exception as exc:  # azure-identity raises ClientAuthenticationError and its subclasses
        text = ' '.join(str(exc).split())
        if len(text) > 400:
            text = text[:400] + '...'
        raise ProviderError('could not get a Microsoft Entra token for %s (%s): %s' % (scope, type(exc).__name__, text),
                            hint=CREDENTIAL_HINT, category='azure_credentials')
    finally:
        close = getattr(cred, 'close', None)
        if close is not None:
            close()


def arm_error(resp):
    """(code, message) of an ARM error answer."""
    try:
        body = resp.json()
    except ValueError:
        return '', ''
    err = body.get('error') if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get('code') or ''), ' '.join(str(err.get('message') or '').split())[:500]
    return '', ''


class ArmRunner(Runner):
    """The runner of a module that talks to ARM: an ``ArmClient`` made on first use from the
    module's Azure credential options, and a clock and sleep the tests can replace.

    Subclasses set ``MODULE`` (the module's name, used in credential errors) and call
    ``self._client(opts)`` with the validated options (``azure``: the credential options,
    ``arm_endpoint``) before the first request. ``arm`` may be given (tests: a fake client).
    """

    MODULE = 'this task'

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, arm=None,
                 sleep=time.sleep, clock=time.monotonic):
        super(ArmRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.arm = arm
        self.sleep = sleep
        self.clock = clock

    def _client(self, opts):
        """The ARM client for ``opts`` (made once; the token is fetched on the first request)."""
        if self.arm is None:
            azure = opts['azure']
            scope = opts['arm_endpoint'] + '/.default'
            module = self.MODULE

            def token():
                return get_token(credential(azure, what=module), scope)
            self.arm = ArmClient(token, endpoint=opts['arm_endpoint'], ca_path=azure.get('ca_path'))
        return self.arm

    def _get(self, path, api, what):
        """GET ``path``; None when ARM answers 404. :raises AzureAPIError: any other failure."""
        try:
            return self.arm.request('GET', path, api, what=what)[1]
        except AzureAPIError as exc:
            if exc.status == 404:
                return None
            raise


class ArmClient(object):
    """Azure Resource Manager over REST: ``request(method, path, api_version, body)``.

    ``token_source()`` returns a bearer token for the ARM audience (called once, lazily).
    ``session`` is a ``requests.Session`` (tests may pass another object with ``request``);
    ``sleep`` and ``clock`` are replaceable for tests.
    """

    def __init__(self, token_source, endpoint=None, ca_path=None, session=None, sleep=time.sleep,
                 clock=time.monotonic):
        self.endpoint = (endpoint or ARM_ENDPOINT).rstrip('/')
        self.token_source = token_source
        self.verify = ca_path or True
        if session is None:
            if not HAS_REQUESTS:  # pragma: no cover
                raise ProviderError('the Azure modules need the Python package requests')
            session = requests.Session()
        self.session = session
        self.sleep = sleep
        self.clock = clock
        self._token = None
        self.calls = 0

    def _headers(self):
        if self._token is None:
            self._token = self.token_source()
        return {'Authorization': 'Bearer ' + self._token, 'Accept': 'application/json'}

    def request(self, method, path, api_version, body=None, ok=(200, 201, 202, 204), what=None):
        """Send one ARM request (``path`` starts with ``/``, or is a full URL from ``Location`` /
        ``Azure-AsyncOperation``); returns ``(status, json body or {}, headers)``.

        Retries 429 (after ``Retry-After``, at most 60 s) and 5xx/connection errors, 4 times with
        back-off. :raises AzureAPIError: any other status not in ``ok`` (``status``, ``code``).
        """
        url = path if path.startswith('https://') else self.endpoint + path
        params = {'api-version': api_version} if api_version and 'api-version=' not in url else None
        what = what or '%s %s' % (method, path.split('?')[0])
        attempt = 0
        while True:
            attempt += 1
            try:
                self.calls += 1
                resp = self.session.request(method, url, params=params, json=body, headers=self._headers(),
                                            verify=self.verify, timeout=TIMEOUT, allow_redirects=False)
            except Exception as exc:  # connection, TLS, timeout
                if attempt <= RETRIES:
                    self.sleep(min(2 ** attempt, 30))
                    continue
                raise AzureAPIError('%s: Azure Resource Manager at %s is not reachable (%s)'
                                    % (what, self.endpoint, type(exc).__name__), status=0, code='unreachable',
                                    hint='check arm_endpoint and ca_path')
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt <= RETRIES:
                    self.sleep(_retry_after(resp, attempt))
                    continue
            if resp.status_code in ok:
                try:
                    data = resp.json() if resp.content else {}
                except ValueError:
                    data = {}
                return resp.status_code, data if isinstance(data, dict) else {}, resp.headers
            code, message = arm_error(resp)
            raise AzureAPIError('%s: HTTP %d %s%s' % (what, resp.status_code, code, (': ' + message) if message else ''),
                                status=resp.status_code, code=code)

    def wait_operation(self, headers, api_version, timeout=300, what='operation'):
        """Poll a long-running operation (``Azure-AsyncOperation`` or ``Location`` of a 202) until it
        ends; returns the final body. :raises AzureAPIError: failed, or not done within ``timeout`` s."""
        url = headers.get('Azure-AsyncOperation') or headers.get('Location')
        if not url:
            return {}
        deadline = self.clock() + timeout
        delay = 1
        while True:
            status, data, hdrs = self.request('GET', url, api_version, what=what)
            state = (data.get('status') or '').lower() if isinstance(data, dict) else ''
            if status == 200 and state in ('', 'succeeded'):
                return data
            if state in ('failed', 'canceled', 'cancelled'):
                err = data.get('error') or {}
                raise AzureAPIError('%s: the operation %s: %s' % (what, state, err.get('message') or err.get('code')),
                                    status=status, code=err.get('code') or state)
            if self.clock() > deadline:
                raise AzureAPIError('%s: not finished after %ds' % (what, timeout), status=status, code='timeout')
            self.sleep(min(_retry_after(None, 0, hdrs) or delay, 30))
            delay = min(delay * 2, 30)


def _retry_after(resp, attempt, headers=None):
    headers = headers if headers is not None else (resp.headers if resp is not None else {})
    value = (headers or {}).get('Retry-After')
    if value and str(value).strip().isdigit():
        return min(int(str(value).strip()), 60)
    return min(2 ** attempt, 30) if attempt else 0
