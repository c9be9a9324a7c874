# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runner of registry_gc: read, plan, delete exactly the plan. Private to this collection.

Order of work (nothing is deleted before every read has succeeded):

1. resolve ``repositories`` (names, or globs through the registry catalog);
2. read every repository completely: all tags (paginated), the digest of every tag from the
   ``Docker-Content-Digest`` of a HEAD with all manifest media types, every manifest (index
   children, ``subject``) and the image configs (creation time);
3. gather the images in use (clusters scanned by ``_inuse``, fail closed; ``in_use_images``);
4. plan with ``_retention.plan_retention``;
5. check mode: return the plan. Otherwise, per repository, delete the planned digests: HEAD a
   tag of the entry again and delete only when it still resolves to the planned digest; the
   first ``405 UNSUPPORTED`` stops every further delete, no retries.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.registrylink.k8s.plugins.module_utils._common import is_glob, parse_rfc3339, utcnow
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ItemsFailed, RegistryError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._inuse import ImageUse, protected_digests
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import (
    is_valid_repository, parse_image_reference, require_registry,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import DOCKER_HUB_API_HOST, DOCKER_HUB_IMAGE_HOST, api_host
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner
from ansible_collections.registrylink.k8s.plugins.module_utils._retention import (
    INDEX_MEDIA_TYPES, ManifestInfo, RepositoryState, plan_retention,
)

IMAGE_CONFIG_MEDIA_TYPES = (
    'application/vnd.oci.image.config.v1+json',
    'application/vnd.docker.container.image.v1+json',
)
CREATED_ANNOTATION = 'org.opencontainers.image.created'
MAX_CONFIG_SIZE = 4 * 1024 * 1024

UNSUPPORTED_MSG = ('the registry refuses deletes (storage.delete.enabled=false, or the registry is a pull-through '
                   'cache): DELETE answered 405 UNSUPPORTED')


def glob_to_regex(pattern):
    """Repository glob -> compiled regex. ``*`` and ``?`` stay inside one path component,
    ``**`` crosses ``/``, ``[...]`` is a character class; the whole name must match."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == '*':
            if i + 1 < n and pattern[i + 1] == '*':
                out.append('.*')
                i += 2
                continue
            out.append('[^/]*')
        elif c == '?':
            out.append('[^/]')
        elif c == '[':
            j = pattern.find(']', i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith('!'):
                    body = '^' + body[1:]
                out.append('[' + body.replace('\\', '\\\\') + ']')
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile('^' + ''.join(out) + '$')
    except re.error as exc:
        raise ValidationError('repositories: %r is not a valid glob (%s); a character class is written [abc] or '
                              '[a-z] with the lower bound first' % (pattern, exc), field='repositories')


def check_repository_patterns(patterns):
    """Check the ``repositories`` option before any network access: every entry is a repository name
    (``team/app``) or a glob that compiles. Raises ``ValidationError(field='repositories')``."""
    if not patterns:
        raise ValidationError('repositories: give at least one repository name or glob', field='repositories')
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValidationError('repositories: %r is not a repository name or glob' % (pattern,),
                                  field='repositories')
        pattern = pattern.strip().strip('/')
        if is_glob(pattern):
            glob_to_regex(pattern)
        elif not is_valid_repository(pattern):
            raise ValidationError('repositories: %r is not a repository name (lowercase components such as team/app, '
                                  'separated by "/") or a glob (team/*, **)' % pattern, field='repositories')


def resolve_repositories(client, patterns):
    """Names stay as given; globs are matched against the catalog.

    :returns: ``(names, matched)`` - sorted unique names, and ``{pattern: [names]}``.
    :raises ValidationError: an empty pattern list.
    :raises RegistryError: a glob was given and the catalog cannot be read (category kept,
        the message says to list the repositories by name instead).
    """
    if not patterns:
        raise ValidationError('repositories: give at least one repository name or glob', field='repositories')
    names = set()
    matched = {}
    catalog = None
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValidationError('repositories: %r is not a repository name or glob' % (pattern,),
                                  field='repositories')
        pattern = pattern.strip().strip('/')
        if not is_glob(pattern):
            names.add(pattern)
            matched[pattern] = [pattern]
            continue
        if catalog is None:
            try:
                catalog = client.catalog()
            except RegistryError as exc:
                raise RegistryError(
                    'repositories: the glob %r needs the registry catalog (GET /v2/_catalog), which is not available: '
                    '%s. List the repositories by name instead, or grant the registry:catalog:* scope.'
                    % (pattern, exc.msg), category=exc.category,
                    hint='Some registries (Docker Hub, GAR, ECR through OCI, pull-through caches) do not offer '
                         'the catalog, or filter it by permission.', field='repositories')
        rx = glob_to_regex(pattern)
        found = sorted(r for r in catalog if rx.match(r))
        matched[pattern] = found
        names.update(found)
    return sorted(names), matched


def _created_of_config(config):
    if not isinstance(config, dict):
        return None
    return parse_rfc3339(config.get('created'))


class RepositoryReader(object):
    """Reads one repository completely into a RepositoryState (all network, no decisions)."""

    def __init__(self, client, repository, pool):
        self.client = client
        self.repository = repository
        self.pool = pool
        self.notes = []
        self._manifests = {}
        self._bodies = {}
        self._configs = {}
        self._lock = threading.Lock()

    def _head_tag(self, tag):
        try:
            info = self.client.head_manifest(self.repository, tag)
        except RegistryError as exc:
            if exc.category == 'not_found':
                return tag, None, None   # deleted between the tag list and the HEAD
            raise
        if not info.digest:
            raise RegistryError('HEAD %s:%s: the registry sent no Docker-Content-Digest; the digest to delete '
                                'cannot be known safely' % (self.repository, tag), category='invalid_response',
                                repository=self.repository, reference=tag)
        return tag, info.digest, info

    def _get(self, digest):
        with self._lock:
            if digest in self._bodies:
                return self._bodies[digest]
        try:
            info, body = self.client.get_manifest(self.repository, digest)
        except RegistryError as exc:
            if exc.category == 'not_found':
                result = (None, None)
            else:
                raise
        else:
            result = (info, body)
        with self._lock:
            self._bodies[digest] = result
        return result

    def _config_created(self, body):
        config = body.get('config') or {}
        digest = config.get('digest')
        media_type = config.get('mediaType')
        if not digest or media_type not in IMAGE_CONFIG_MEDIA_TYPES:
            return None
        if isinstance(config.get('size'), int) and config['size'] > MAX_CONFIG_SIZE:
            return None
        with self._lock:
            if digest in self._configs:
                return self._configs[digest]
        try:
            data = self.client.get_blob(self.repository, digest)
            created = _created_of_config(json.loads(data.decode('utf-8')))
        except RegistryError as exc:
            if exc.category != 'not_found':
                raise
            created = None
        except (ValueError, UnicodeDecodeError):
            created = None
        with self._lock:
            self._configs[digest] = created
        return created

    def _describe(self, digest, depth=0):
        """ManifestInfo for ``digest`` (recursively for index children, up to 4 levels).

        Runs in one thread per call (never uses the pool), so it can be mapped over the pool.
        """
        with self._lock:
            if digest in self._manifests:
                return self._manifests[digest]
        info, body = self._get(digest)
        if body is None:
            m = ManifestInfo(digest)
        else:
            media_type = body.get('mediaType') or (info.media_type if info else None)
            annotations = body.get('annotations') or {}
            subject = (body.get('subject') or {}).get('digest')
            created = parse_rfc3339(annotations.get(CREATED_ANNOTATION))
            children = []
            config = None
            if isinstance(body.get('manifests'), list) or media_type in INDEX_MEDIA_TYPES:
                children = [c.get('digest') for c in body.get('manifests') or [] if c.get('digest')]
                child_infos = [self._describe(d, depth + 1) for d in children] if depth < 4 else []
                if created is None:
                    times = [c.created for c in child_infos if c.created is not None]
                    created = max(times) if times else None
            else:
                config = (body.get('config') or {}).get('digest') or None
                config_created = self._config_created(body)
                if config_created is not None:
                    created = config_created
            m = ManifestInfo(digest, created=created, children=children, subject=subject, media_type=media_type,
                             config=config)
        with self._lock:
            self._manifests[digest] = m
        return m

    def describe_all(self, digests):
        """Describe several digests concurrently (one pool task per digest)."""
        return list(self.pool.map(self._describe, sorted(set(digests))))

    def read(self, extra_digests=()):
        """Read tags, digests, manifests. ``extra_digests`` (e.g. in-use digests of this
        repository) are described too so that their index children are known.

        :returns: RepositoryState; ``exists`` attribute False when the repository is unknown.
        """
        try:
            tags = self.client.list_tags(self.repository)
        except RegistryError as exc:
            if exc.category == 'not_found':
                state = RepositoryState(self.repository, {}, {})
                state.exists = False
                return state
            raise
        tag_map = {}
        for tag, digest, _info in self.pool.map(self._head_tag, tags):
            if digest is None:
                self.notes.append('tag %s disappeared while reading' % tag)
                continue
            tag_map[tag] = digest
        self.describe_all(set(tag_map.values()) | set(extra_digests))
        state = RepositoryState(self.repository, tag_map, dict(self._manifests))
        state.exists = True
        return state


def in_use_from_images(images):
    """``in_use_images`` option -> list of ImageUse; every entry must parse."""
    uses = []
    for index, image in enumerate(images or []):
        field = 'in_use_images[%d]' % index
        require_registry(parse_image_reference(image, field=field), field=field)
        uses.append(ImageUse(image, 'in_use_images'))
    return uses


class GcRunner(object):
    """Plan and apply retention for one registry.

    :param client: a ``_distribution.RegistryClient``.
    :param rules: ``_retention.Rules``.
    :param repositories: names or globs.
    :param registry_hosts: host names under which clusters refer to this registry.
    :param in_use: callable(tag_maps) -> ``(uses, report)``; called after the repositories are
        read, raises ``InUseScanError`` when a cluster cannot be read (nothing is deleted).
    :param check_mode: plan only.
    :param max_concurrency: parallel registry requests (reads and deletes).
    :param plan_fingerprint: when set, the real run refuses to delete unless the plan it
        computed has this fingerprint.
    """

    def __init__(self, client, rules, repositories, registry_hosts, in_use=None, check_mode=False,
                 max_concurrency=4, plan_fingerprint=None, now=None, warn=None, want_diff=False):
        self.client = client
        self.rules = rules
        self.patterns = list(repositories or [])
        self.registry_hosts = list(registry_hosts)
        self.in_use = in_use
        self.check_mode = check_mode
        self.max_concurrency = max(1, int(max_concurrency))
        self.plan_fingerprint = plan_fingerprint
        self.now = now
        self.warn = warn or (lambda msg: None)
        self.want_diff = want_diff
        self._stop = threading.Event()
        self._stop_reason = None

    # -- read -------------------------------------------------------------------------------

    def read(self, pool):
        names, matched = resolve_repositories(self.client, self.patterns)
        for pattern, found in sorted(matched.items()):
            if not found:
                self.warn('repositories: the glob %r matched no repository in the catalog' % pattern)
        states = []
        notes = {}
        for name in names:
            reader = RepositoryReader(self.client, name, pool)
            states.append(reader.read())
            notes[name] = reader.notes
        return states, notes, matched

    # -- delete -----------------------------------------------------------------------------

    def _delete_one(self, entry):
        """Delete one planned entry. Returns ``(status, detail)`` with status among
        deleted / absent / skipped / failed / unknown / not_attempted. ``unknown``: the DELETE was sent
        and its connection broke (or timed out) before the answer, so the registry may have applied it;
        ``failed``: the registry answered with an error, or the request never reached it."""
        if self._stop.is_set():
            return 'not_attempted', self._stop_reason
        repo = entry.repository
        try:
            head = self.client.head_manifest(repo, entry.tags[0])
        except RegistryError as exc:
            if exc.category == 'not_found':
                return 'absent', 'tag %s no longer exists' % entry.tags[0]
            return 'failed', exc.msg
        if head.digest != entry.digest:
            return 'skipped', 'tag %s now points at %s, not the planned %s; not deleted' % (
                entry.tags[0], head.digest, entry.digest)
        if self._stop.is_set():
            return 'not_attempted', self._stop_reason
        try:
            self.client.delete_manifest(repo, head.digest)
        except RegistryError as exc:
            if exc.category == 'unsupported':
                self._stop_reason = UNSUPPORTED_MSG
                self._stop.set()
                return 'failed', UNSUPPORTED_MSG
            if exc.category == 'not_found':
                return 'absent', 'already deleted'
            if getattr(exc, 'request_sent', None) and exc.category in ('connect', 'timeout'):
                return 'unknown', ('%s; the manifest may have been deleted: read back (check mode) or run the task '
                                   'again' % exc.msg)
            return 'failed', exc.msg
        return 'deleted', None

    def _new_tags_guard(self, state, entries):
        """Re-list the tags; a tag pushed after planning that points at a planned digest
        removes that digest from the deletions. Returns ``(entries_to_delete, skipped)``."""
        try:
            tags_now = self.client.list_tags(state.name)
        except RegistryError as exc:
            return [], [(e, 'failed', 'cannot re-list tags before deleting: %s' % exc.msg) for e in entries]
        planned = dict((e.digest, e) for e in entries)
        skipped = {}
        for tag in sorted(set(tags_now) - set(state.tags)):
            try:
                info = self.client.head_manifest(state.name, tag)
            except RegistryError as exc:
                if exc.category == 'not_found':
                    continue
                return [], [(e, 'failed', 'cannot read new tag %s before deleting: %s' % (tag, exc.msg))
                            for e in entries]
            if info.digest in planned and info.digest not in skipped:
                skipped[info.digest] = 'tag %s was pushed onto this digest after planning; not deleted' % tag
        keep = [e for e in entries if e.digest not in skipped]
        return keep, [(planned[d], 'skipped', why) for d, why in sorted(skipped.items())]

    @staticmethod
    def delete_waves(entries, state):
        """Order the deletions of one repository in waves.

        An index goes before the children it lists (if deleting a child succeeded and the index
        then failed, the index would be left broken), and a subject goes before its referrers
        (if the subject then failed, it would have lost its signature). Within a wave the
        order is by digest; waves are deleted one after the other.
        """
        planned = dict((e.digest, e) for e in entries)
        preds = dict((d, set()) for d in planned)
        for d in planned:
            info = state.info(d)
            for child in info.children:
                if child in planned and child != d:
                    preds[child].add(d)
            if info.subject in planned and info.subject != d:
                preds[d].add(info.subject)
        level = {}
        remaining = set(planned)
        current = 0
        while remaining:
            ready = sorted(d for d in remaining if not (preds[d] & remaining))
            if not ready:  # a cycle: should not exist, fall back to digest order
                ready = sorted(remaining)
            for d in ready:
                level[d] = current
            remaining -= set(ready)
            current += 1
        waves = []
        for lvl in range(current):
            waves.append([planned[d] for d in sorted(planned) if level[d] == lvl])
        return waves, preds

    def apply(self, plan, states, pool):
        """Delete the plan's entries; returns ``{(repo, digest): (status, detail)}``.

        Per repository: re-list tags (guard against tags pushed since planning), then the
        first deletion alone (a 405 stops everything before another DELETE is sent), then
        the rest in waves with up to ``max_concurrency`` requests in flight.
        """
        outcome = {}
        by_name = dict((s.name, s) for s in states)
        for rp in plan.repositories:
            if not rp.delete:
                continue
            if self._stop.is_set():
                for e in rp.delete:
                    outcome[(e.repository, e.digest)] = ('not_attempted', self._stop_reason)
                continue
            state = by_name[rp.name]
            entries, skipped = self._new_tags_guard(state, rp.delete)
            for e, status, why in skipped:
                outcome[(e.repository, e.digest)] = (status, why)
            if not entries:
                continue
            waves, preds = self.delete_waves(entries, state)
            first = waves[0][0]
            first_result = self._delete_one(first)
            outcome[(first.repository, first.digest)] = first_result
            if first_result[0] in ('failed', 'unknown'):
                why = self._stop_reason if self._stop.is_set() else (
                    'the first delete in this repository %s: %s' % (
                        'failed' if first_result[0] == 'failed' else 'has an unknown outcome', first_result[1]))
                for e in entries[:]:
                    if e is not first:
                        outcome[(e.repository, e.digest)] = ('not_attempted', why)
                continue
            waves[0] = waves[0][1:]
            for wave in waves:
                ready = []
                for e in wave:
                    blocked = sorted(p for p in preds[e.digest]
                                     if outcome.get((e.repository, p), ('',))[0] not in ('deleted', 'absent'))
                    if blocked:
                        outcome[(e.repository, e.digest)] = (
                            'not_attempted', 'it is listed by (or refers to) %s, which was not deleted' % blocked[0])
                    else:
                        ready.append(e)
                for e, result in zip(ready, pool.map(self._delete_one, ready)):
                    outcome[(e.repository, e.digest)] = result
        return outcome

    # -- run --------------------------------------------------------------------------------

    def run(self):
        """Returns ``(result, failure_msg)``; ``failure_msg`` is None on success."""
        now = self.now or utcnow()
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            states, notes, matched = self.read(pool)
            tag_maps = dict((s.name, s.tags) for s in states)
            uses, clusters_report = [], []
            if self.in_use is not None:
                uses, clusters_report = self.in_use(tag_maps)
            protected, unparsable = protected_digests(uses, self.registry_hosts, tag_maps)
            if unparsable:
                raise ValidationError(
                    'in-use protection: %d image reference(s) name this registry but cannot be parsed, so the images '
                    'they use cannot be known; nothing was deleted: %s' % (
                        len(unparsable), '; '.join('%s (%s)' % (u.image, u.source) for u in unparsable[:10])),
                    field='clusters')
            # in-use digests that are not tagged: read them so their index children are protected
            for state in states:
                extra = set((protected.get(state.name) or {})) - set(state.tags.values())
                extra = set(d for d in extra if d.startswith('sha256:') and len(d) == 71)
                if extra and getattr(state, 'exists', True):
                    reader = RepositoryReader(self.client, state.name, pool)
                    reader._manifests.update(state.manifests)
                    for m in reader.describe_all(extra):
                        state.manifests[m.digest] = m
            plan = plan_retention(states, self.rules, protected=protected, now=now)
            outcome = {}
            failure = None
            if not self.check_mode and plan.deletions():
                if self.plan_fingerprint and self.plan_fingerprint != plan.fingerprint:
                    result = self._result(plan, states, notes, matched, clusters_report, protected, {})
                    return result, ('plan_fingerprint: the plan computed now (%s) differs from the reviewed plan (%s); '
                                    'nothing was deleted. Review the new plan (check mode) and run again.'
                                    % (plan.fingerprint, self.plan_fingerprint))
                outcome = self.apply(plan, states, pool)
        result = self._result(plan, states, notes, matched, clusters_report, protected, outcome)
        failed = [o for o in outcome.values() if o[0] == 'failed']
        unknown = [o for o in outcome.values() if o[0] == 'unknown']
        if self._stop.is_set():
            failure = self._stop_reason
        elif failed or unknown:
            parts = []
            if failed:
                parts.append('%d planned deletion(s) failed: %s' % (len(failed), '; '.join(sorted(set(
                    o[1] for o in failed)))[:2000]))
            if unknown:
                parts.append('%d deletion(s) have an unknown outcome (the DELETE was sent and the connection broke '
                             'before the answer: the registry may have applied it; read back with check mode, or run '
                             'the task again, which deletes only what is still there): %s' % (
                                 len(unknown), '; '.join(sorted(set(o[1] for o in unknown)))[:2000]))
            failure = '; '.join(parts)
        return result, failure

    def _result(self, plan, states, notes, matched, clusters_report, protected, outcome):
        plan_dict = plan.to_dict()
        deleted, not_deleted, results = [], [], []
        summary = dict(repositories=0, tags=0, digests=0, planned=0, deleted=0, kept=0, not_deleted=0, failed=0,
                       unknown=0, protected_in_use=0)
        outcomes = {'deleted': [], 'not_deleted': [], 'unknown': []}
        state_by_name = dict((s.name, s) for s in states)
        for rp in plan.repositories:
            state = state_by_name[rp.name]
            r_deleted, r_not, r_failed, r_unknown = [], [], 0, 0
            for e in rp.delete:
                item = {'repository': e.repository, 'digest': e.digest, 'tags': list(e.tags)}
                if self.check_mode:
                    continue
                status, why = outcome.get((e.repository, e.digest), ('not_attempted', 'not attempted'))
                ref = '%s@%s' % (e.repository, e.digest)
                if status == 'deleted':
                    r_deleted.append(item)
                    outcomes['deleted'].append(ref)
                else:
                    item.update(status=status, reason=why)
                    r_not.append(item)
                    outcomes['unknown' if status == 'unknown' else 'not_deleted'].append(ref)
                    if status == 'failed':
                        r_failed += 1
                    elif status == 'unknown':
                        r_unknown += 1
            in_use = [e for e in rp.keep if e.reason.startswith('protected: in use')]
            if not getattr(state, 'exists', True):
                action = 'absent'
            elif self.check_mode:
                action = 'would_delete' if rp.delete else 'unchanged'
            elif r_failed:
                action = 'failed'
            elif r_unknown:
                action = 'unknown'
            elif r_deleted:
                action = 'deleted' if not r_not else 'partially_deleted'
            elif r_not:
                action = 'not_deleted'
            else:
                action = 'unchanged'
            res = {
                'repository': rp.name,
                'action': action,
                'ordering': rp.ordering,
                'tags': len(state.tags),
                'digests': len(set(state.tags.values())),
                'planned': len(rp.delete),
                'deleted': r_deleted,
                'not_deleted': r_not,
                'kept': len(rp.keep),
                'in_use': len(in_use),
                'notes': list(rp.notes) + list(notes.get(rp.name) or []),
            }
            results.append(res)
            deleted.extend(r_deleted)
            not_deleted.extend(r_not)
            summary['repositories'] += 1
            summary['tags'] += res['tags']
            summary['digests'] += res['digests']
            summary['planned'] += res['planned']
            summary['deleted'] += len(r_deleted)
            summary['kept'] += res['kept']
            summary['not_deleted'] += len(r_not)
            summary['failed'] += r_failed
            summary['unknown'] += r_unknown
            summary['protected_in_use'] += res['in_use']
        result = {
            'changed': bool(deleted) if not self.check_mode else bool(plan.deletions()),
            'plan': plan_dict,
            'deleted': deleted,
            'not_deleted': not_deleted,
            'results': results,
            'summary': summary,
            'repositories_matched': dict((k, list(v)) for k, v in sorted(matched.items())),
            'in_use': {
                'clusters': clusters_report,
                'protected_digests': sum(len(v) for v in protected.values()),
            },
        }
        if not self.check_mode and plan.deletions():
            result['delete_outcomes'] = outcomes
        if self.want_diff:
            result['diff'] = self.diff(plan_dict, states)
        return result

    @staticmethod
    def diff(plan_dict, states):
        """``before``/``after``: tags per repository before and after the plan."""
        before, after = {}, {}
        for state in states:
            before[state.name] = sorted(state.tags)
        deleted = {}
        for rp in plan_dict['repositories']:
            deleted[rp['repository']] = set(t for e in rp['delete'] for t in e['tags'])
        for name, tags in before.items():
            after[name] = [t for t in tags if t not in deleted.get(name, set())]
        return {'before': before, 'after': after}


# ---------------------------------------------------------------------------------------------
# module glue: parameters -> client, credentials, in-use scan, runner
# ---------------------------------------------------------------------------------------------

def credentials_from_pull_secret(kube, pull_secret, registry_host, repository, register_secret=None):
    """Username and password from an image pull secret, chosen as the kubelet would for
    ``<registry_host>/<repository>``. Returns ``(username, password, facts)``; facts are
    secret-free (secret, key, username)."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._diagnose import read_pull_secret
    from ansible_collections.registrylink.k8s.plugins.module_utils._kubelet import kubelet_keyring, match_credentials
    namespace, name = pull_secret['namespace'], pull_secret['name']
    entry = read_pull_secret(kube, namespace, name, register_secret)
    if not entry['found'] or entry['payload'] is None or not entry['usable']:
        raise ValidationError('pull_secret: %s/%s gives no usable credentials: %s' % (
            namespace, name, entry.get('detail') or entry.get('problem') or 'empty'), field='pull_secret')
    configs = [(name, entry['payload'], entry['type'])]
    image = '%s/%s' % (registry_host, repository)
    matches = match_credentials(image, configs)
    if not matches:
        raise ValidationError('pull_secret: %s/%s has no entry the kubelet would use for %s' % (
            namespace, name, image), field='pull_secret')
    keyring = kubelet_keyring(configs)
    match = matches[0]
    for cred in keyring['creds'].get(match['key'], []):
        if cred['secret'] == match['secret'] and cred['config_key'] == match['config_key']:
            return cred['username'] or None, cred['password'] or None, {
                'secret': '%s/%s' % (namespace, name), 'key': match['config_key'], 'username': match['username']}
    raise ValidationError('pull_secret: %s/%s: the matched entry has no credentials' % (namespace, name),
                          field='pull_secret')


def cluster_list(params):
    """The clusters to scan: each ``clusters`` entry over the task's own connection options,
    or just the task's connection when ``clusters`` is not set."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import cluster_params
    base = cluster_params(params)
    entries = params.get('clusters')
    if not entries:
        return [base]
    out = []
    for entry in entries:
        merged = dict(base)
        for key, value in (entry or {}).items():
            if value is not None:
                merged[key] = value
        out.append(merged)
    return out


class RegistryGcRunner(Runner):
    """Everything ``registry_gc`` does. ``client_factory`` (a RegistryClient class) and
    ``kube_factory`` (cluster params -> KubeClient) may be injected by tests.

    ``run()`` returns the result. It raises ``RegistryLinkError`` subclasses for anything found
    before the first delete (validation, registry reads, cluster reads): then nothing was
    deleted; ``ItemsFailed`` (with the whole result) when planned deletions failed or the
    reviewed plan no longer matches.
    """

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, client_factory=None,
                 kube_factory=None):
        super(RegistryGcRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.client_factory = client_factory
        self.kube_factory = kube_factory

    def run(self):
        """Validate, read the registry and the clusters, plan, delete; returns the result dict."""
        result, failure = gc_for_params(self.params, self.check_mode, self.diff, self.warn, self.register_secret,
                                        self.client_factory, self.kube_factory)
        if failure:
            raise ItemsFailed(failure, **result)
        return result


def gc_for_params(params, check_mode=False, diff=False, warn=None, register_secret=None, client_factory=None,
                  kube_factory=None):
    """Everything ``registry_gc`` does for its module params; returns ``(result, failure_msg)``.

    Raises ``RegistryLinkError`` subclasses for anything found before the first delete.
    """
    warn = warn or (lambda msg: None)
    from ansible_collections.registrylink.k8s.plugins.module_utils._inuse import scan_clusters
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_args import (
        check_registry_options, client_kwargs)
    from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import check_registry_host
    from ansible_collections.registrylink.k8s.plugins.module_utils._retention import Rules
    if not params.get('registry'):
        raise ValidationError('registry: the registry to clean up is required (host, host:port or https://host)',
                              field='registry')
    check_registry_options(params)
    if kube_factory is None:
        def kube_factory(cluster):
            # imported on first use: the kubernetes library is only needed when a cluster is read
            from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient
            return KubeClient.from_params(cluster)
    if client_factory is None:
        from ansible_collections.registrylink.k8s.plugins.module_utils._distribution._client import RegistryClient
        client_factory = RegistryClient
    rules = Rules.from_params(params)
    check_repository_patterns(params.get('repositories'))
    for index, alias in enumerate(params.get('registry_aliases') or []):
        check_registry_host(alias, field='registry_aliases[%d]' % index)
    max_concurrency = params.get('max_concurrency')
    if max_concurrency is None:
        max_concurrency = 4
    if max_concurrency < 1 or max_concurrency > 32:
        raise ValidationError('max_concurrency: between 1 and 32, got %d' % max_concurrency, field='max_concurrency')
    in_use_uses = in_use_from_images(params.get('in_use_images'))
    kwargs = client_kwargs(params)
    facts = {}
    if params.get('pull_secret'):
        if kwargs.get('username'):
            raise ValidationError('pull_secret and username/password are mutually exclusive', field='pull_secret')
        from ansible_collections.registrylink.k8s.plugins.module_utils._cluster_args import cluster_params
        literal = [r for r in params.get('repositories') or [] if isinstance(r, str) and not is_glob(r)]
        host = api_host(params['registry'])[1]
        username, password, facts = credentials_from_pull_secret(
            kube_factory(cluster_params(params)), params['pull_secret'], host, (literal or ['library/x'])[0],
            register_secret)
        kwargs['username'], kwargs['password'] = username, password
    client = client_factory(params['registry'], **kwargs)
    hosts = [client.netloc] + list(params.get('registry_aliases') or [])
    if client.netloc == DOCKER_HUB_API_HOST:
        hosts.append(DOCKER_HUB_IMAGE_HOST)

    protect_clusters = params.get('in_use_protection', True)
    if not protect_clusters:
        warn('in_use_protection is false: no cluster is scanned; only in_use_images are protected')

    def in_use(tag_maps):
        uses = list(in_use_uses)
        report = []
        if protect_clusters:
            found, report = scan_clusters(cluster_list(params), kube_factory)
            uses.extend(found)
        return uses, report

    runner = GcRunner(client, rules, params.get('repositories'), hosts, in_use=in_use, check_mode=check_mode,
                      max_concurrency=max_concurrency, plan_fingerprint=params.get('plan_fingerprint'),
                      warn=warn, want_diff=diff)
    result, failure = runner.run()
    result['registry'] = client.netloc
    if facts:
        result['credentials'] = facts
    for warning in getattr(client, 'warnings', None) or []:
        warn('registry warning: %s' % warning)
    return result, failure
