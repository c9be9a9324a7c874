# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runner of ``registry_health_info``: registry-side health of Harbor, GitLab and Artifactory. Private to this collection.

Read-only calls, one set per registry entry (docs/vendor-registries.md, "Registry-side health"):

* Harbor (``/api/v2.0``): ``GET /statistics`` (project and repository counts, storage used; the
  totals are filled only for a system admin), the project's quota (``GET /projects/{name}`` for its
  id, then ``GET /quotas?reference=project&reference_id=<id>``: a list of Quota objects whose
  ``hard`` and ``used`` map ``storage`` to bytes, ``-1`` hard = unlimited) and the garbage collection
  schedule (``GET /system/gc/schedule``: a GCHistory whose ``schedule`` is ``{type, cron,
  next_scheduled_time}``; no schedule is an empty answer or type ``None``).
* GitLab (``/api/v4``): ``GET /projects/:id``, key ``container_expiration_policy`` (the container
  registry cleanup policy: ``enabled``, ``cadence``, ``keep_n``, ``older_than``, ``name_regex``,
  ``name_regex_keep``, ``next_run_at``). GitLab shows the key only to users who may administer the
  project; without it the policy is reported as not readable.
* Artifactory: ``GET /artifactory/api/storageinfo`` (``binariesSummary``, ``fileStoreSummary`` with
  sizes as text such as ``"3.37 GB (29.8%)"``, ``repositoriesSummaryList``); admins only.

Each check ends as ``ok``, ``warning`` (a finding: quota nearly full, no GC schedule, cleanup policy
off, file store nearly full), ``not_readable`` (HTTP 403, or the answer hides the field: reported,
never a failure) or ``failed`` (any other error: unreachable, 401, 404, 5xx, an answer of another
shape). The pure ``assess_*`` functions turn an answer into a check; the runner only fetches.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._vendor_api import (
    VendorApi,
    check_api_url,
    check_ca_path,
)

PROVIDERS = ('harbor_robot', 'gitlab_deploy_token', 'artifactory_token')
DEFAULT_USAGE_WARN_PERCENT = 90
#: check status, worst last (the registry's status is its worst check; not_readable is never worse than ok)
STATUSES = ('ok', 'not_readable', 'warning', 'failed')
# Harbor ScheduleObj types that run GC by themselves (Manual ran once, None cancelled it)
_GC_SCHEDULED = ('Hourly', 'Daily', 'Weekly', 'Custom', 'Schedule')
_PROJECT_RE = re.compile(r'^[a-z0-9]+(?:[._-][a-z0-9]+)*$')
_GITLAB_PATH_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$')
_PERCENT_RE = re.compile(r'\((\d+(?:\.\d+)?)\s*%\)')
_ALLOWED = {
    'harbor_robot': ('api_username', 'api_password', 'project'),
    'gitlab_deploy_token': ('api_token', 'project'),
    'artifactory_token': ('api_token',),
}


# -- validation (no network) -------------------------------------------------------------------

def validate_params(params):
    """Check every entry of ``registries`` and ``usage_warn_percent`` before any call.

    Returns the normalised entries (``provider``, ``api_url``, ``api_ca_path``, ``server``, and the
    provider's own options). :raises ValidationError: naming ``registries[<i>].<option>`` and the fix.
    """
    percent = params.get('usage_warn_percent')
    if percent is None:
        percent = DEFAULT_USAGE_WARN_PERCENT
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise ValidationError('usage_warn_percent: a whole percentage from 1 to 100, got %r' % (percent,),
                              field='usage_warn_percent')
    timeout = params.get('timeout')
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
        raise ValidationError('timeout: seconds to wait for each API answer, at least 1, got %r' % (timeout,),
                              field='timeout')
    registries = params.get('registries')
    if not isinstance(registries, list) or not registries:
        raise ValidationError('registries: list at least one registry entry (provider, api_url and the provider\'s '
                              'API credentials)', field='registries')
    return [validate_entry(entry, i) for i, entry in enumerate(registries)]


def validate_entry(entry, index):
    """One ``registries`` entry, normalised; see :func:`validate_params`."""
    where = 'registries[%d]' % index
    if not isinstance(entry, dict):
        raise ValidationError('%s: must be a dict, got %s' % (where, type(entry).__name__), field=where)
    provider = entry.get('provider')
    if provider not in PROVIDERS:
        raise ValidationError('%s.provider: %r has no registry-side health here; use one of %s'
                              % (where, provider, ', '.join(PROVIDERS)), field='%s.provider' % where)
    out = {'provider': provider}
    for key in ('api_url', 'api_ca_path', 'server', 'api_username', 'api_password', 'api_token', 'project'):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError('%s.%s: must be a string, got %s' % (where, key, type(value).__name__),
                                  field='%s.%s' % (where, key))
        if key in ('api_username', 'api_password', 'api_token', 'project') and value not in (None, '') \
                and key not in _ALLOWED[provider]:
            raise ValidationError('%s.%s: provider %s does not take %s (it takes %s)'
                                  % (where, key, provider, key, ', '.join(_ALLOWED[provider])),
                                  field='%s.%s' % (where, key))
        out[key] = value.strip() if isinstance(value, str) and key not in ('api_password', 'api_token') else value
        if out[key] == '':
            out[key] = None
    out['api_url'] = check_api_url(out['api_url'], '%s.api_url' % where)
    out['api_ca_path'] = check_ca_path(out['api_ca_path'], '%s.api_ca_path' % where)
    for key in _ALLOWED[provider]:
        if not out.get(key):
            raise ValidationError('%s.%s: provider %s needs %s for its health checks (%s)'
                                  % (where, key, provider, key, _NEEDS[provider]), field='%s.%s' % (where, key))
    if provider == 'harbor_robot' and not _PROJECT_RE.match(out['project']):
        raise ValidationError('%s.project: %r is not a Harbor project name (lowercase letters, digits and . _ -)'
                              % (where, out['project']), field='%s.project' % where)
    if provider == 'gitlab_deploy_token':
        out['project'] = out['project'].strip('/')
        if not (out['project'].isdigit() or _GITLAB_PATH_RE.match(out['project'])):
            raise ValidationError('%s.project: %r is not a GitLab project full path (group/project) or numeric id'
                                  % (where, out['project']), field='%s.project' % where)
    return out


_NEEDS = {
    'harbor_robot': 'the Harbor user and password that read statistics, the project quota and the GC schedule '
                    '(a system admin sees all three), and the project whose quota is read',
    'gitlab_deploy_token': 'a GitLab access token with scope read_api or api of a Maintainer of the project, and '
                           'the project (full path such as team/app, or numeric id) whose cleanup policy is read',
    'artifactory_token': 'an access token that may read storage information (an admin token)',
}


# -- assessment (pure) ------------------------------------------------------------------------

def _check(status, http_status=200, msg=None, **figures):
    out = {'status': status, 'http_status': http_status, 'msg': msg}
    out.update(figures)
    return out


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def assess_harbor_statistics(body):
    """Harbor's Statistic object -> a check (counts, and ``storage_bytes`` = total_storage_consumption)."""
    if not isinstance(body, dict):
        return _check('failed', msg='Harbor answered statistics with something other than a Statistic object'), []
    return _check('ok', total_project_count=_int(body.get('total_project_count')),
                  total_repo_count=_int(body.get('total_repo_count')),
                  private_project_count=_int(body.get('private_project_count')),
                  public_project_count=_int(body.get('public_project_count')),
                  private_repo_count=_int(body.get('private_repo_count')),
                  public_repo_count=_int(body.get('public_repo_count')),
                  storage_bytes=_int(body.get('total_storage_consumption'))), []


def assess_harbor_quota(body, project, warn_percent):
    """The answer of ``GET /quotas?reference=project&reference_id=<id>`` -> (check, findings).

    ``hard.storage`` of -1 is unlimited; ``used_percent`` is used / hard * 100 (one decimal); a
    finding ``quota_nearly_full`` when it is above ``warn_percent``.
    """
    if not isinstance(body, list):
        return _check('failed', msg='Harbor answered the quota list with something other than a list'), []
    quota = next((q for q in body if isinstance(q, dict)), None)
    if quota is None:
        return _check('failed', msg='Harbor has no quota for project %s' % project), []
    hard = _int((quota.get('hard') or {}).get('storage'))
    used = _int((quota.get('used') or {}).get('storage'))
    if used is None:
        return _check('failed', msg='the quota of project %s has no used storage figure' % project), []
    unlimited = hard is None or hard < 0
    percent = None if unlimited or hard == 0 else round(used * 100.0 / hard, 1)
    figures = dict(hard_bytes=None if unlimited else hard, used_bytes=used, used_percent=percent,
                   unlimited=unlimited)
    if hard == 0 or (percent is not None and percent > warn_percent):
        text = ('project %s uses %s of its %s storage quota (%s%%, above %d%%): pushes fail with "quota exceeded" '
                'once it is full; raise the quota or clean up (registry_gc, tag retention)'
                % (project, _size(used), _size(hard), percent if percent is not None else 100, warn_percent))
        return _check('warning', msg=text, **figures), [('quota_nearly_full', text)]
    return _check('ok', **figures), []


def assess_harbor_gc_schedule(body):
    """The answer of ``GET /system/gc/schedule`` (a GCHistory, or empty when none) -> (check, findings)."""
    if body is not None and not isinstance(body, dict):
        return _check('failed', msg='Harbor answered the GC schedule with something other than an object'), []
    schedule = (body or {}).get('schedule') if isinstance((body or {}).get('schedule'), dict) else {}
    kind = schedule.get('type') if isinstance(schedule.get('type'), str) else None
    figures = dict(schedule_type=kind, cron=schedule.get('cron') or None,
                   next_scheduled_time=schedule.get('next_scheduled_time') or None)
    if kind not in _GC_SCHEDULED:
        text = ('Harbor has no garbage collection schedule (type %s): deleted images keep their storage until GC '
                'runs; schedule it under Administration > Clean Up (or PUT /system/gc/schedule)' % (kind or 'none'))
        return _check('warning', msg=text, **figures), [('no_gc_schedule', text)]
    return _check('ok', **figures), []


def assess_gitlab_cleanup_policy(body, project):
    """The project of ``GET /projects/:id`` -> the cleanup policy check (not_readable when the key is hidden)."""
    if not isinstance(body, dict):
        return _check('failed', msg='GitLab answered the project with something other than an object'), []
    if 'container_expiration_policy' not in body:
        return _check('not_readable', msg='GitLab did not show the cleanup policy of project %s: the token\'s user '
                                          'needs the Maintainer role to see it' % project), []
    policy = body.get('container_expiration_policy')
    if not isinstance(policy, dict):
        policy = {}
    figures = dict(enabled=policy.get('enabled') is True, cadence=policy.get('cadence'),
                   keep_n=_int(policy.get('keep_n')), older_than=policy.get('older_than'),
                   name_regex=policy.get('name_regex_delete') or policy.get('name_regex'),
                   name_regex_keep=policy.get('name_regex_keep'), next_run_at=policy.get('next_run_at'))
    if not figures['enabled']:
        text = ('the container registry cleanup policy of GitLab project %s is disabled: tags are never expired and '
                'storage grows; enable it under Settings > Packages and registries' % project)
        return _check('warning', msg=text, **figures), [('cleanup_policy_disabled', text)]
    return _check('ok', **figures), []


def assess_artifactory_storage(body, warn_percent):
    """Artifactory's storageinfo -> the storage check (sizes as Artifactory words them, the file store's
    used percentage parsed from ``usedSpace``); ``storage_nearly_full`` above ``warn_percent``."""
    if not isinstance(body, dict):
        return _check('failed', msg='Artifactory answered storageinfo with something other than an object'), []
    store = body.get('fileStoreSummary') if isinstance(body.get('fileStoreSummary'), dict) else {}
    binaries = body.get('binariesSummary') if isinstance(body.get('binariesSummary'), dict) else {}
    repos = body.get('repositoriesSummaryList') if isinstance(body.get('repositoriesSummaryList'), list) else []
    used = store.get('usedSpace') if isinstance(store.get('usedSpace'), str) else None
    match = _PERCENT_RE.search(used or '')
    percent = float(match.group(1)) if match else None
    figures = dict(storage_type=store.get('storageType'), total_space=store.get('totalSpace'), used_space=used,
                   free_space=store.get('freeSpace'), used_percent=percent,
                   binaries_size=binaries.get('binariesSize'), artifacts_size=binaries.get('artifactsSize'),
                   repositories_count=len([r for r in repos if isinstance(r, dict) and r.get('repoKey') != 'TOTAL']))
    if percent is not None and percent > warn_percent:
        text = ('the Artifactory file store is %s%% full (above %d%%): uploads fail when it is full; free space or '
                'clean up' % (percent, warn_percent))
        return _check('warning', msg=text, **figures), [('storage_nearly_full', text)]
    return _check('ok', **figures), []


def error_check(exc):
    """A ProviderError from a health read -> ``not_readable`` (403) or ``failed`` (anything else)."""
    status = exc.details.get('status')
    if status == 403:
        return _check('not_readable', http_status=403, msg='%s: the API user may not read this; reported, not a '
                                                           'failure' % exc.msg)
    return _check('failed', http_status=status or None, msg=exc.msg)


def registry_status(checks):
    """The worst status of a registry's checks (``not_readable`` counts as ``ok``)."""
    worst = 'ok'
    for check in checks.values():
        status = check['status'] if check['status'] != 'not_readable' else 'ok'
        if STATUSES.index(status) > STATUSES.index(worst):
            worst = status
    return worst


def _size(value):
    if value is None or value < 0:
        return 'unlimited'
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if value < 1024 or unit == 'TiB':
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0
    return str(value)  # pragma: no cover


# -- runner ------------------------------------------------------------------------------------

class RegistryHealthInfoRunner(Runner):
    """Reads every entry's health; never writes, never fails on what a registry answers.

    ``session``: a requests-like session for every call (tests inject a fake).
    """

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, session=None):
        super(RegistryHealthInfoRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.session = session

    def run(self):
        entries = validate_params(self.params)
        warn_percent = self.params.get('usage_warn_percent') or DEFAULT_USAGE_WARN_PERCENT
        timeout = self.params.get('timeout') or 30
        results = []
        for entry in entries:
            reader = getattr(self, '_read_%s' % entry['provider'])
            checks = reader(entry, warn_percent, timeout)
            findings = []
            for name, (check, found) in checks.items():
                for code, text in found:
                    findings.append({'code': code, 'check': name, 'msg': text})
            checks = dict((name, pair[0]) for name, pair in checks.items())
            for name, check in sorted(checks.items()):
                if check['status'] == 'failed':
                    findings.append({'code': 'check_failed', 'check': name, 'msg': check['msg']})
            label = entry['server'] or entry['api_url']
            for finding in findings:
                self.warn('%s (%s): %s' % (label, entry['provider'], finding['msg']))
            results.append({'provider': entry['provider'], 'api_url': entry['api_url'], 'server': entry['server'],
                            'project': entry.get('project'), 'status': registry_status(checks),
                            'checks': checks, 'findings': findings})
        summary = dict((s, len([r for r in results if r['status'] == s])) for s in ('ok', 'warning', 'failed'))
        summary['registries'] = len(results)
        summary['not_readable_checks'] = sum(len([c for c in r['checks'].values() if c['status'] == 'not_readable'])
                                             for r in results)
        return {'changed': False, 'registries': results, 'summary': summary, 'table': health_table(results)}

    def _api(self, entry, base, what, timeout, auth=None, headers=None):
        return VendorApi(entry['api_url'] + base, what, auth=auth, headers=headers, ca_path=entry['api_ca_path'],
                         timeout=timeout, session=self.session)

    @staticmethod
    def _get(api, path, label, params=None):
        """GET ``path``: (body, None) or (None, check for the error)."""
        try:
            return api.call('GET', path, label, params=params).body, None
        except ProviderError as exc:
            return None, error_check(exc)

    def _read_harbor_robot(self, entry, warn_percent, timeout):
        auth = (entry['api_username'], entry['api_password'])
        api = self._api(entry, '/api/v2.0', 'Harbor %s' % entry['api_url'], timeout, auth=auth)
        by_name = self._api(entry, '/api/v2.0', 'Harbor %s' % entry['api_url'], timeout, auth=auth,
                            headers={'X-Is-Resource-Name': 'true'})
        checks = {}
        body, failed = self._get(api, '/statistics', 'read statistics')
        checks['statistics'] = (failed, []) if failed else assess_harbor_statistics(body)
        project, failed = self._get(by_name, '/projects/%s' % entry['project'], 'read project %s' % entry['project'])
        if failed is None and not isinstance((project or {}).get('project_id'), int):
            failed = _check('failed', msg='Harbor: the answer for project %s has no project_id' % entry['project'])
        if failed is None:
            body, failed = self._get(api, '/quotas', 'read the quota of project %s' % entry['project'],
                                     params={'reference': 'project', 'reference_id': str(project['project_id'])})
        checks['quota'] = (failed, []) if failed else assess_harbor_quota(body, entry['project'], warn_percent)
        body, failed = self._get(api, '/system/gc/schedule', 'read the GC schedule')
        checks['gc_schedule'] = (failed, []) if failed else assess_harbor_gc_schedule(body)
        return checks

    def _read_gitlab_deploy_token(self, entry, warn_percent, timeout):
        api = self._api(entry, '/api/v4', 'GitLab %s' % entry['api_url'], timeout,
                        headers={'PRIVATE-TOKEN': entry['api_token']})
        project = entry['project']
        quoted = ''.join(ch if ch.isalnum() or ch in '_.-' else '%%%02X' % ord(ch) for ch in project)
        body, failed = self._get(api, '/projects/%s' % quoted, 'read project %s' % project)
        return {'cleanup_policy': (failed, []) if failed else assess_gitlab_cleanup_policy(body, project)}

    def _read_artifactory_token(self, entry, warn_percent, timeout):
        api = self._api(entry, '/artifactory/api', 'Artifactory %s' % entry['api_url'], timeout,
                        headers={'Authorization': 'Bearer %s' % entry['api_token']})
        body, failed = self._get(api, '/storageinfo', 'read storage information')
        return {'storage': (failed, []) if failed else assess_artifactory_storage(body, warn_percent)}


def health_table(results):
    """Fixed-width lines for a person: one per check of every registry."""
    lines = ['%-34s %-20s %-14s %-13s %s' % ('REGISTRY', 'PROVIDER', 'CHECK', 'STATUS', 'DETAIL')]
    for result in results:
        label = (result['server'] or result['api_url'])[:34]
        for name, check in sorted(result['checks'].items()):
            lines.append('%-34s %-20s %-14s %-13s %s' % (label, result['provider'], name, check['status'],
                                                         _detail(name, check)))
    return lines


def _detail(name, check):
    if check['status'] in ('failed', 'not_readable'):
        return (check['msg'] or '')[:120]
    if name == 'quota':
        if check['unlimited']:
            return 'used %s, no limit' % _size(check['used_bytes'])
        return 'used %s of %s (%s%%)' % (_size(check['used_bytes']), _size(check['hard_bytes']), check['used_percent'])
    if name == 'gc_schedule':
        return 'type %s, cron %s' % (check['schedule_type'] or 'none', check['cron'] or '-')
    if name == 'statistics':
        return 'projects %s, repositories %s, storage %s' % (
            check['total_project_count'], check['total_repo_count'],
            _size(check['storage_bytes']) if check['storage_bytes'] is not None else '-')
    if name == 'cleanup_policy':
        return 'enabled %s, cadence %s, keep_n %s, older_than %s' % (
            str(check['enabled']).lower(), check['cadence'], check['keep_n'], check['older_than'])
    if name == 'storage':
        return 'used %s of %s' % (check['used_space'], check['total_space'])
    return ''  # pragma: no cover
