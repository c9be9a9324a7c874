# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``registry_probe`` with credentials from the cluster: ``pull_secret`` and ``pod`` modes. Private to this collection.

The kubelet's view is reproduced with ``_dockerconfig`` (secrets.go / keyring.go rules): which
secrets it reads (type, shape), which registry key matches the image and which almost did. The
live check then runs with exactly the credentials the kubelet would send (``_registry_probe.run_probe``).
Passwords read from Secrets are handed to ``register_secret`` (Ansible's ``no_log_values``) the
moment they are read and never enter a result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import cluster_params
from ansible_collections.registrylink.k8s.plugins.module_utils._common import b64decode_lenient
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import CATEGORIES
from ansible_collections.registrylink.k8s.plugins.module_utils._dockerconfig import DATA_KEYS, SecretDecodeError, decode_secret
from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet import (
    inspect_config, kubelet_keyring, kubelet_lookup, kubelet_secret_payload,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    KubernetesAPIError, NotFoundError, ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference, require_registry
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import ProbeTarget, run_probe, tls_check

AUTH_CATEGORIES = ('unauthorized', 'denied')
PULL_EVENT_REASONS = ('Failed', 'FailedToRetrieveImagePullSecret', 'BackOff', 'ErrImagePull', 'InspectFailed',
                      'ErrImageNeverPull')


def _kube(params, kube_client):
    if kube_client is not None:
        return kube_client
    from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient
    return KubeClient.from_params(cluster_params(params))


def _find(kube, resource, list_method, namespace, name):
    """The object ``namespace/name`` or None, by a LIST with a field selector (no 404 path, one request)."""
    page = kube.call('list', resource, functools.partial(list_method, field_selector='metadata.name=%s' % name),
                     namespace=namespace) or {}
    items = page.get('items') or []
    return items[0] if items else None


def _namespaces_holding(kube, name):
    """Namespaces where a Secret with this name exists (pull secret in another namespace: 'found in: default'); [] when not listable."""
    try:
        items = kube.list_all('secrets', functools.partial(kube.core.list_secret_for_all_namespaces,
                                                           field_selector='metadata.name=%s' % name))
    except Exception:  # RBAC may forbid a cluster-wide list: the hint is only a bonus
        return []
    return sorted(set(((i.get('metadata') or {}).get('namespace')) for i in items if i.get('metadata')))


def read_pull_secret(kube, namespace, name, register_secret=None):
    """Read one pull secret the way the kubelet would. Returns a dict (no secret in it except ``config``).

    Keys: ``name``, ``found``, ``type``, ``usable`` (the kubelet gets credentials out of it),
    ``problem`` (``missing``, ``wrong_secret_type``, ``unreadable``, ``shape_mismatch``, ...) with
    ``detail``, ``found_in`` (other namespaces holding that name, when missing), ``issues`` (from
    ``inspect_config``), ``config`` (the parsed document, for display) and ``payload`` (the bytes
    the kubelet decodes, for matching: see ``pull_secret_configs``); both hold credentials and
    are never returned. ``unreadable`` means the kubelet's own JSON decoding fails: then every
    pull of a Pod listing this Secret fails, whatever its other Secrets hold.
    """
    entry = {'name': name, 'found': False, 'type': None, 'usable': False, 'problem': None, 'detail': None,
             'issues': [], 'config': None, 'payload': None}
    secret = _find(kube, 'secrets', kube.core.list_namespaced_secret, namespace, name)
    if secret is None:
        entry['problem'] = 'missing'
        found_in = [ns for ns in _namespaces_holding(kube, name) if ns != namespace]
        entry['found_in'] = found_in
        entry['detail'] = 'pull secret %s does not exist in namespace %s%s; the kubelet warns' \
                          ' FailedToRetrieveImagePullSecret and pulls without it' % (
                              name, namespace, ' (found in: %s)' % ', '.join(found_in) if found_in else '')
        return entry
    entry['found'] = True
    stype = secret.get('type') or 'Opaque'
    entry['type'] = stype
    data = secret.get('data') or {}
    entry['payload'] = kubelet_secret_payload(stype, data)
    try:
        config = decode_secret(stype, data)
    except SecretDecodeError as exc:
        if stype not in DATA_KEYS:
            entry['problem'] = 'wrong_secret_type'
            entry['detail'] = 'secret type %s is ignored by the kubelet (%s)' % (stype, exc.msg)
            return entry
        issues = inspect_config(stype, None, payload=entry['payload'])
        entry['issues'] = issues
        if any(i['code'] == 'unreadable' for i in issues) or entry['payload'] is None:
            entry['problem'] = 'unreadable'
            entry['detail'] = next((i['message'] for i in issues if i['code'] == 'unreadable'), exc.msg)
            return entry
        # Go's decoder reads what Python's cannot (invalid UTF-8, very deep nesting): the kubelet
        # uses the secret, only the display of its entries is not available.
        entry['detail'] = 'the kubelet reads this secret, but it cannot be shown (%s)' % exc.msg
        entry['usable'] = True
        return entry
    _register_config_secrets(config, register_secret)
    entry['config'] = config
    issues = inspect_config(stype, config, payload=entry['payload'])
    entry['issues'] = issues
    fatal = [i for i in issues if i['code'] in ('wrong_secret_type', 'unreadable', 'shape_mismatch', 'no_entries')]
    if fatal:
        entry['problem'] = fatal[0]['code']
        entry['detail'] = fatal[0]['message']
    entry['usable'] = not fatal
    return entry


def pull_secret_configs(entries):
    """The Secrets the kubelet builds its keyring from, in the Pod's order, from
    ``read_pull_secret`` entries: ``[(name, payload bytes, type)]`` for ``kubelet_lookup``
    (a Secret that does not exist is left out, as the kubelet leaves it out)."""
    return [(e['name'], e['payload'], e['type']) for e in entries if e['found']]


def _register_config_secrets(config, register_secret):
    """Hand every password / auth / token value of a docker config to Ansible's no_log list."""
    if register_secret is None or not isinstance(config, dict):
        return
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, (dict, list)):
                    stack.append(value)
                elif isinstance(value, str) and value and str(key).lower() in (
                        'password', 'auth', 'identitytoken', 'registrytoken'):
                    register_secret(value)
                    if str(key).lower() == 'auth':
                        _register_auth_parts(value, register_secret)
        elif isinstance(item, list):
            stack.extend(item)


def _register_auth_parts(auth, register_secret):
    try:
        decoded = b64decode_lenient(auth).decode('utf-8', 'replace')
    except Exception:
        return
    if ':' in decoded:
        password = decoded.split(':', 1)[1]
        if password:
            register_secret(password)


def _password_for(keyring, match):
    for cred in keyring['creds'].get(match['key'], []):
        if cred['secret'] == match['secret'] and cred['config_key'] == match['config_key']:
            return cred['username'], cred['password']
    return match.get('username'), None


def _cred_id(registry, username, password):
    return (registry, username or '', hashlib.sha256((password or '').encode('utf-8', 'surrogateescape')).hexdigest())


class _ProbeCache(object):
    """One live probe per distinct (registry, repository, reference, credential)."""

    def __init__(self, conn, client_factory, tls_checker):
        self.conn = conn
        self.client_factory = client_factory
        self.tls_checker = tls_checker
        self.cache = {}
        self.warnings = []

    def probe(self, ref, username, password, source):
        key = _cred_id('%s/%s@%s' % (ref.registry, ref.repository, ref.digest or ref.tag), username, password)
        if key not in self.cache:
            target = ProbeTarget(ref.registry, ref.repository, ref.digest or ref.tag, image=ref.original)
            self.cache[key] = run_probe(target, username=username or None, password=password or None,
                                        credential_source=source, client_factory=self.client_factory,
                                        tls_checker=self.tls_checker, **self.conn)
        result = dict(self.cache[key], image=ref.original)
        for warning in result.pop('warnings', None) or []:
            if warning not in self.warnings:
                self.warnings.append(warning)
        return result


def _try_matches(ref, matches, keyring, cache, namespace):
    """Probe the matched credentials in kubelet order; the first success wins (kuberuntime_image.go)."""
    attempts = []
    seen = set()
    for match in matches:
        username, password = _password_for(keyring, match)
        ident = (username, password)
        if ident in seen:
            continue
        seen.add(ident)
        source = {'source': 'pull_secret', 'secret': '%s/%s' % (namespace, match['secret']), 'key': match['key'],
                  'config_key': match['config_key'], 'via': match['via']}
        if not password:
            # The kubelet sends what it read: a user with an empty password (an identitytoken-only
            # entry) or nothing at all (an empty entry). Neither authenticates.
            result = cache.probe(ref, None, None, dict(source, username=username))
            # a registry that needs credentials rejects these; a public one may too (bad Basic)
            result = dict(result, ok=False, category='unauthorized',
                          hint='The entry %s in secret %s has %s: the kubelet sends no usable credentials'
                               ' (it ignores identitytoken and registrytoken). Store username and password'
                               ' (for ACR: the token as password with user %s).' % (
                                   match['config_key'], match['secret'],
                                   'an empty password' if username else 'no username and no password',
                                   '00000000-0000-0000-0000-000000000000'),
                          msg='empty credentials in %s/%s' % (namespace, match['secret']))
            attempts.append(result)
            continue
        result = cache.probe(ref, username, password, source)
        attempts.append(result)
        if result['ok']:
            break
    return attempts


def _match_summary(lookup):
    first = lookup['matches'][0] if lookup['matches'] else None
    return ({'secret': first['secret'], 'key': first['key'], 'config_key': first['config_key'],
             'username': first['username'], 'via': first['via']} if first else None)


def _no_match_hint(lookup, secrets):
    if lookup.get('keyring_error'):
        return ('The kubelet cannot decode pull secret %s (%s): it fails the pull before trying any credentials, '
                'whatever the other pull secrets hold. Fix or remove that Secret.'
                % (lookup['keyring_error']['secret'], lookup['keyring_error']['reason']))
    parts = []
    for entry in secrets:
        if entry.get('problem'):
            parts.append(entry['detail'])
    for miss in lookup.get('near_misses') or []:
        parts.append('key %s in %s: %s' % (miss['config_key'], miss['secret'], miss['detail']))
    for item in lookup.get('ignored_secrets') or []:
        if not any(item['secret'] == e['name'] and e.get('problem') for e in secrets):
            parts.append('%s: %s' % (item['secret'], item['reason']))
    base = 'No pull-secret entry matches %s the way the kubelet matches keys, so it pulls anonymously' % (
        lookup['name'])
    return base + ('. ' + '; '.join(parts) if parts else '.')


# ---------------------------------------------------------------------------------------------
# pull_secret mode
# ---------------------------------------------------------------------------------------------

def probe_with_pull_secret(params, conn, register_secret=None, kube_client=None, client_factory=RegistryClient,
                           tls_checker=tls_check):
    """``registry_probe`` with ``pull_secret``: choose the entry as the kubelet would for ``image`` and probe."""
    image = params['image']
    ref = require_registry(parse_image_reference(image))
    namespace, name = params['pull_secret']['namespace'], params['pull_secret']['name']
    kube = _kube(params, kube_client)
    entry = read_pull_secret(kube, namespace, name, register_secret)
    configs = pull_secret_configs([entry])
    lookup = kubelet_lookup(image, configs)
    keyring = kubelet_keyring(configs)
    cache = _ProbeCache(conn, client_factory, tls_checker)
    public_secret = dict((k, v) for k, v in entry.items() if k not in ('config', 'payload'))
    if lookup['matches']:
        attempts = _try_matches(ref, lookup['matches'], keyring, cache, namespace)
        result = attempts[-1]
        result['attempts'] = len(attempts)
    else:
        result = cache.probe(ref, None, None, {'source': 'anonymous', 'secret': '%s/%s' % (namespace, name)})
        result['anonymous_probe_ok'] = result['ok']
        result['ok'] = False
        result['category'] = 'no_credentials_matched'
        result['hint'] = _no_match_hint(lookup, [entry]) + (
            ' (the image is pullable anonymously)' if result['anonymous_probe_ok'] else '')
        result['msg'] = 'pull secret %s/%s provides no credentials for %s' % (namespace, name, lookup['name'])
        if lookup['keyring_error']:
            result['msg'] = 'the kubelet cannot decode pull secret %s/%s: every pull that lists it fails' % (
                namespace, name)
    result['pull_secret'] = public_secret
    result['matched'] = _match_summary(lookup)
    result['near_misses'] = lookup['near_misses']
    result['warnings'] = cache.warnings
    return result


# ---------------------------------------------------------------------------------------------
# pod mode
# ---------------------------------------------------------------------------------------------

def _containers(pod):
    spec = pod.get('spec') or {}
    status = pod.get('status') or {}
    statuses = {}
    for kind, key in (('init_container', 'initContainerStatuses'), ('container', 'containerStatuses'),
                      ('ephemeral_container', 'ephemeralContainerStatuses')):
        for st in status.get(key) or []:
            statuses[(kind, st.get('name'))] = st
    out = []
    for kind, key in (('init_container', 'initContainers'), ('container', 'containers'),
                      ('ephemeral_container', 'ephemeralContainers')):
        for c in spec.get(key) or []:
            st = statuses.get((kind, c.get('name'))) or {}
            waiting = (st.get('state') or {}).get('waiting') or {}
            out.append({'container': c.get('name'), 'kind': kind, 'image': c.get('image'),
                        'waiting_reason': waiting.get('reason'), 'waiting_message': waiting.get('message'),
                        'image_id': st.get('imageID') or None})
    return out


def _pod_events(kube, namespace, pod, warnings=None):
    """The Pod's pull-related Events, or None when they cannot be read; a denial (RBAC) is appended
    to ``warnings``, naming the rule, since the kubelet's own messages are then missing."""
    name = (pod.get('metadata') or {}).get('name')
    uid = (pod.get('metadata') or {}).get('uid')
    selector = 'involvedObject.kind=Pod,involvedObject.name=%s' % name
    try:
        items = kube.list_all('events', functools.partial(kube.core.list_namespaced_event, namespace=namespace,
                                                          field_selector=selector), namespace=namespace)
    except KubernetesAPIError as exc:  # events are a bonus; RBAC may forbid them
        if warnings is not None and exc.status == 403:
            warnings.append('cannot list events in namespace %s: the kubelet\'s own messages (such as a TLS failure'
                            ' on the node) are not used. %s' % (namespace, exc.msg))
        return None
    except Exception:  # anything else: diagnose without them
        return None
    return [e for e in event_dicts(items, uid) if e['type'] == 'Warning' or e['reason'] in PULL_EVENT_REASONS]


def event_dicts(items, uid=None):
    """Events as ``{type, reason, message, count, last_timestamp}``, oldest first; with ``uid``,
    only those of that object (events of an earlier Pod with the same name are dropped)."""
    out = []
    for ev in items or []:
        involved = ev.get('involvedObject') or {}
        if uid and involved.get('uid') and involved.get('uid') != uid:
            continue
        out.append({'type': ev.get('type'), 'reason': ev.get('reason'), 'message': ev.get('message'),
                    'count': ev.get('count') or 1,
                    'last_timestamp': ev.get('lastTimestamp') or ev.get('eventTime') or
                    (ev.get('metadata') or {}).get('creationTimestamp')})
    out.sort(key=lambda e: e.get('last_timestamp') or '')
    return out


#: The hint for the kubelet's x509 event; ``%(host)s`` is the image's registry host.
NODE_TLS_HINT = (
    'The node\'s container runtime does not trust the TLS certificate of %(host)s (x509: certificate signed by'
    ' unknown authority). The TLS handshake failed before any credential was sent: this is not an authentication'
    ' failure and the pull secret is not the cause. Install the registry\'s CA on the nodes with the role'
    ' registrylink.k8s.node_registry_config (node_registry_config_registries: [{host: %(host)s, ca_file: <the'
    ' registry CA>}]); containerd reads it at the next pull, without a restart.')

#: The hint for a rate-limit answer the node got; ``%(host)s`` is the image's registry host.
NODE_RATE_LIMIT_HINT = (
    'The node hit the pull rate limit of %(host)s (a rate limit is not a bad password). A pull-through cache or'
    ' mirror takes the pulls off that registry: the role registrylink.k8s.node_registry_config configures it in'
    ' containerd on the nodes (node_registry_config_registries: [{host: %(host)s, mirrors: [{url: <the cache>}]}]);'
    ' authenticated pulls also get a higher limit.')


_EVENT_RULES = (
    (re.compile(r'x509|certificate signed by unknown authority|certificate verify failed', re.I), 'tls_untrusted',
     NODE_TLS_HINT),
    (re.compile(r'toomanyrequests|too many requests|rate limit', re.I), 'rate_limited', NODE_RATE_LIMIT_HINT),
    (re.compile(r'no such host|server misbehaving', re.I), 'dns',
     'The node cannot resolve the registry host (node DNS differs from the controller\'s).'),
    (re.compile(r'http: server gave HTTP response to HTTPS client', re.I), 'plain_http',
     'The registry speaks plain HTTP; the node runtime must list it as an insecure registry.'),
    (re.compile(r'authorization token has expired', re.I), 'expired_credentials',
     CATEGORIES['expired_credentials']),
)


def _node_signal(texts):
    for text in texts:
        if not text:
            continue
        for pattern, category, hint in _EVENT_RULES:
            if pattern.search(text):
                return category, hint, text
    return None


def diagnose_pod(params, conn, register_secret=None, kube_client=None, client_factory=RegistryClient,
                 tls_checker=tls_check):
    """``registry_probe`` with ``pod``: why will (or won't) this Pod's images pull? Returns the result dict.

    Phases: read the Pod and its ServiceAccount, read its pull secrets into the kubelet's keyring,
    diagnose each container (kubelet match, probe with the matched credentials or anonymously,
    node evidence from events), then the verdict.
    """
    namespace, name = params['pod']['namespace'], params['pod']['name']
    kube = _kube(params, kube_client)
    pod = _find(kube, 'pods', kube.core.list_namespaced_pod, namespace, name)
    if pod is None:
        raise NotFoundError('pod %s/%s not found' % (namespace, name), status=404, namespace=namespace, name=name)
    spec = pod.get('spec') or {}
    pod_secrets = [s.get('name') for s in spec.get('imagePullSecrets') or [] if s.get('name')]
    service_account = _pod_service_account(kube, namespace, spec, pod_secrets)
    secrets = [read_pull_secret(kube, namespace, s, register_secret) for s in pod_secrets]
    read_warnings = []
    configs = pull_secret_configs(secrets)
    ctx = {'namespace': namespace, 'pod_secrets': pod_secrets, 'service_account': service_account,
           'secrets': secrets, 'configs': configs, 'keyring': kubelet_keyring(configs),
           'events': _pod_events(kube, namespace, pod, read_warnings), 'read_warnings': read_warnings, 'cache': _ProbeCache(conn, client_factory, tls_checker),
           'public_secrets': [dict((k, v) for k, v in e.items() if k not in ('config', 'payload')) for e in secrets]}
    containers = [_diagnose_container(c, ctx) for c in _containers(pod)]
    return _pod_verdict(pod, namespace, name, containers, ctx)


def _pod_service_account(kube, namespace, spec, pod_secrets):
    """The Pod's ServiceAccount: found, its imagePullSecrets, and whether the Pod was created
    before the ServiceAccount was patched (admission copies the list only at creation)."""
    sa_name = spec.get('serviceAccountName') or spec.get('serviceAccount') or 'default'
    service_account = {'name': sa_name, 'found': False, 'image_pull_secrets': None, 'admission_race': False}
    sa = _find(kube, 'serviceaccounts', kube.core.list_namespaced_service_account, namespace, sa_name)
    if sa is None:
        service_account['detail'] = 'ServiceAccount %s does not exist in namespace %s' % (sa_name, namespace)
        return service_account
    service_account['found'] = True
    sa_secrets = [s.get('name') for s in sa.get('imagePullSecrets') or [] if s.get('name')]
    service_account['image_pull_secrets'] = sa_secrets
    if not pod_secrets and sa_secrets:
        service_account['admission_race'] = True
        service_account['detail'] = (
            'the ServiceAccount %s now lists %s but the Pod has no imagePullSecrets: it was created before'
            ' the ServiceAccount was patched (admission copies the list only at creation). Recreate the Pod'
            ' (rollout restart).' % (sa_name, ', '.join(sa_secrets)))
    elif pod_secrets and sa_secrets and set(sa_secrets) - set(pod_secrets):
        service_account['detail'] = (
            'the ServiceAccount lists %s which the Pod does not have; the Pod set its own imagePullSecrets or'
            ' was created before the ServiceAccount changed' % ', '.join(sorted(set(sa_secrets) - set(pod_secrets))))
    return service_account


def _diagnose_container(c, ctx):
    """One container's row: the kubelet's match, the probe, then the node's evidence."""
    item = dict(c, pull_secrets=ctx['public_secrets'], matched=None, near_misses=[], probe=None, category=None,
                hint=None)
    try:
        ref = parse_image_reference(c['image'] or '', field='image')
    except ValidationError as exc:
        item.update(category='invalid_request', hint='The image reference is invalid (InvalidImageName): %s'
                    % exc.msg)
        return item
    try:
        require_registry(ref)
    except ValidationError as exc:
        item.update(category='invalid_request', hint=exc.msg)
        return item
    item['registry_host'] = ref.registry
    lookup = kubelet_lookup(c['image'], ctx['configs'])
    item['normalized'] = lookup['name']
    item['matched'] = _match_summary(lookup)
    item['near_misses'] = lookup['near_misses']
    item['ignored_secrets'] = lookup['ignored_secrets']
    if lookup['keyring_error']:
        item.update(category='no_credentials_matched',
                    hint='The kubelet cannot decode pull secret %s (%s) and fails the pull without trying any'
                         ' credentials.' % (lookup['keyring_error']['secret'], lookup['keyring_error']['reason']))
        return item
    if lookup['matches']:
        result = _try_matches(ref, lookup['matches'], ctx['keyring'], ctx['cache'], ctx['namespace'])[-1]
        item.update(probe=result, category=result['category'], hint=result['hint'])
    else:
        _probe_anonymously(item, ref, lookup, ctx)
    event_texts = [c.get('waiting_message')] + [e['message'] for e in ctx['events'] or []
                                                if c['image'] and c['image'] in (e.get('message') or '')]
    _apply_node_signal(item, event_texts, lookup, ctx)
    return item


def _probe_anonymously(item, ref, lookup, ctx):
    """No pull secret applies: probe anonymously and say whose fault a failure is."""
    pod_secrets, service_account = ctx['pod_secrets'], ctx['service_account']
    result = ctx['cache'].probe(ref, None, None, {'source': 'anonymous'})
    item['probe'] = result
    if result['ok']:
        item['category'] = None
        if pod_secrets:
            item['hint'] = 'No pull secret applies; the image is pulled anonymously (and that works).'
    elif pod_secrets or service_account.get('admission_race') or result['category'] in AUTH_CATEGORIES:
        # The root cause is on our side: no credential reaches the registry. What the anonymous
        # check saw (possibly from a different network than the node's) is added as evidence.
        item['category'] = 'no_credentials_matched'
        if pod_secrets:
            item['hint'] = _no_match_hint(lookup, ctx['secrets'])
        else:
            advice = service_account.get('detail') or (
                'Attach a pull secret to the ServiceAccount %s and recreate the Pod.' % service_account['name'])
            item['hint'] = 'The Pod has no imagePullSecrets, so the kubelet pulls anonymously. ' + advice
        item['hint'] += ' Anonymous check: %s.' % result['category']
    else:
        item['category'] = result['category']
        item['hint'] = result['hint']
    if service_account.get('admission_race') and item['category']:
        item['hint'] = service_account['detail'] + ' ' + (item['hint'] or '')


def _apply_node_signal(item, event_texts, lookup, ctx):
    """What the node reported (waiting message, events) wins over an auth guess from here."""
    signal = _node_signal(event_texts)
    if not signal or not (item['category'] is None or
                          item['category'] in AUTH_CATEGORIES + ('no_credentials_matched',)):
        return
    category, hint, text = signal
    host = item.get('registry_host')
    if '%(host)s' in hint:
        hint = hint % {'host': host or 'the registry'}
    if category == 'rate_limited':
        unauth = 'unauthenticated' in text.lower()
        if unauth and ctx['pod_secrets']:
            item['sub_reason'] = 'anonymous_despite_pull_secret'
            hint = ('The registry counted the pull as unauthenticated although the Pod has pull secrets:'
                    ' none of them applies to this image. ' + _no_match_hint(lookup, ctx['secrets']) +
                    ' A rate limit is not a bad password.')
    if category != 'rate_limited' or item['category'] != 'no_credentials_matched' or item.get('sub_reason'):
        item['category'] = category
        item['hint'] = hint
        item['node_evidence'] = text[:500]


def _pod_verdict(pod, namespace, name, containers, ctx):
    service_account = ctx['service_account']
    warnings = []
    summary = {}
    for item in containers:
        key = item['category'] or 'ok'
        summary[key] = summary.get(key, 0) + 1
    failing = [i for i in containers if i['category']]
    first = failing[0] if failing else None
    if service_account.get('detail') and not service_account.get('admission_race'):
        warnings.append(service_account['detail'])
    for e in ctx['secrets']:
        if e.get('problem'):
            warnings.append('pull secret %s: %s' % (e['name'], e['detail']))
    warnings.extend(w for w in ctx['cache'].warnings if w not in warnings)
    warnings.extend(ctx.get('read_warnings') or [])
    return {
        'ok': not failing,
        'category': first['category'] if first else None,
        'hint': ('%s (%s): %s' % (first['container'], first['image'], first['hint'])) if first else None,
        'msg': ('%d of %d image(s) of pod %s/%s will not pull' % (len(failing), len(containers), namespace, name))
        if failing else None,
        'pod': {'namespace': namespace, 'name': name, 'phase': (pod.get('status') or {}).get('phase'),
                'node': (pod.get('spec') or {}).get('nodeName')},
        'pod_pull_secrets': ctx['pod_secrets'],
        'service_account': service_account,
        'containers': containers,
        'events': ctx['events'] or [],
        'summary': summary,
        'warnings': warnings,
    }
