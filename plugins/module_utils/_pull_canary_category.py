# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The category and hint of a canary that did not pull: the kubelet's verdict joined with the Pod's diagnosis. Private to this collection.

Pure: data in, data out. The kubelet says the same "401 Unauthorized" for a wrong password, no pull
secret, a key that does not match and a Secret that does not exist; :func:`classify_failure` tells
them apart with ``_diagnose.diagnose_pod``'s view of the same Pod (reduced to what a canary returns
by :func:`compact_diagnosis`, which never holds a secret). Used by ``pull_canary``
(``_pull_canary.py``); the verdict itself comes from ``_kubelet_verdict.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import gcr_shutdown_note

#: Categories the canary adds to ``registry_probe``'s (``_distribution.CATEGORIES``): the kubelet says
#: "401 Unauthorized" for all of the first five, the diagnosis of the Pod tells them apart.
CANARY_CATEGORIES = {
    'no_pull_secret': 'The Pod had no image pull secret (the ServiceAccount lists none and pull_secrets is not set),'
                      ' so the kubelet pulled anonymously and the registry refused. Attach a pull secret to the'
                      ' ServiceAccount (sa_pull_secret) or name one in pull_secrets.',
    'pull_secret_missing': 'A pull secret the Pod names does not exist in its namespace: the kubelet warned'
                           ' FailedToRetrieveImagePullSecret and pulled without it. Create the Secret in this namespace'
                           ' (registry_secret); a reference never reaches another namespace.',
    'key_port_mismatch': 'The pull secret has an entry for the registry host but with another port (or none): the'
                         ' kubelet compares ports exactly, so it sent no credentials. Key the entry host:port as in'
                         ' the image.',
    'key_path_mismatch': 'The pull secret\'s entry is scoped to a repository path that is not a prefix of the image\'s'
                         ' path, so the kubelet sent no credentials for this image. Use a key without a path or with'
                         ' a path that prefixes the image.',
    'node_pull_failed': 'The kubelet could not pull, but the same credentials work from here: the node differs'
                        ' (network path or proxy, DNS, CA trust of the container runtime, platform of the image).'
                        ' See kubelet_message.',
    'unschedulable': 'No node could take the canary Pod (see scheduler_message): check node_selector, tolerations and'
                     ' node capacity. The pull was not tried.',
    'node_rejected': 'The node refused to admit the canary Pod (see kubelet_message). The pull was not tried.',
    'pod_rejected': 'The API server refused the canary Pod (admission: Pod Security, ResourceQuota, LimitRange,'
                    ' a webhook). The pull was not tried.',
    'timeout': 'The kubelet gave no verdict within timeout seconds (see kubelet_message for the last state). Raise'
               ' timeout for a large image, or check the node (kubelet, container runtime, network to the registry).',
    'vanished': 'The canary Pod was deleted by someone else before the kubelet gave a verdict.',
    'invalid_reference': 'The kubelet or the node\'s container runtime cannot parse the image reference (see'
                         ' kubelet_message), so nothing was requested from a registry and credentials play no part.'
                         ' Write the reference in a form the runtime accepts (containerd 1.6, for example, refuses a'
                         ' bracketed IPv6 registry host).',
}


def _missing_secret_names(diagnosis, verdict):
    names = [s.get('name') for s in (diagnosis or {}).get('pull_secrets') or [] if s.get('problem') == 'missing']
    text = (verdict or {}).get('missing_pull_secrets_event') or ''
    m = re.search(r'image pull secrets \(([^)]*)\)', text)
    if m:
        for name in m.group(1).split(','):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


#: The runtime's (containerd's) words for a reference it cannot parse: no registry was asked.
_REFERENCE_REFUSED = re.compile(r'failed to parse image reference|invalid reference format')


def classify_failure(verdict, diagnosis):
    """(category, hint) for a canary that did not pull.

    :param verdict: from :func:`kubelet_verdict` / :func:`timeout_verdict`.
    :param diagnosis: the compact diagnosis of the Pod (:func:`compact_diagnosis`) or None when none ran.

    The kubelet reports the same "401 Unauthorized" for a wrong password, no pull secret, a key that
    does not match and a Secret that does not exist; the diagnosis of the same Pod (which secrets
    and keys the kubelet considered, what the registry said to those credentials) tells them apart.
    ``registry_probe``'s categories are kept (``unauthorized``, ``denied``, ``not_found``,
    ``tls_untrusted``, ``expired_credentials``, ...); ``no_credentials_matched`` is split by cause into
    ``no_pull_secret``, ``pull_secret_missing``, ``key_port_mismatch``, ``key_path_mismatch`` (and stays
    ``no_credentials_matched`` for other causes); ``node_pull_failed`` means the same credentials work
    from the controller. See ``CANARY_CATEGORIES``. An image on a ``gcr.io`` host that did not pull gets the
    explanation of the Container Registry shutdown appended to its hint (not for scheduling or admission verdicts).
    """
    category, hint = _classify(verdict, diagnosis)
    gcr_note = gcr_shutdown_note(verdict.get('image'))
    if gcr_note and category not in ('unschedulable', 'node_rejected', 'pod_rejected'):
        hint = _join(hint, gcr_note + '.')
    return category, hint


def _classify(verdict, diagnosis):
    kind = verdict.get('verdict')
    if kind in ('unschedulable', 'node_rejected', 'pod_rejected', 'timeout', 'vanished'):
        return kind, CANARY_CATEGORIES[kind]
    if verdict.get('kubelet_reason') == 'InvalidImageName' or _REFERENCE_REFUSED.search(
            verdict.get('kubelet_message') or ''):
        return 'invalid_reference', CANARY_CATEGORIES['invalid_reference']
    if diagnosis is None:
        return 'node_pull_failed', CANARY_CATEGORIES['node_pull_failed']
    category = diagnosis.get('category')
    detail = diagnosis.get('hint')
    missing = _missing_secret_names(diagnosis, verdict)
    if category == 'no_credentials_matched':
        near = diagnosis.get('near_misses') or []
        if not diagnosis.get('pod_pull_secrets'):
            return 'no_pull_secret', _join(CANARY_CATEGORIES['no_pull_secret'], detail)
        if missing:
            found_in = []
            for s in diagnosis.get('pull_secrets') or []:
                if s.get('found_in'):
                    found_in.append('%s exists in: %s' % (s['name'], ', '.join(s['found_in'])))
            return 'pull_secret_missing', _join('Missing in namespace %s: %s%s.' % (
                diagnosis.get('namespace'), ', '.join(missing), ' (%s)' % '; '.join(found_in) if found_in else ''),
                CANARY_CATEGORIES['pull_secret_missing'])
        if any(m.get('reason') == 'port_mismatch' for m in near):
            return 'key_port_mismatch', _join(CANARY_CATEGORIES['key_port_mismatch'], detail)
        if any(m.get('reason') == 'scheme_or_path' and '/' in (m.get('key') or '') for m in near):
            return 'key_path_mismatch', _join(CANARY_CATEGORIES['key_path_mismatch'], detail)
        return category, detail
    if category is None:
        return 'node_pull_failed', _join(CANARY_CATEGORIES['node_pull_failed'], detail)
    if missing:
        detail = _join(detail, 'Also missing in the namespace: %s (FailedToRetrieveImagePullSecret).' % ', '.join(
            missing))
    return category, detail


def _join(*parts):
    return ' '.join(p.strip() for p in parts if p)


_PROBE_KEYS = ('ok', 'category', 'hint', 'msg', 'registry', 'repository', 'reference', 'credentials', 'manifest')


def compact_diagnosis(diag):
    """The part of ``diagnose_pod``'s result that a canary returns, for its one container (no secret)."""
    containers = diag.get('containers') or [{}]
    c = containers[0]
    probe = c.get('probe') or None
    if probe:
        probe = dict((k, probe.get(k)) for k in _PROBE_KEYS)
        probe['steps'] = [dict(s) for s in (c.get('probe') or {}).get('steps') or []]
        auth = (c.get('probe') or {}).get('auth') or {}
        probe['auth'] = {'scheme': auth.get('scheme'), 'authenticated': auth.get('authenticated')} if auth else None
    return {
        'namespace': (diag.get('pod') or {}).get('namespace'),
        'category': c.get('category'),
        'hint': c.get('hint'),
        'pod_pull_secrets': list(diag.get('pod_pull_secrets') or []),
        'service_account': diag.get('service_account'),
        'pull_secrets': [dict(s) for s in c.get('pull_secrets') or []],
        'matched': c.get('matched'),
        'near_misses': list(c.get('near_misses') or []),
        'ignored_secrets': list(c.get('ignored_secrets') or []),
        'normalized_image': c.get('normalized'),
        'probe': probe,
        'node_evidence': c.get('node_evidence'),
    }
