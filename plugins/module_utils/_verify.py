# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``registry_probe`` ``verify`` mode: one cluster's pull readiness over a namespace selection. Private to this collection.

Reads are a constant number of LIST requests whatever the number of namespaces (namespaces,
the named Secret across all namespaces, ServiceAccounts, unfinished pods), then:

* per namespace: the Secret is present, of a type the kubelet reads, decodes, and has an entry the
  kubelet will match for each target image (``_dockerconfig``); the ServiceAccounts list it;
* one live probe per distinct (image, credential) pair, cached (``_diagnose._ProbeCache``);
* Pods stuck in ``ErrImagePull`` / ``ImagePullBackOff`` are diagnosed (``_diagnose.diagnose_pod``),
  at most ``max_pod_diagnoses`` of them; also those in phase ``Running`` whose restarting container
  cannot be pulled again (see ``_k8s.UNFINISHED_PODS``).

The result has per-namespace rows, the probes, the stuck pods, ``summary`` counts and ``table``
(lines a person reads at a glance). No secret in any of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import (
    _ProbeCache, _kube, _register_config_secrets, _try_matches, diagnose_pod,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._errors import CATEGORIES
from ansible_collections.registrylink.k8s.plugins.module_utils._dockerconfig import SecretDecodeError, decode_secret
from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet import inspect_config, kubelet_keyring, kubelet_lookup
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference, require_registry
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import UNFINISHED_PODS
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import NamespaceScope
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_probe import tls_check

STUCK_REASONS = ('ErrImagePull', 'ImagePullBackOff')
STATUS_FIELDS = ('initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses')
KUBELET_TYPES = ('kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg')

PROBLEM_HINTS = {
    'secret_missing': 'Create the pull secret in this namespace (setup playbook / registry_secret).',
    'secret_wrong_type': 'The kubelet only reads kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg Secrets;'
                         ' recreate it with the right type (registry_secret force=true).',
    'secret_unreadable': 'The Secret does not decode to a docker config; recreate it with registry_secret.',
    'secret_shape': 'The Secret\'s JSON does not have the shape its type requires (auths wrapper); the kubelet finds'
                    ' no credentials in it.',
    'no_key_match': 'No entry of the Secret matches the image the way the kubelet matches keys; see near_misses.',
    'service_account_missing': 'The ServiceAccount does not exist in this namespace.',
    'service_account_not_wired': 'The ServiceAccount does not list the Secret in imagePullSecrets (sa_pull_secret).',
}


def _check_secret(secret, images, register_secret):
    """Problems of one namespace's Secret for the target images; returns (secret_row, per_image, configs)."""
    row = {'found': secret is not None, 'type': None, 'issues': []}
    problems = []
    per_image = []
    if secret is None:
        problems.append({'code': 'secret_missing', 'detail': 'the Secret does not exist'})
        return row, per_image, problems, None
    stype = secret.get('type') or 'Opaque'
    row['type'] = stype
    name = (secret.get('metadata') or {}).get('name')
    if stype not in KUBELET_TYPES:
        problems.append({'code': 'secret_wrong_type', 'detail': 'type %s is ignored by the kubelet' % stype})
        return row, per_image, problems, None
    try:
        config = decode_secret(stype, secret.get('data') or {})
    except SecretDecodeError as exc:
        problems.append({'code': 'secret_unreadable', 'detail': exc.msg})
        return row, per_image, problems, None
    _register_config_secrets(config, register_secret)
    issues = inspect_config(stype, config)
    row['issues'] = issues
    for issue in issues:
        if issue['code'] in ('shape_mismatch', 'unreadable', 'no_entries'):
            problems.append({'code': 'secret_shape', 'detail': issue['message']})
    configs = [(name, config, stype)]
    for image in images:
        lookup = kubelet_lookup(image, configs)
        first = lookup['matches'][0] if lookup['matches'] else None
        item = {'image': image, 'normalized': lookup['name'],
                'matched_key': first['key'] if first else None, 'via': first['via'] if first else None,
                'near_misses': lookup['near_misses'], 'probe': None}
        per_image.append(item)
        if not first:
            problems.append({'code': 'no_key_match', 'image': image,
                             'detail': '; '.join(m['detail'] for m in lookup['near_misses']) or
                             'no entry for %s' % lookup['name']})
    return row, per_image, problems, configs


def stuck_pods(pods, in_scope):
    """The metadata of the Pods (in namespaces ``in_scope``) with a container, init container or
    ephemeral container waiting in ``ErrImagePull`` / ``ImagePullBackOff``, whatever the Pod's
    phase, sorted by namespace and name (pure)."""
    stuck = []
    for pod in pods:
        meta = pod.get('metadata') or {}
        if meta.get('namespace') not in in_scope or meta.get('deletionTimestamp'):
            continue
        status = pod.get('status') or {}
        reasons = [((s.get('state') or {}).get('waiting') or {}).get('reason')
                   for field in STATUS_FIELDS for s in status.get(field) or []]
        if any(r in STUCK_REASONS for r in reasons):
            stuck.append(meta)
    return sorted(stuck, key=lambda m: (m.get('namespace') or '', m.get('name') or ''))


def verify_cluster(params, conn, register_secret=None, kube_client=None, client_factory=RegistryClient,
                   tls_checker=tls_check):
    """Run the ``verify`` mode; returns the module result dict (with a ``warnings`` list).

    Phases: check the images, read the cluster (namespaces, the Secret, ServiceAccounts, unfinished
    Pods), one row per namespace (Secret, kubelet match and probe per image, ServiceAccount
    wiring), diagnose stuck Pods, then the summary and the verdict.
    """
    spec = params['verify']
    secret_name = spec['secret_name']
    images = list(spec.get('images') or [])
    if not images:
        raise ValidationError('verify.images: at least one image is required (the images workloads pull)',
                              field='verify.images')
    for i, image in enumerate(images):
        require_registry(parse_image_reference(image, field='verify.images[%d]' % i), field='verify.images[%d]' % i)
    kube = _kube(params, kube_client)
    state = _read_cluster(kube, params, spec, secret_name)
    cache = _ProbeCache(conn, client_factory, tls_checker)
    probes = {}
    rows = []
    for ns in state['selected']:
        secret_row, per_image, problems, configs = _check_secret(state['secrets'].get(ns), images, register_secret)
        if configs:
            _probe_images(ns, per_image, configs, problems, cache, probes)
        sa_rows = _check_service_accounts(ns, spec, secret_name, state['service_accounts'], problems)
        for p in problems:
            p.setdefault('hint', PROBLEM_HINTS.get(p['code']) or CATEGORIES.get(p.get('category')))
        rows.append({'namespace': ns, 'ok': not problems, 'secret': secret_row, 'images': per_image,
                     'service_accounts': sa_rows, 'problems': problems})
    stuck, stuck_rows = _stuck_pods(state, spec, params, conn, register_secret, kube, client_factory, tls_checker)
    warnings = state['notes'] + list(cache.warnings)
    limit = spec.get('max_pod_diagnoses', 20)
    if len(stuck) > limit:
        warnings.append('%d stuck pods, only the first %d were diagnosed (verify.max_pod_diagnoses)' % (
            len(stuck), limit))
    for name in state['missing']:
        warnings.append('namespace %s does not exist' % name)
    probe_rows = [_probe_row(value) for value in probes.values()]
    result = _verdict(rows, stuck, stuck_rows)
    result.update({
        'namespaces': rows, 'probes': probe_rows, 'stuck_pods': stuck_rows,
        'summary': _summary(rows, probe_rows, stuck, kube),
        'table': _table(rows, probe_rows, stuck_rows, secret_name), 'warnings': warnings,
    })
    return result


def _read_cluster(kube, params, spec, secret_name):
    """The selected namespaces, the Secret per namespace, the named ServiceAccounts in scope and
    the pending Pods (one LIST per resource; in namespaced mode one per resource and namespace, with
    a note in ``notes``)."""
    sa_names = list(spec.get('service_accounts') or [])
    notes = []
    scope = NamespaceScope(kube, params.get('namespaces'), params.get('namespace_selector'),
                           params.get('exclude_namespaces'), warn=notes.append)
    selection = scope.resolve()
    selected = selection['selected']
    in_scope = set(selected)
    secrets = dict(((s.get('metadata') or {}).get('namespace'), s) for s in scope.list(
        'secrets', kube.core.list_secret_for_all_namespaces, kube.core.list_namespaced_secret,
        field_selector='metadata.name=%s' % secret_name))
    service_accounts = {}
    if sa_names:
        for sa in scope.list('serviceaccounts', kube.core.list_service_account_for_all_namespaces,
                             kube.core.list_namespaced_service_account):
            meta = sa.get('metadata') or {}
            if meta.get('namespace') in in_scope and meta.get('name') in sa_names:
                service_accounts[(meta['namespace'], meta['name'])] = sa
    pods = []
    if spec.get('diagnose_stuck_pods', True):
        pods = scope.list('pods', kube.core.list_pod_for_all_namespaces, kube.core.list_namespaced_pod,
                          field_selector=UNFINISHED_PODS)
    return {'selected': selected, 'in_scope': in_scope, 'secrets': secrets, 'service_accounts': service_accounts,
            'pods': pods, 'missing': selection.get('missing') or [], 'notes': notes}


def _probe_images(ns, per_image, configs, problems, cache, probes):
    """Probe each image with the credentials the kubelet would pick (the cache probes each
    (image, credential) pair once); adds ``probe`` to the image rows and ``probe_failed`` problems."""
    keyring = kubelet_keyring(configs)
    for item in per_image:
        lookup = kubelet_lookup(item['image'], configs)
        if not lookup['matches']:
            continue
        ref = parse_image_reference(item['image'])
        attempts = _try_matches(ref, lookup['matches'], keyring, cache, ns)
        result = attempts[-1]
        cred = result.get('credentials') or {}
        # the cache returns the first namespace's result for the same (image, credential) pair,
        # so its credential source identifies the pair without touching the password
        pkey = (item['image'], cred.get('username'), cred.get('secret'), cred.get('key'))
        if pkey not in probes:
            probes[pkey] = {'image': item['image'], 'username': cred.get('username'), 'result': result,
                            'namespaces': []}
        probes[pkey]['namespaces'].append(ns)
        item['probe'] = {'ok': result['ok'], 'category': result['category']}
        if not result['ok']:
            problems.append({'code': 'probe_failed', 'image': item['image'], 'category': result['category'],
                             'detail': result['hint']})


def _check_service_accounts(ns, spec, secret_name, service_accounts, problems):
    """One row per named ServiceAccount: found, and wired to the Secret."""
    sa_rows = []
    for name in spec.get('service_accounts') or []:
        sa = service_accounts.get((ns, name))
        wired = bool(sa) and secret_name in [p.get('name') for p in sa.get('imagePullSecrets') or []]
        sa_rows.append({'name': name, 'found': sa is not None, 'wired': wired})
        if sa is None:
            problems.append({'code': 'service_account_missing', 'detail': 'ServiceAccount %s is missing' % name})
        elif not wired:
            problems.append({'code': 'service_account_not_wired',
                             'detail': 'ServiceAccount %s does not list %s' % (name, secret_name)})
    return sa_rows


def _stuck_pods(state, spec, params, conn, register_secret, kube, client_factory, tls_checker):
    """``(stuck, rows)``: unfinished Pods in scope waiting on an image pull, and the diagnosis of the
    first ``max_pod_diagnoses`` of them."""
    stuck = stuck_pods(state['pods'], state['in_scope'])
    stuck_rows = []
    for meta in stuck[:spec.get('max_pod_diagnoses', 20)]:
        diag = diagnose_pod(dict(params, pod={'namespace': meta['namespace'], 'name': meta['name']}), conn,
                            register_secret=register_secret, kube_client=kube, client_factory=client_factory,
                            tls_checker=tls_checker)
        stuck_rows.append({'namespace': meta['namespace'], 'name': meta['name'], 'category': diag['category'],
                           'hint': diag['hint'], 'node': diag['pod'].get('node'), 'containers': [
                               {'container': c['container'], 'image': c['image'],
                                'registry_host': c.get('registry_host'),
                                'waiting_reason': c['waiting_reason'], 'category': c['category'], 'hint': c['hint']}
                               for c in diag['containers']]})
    return stuck, stuck_rows


def _probe_row(value):
    r = value['result']
    return {'image': value['image'], 'registry': r.get('registry'), 'username': value['username'],
            'namespaces': value['namespaces'], 'ok': r['ok'], 'category': r['category'],
            'hint': r['hint'], 'digest': (r.get('manifest') or {}).get('digest'),
            'latency_ms': r.get('latency_ms', {}).get('total'),
            'rate_limit': r.get('rate_limit'), 'token_expires_at': r.get('token_expires_at')}


def _summary(rows, probe_rows, stuck, kube):
    broken = [r for r in rows if not r['ok']]
    problems = {}
    for r in rows:
        for p in r['problems']:
            problems[p['code']] = problems.get(p['code'], 0) + 1
    return {
        'namespaces': len(rows),
        'namespaces_ok': len(rows) - len(broken),
        'namespaces_broken': len(broken),
        'probes': len(probe_rows),
        'probes_ok': len([p for p in probe_rows if p['ok']]),
        'stuck_pods': len(stuck),
        'api_requests': getattr(kube, 'request_count', None),
        'problems': problems,
    }


def _verdict(rows, stuck, stuck_rows):
    """``ok``, and the ``category`` / ``hint`` / ``msg`` of the first problem (namespaces first, then stuck Pods)."""
    broken = [r for r in rows if not r['ok']]
    first = None
    for r in rows:
        if r['problems']:
            first = (r['namespace'], r['problems'][0])
            break
    category = None
    hint = None
    msg = None
    if first:
        p = first[1]
        category = p.get('category') or ('no_credentials_matched' if p['code'] in (
            'secret_missing', 'secret_wrong_type', 'secret_unreadable', 'secret_shape', 'no_key_match',
            'service_account_missing', 'service_account_not_wired') else None)
        hint = '%s: %s' % (first[0], p.get('hint'))
        msg = '%d of %d namespace(s) not ready to pull' % (len(broken), len(rows))
    elif stuck_rows:
        category = stuck_rows[0]['category']
        hint = '%s/%s: %s' % (stuck_rows[0]['namespace'], stuck_rows[0]['name'], stuck_rows[0]['hint'])
        msg = '%d pod(s) stuck pulling images' % len(stuck)
    return {'ok': not broken and not stuck, 'category': category, 'hint': hint, 'msg': msg}


def _table(rows, probes, stuck, secret_name):
    """Fixed-width lines: one per namespace, one per probe, one per stuck pod."""
    lines = ['%-30s %-6s %s' % ('NAMESPACE', 'STATUS', 'PROBLEMS (secret %s)' % secret_name)]
    for r in rows:
        text = ', '.join(sorted(set(p['code'] + ('(%s)' % p['category'] if p.get('category') else '')
                                    for p in r['problems']))) or '-'
        lines.append('%-30s %-6s %s' % (r['namespace'], 'ok' if r['ok'] else 'BROKEN', text))
    if probes:
        lines.append('')
        lines.append('%-50s %-6s %-22s %s' % ('IMAGE (live probe)', 'STATUS', 'CATEGORY', 'NAMESPACES'))
        for p in probes:
            status = 'ok' if p['ok'] else 'FAIL'
            lines.append('%-50s %-6s %-22s %d' % (p['image'], status, p['category'] or '-', len(p['namespaces'])))
    if stuck:
        lines.append('')
        lines.append('%-45s %-22s %s' % ('STUCK POD', 'CATEGORY', 'HINT'))
        for s in stuck:
            lines.append('%-45s %-22s %s' % ('%s/%s' % (s['namespace'], s['name']), s['category'] or '-',
                                             (s['hint'] or '')[:160]))
    return lines
