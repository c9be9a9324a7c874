# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``harbor_robot`` credential provider: Harbor project and system robot accounts. Private to this collection.

API (Harbor v2.0 API, ``/api/v2.0``; docs/reference/vendor-apis.md): ``GET /projects/{name}``
(with ``X-Is-Resource-Name: true``), ``POST /robots`` (RobotCreate -> 201 RobotCreated with the
secret, shown once), ``GET|PUT|DELETE /robots/{id}``, ``PATCH /robots/{id}`` with an empty
RobotSec (Harbor generates a new secret and returns it), ``GET /robots?q=Level=project,ProjectID=N``
(project robots) and ``GET /robots?q=Level=system`` (system robots).

Rules the code relies on:

* The robot's full name (the registry user name) is read from Harbor's answer: the ``robot$``
  prefix is a server setting (``robot_name_prefix``), never assumed.
* The secret is returned only by the create and refresh calls; the old secret stops working the
  moment a refresh returns. The runner therefore writes every Secret in the same run.
* ``duration`` is in days; Harbor computes ``expires_at`` (unix seconds) from the robot's
  creation time, also when a PUT changes the duration. Rotation extends the duration so that the
  new expiry is the lifetime from now (rounded up to whole days), then refreshes the secret: the
  robot keeps its id and name, so no robot is left behind by rotations.
* A project robot (``project``) has exactly one permission, in its project; a system robot
  (``projects``, a list) has ``level: system`` and one ``repository:pull`` permission per project
  (``kind: project``, ``namespace: <project>``); its full name is ``<prefix><name>``, without a
  project. Only a Harbor system admin may create system robots.
* ``credential_lifetime: never`` creates the robot with ``duration: -1``: Harbor reports
  ``expires_at: -1`` and the robot never expires. The expiry is recorded as none (null) and such a
  robot is never refreshed for its age (only when it is disabled, deleted or its entry changes).
* Ownership: the robot's description carries ``registrylink.k8s owner=<owner>`` (the Secret name
  and the cluster's ``kube-system`` UID). Only such robots are adopted, rotated or deleted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import format_rfc3339, parse_duration
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._base import Credentials, Provider
from ansible_collections.registrylink.k8s.plugins.module_utils._providers._vendor_api import (
    OWNER_MARKER,
    VendorApi,
    check_api_url,
    check_ca_path,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import secret_key

DAY = 86400
DEFAULT_LIFETIME_DAYS = 30
MAX_LIFETIME_DAYS = 3650
# Harbor's robot name rule (src/server/v2.0/handler/robot.go): lowercase alphanumerics separated by . _ -
_NAME_RE = re.compile(r'^[a-z0-9]+(?:[._-][a-z0-9]+)*$')
_PROJECT_RE = re.compile(r'^[a-z0-9]+(?:[._-][a-z0-9]+)*$')


def owner_marker(owner):
    """The text a robot's description carries when this owner minted it."""
    return '%s%s' % (OWNER_MARKER, owner)


def robot_name(options):
    """The short robot name: ``credential_name``, else ``rl-<secret>-<8 hex of the cluster UID>``."""
    if options.get('credential_name'):
        return options['credential_name']
    secret, _sep, cluster = (options.get('owner') or '').partition('@')
    short = re.sub(r'[^a-z0-9]', '', cluster.lower())[:8] or 'cluster'
    name = re.sub(r'[^a-z0-9._-]', '-', secret.lower()).strip('._-') or 'pull'
    return 'rl-%s-%s' % (name[:200], short)


class HarborRobotProvider(Provider):
    """Harbor robot accounts with ``repository:pull``: a project robot in one project, or a system robot
    over several (``projects``)."""

    name = 'harbor_robot'
    options = ('api_url', 'api_username', 'api_password', 'api_ca_path', 'project', 'projects', 'credential_name',
               'credential_lifetime')
    secret_options = ('api_password',)
    lifetime = DEFAULT_LIFETIME_DAYS * DAY
    default_refresh_before = DEFAULT_LIFETIME_DAYS * DAY // 2
    stateful = True

    def __init__(self, warn=None, session_factory=None):
        super(HarborRobotProvider, self).__init__(warn=warn, session_factory=session_factory)
        self._project_cache = {}

    # -- validation (no network) ---------------------------------------------------------

    def validate(self, options):
        """Check and normalise the options without network access.

        ``api_url``, ``api_username``, ``api_password`` and one of ``project`` (a project robot) or
        ``projects`` (a list: a system robot that may pull from each) are required; ``server``
        defaults to the host of ``api_url`` (Harbor serves its registry on the same host);
        ``credential_lifetime`` is a duration of whole days (default 30d, at most 3650d) or ``never``.
        """
        out = dict((k, options.get(k)) for k in ('server',) + self.options)
        out['projects'] = self._projects(out['projects'], out['project'])
        for key, value in out.items():
            if key == 'projects':
                continue
            if value is not None and not isinstance(value, str):
                raise ValidationError('%s: must be a string, got %s' % (key, type(value).__name__), field=key)
            if isinstance(value, str) and key != 'api_password':
                out[key] = value.strip() or None
        out['api_url'] = check_api_url(out['api_url'], 'api_url')
        for key in ('api_username', 'api_password'):
            if not out[key]:
                raise ValidationError('%s: provider harbor_robot needs the Harbor user (api_username) and its password '
                                      '(api_password) that may manage robot accounts of the project (project '
                                      'admin or system admin)' % key, field=key)
        if out['projects']:
            out['project'] = None
        elif not out['project']:
            raise ValidationError('project: provider harbor_robot needs the Harbor project whose images the robot '
                                  'may pull (for example project: team-a), or projects (a list) for a system robot '
                                  'over several projects', field='project')
        elif not _PROJECT_RE.match(out['project']) or len(out['project']) > 255:
            raise ValidationError('project: %r is not a Harbor project name (lowercase letters, digits and . _ -)'
                                  % out['project'], field='project')
        if out['credential_name'] is not None and (not _NAME_RE.match(out['credential_name'])
                                                   or len(out['credential_name']) > 200):
            raise ValidationError('credential_name: %r is not a valid robot name (lowercase letters and digits, '
                                  'separated by single . _ or -; at most 200 characters)' % out['credential_name'],
                                  field='credential_name')
        out['api_ca_path'] = check_ca_path(out['api_ca_path'], 'api_ca_path')
        days = DEFAULT_LIFETIME_DAYS
        if isinstance(out['credential_lifetime'], str) and out['credential_lifetime'].lower() == 'never':
            out['credential_lifetime'] = 'never'
            self.lifetime = MAX_LIFETIME_DAYS * DAY  # only a fallback; a never-expiring robot is not refreshed
            self.default_refresh_before = DEFAULT_LIFETIME_DAYS * DAY // 2
            out['server'] = self._server(out)
            return out
        if out['credential_lifetime'] is not None:
            seconds = parse_duration(out['credential_lifetime'], field='credential_lifetime')
            days = int(math.ceil(seconds / float(DAY)))
            if seconds < DAY or days > MAX_LIFETIME_DAYS:
                raise ValidationError('credential_lifetime: Harbor robot accounts live whole days, from 1d to %dd; '
                                      'got %r' % (MAX_LIFETIME_DAYS, out['credential_lifetime']),
                                      field='credential_lifetime')
            if seconds % DAY:
                self.warn('credential_lifetime %s is rounded up to %d days (Harbor counts robot lifetimes in days)'
                          % (out['credential_lifetime'], days))
        out['credential_lifetime'] = '%dd' % days
        self.lifetime = days * DAY
        self.default_refresh_before = self.lifetime // 2
        out['server'] = self._server(out)
        return out

    @staticmethod
    def _server(out):
        if out['server']:
            return secret_key(out['server'])[0]
        return secret_key(out['api_url'].split('://', 1)[1].split('/', 1)[0])[0]

    @staticmethod
    def _projects(value, project):
        """``projects`` checked and sorted (None when not given); exclusive with ``project``."""
        if value in (None, '', []):
            return None
        if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
            raise ValidationError('projects: a list of Harbor project names (a system robot that may pull from each), '
                                  'got %r' % (value,), field='projects')
        names = sorted(set(p.strip() for p in value))
        bad = [p for p in names if not _PROJECT_RE.match(p) or len(p) > 255]
        if bad:
            raise ValidationError('projects: %r is not a Harbor project name (lowercase letters, digits and . _ -)'
                                  % bad[0], field='projects')
        if project not in (None, ''):
            raise ValidationError('projects: give either project (a project robot) or projects (a system robot over '
                                  'several projects), not both', field='projects')
        return names

    @staticmethod
    def _days(options):
        """The robot's ``duration`` in days; -1 for ``never``."""
        if options['credential_lifetime'] == 'never':
            return -1
        return int(options['credential_lifetime'][:-1])

    @staticmethod
    def _where(options):
        if options.get('projects'):
            return 'projects %s (system robot)' % ', '.join(options['projects'])
        return 'project %s' % options['project']

    # -- API -----------------------------------------------------------------------------

    def _api(self, options):
        if self.session_factory is not None:
            session = self.session_factory(options)
        else:
            session = None
        return VendorApi(options['api_url'] + '/api/v2.0', 'Harbor %s' % options['api_url'],
                         auth=(options['api_username'], options['api_password']), ca_path=options.get('api_ca_path'),
                         session=session)

    def _call(self, options, method, path, label, **kwargs):
        try:
            return self._api(options).call(method, path, label, **kwargs)
        except ProviderError as exc:
            raise ProviderError(self._explain(exc, options, label), **exc.details)

    def _explain(self, exc, options, label):
        status = exc.details.get('status')
        if status == 401:
            return ('%s: Harbor refused the API credentials of %s (HTTP 401): check api_username and api_password'
                    % (exc.msg, options['api_username']))
        if status == 403 and options.get('projects'):
            return ('%s. The Harbor user %s may not %s: system robot accounts (projects) need a Harbor system admin'
                    % (exc.msg, options['api_username'], label))
        if status == 403:
            return ('%s. The Harbor user %s may not %s in project %s: it needs the project admin role in that '
                    'project (or Harbor system admin)' % (exc.msg, options['api_username'], label, options['project']))
        if status == 400:
            return '%s. Harbor refused the request as invalid; nothing was changed' % exc.msg
        return exc.msg

    def _project_id(self, options):
        key = options['project']
        if key not in self._project_cache:
            try:
                resp = self._get_project(options)
            except ProviderError as exc:
                if exc.details.get('status') == 404:
                    raise ProviderError('Harbor %s: project %s does not exist (HTTP 404); create it or fix project'
                                        % (options['api_url'], key), status=404)
                raise
            body = resp.body or {}
            if not isinstance(body.get('project_id'), int):
                raise ProviderError('Harbor %s: the answer for project %s has no project_id' % (options['api_url'], key))
            self._project_cache[key] = body['project_id']
        return self._project_cache[key]

    def _get_project(self, options):
        api = self._api(options)
        api.headers['X-Is-Resource-Name'] = 'true'
        try:
            return api.call('GET', '/projects/%s' % options['project'], 'read project %s' % options['project'])
        except ProviderError as exc:
            raise ProviderError(self._explain(exc, options, 'read project %s' % options['project']), **exc.details)

    def _get_robot(self, options, robot_id):
        """The Robot object, or None when it does not exist."""
        try:
            return self._call(options, 'GET', '/robots/%d' % robot_id, 'read robot account %d' % robot_id).body
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return None
            raise

    def _ours(self, options, robot):
        return owner_marker(options['owner']) in (robot.get('description') or '')

    def _expiry(self, reported, now, label, never=False):
        """``expires_at`` (unix seconds) as an aware datetime; None for a robot that never expires (``never``
        and Harbor answered -1); missing, -1 for a dated robot, or past is an error."""
        if never and reported == -1:
            return None
        if not isinstance(reported, int) or isinstance(reported, bool) or reported <= 0:
            raise ProviderError('Harbor: %s: the answer has no expiry (expires_at %r); a robot minted by this '
                                'collection always has a lifetime' % (label, reported))
        when = datetime.datetime.fromtimestamp(reported, datetime.timezone.utc)
        if when <= now:
            self.warn('Harbor: %s: the robot expires at %s, which is not in the future: is the clock of the host '
                      'running the module (or of Harbor) wrong?' % (label, format_rfc3339(when)))
        return when

    # -- stateful provider interface -----------------------------------------------------

    def check(self, options, ref, now):
        """None when the robot ``ref`` still exists under its name, is ours, enabled and not expired;
        else the reason it cannot be reused (read-only)."""
        robot = self._get_robot(options, ref['id'])
        if robot is None:
            return 'robot account %s no longer exists at Harbor' % ref.get('name')
        if robot.get('name') != ref.get('name'):
            return 'robot account %d is now called %s, not %s' % (ref['id'], robot.get('name'), ref.get('name'))
        if not self._ours(options, robot):
            return 'robot account %s was not created for this Secret and cluster' % ref.get('name')
        if robot.get('disable'):
            return 'robot account %s is disabled at Harbor' % ref.get('name')
        expires = robot.get('expires_at')
        if isinstance(expires, int) and 0 < expires <= _unix(now):
            return 'robot account %s has expired at Harbor' % ref.get('name')
        return None

    def preview(self, options, current):
        """Check mode: what a mint would return, without any write (the password is None)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        username = current['name'] if current else '(robot account name assigned by Harbor)'
        expires = None if self._days(options) == -1 else now + datetime.timedelta(seconds=self.lifetime)
        return Credentials(options['server'], username, None, expires, now, ref=current)

    def mint(self, options, now, current=None):
        """Rotate the robot ``current`` in place (extend + refresh its secret), or create one.

        A 409 on create means the name is taken: a robot of ours under that name (its Secrets
        were lost) is adopted and rotated; anyone else's is an error naming ``credential_name``.
        :raises ProviderError: no permission (403), unknown project (404), name taken (409),
            invalid request (400), unreachable API; nothing was written at Harbor then.
        """
        if current is not None:
            robot = self._get_robot(options, current['id'])
            if robot is not None and robot.get('name') == current.get('name') and self._ours(options, robot):
                return self._rotate(options, robot, now)
        system = bool(options.get('projects'))
        project_id = None if system else self._project_id(options)
        short = robot_name(options)
        body = {
            'name': short,
            'description': 'Image pull credential written into Kubernetes Secrets by registrylink.k8s (%s)'
                           % owner_marker(options['owner']),
            'level': 'system' if system else 'project',
            'disable': False,
            'duration': self._days(options),
            'permissions': [{'kind': 'project', 'namespace': project,
                             'access': [{'resource': 'repository', 'action': 'pull'}]}
                            for project in (options['projects'] if system else [options['project']])],
        }
        label = 'create robot account %s' % short
        try:
            resp = self._call(options, 'POST', '/robots', label, json_body=body, expect=(201,))
        except ProviderError as exc:
            if exc.details.get('status') != 409:
                raise
            mine = [r for r in self._list_robots(options, project_id) if _short_name(r.get('name')) == short
                    or system and isinstance(r.get('name'), str) and r['name'].endswith(short)]
            if mine and self._ours(options, mine[0]):
                self.warn('Harbor: robot account %s already existed (its Secrets were lost or deleted); rotating its '
                          'secret instead of creating another' % mine[0].get('name'))
                return self._rotate(options, mine[0], now)
            raise ProviderError('%s. The robot name %s is taken (%s) by a robot account this collection did '
                                'not create for this Secret and cluster; set credential_name to another name, or '
                                'delete that robot account' % (exc.msg, short, self._where(options)), **exc.details)
        created = resp.body or {}
        if not created.get('secret') or not created.get('name') or not isinstance(created.get('id'), int):
            raise ProviderError('Harbor: %s: the answer lacks id, name or secret' % label)
        expires = self._expiry(created.get('expires_at'), now, label, never=self._days(options) == -1)
        return Credentials(options['server'], created['name'], created['secret'], expires, now,
                           ref={'id': created['id'], 'name': created['name']})

    def _rotate(self, options, robot, now):
        """Extend the robot's duration so it expires the lifetime from now, then refresh its secret."""
        label = 'rotate robot account %s' % robot.get('name')
        created = _parse_time(robot.get('creation_time'))
        if created is None:
            raise ProviderError('Harbor: %s: the robot account has no readable creation_time' % label)
        elapsed = max(0.0, (now - created).total_seconds())
        never = self._days(options) == -1
        duration = -1 if never else int(math.ceil(elapsed / DAY)) + self._days(options)
        update = dict((k, robot[k]) for k in ('id', 'name', 'description', 'level', 'disable', 'permissions',
                                              'editable') if k in robot)
        update['duration'] = duration
        self._call(options, 'PUT', '/robots/%d' % robot['id'], label + ' (extend its lifetime)', json_body=update)
        resp = self._call(options, 'PATCH', '/robots/%d' % robot['id'], label + ' (refresh its secret)',
                          json_body={})
        secret = (resp.body or {}).get('secret')
        if not secret:
            raise ProviderError('Harbor: %s: the refresh returned no secret' % label)
        after = self._get_robot(options, robot['id']) or {}
        expires = self._expiry(after.get('expires_at'), now, label, never=never)
        return Credentials(options['server'], robot['name'], secret, expires, now,
                           ref={'id': robot['id'], 'name': robot['name']})

    def _list_robots(self, options, project_id):
        """The project's robots (``project_id``), or the system robots (``project_id`` None)."""
        robots = []
        page = 1
        query = 'Level=system' if project_id is None else 'Level=project,ProjectID=%d' % project_id
        label = 'list system robot accounts' if project_id is None else 'list robot accounts of project %s' % (
            options['project'])
        while True:
            resp = self._call(options, 'GET', '/robots', label, params={'q': query, 'page': page, 'page_size': 100})
            batch = resp.body if isinstance(resp.body, list) else []
            robots.extend(r for r in batch if isinstance(r, dict))
            if len(batch) < 100 or page >= 100:
                return robots
            page += 1

    def owned(self, options):
        """Refs of every robot in the project (system robots: every system robot) whose description names this owner."""
        project_id = None if options.get('projects') else self._project_id(options)
        return [{'id': r['id'], 'name': r.get('name')} for r in self._list_robots(options, project_id)
                if isinstance(r.get('id'), int) and self._ours(options, r)]

    def retire(self, options, ref):
        """Delete the robot ``ref`` (already gone is fine). Returns True when it was deleted."""
        try:
            self._call(options, 'DELETE', '/robots/%d' % ref['id'], 'delete robot account %s' % ref.get('name'))
        except ProviderError as exc:
            if exc.details.get('status') == 404:
                return False
            raise
        return True


def _unix(when):
    return (when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()


def _short_name(full):
    """``robot$proj+name`` -> ``name`` (the part after the last ``+``, whatever the prefix)."""
    if not isinstance(full, str):
        return None
    return full.rsplit('+', 1)[-1]


def _parse_time(text):
    """Harbor's ``creation_time`` (RFC 3339, maybe with fractions and an offset) as an aware datetime."""
    if not isinstance(text, str):
        return None
    m = re.match(r'^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?$', text.strip())
    if not m:
        return None
    when = datetime.datetime(*[int(g) for g in m.groups()[:6]])
    tz = m.group(7)
    if tz in (None, 'Z'):
        return when.replace(tzinfo=datetime.timezone.utc)
    sign = 1 if tz[0] == '+' else -1
    digits = tz[1:].replace(':', '')
    offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (when - sign * offset).replace(tzinfo=datetime.timezone.utc)
