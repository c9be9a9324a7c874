# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API access: client construction, error mapping, retries. Private to this collection.

Everything that talks to the API server goes through :class:`KubeClient.call`, the one
place where 429/5xx and refused connections are retried (how often and how long to wait is the
task's ``_retry.RetryPolicy``), where each request gets the task's ``request_timeout``, and where
``ApiException`` and transport failures become typed errors whose message names the verb, the
resource and the namespace. A failed write says whether it may have been applied
(``write_outcome``: ``not_written`` when the request never reached the API server, ``unknown``
when the connection broke or timed out after it was sent).
Objects are handled as plain dicts (raw JSON), never as generated model classes: parsing a
LIST of thousands of Secrets into models costs seconds, a ``json.loads`` costs milliseconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.util
import json
import os
import re
import sys
import threading
import time

_LAZY_LOCK = threading.RLock()

# The generated API classes the collection calls (module of kubernetes.client.api, class).
API_CLASSES = (('core_v1_api', 'CoreV1Api'), ('apps_v1_api', 'AppsV1Api'), ('batch_v1_api', 'BatchV1Api'),
               ('authorization_v1_api', 'AuthorizationV1Api'))


def _lazy_package(name):
    """Register package ``name`` in ``sys.modules`` without running its ``__init__.py``.

    Its submodules import as usual. The first lookup of an attribute the package does not have yet
    runs the real ``__init__.py`` into it (PEP 562 ``__getattr__``), so code that wants the whole
    package (``kubernetes.client.V1Pod``) still gets it, only later and only then.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError('No package named %r' % name)
    module = importlib.util.module_from_spec(spec)
    state = {'loaded': False}

    def __getattr__(attr):
        with _LAZY_LOCK:
            if not state['loaded'] and (not attr.startswith('__') or attr in ('__all__', '__version__')):
                state['loaded'] = True
                spec.loader.exec_module(module)
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError('module %r has no attribute %r' % (name, attr))

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    parent, dummy, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def import_kubernetes():
    """``(kubernetes.client, kubernetes.config, ApiException)`` at a fraction of the import cost.

    ``import kubernetes`` runs ``kubernetes/__init__.py``, which imports every generated API and model
    class (about 0.7 s of CPU per module process) although this collection only sends and parses raw
    JSON. When nothing has imported ``kubernetes`` yet, the packages ``kubernetes``,
    ``kubernetes.client``, ``kubernetes.client.api`` and ``kubernetes.client.models`` are registered
    without their ``__init__.py`` (:func:`_lazy_package`), and only what is used is imported: the
    configuration, the REST layer, ``ApiClient``, the API classes of ``API_CLASSES`` and all of
    ``kubernetes.config`` (kubeconfig, contexts, exec and auth-provider plugins, in-cluster config).
    Anything else is loaded in full on first use. When ``kubernetes`` is already imported, it is used
    as it is.
    """
    if 'kubernetes' not in sys.modules:
        with _LAZY_LOCK:
            for name in ('kubernetes', 'kubernetes.client', 'kubernetes.client.api', 'kubernetes.client.models'):
                _lazy_package(name)
            client = sys.modules['kubernetes.client']
            for sub, attr in (('exceptions', None), ('configuration', 'Configuration'), ('rest', None),
                              ('api_client', 'ApiClient')):
                mod = importlib.import_module('kubernetes.client.' + sub)
                if attr:
                    client.__dict__.setdefault(attr, getattr(mod, attr))
            for sub, attr in API_CLASSES:
                client.__dict__.setdefault(attr, getattr(importlib.import_module('kubernetes.client.api.' + sub), attr))
            importlib.import_module('kubernetes.config')
    from kubernetes import client as k8s_client_module
    from kubernetes import config as k8s_config_module
    from kubernetes.client.exceptions import ApiException as api_exception
    return k8s_client_module, k8s_config_module, api_exception


try:
    k8s_client, k8s_config, ApiException = import_kubernetes()
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc
    ApiException = Exception

try:
    import urllib3
    HAS_URLLIB3 = True
except ImportError:  # pragma: no cover
    HAS_URLLIB3 = False

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    KubernetesAPIError,
    NotFoundError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._retry import current_policy

RETRY_STATUSES = (429, 500, 502, 503, 504)
# One page holds every namespace, ServiceAccount or same-named Secret of a 5000-namespace
# cluster: a no-op run over 1000 namespaces is then one LIST per resource (the API server
# streams a LIST of this size from etcd in one response; objects are small).
LIST_PAGE_SIZE = 5000
#: Field selector for the Pods a kubelet can hold in a pull back-off: those not finished. Not only
#: ``Pending`` ones: when a container that already ran restarts and its image cannot be pulled again
#: (a rotated password, an image the node no longer has), the kubelet counts the restarting
#: container as stopped and keeps the Pod in phase ``Running`` while it waits in ``ImagePullBackOff``.
UNFINISHED_PODS = 'status.phase!=Succeeded,status.phase!=Failed'


def _api_message(body):
    """Extract (message, causes) from a Kubernetes Status body (bytes/str/None)."""
    if not body:
        return '', []
    try:
        status = json.loads(body)
    except (ValueError, TypeError):
        return str(body)[:300], []
    if not isinstance(status, dict):
        return str(body)[:300], []
    causes = (status.get('details') or {}).get('causes') or []
    return status.get('message') or '', causes


#: API group of every resource the collection reads or writes ('' is the core group).
API_GROUPS = {
    'namespaces': '', 'secrets': '', 'serviceaccounts': '', 'pods': '', 'events': '', 'nodes': '',
    'deployments': 'apps', 'statefulsets': 'apps', 'daemonsets': 'apps', 'replicasets': 'apps',
    'jobs': 'batch', 'cronjobs': 'batch',
    'selfsubjectaccessreviews': 'authorization.k8s.io',
}


def rbac_rule(verb, resource):
    """The RBAC rule that grants ``verb`` on ``resource``, in the YAML flow style of a manifest.

    >>> rbac_rule('list', 'secrets')
    '{apiGroups: [""], resources: [secrets], verbs: [list]}'
    """
    return '{apiGroups: ["%s"], resources: [%s], verbs: [%s]}' % (API_GROUPS.get(resource, ''), resource, verb)


def missing_rule_advice(verb, resource, namespace=None):
    """The sentence that names the RBAC rule to add, and where to add it, for a denied request.

    :param namespace: the namespace of the request; None for a cluster-wide one.
    """
    if namespace:
        where = ('a Role in namespace %s (or a ClusterRole bound there with a RoleBinding)' % namespace)
    else:
        where = 'a ClusterRole bound with a ClusterRoleBinding'
    return ('Add the rule %s to %s; the rights of every module are listed in docs/reliability.md, '
            'as manifests in docs/rbac/.' % (rbac_rule(verb, resource), where))


def _is_rbac_denial(message):
    """True when a 403 message is the RBAC authorizer's (``User "..." cannot VERB resource ...``),
    not an admission plugin's (PodSecurity, a terminating namespace, quota...)."""
    return not message or ' cannot ' in message


def map_api_exception(exc, verb, resource, namespace=None, name=None):
    """Turn a kubernetes ``ApiException`` into a typed error with a clear message.

    :param exc: the ApiException (``status``, ``reason``, ``body``, ``headers``).
    :param verb: the Kubernetes verb (``list``, ``get``, ``create``, ``update``, ``patch``, ``delete``).
    :param resource: plural resource name (``secrets``, ``serviceaccounts``, ...).
    :returns: NotFoundError (404), ConflictError (409) or KubernetesAPIError (others); the
        message names verb, resource, namespace and name; for 422 it lists the invalid fields.
    """
    status = getattr(exc, 'status', 0) or 0
    message, causes = _api_message(getattr(exc, 'body', None))
    where = resource
    if name:
        where = '%s/%s' % (resource, name)
    scope = ' in namespace %s' % namespace if namespace else (' cluster-wide' if verb == 'list' else '')
    details = dict(verb=verb, resource=resource)
    if namespace:
        details['namespace'] = namespace
    if name:
        details['name'] = name
    if status == 403 and 'being terminated' in message:
        msg = ('namespace %s is being deleted: the API server refuses to %s %s there (%s)'
               % (namespace, verb, where, message))
        return KubernetesAPIError(msg, status=status, reason='NamespaceTerminating', **details)
    if status == 403 and _is_rbac_denial(message):
        msg = 'forbidden: the credentials cannot %s %s%s. %s API server said: %s' % (
            verb, where, scope, missing_rule_advice(verb, resource, namespace), message)
        return KubernetesAPIError(msg, status=status, reason='Forbidden', **details)
    if status == 403:
        msg = 'forbidden: the API server refuses to %s %s%s: %s' % (verb, where, scope, message)
        return KubernetesAPIError(msg, status=status, reason='Forbidden', **details)
    if status == 401:
        msg = 'unauthorized: the API server rejected the credentials while trying to %s %s%s: %s' % (
            verb, where, scope, message)
        return KubernetesAPIError(msg, status=status, reason='Unauthorized', **details)
    if status == 404:
        msg = 'not found: %s%s (%s): %s' % (where, scope, verb, message)
        return NotFoundError(msg, status=status, reason='NotFound', **details)
    if status == 409:
        msg = 'conflict on %s %s%s: %s' % (verb, where, scope, message)
        return ConflictError(msg, status=status, reason='Conflict', **details)
    if status == 422:
        fields = ['%s: %s' % (c.get('field', '?'), c.get('message', '')) for c in causes]
        details['invalid_fields'] = [c.get('field') for c in causes]
        msg = 'invalid %s %s%s: %s' % (verb, where, scope, '; '.join(fields) or message)
        return KubernetesAPIError(msg, status=status, reason='Invalid', **details)
    msg = 'Kubernetes API error %s on %s %s%s: %s' % (status, verb, where, scope, message or getattr(exc, 'reason', ''))
    return KubernetesAPIError(msg, status=status, reason=getattr(exc, 'reason', None), **details)


#: Verbs that change state: a write whose connection broke after it was sent may have been applied.
WRITE_VERBS = ('create', 'update', 'patch', 'delete', 'deletecollection')


def _header(exc, name):
    headers = getattr(exc, 'headers', None) or {}
    for key in (name, name.lower()):
        if key in headers:
            return headers[key]
    return None


def transport_failure(exc):
    """Classify a transport exception of urllib3: ``(kind, words)``.

    ``kind`` is ``timeout`` (no answer within the timeout), ``refused`` (no connection was made,
    the request was not sent), ``dns``, ``tls`` or ``broken`` (the connection failed after it
    was made: the request may have been processed); ``words`` describe it for a message.
    """
    chain = []
    seen = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = getattr(seen, 'reason', None) if getattr(seen, 'reason', None) is not seen else None
        if not isinstance(seen, BaseException):
            seen = None
    raw = ' '.join(str(e) for e in chain)
    text = ' '.join('%s: %s' % (type(e).__name__, e) for e in chain).lower()
    new_connection = HAS_URLLIB3 and any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain)
    if 'name or service not known' in text or 'failed to resolve' in text or 'nodename nor servname' in text \
            or 'temporary failure in name resolution' in text or 'nameresolutionerror' in text:
        return 'dns', 'the host name does not resolve'
    if 'connection refused' in text:
        return 'refused', 'connection refused'
    if new_connection and 'timed out' not in text:
        return 'refused', 'no connection could be made (%s)' % _short(raw)
    if HAS_URLLIB3:
        if any(isinstance(e, urllib3.exceptions.ReadTimeoutError) for e in chain):
            return 'timeout', 'no answer within the read timeout'
        if any(isinstance(e, urllib3.exceptions.ConnectTimeoutError) for e in chain):
            return 'timeout', 'no connection within the connect timeout'
        if any(isinstance(e, urllib3.exceptions.SSLError) for e in chain):
            return 'tls', 'TLS handshake failed (%s)' % _short(raw)
    if 'timed out' in text:
        return 'timeout', 'timed out'
    if 'certificate verify failed' in text or 'ssl' in text:
        return 'tls', 'TLS handshake failed (%s)' % _short(raw)
    return 'broken', 'the connection broke (%s)' % _short(raw)


def _short(text, limit=160):
    text = re.sub(r'\s+', ' ', str(text))
    text = re.sub(r' object at 0x[0-9a-f]+', '', text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


_URL_RE = re.compile(r'^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?(/[^\s]*)?$')
_PROXY_RE = re.compile(r'^(https?|socks5h?)://([^\s@/]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?/?$')


def _check_connection_options(params):
    """Refuse connection options that cannot work, naming the option, before any request.

    :raises ValidationError: ``host`` or ``proxy`` is not a URL, or a certificate/key file
        (``ca_cert``, ``client_cert``, ``client_key``) does not exist.
    """
    host = params.get('host')
    if host and not _URL_RE.match(host):
        raise ValidationError('host: %r is not the URL of a Kubernetes API server (https://host[:port]); it usually '
                              'comes from the kubeconfig, set it only to override that' % host, field='host')
    proxy = params.get('proxy')
    if proxy and not _PROXY_RE.match(proxy):
        raise ValidationError('proxy: %r is not a proxy URL (http://host:port, https://... or socks5://...)'
                              % re.sub(r'//[^@/]*@', '//<credentials>@', proxy), field='proxy')
    for field, what in (('ca_cert', 'CA certificate'), ('client_cert', 'client certificate'),
                        ('client_key', 'client key')):
        path = params.get(field)
        if path and not os.path.isfile(os.path.expanduser(path)):
            raise ValidationError('%s: the %s file %s does not exist or is not a file' % (field, what, path),
                                  field=field)


class KubeClient(object):
    """A connection to one cluster.

    Build it with :meth:`from_params` from the options of the ``cluster`` doc fragment.
    Attributes ``core`` (CoreV1Api), ``apps`` (AppsV1Api), ``batch`` (BatchV1Api) are the
    generated APIs; call them through :meth:`call` so errors and retries are handled.
    """

    def __init__(self, api_client, context=None, policy=None, sleep=None):
        self.api_client = api_client
        self.context = context
        self._policy = policy
        self._sleep = sleep or time.sleep
        self.core = k8s_client.CoreV1Api(api_client)
        self.apps = k8s_client.AppsV1Api(api_client)
        self.batch = k8s_client.BatchV1Api(api_client)
        self.request_count = 0
        # Set once the API server could not be reached after every retry: later requests of this
        # task fail at once (not sent) instead of waiting out the retries one by one.
        self._unreachable = None

    @property
    def policy(self):
        """The retry policy: the one given, else the task's (``_retry.current_policy``)."""
        return self._policy or current_policy()

    @property
    def host(self):
        return self.api_client.configuration.host

    @classmethod
    def from_params(cls, params, pool_size=16):
        """Create a client from cluster options.

        :param params: dict with the keys of ``_cluster_args.CLUSTER_ARGSPEC`` (missing keys mean unset).
        :param pool_size: HTTP connection pool size; at least the write concurrency.
        :raises ValidationError: kubeconfig missing/unreadable, unknown context, no way to connect.
        :raises KubernetesAPIError: when the kubernetes Python library is missing.
        """
        if not HAS_KUBERNETES:
            raise KubernetesAPIError(
                'the kubernetes Python library is required (pip install kubernetes): %s' % KUBERNETES_IMPORT_ERROR)
        params = params or {}
        kubeconfig = params.get('kubeconfig')
        context = params.get('context')
        host = params.get('host')
        configuration = k8s_client.Configuration()
        try:
            if isinstance(kubeconfig, dict):
                k8s_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=configuration)
            elif kubeconfig or not host:
                path = os.path.expanduser(kubeconfig) if kubeconfig else None
                default_path = os.path.expanduser(os.environ.get('KUBECONFIG', '~/.kube/config').split(os.pathsep)[0])
                # A KUBECONFIG-style list (a:b) is merged by the kubernetes library, which skips
                # files that do not exist; at least one must.
                if path and not any(os.path.exists(os.path.expanduser(p)) for p in path.split(os.pathsep) if p):
                    raise ValidationError('kubeconfig: file %s does not exist' % path, field='kubeconfig')
                if not path and not os.path.exists(default_path) and os.environ.get('KUBERNETES_SERVICE_HOST'):
                    k8s_config.load_incluster_config(client_configuration=configuration)
                elif not path and not os.path.exists(default_path):
                    raise ValidationError(
                        'no cluster connection: set kubeconfig (or K8S_AUTH_KUBECONFIG / KUBECONFIG), '
                        'or host with api_key or client_cert; %s does not exist' % default_path, field='kubeconfig')
                else:
                    k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        except ValidationError:
            raise
        except k8s_config.ConfigException as exc:
            field = 'context' if context and 'context' in str(exc).lower() else 'kubeconfig'
            raise ValidationError('cannot load the cluster connection: %s' % exc, field=field)
        except (IOError, OSError, ValueError, TypeError) as exc:
            raise ValidationError('cannot read kubeconfig: %s' % exc, field='kubeconfig')
        _check_connection_options(params)
        if host:
            configuration.host = host
        if params.get('api_key'):
            configuration.api_key = {'authorization': 'Bearer %s' % params['api_key']}
        if params.get('ca_cert'):
            configuration.ssl_ca_cert = params['ca_cert']
        if params.get('client_cert'):
            configuration.cert_file = params['client_cert']
        if params.get('client_key'):
            configuration.key_file = params['client_key']
        if params.get('validate_certs') is not None:
            configuration.verify_ssl = bool(params['validate_certs'])
        if params.get('proxy'):
            configuration.proxy = params['proxy']
        configuration.connection_pool_maxsize = max(int(pool_size), 4)
        # urllib3 would otherwise retry failed connections on its own (3 times, silently, each
        # waiting out the timeout): every retry is decided in call(), counted and bounded there.
        configuration.retries = False
        return cls(k8s_client.ApiClient(configuration), context=context)

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        """Run one API call with the task's timeout, mapping errors and retrying.

        Retried (as often and as long as the task's ``RetryPolicy`` allows, honouring
        ``Retry-After``): HTTP 429, 500, 502, 503, 504; a refused connection (the request was not
        sent); for reads, a connection that broke. Never retried: a timeout (the error comes within
        ``request_timeout`` plus the connect time), a DNS or TLS failure, and a write whose
        connection broke after it was sent (it may have been applied: ``write_outcome`` is
        ``unknown``).

        :param verb: Kubernetes verb for messages (``list``, ``create``, ...).
        :param resource: plural resource (``secrets``) for messages.
        :param func: a generated API method, e.g. ``self.core.create_namespaced_secret``.
        :param namespace: passed to ``func`` (when not None) and named in error messages.
        :param name: passed to ``func`` (when not None) and named in error messages.
        :param kwargs: passed to ``func``. ``_preload_content=False`` is added so the
            response is parsed as plain JSON, and ``_request_timeout`` from the policy.
        :returns: the decoded JSON response (dict), or None for an empty body.
        :raises NotFoundError, ConflictError, KubernetesAPIError: see :func:`map_api_exception`;
            transport failures are ``KubernetesAPIError`` with ``status`` 0 and ``reason``
            ``Timeout``, ``Unreachable``, ``ConnectionBroken``, ``DNS`` or ``TLS``; failed writes
            carry ``write_outcome`` (``not_written`` or ``unknown``).
        """
        policy = self.policy
        kwargs.setdefault('_preload_content', False)
        kwargs.setdefault('_request_timeout', (policy.timeout, policy.timeout))
        if namespace is not None:
            kwargs['namespace'] = namespace
        if name is not None:
            kwargs['name'] = name
        write = verb in WRITE_VERBS
        attempt = 0
        while True:
            if self._unreachable is not None:
                raise self._transport_error(verb, resource, namespace, name, 'Unreachable', self._unreachable,
                                            0, 'not_written' if write else None, earlier=True)
            self.request_count += 1
            try:
                response = func(**kwargs)
            except Exception as exc:  # ApiException, or connection errors from urllib3
                if isinstance(exc, AttributeError) and isinstance(exc.__context__, ApiException):
                    # the kubernetes client turns a TLS failure into ApiException(status=0) and then
                    # trips over its empty body: the ApiException is the failure
                    exc = exc.__context__
                if isinstance(exc, ApiException) and getattr(exc, 'status', None):
                    status = exc.status or 0
                    if status not in RETRY_STATUSES:
                        raise map_api_exception(exc, verb, resource, namespace=namespace, name=name)
                    retry_after = _header(exc, 'Retry-After')
                    wait = policy.delay(attempt, retry_after)
                    if wait is not None:
                        policy.record('kubernetes', 'HTTP %d' % status, wait)
                        self._sleep(wait)
                        attempt += 1
                        continue
                    err = map_api_exception(exc, verb, resource, namespace=namespace, name=name)
                    err.msg = '%s (%s)' % (err.msg, policy.give_up_reason(attempt, retry_after))
                    err.args = (err.msg,)
                    err.details['retried'] = attempt
                    raise err
                if not (HAS_URLLIB3 and isinstance(exc, urllib3.exceptions.HTTPError)) \
                        and not isinstance(exc, (OSError, ApiException)):
                    raise
                kind, words = transport_failure(exc)
                if kind == 'refused' or (kind == 'broken' and not write):
                    wait = policy.delay(attempt)
                    if wait is not None:
                        policy.record('kubernetes', 'connection refused' if kind == 'refused' else 'connection broken',
                                      wait)
                        self._sleep(wait)
                        attempt += 1
                        continue
                    if kind == 'refused':
                        self._unreachable = words
                if kind == 'timeout':
                    raise self._transport_error(verb, resource, namespace, name, 'Timeout', words, attempt,
                                                write and 'unknown')
                reason = {'refused': 'Unreachable', 'broken': 'ConnectionBroken', 'dns': 'DNS', 'tls': 'TLS'}[kind]
                outcome = None
                if write:
                    outcome = 'not_written' if kind in ('refused', 'dns', 'tls') else 'unknown'
                raise self._transport_error(verb, resource, namespace, name, reason, words, attempt, outcome)
            data = response.data if hasattr(response, 'data') else response
            if not data:
                return None
            if isinstance(data, (bytes, bytearray)):
                data = data.decode('utf-8')
            return json.loads(data)

    def _transport_error(self, verb, resource, namespace, name, reason, words, retries, outcome, earlier=False):
        """The error of a request that got no HTTP answer; the message names the request."""
        where = resource if not name else '%s/%s' % (resource, name)
        scope = ' in namespace %s' % namespace if namespace else (' cluster-wide' if verb == 'list' else '')
        request = '%s %s%s' % (verb, where, scope)
        policy = self.policy
        if reason == 'Timeout':
            msg = ('timed out: the Kubernetes API server at %s gave no answer within request_timeout=%d s to %s (%s; '
                   'timeouts are not retried)' % (self.host, policy.timeout, request, words))
        elif earlier:
            msg = ('not sent: the Kubernetes API server at %s was found unreachable earlier in this task (%s), so %s '
                   'was not attempted' % (self.host, self._unreachable, request))
        elif reason == 'Unreachable':
            msg = 'cannot reach the Kubernetes API server at %s to %s: %s (%s)' % (
                self.host, request, words, policy.give_up_reason(retries))
        elif reason == 'ConnectionBroken':
            msg = 'the connection to the Kubernetes API server at %s broke during %s: %s' % (self.host, request, words)
            if outcome == 'unknown':
                msg += '; the write may or may not have been applied (not retried)'
            else:
                msg += ' (%s)' % policy.give_up_reason(retries)
        else:
            msg = 'cannot connect to the Kubernetes API server at %s to %s: %s' % (self.host, request, words)
        details = dict(verb=verb, resource=resource, retried=retries)
        if namespace:
            details['namespace'] = namespace
        if name:
            details['name'] = name
        if outcome:
            details['write_outcome'] = outcome
        return KubernetesAPIError(msg, status=0, reason=reason, **details)

    def list_all(self, resource, func, namespace=None, **kwargs):
        """LIST with pagination (``limit``/``continue``) and return every item (list of dicts).

        Counts one request per page of ``LIST_PAGE_SIZE`` (5000) items.
        """
        items = []
        cont = None
        while True:
            args = dict(kwargs)
            args['limit'] = LIST_PAGE_SIZE
            if cont:
                args['_continue'] = cont
            page = self.call('list', resource, func, namespace=namespace, **args) or {}
            items.extend(page.get('items') or [])
            cont = (page.get('metadata') or {}).get('continue')
            if not cont:
                return items


def retry_on_conflict(operation, attempts=8):
    """Run ``operation()`` again while it raises ConflictError (optimistic concurrency).

    ``operation`` must re-read the object each time (read-modify-write with resourceVersion).
    Each retry is counted in the task's ``retries`` (reason ``HTTP 409 conflict``).
    :returns: what ``operation`` returns.
    :raises ConflictError: when every attempt conflicted.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except ConflictError:
            if attempt == attempts - 1:
                raise
            wait = min(0.05 * (2 ** attempt), 1.0)
            current_policy().record('kubernetes', 'HTTP 409 conflict', wait)
            time.sleep(wait)
    return None  # pragma: no cover
