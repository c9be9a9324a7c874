# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API access: client construction, error mapping, retries. Private to this collection.

Everything that talks to the API server goes through :class:`KubeClient.call`, the one
place where 429/5xx are retried (honouring ``Retry-After``) and ``ApiException`` becomes a
typed error whose message names the verb, the resource and the namespace.
Objects are handled as plain dicts (raw JSON), never as generated model classes: parsing a
LIST of thousands of Secrets into models costs seconds, a ``json.loads`` costs milliseconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
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


def _retry_after(exc, attempt):
    """Seconds to wait before the next try: ``Retry-After`` when given, else exponential backoff."""
    headers = getattr(exc, 'headers', None) or {}
    value = None
    for key in ('Retry-After', 'retry-after'):
        if key in headers:
            value = headers[key]
    if value is not None:
        try:
            return min(max(float(value), 0.0), 30.0)
        except ValueError:
            pass
    return min(0.2 * (2 ** attempt), 5.0)


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

    def __init__(self, api_client, context=None, max_retries=5):
        self.api_client = api_client
        self.context = context
        self.max_retries = max_retries
        self.core = k8s_client.CoreV1Api(api_client)
        self.apps = k8s_client.AppsV1Api(api_client)
        self.batch = k8s_client.BatchV1Api(api_client)
        self.request_count = 0

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
        return cls(k8s_client.ApiClient(configuration), context=context)

    def call(self, verb, resource, func, namespace=None, name=None, **kwargs):
        """Run one API call, mapping errors and retrying 429/5xx.

        :param verb: Kubernetes verb for messages (``list``, ``create``, ...).
        :param resource: plural resource (``secrets``) for messages.
        :param func: a generated API method, e.g. ``self.core.create_namespaced_secret``.
        :param namespace: passed to ``func`` (when not None) and named in error messages.
        :param name: passed to ``func`` (when not None) and named in error messages.
        :param kwargs: passed to ``func``. ``_preload_content=False`` is added so the
            response is parsed as plain JSON.
        :returns: the decoded JSON response (dict), or None for an empty body.
        :raises NotFoundError, ConflictError, KubernetesAPIError: see :func:`map_api_exception`.
        """
        kwargs.setdefault('_preload_content', False)
        if namespace is not None:
            kwargs['namespace'] = namespace
        if name is not None:
            kwargs['name'] = name
        attempt = 0
        while True:
            self.request_count += 1
            try:
                response = func(**kwargs)
            except Exception as exc:  # ApiException, or connection errors from urllib3
                if isinstance(exc, ApiException) and getattr(exc, 'status', None) is not None:
                    status = exc.status or 0
                    if status in RETRY_STATUSES and attempt < self.max_retries:
                        time.sleep(_retry_after(exc, attempt))
                        attempt += 1
                        continue
                    raise map_api_exception(exc, verb, resource, namespace=namespace, name=name)
                if HAS_URLLIB3 and isinstance(exc, urllib3.exceptions.HTTPError):
                    raise KubernetesAPIError(
                        'cannot reach the Kubernetes API server at %s while trying to %s %s: %s'
                        % (self.host, verb, resource, exc), status=0, verb=verb, resource=resource)
                raise
            data = response.data if hasattr(response, 'data') else response
            if not data:
                return None
            if isinstance(data, (bytes, bytearray)):
                data = data.decode('utf-8')
            return json.loads(data)

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
    :returns: what ``operation`` returns.
    :raises ConflictError: when every attempt conflicted.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except ConflictError:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.05 * (2 ** attempt), 1.0))
    return None  # pragma: no cover
