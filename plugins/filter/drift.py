# -*- coding: utf-8 -*-
# Copyright: registrylink.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift reports: what setup would change (or changed) and what verify found, per cluster and fleet.

The filters read the results the modules already return (``registry_secret``, ``sa_pull_secret``,
``registry_probe`` in verify mode); they never see a credential, and copy only namespace, object and
Pod names, actions, reasons and expiry times into the report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# The kinds of drift, in report order, with the column title of the table.
KINDS = (
    ('missing_secret', 'missing secret'),
    ('stale_secret', 'stale secret'),
    ('expiring_tokens', 'expiring token'),
    ('unwired_service_accounts', 'SA not wired'),
    ('stuck_pods', 'stuck pods'),
    ('other', 'other'),
)

# registry_probe verify problem codes -> kind of drift
_VERIFY_SECRET_CODES = {
    'secret_missing': 'missing_secret',
    'secret_wrong_type': 'stale_secret',
    'secret_unreadable': 'stale_secret',
    'secret_shape': 'stale_secret',
    'no_key_match': 'stale_secret',
}
# probe failures that say the stored credentials are wrong (rather than the registry being down)
_STALE_CATEGORIES = ('unauthorized', 'denied', 'no_credentials_matched')


def _empty(source, secret_name=None):
    report = {'source': source, 'secret_name': secret_name, 'namespaces': 0, 'details': []}
    for kind, dummy in KINDS:
        report[kind] = []
    return report


def _add(report, kind, item, namespace, detail, **extra):
    if item not in report[kind]:
        report[kind].append(item)
    entry = {'kind': kind, 'item': item, 'namespace': namespace, 'detail': detail}
    entry.update(extra)
    report['details'].append(entry)


def _finish(report):
    for kind, dummy in KINDS:
        report[kind] = sorted(report[kind])
    report['details'] = sorted(report['details'], key=lambda d: ([k for k, t in KINDS].index(d['kind']), d['item']))
    report['drift'] = sum(len(report[kind]) for kind, dummy in KINDS)
    return report


def _result(value, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError('%s must be the registered result of a task (a dict), not %s' % (name, type(value).__name__))
    return value


def pull_secret_drift(secret_result, sa_result=None):
    """Drift of one cluster from a ``registry_secret`` result (state=present) and, optionally, the
    ``sa_pull_secret`` result that attached the Secret; in check mode, what they would change.

    Per namespace: ``created`` is a missing Secret, ``updated`` with a token refreshed because it expires
    (``refresh_reason`` "expires in ..." / "expired ...") an expiring token, any other ``updated`` a stale
    Secret, ``failed``/``skipped``/``conflict`` other drift. ServiceAccounts ``created``/``updated``/``missing``
    are not wired; ``stuck_pods`` are stuck Pods.
    """
    secret_result = _result(secret_result, 'pull_secret_drift input')
    sa_result = _result(sa_result, 'pull_secret_drift service account result')
    results = secret_result.get('results') or []
    names = sorted(set(r.get('name') for r in results if r.get('name')))
    report = _empty('setup', ', '.join(names) or None)
    report['namespaces'] = len(secret_result.get('namespaces') or results)
    for r in results:
        ns, action = r.get('namespace'), r.get('action')
        reason = r.get('refresh_reason') or ''
        if action == 'created':
            _add(report, 'missing_secret', ns, ns, 'the Secret does not exist')
        elif action == 'updated' and r.get('refreshed') and reason.startswith('expire'):
            # the reason holds the time left; the result's expires_at is the expiry after the (would-be) refresh
            _add(report, 'expiring_tokens', ns, ns, reason)
        elif action == 'updated':
            _add(report, 'stale_secret', ns, ns, reason or 'the Secret differs from the desired registries',
                 servers=list(r.get('servers') or []))
        elif action in ('failed', 'skipped', 'conflict'):
            _add(report, 'other', ns, ns, '%s: %s' % (action, r.get('msg') or r.get('reason') or 'not checked'))
    for r in sa_result.get('results') or []:
        action = r.get('action')
        if action in ('created', 'updated', 'missing'):
            item = '%s/%s' % (r.get('namespace'), r.get('service_account'))
            detail = (r.get('msg') or 'ServiceAccount missing') if action == 'missing' else (
                'imagePullSecrets lacks %s' % ', '.join(r.get('added') or []) if r.get('added') else 'ServiceAccount %s' % action)
            _add(report, 'unwired_service_accounts', item, r.get('namespace'), detail)
        elif action == 'failed':
            _add(report, 'other', '%s/%s' % (r.get('namespace'), r.get('service_account')), r.get('namespace'),
                 'failed: %s' % (r.get('msg') or 'not checked'))
    for p in sa_result.get('stuck_pods') or []:
        _add(report, 'stuck_pods', '%s/%s' % (p.get('namespace'), p.get('name')), p.get('namespace'),
             '%s, lacks %s' % ('/'.join(p.get('reasons') or []), ', '.join(p.get('missing_pull_secrets') or [])))
    return _finish(report)


def verify_drift(verify_result):
    """Drift of one cluster from a ``registry_probe`` verify result (or the verify role's ``verify__output``):
    missing or unusable Secrets, credentials the registry refuses (stale) or that expired, ServiceAccounts
    that are missing or not wired, stuck Pods, and other problems (a registry that cannot be reached)."""
    verify_result = _result(verify_result, 'verify_drift input')
    rows = verify_result.get('namespaces') or []
    report = _empty('verify')
    report['namespaces'] = len(rows)
    for row in rows:
        if not isinstance(row, dict):
            raise AnsibleFilterError('verify_drift input: namespaces must be the verify result of registry_probe')
        ns = row.get('namespace')
        for p in row.get('problems') or []:
            code = p.get('code')
            category = p.get('category')
            if code in _VERIFY_SECRET_CODES:
                _add(report, _VERIFY_SECRET_CODES[code], ns, ns, p.get('detail') or code)
            elif code == 'probe_failed' and category == 'expired_credentials':
                _add(report, 'expiring_tokens', ns, ns, 'expired: %s' % (p.get('detail') or p.get('image')))
            elif code == 'probe_failed' and category in _STALE_CATEGORIES:
                _add(report, 'stale_secret', ns, ns, '%s for %s' % (category, p.get('image')))
            elif code not in ('service_account_missing', 'service_account_not_wired'):
                label = '%s (%s)' % (code, category) if category else code
                _add(report, 'other', ns, ns, '%s: %s' % (label, p.get('detail') or p.get('image') or ''))
        for sa in row.get('service_accounts') or []:
            if not sa.get('found') or not sa.get('wired'):
                _add(report, 'unwired_service_accounts', '%s/%s' % (ns, sa.get('name')), ns,
                     'ServiceAccount missing' if not sa.get('found') else 'imagePullSecrets lacks the Secret')
    for p in verify_result.get('stuck_pods') or []:
        _add(report, 'stuck_pods', '%s/%s' % (p.get('namespace'), p.get('name')), p.get('namespace'),
             p.get('category') or 'stuck')
    return _finish(report)


def drift_report(clusters):
    """The fleet report from ``{cluster: drift}`` (the output of the filters above; a cluster whose value
    is empty was not checked): clusters sorted by name, ``drift`` (total), ``clusters_with_drift``,
    ``counts`` per kind and ``table`` (fixed-width lines for people)."""
    if not isinstance(clusters, dict):
        raise AnsibleFilterError('drift_report needs a dict of cluster name -> drift, not %s' % type(clusters).__name__)
    rows = []
    for name in sorted(clusters):
        value = clusters[name]
        if not value:
            continue
        if not isinstance(value, dict) or 'drift' not in value:
            raise AnsibleFilterError('drift_report: the value of %s is not the output of pull_secret_drift or verify_drift' % name)
        row = dict(value)
        row['cluster'] = name
        rows.append(row)
    counts = dict((kind, sum(len(r[kind]) for r in rows)) for kind, dummy in KINDS)
    total = sum(counts.values())
    return {
        'clusters': rows,
        'drift': total,
        'clusters_with_drift': [r['cluster'] for r in rows if r['drift']],
        'counts': counts,
        'table': _table(rows, counts, total),
    }


def _table(rows, counts, total):
    headers = ['cluster', 'namespaces'] + [title for dummy, title in KINDS] + ['drift']
    body = [[r['cluster'], str(r['namespaces'])] + [str(len(r[kind])) for kind, dummy in KINDS] + [str(r['drift'])]
            for r in rows]
    body.append(['fleet (%d)' % len(rows), str(sum(r['namespaces'] for r in rows))]
                + [str(counts[kind]) for kind, dummy in KINDS] + [str(total)])
    widths = [max(len(line[i]) for line in [headers] + body) for i in range(len(headers))]

    def fmt(line):
        return '  '.join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)).rstrip()

    lines = [fmt(headers), fmt(['-' * w for w in widths])] + [fmt(line) for line in body]
    for r in rows:
        for d in r['details']:
            lines.append('%s: %s %s - %s' % (r['cluster'], dict(KINDS)[d['kind']], d['item'], d['detail']))
    if not total:
        lines.append('no drift: every cluster is as setup would leave it')
    return lines


class FilterModule(object):
    """Drift reports of registrylink.k8s."""

    def filters(self):
        return {
            'pull_secret_drift': pull_secret_drift,
            'verify_drift': verify_drift,
            'drift_report': drift_report,
        }
