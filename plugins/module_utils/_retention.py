# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention planning for registry_gc (pure: data in, plan out). Private to this collection.

Nothing here talks to a registry or a cluster. The runner (``_registry_gc.py``) reads the
repositories and the clusters, builds :class:`RepositoryState` objects and the protected
digests, calls :func:`plan_retention` and deletes exactly ``plan.deletions()``.

Semantics (the documentation in ``docs/cleanup.md`` is written from this):

* Rules are evaluated per **tag**. A tag is a *candidate* only when every rule that is set
  says so:

  - ``keep_tags`` (exact names): a listed tag is never a candidate.
  - ``tag_include`` (regular expressions, matched against the *whole* tag): when set, a tag
    is in scope only if at least one expression matches all of it; otherwise it is kept.
  - ``tag_exclude`` (regular expressions, whole tag): a matching tag is kept.
  - ``keep_last`` N: the images (distinct digests) that have at least one in-scope tag are
    ranked newest first; a tag whose digest is among the first N is kept. The ranking uses
    the image creation time when every ranked image has one, else the push order when every
    ranked image has one, else no ranking is possible and every tag is kept (fail safe).
  - ``older_than`` seconds: a tag is a candidate only if its image is older than that
    (creation time, else push time when the push order is a timestamp). Unknown age: kept.

* A digest is deleted only when **all** of its tags are candidates (deleting a manifest
  deletes every tag that points at it) and it is not protected.
* Protected: the digests given in ``protected`` (in use in a cluster, listed in
  ``in_use_images``; a protected image ID, the digest of an image config, protects the
  manifests with that config and the indexes listing them), the children of every kept or
  protected index (recursively), and
  manifests whose ``subject`` is not deleted (signatures, SBOMs, attestations).
* Referrers tags (``sha256-<hex>``, ``sha256-<hex>.sig`` ...) are not judged by the rules:
  they follow their subject; deleted only when the subject digest is deleted.
* Untagged manifests are never deleted (the registry's own garbage collection handles them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import format_rfc3339, parse_duration
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

ORDER_CREATED = 'created'
ORDER_PUSHED = 'push_order'
ORDER_NONE = 'none'

ANY_REPOSITORY = '*'

# Referrers tag schema (OCI distribution-spec "fallback tag"), and cosign's suffixed tags.
_REFERRERS_TAG_RE = re.compile(r'^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(\..+)?$')

INDEX_MEDIA_TYPES = (
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
)


def _fmt_duration(seconds):
    if seconds % 86400 == 0 and seconds:
        return '%dd' % (seconds // 86400)
    if seconds % 3600 == 0 and seconds:
        return '%dh' % (seconds // 3600)
    if seconds % 60 == 0 and seconds:
        return '%dm' % (seconds // 60)
    return '%ds' % seconds


def _fmt_time(value):
    if isinstance(value, datetime.datetime):
        return format_rfc3339(value)
    return value


class Rules(object):
    """Validated, compiled retention rules.

    ``keep_last`` int >= 0 or None; ``older_than`` seconds (int) or None; ``tag_include`` /
    ``tag_exclude`` lists of regular expressions (matched against the whole tag);
    ``keep_tags`` exact tag names. At least one of ``keep_last``, ``older_than`` or
    ``tag_include`` must be set, so that an empty rule set never means "delete everything".
    """

    def __init__(self, keep_last=None, older_than=None, tag_include=None, tag_exclude=None, keep_tags=None):
        if keep_last is not None:
            if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
                raise ValidationError('keep_last: expected a whole number >= 0, got %r' % (keep_last,), field='keep_last')
        if older_than is not None:
            older_than = parse_duration(older_than, field='older_than')
        self.keep_last = keep_last
        self.older_than = older_than
        self.tag_include = self._compile(tag_include, 'tag_include')
        self.tag_exclude = self._compile(tag_exclude, 'tag_exclude')
        if keep_tags is None:
            keep_tags = []
        if not isinstance(keep_tags, (list, tuple)):
            raise ValidationError('keep_tags: expected a list of tag names, got %s' % type(keep_tags).__name__,
                                  field='keep_tags')
        keep_tags = list(keep_tags)
        for tag in keep_tags:
            if not isinstance(tag, str) or not tag:
                raise ValidationError('keep_tags: expected tag names, got %r' % (tag,), field='keep_tags')
        self.keep_tags = tuple(sorted(set(keep_tags)))
        if keep_last is None and older_than is None and not self.tag_include:
            raise ValidationError(
                'no retention rule selects anything to delete: set keep_last, older_than or tag_include '
                '(use tag_include: [".*"] to make every tag a candidate explicitly)', field='keep_last')

    @staticmethod
    def _compile(patterns, field):
        if patterns is None:
            return ()
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, (list, tuple)):
            raise ValidationError('%s: expected a list of regular expressions, got %s' % (field, type(patterns).__name__),
                                  field=field)
        compiled = []
        for pattern in patterns:
            if not isinstance(pattern, str):
                raise ValidationError('%s: expected regular expressions (strings), got %r' % (field, pattern), field=field)
            try:
                compiled.append(re.compile(pattern))
            except (re.error, OverflowError, RecursionError) as e:
                raise ValidationError('%s: %r is not a valid regular expression (Python re syntax, matched against the '
                                      'whole tag): %s' % (field, pattern, e), field=field)
        return tuple(compiled)

    @classmethod
    def from_params(cls, params):
        """Build from a module's parameters (``keep_last``, ``older_than``, ``tag_include``,
        ``tag_exclude``, ``keep_tags``)."""
        return cls(keep_last=params.get('keep_last'), older_than=params.get('older_than'),
                   tag_include=params.get('tag_include'), tag_exclude=params.get('tag_exclude'),
                   keep_tags=params.get('keep_tags'))

    def to_dict(self):
        return {
            'keep_last': self.keep_last,
            'older_than': self.older_than,
            'tag_include': [p.pattern for p in self.tag_include],
            'tag_exclude': [p.pattern for p in self.tag_exclude],
            'keep_tags': list(self.keep_tags),
        }

    def in_scope(self, tag):
        """(in_scope, reason_if_not): include/exclude only."""
        if self.tag_include and not any(p.fullmatch(tag) for p in self.tag_include):
            return False, 'not matched by tag_include'
        for p in self.tag_exclude:
            if p.fullmatch(tag):
                return False, 'matched by tag_exclude %r' % p.pattern
        return True, None


class ManifestInfo(object):
    """What the planner needs to know about one manifest (tagged, or a child of an index).

    ``created``: aware datetime of the image creation (config blob ``created``; for an index
    the newest of its children) or None. ``pushed``: push-order key (int or aware datetime;
    larger = pushed later) or None. ``children``: digests of the manifests an index lists.
    ``subject``: digest of the manifest's ``subject`` (referrers) or None. ``config``: digest
    of an image manifest's config blob (what container runtimes call the image ID) or None.
    """

    __slots__ = ('digest', 'created', 'pushed', 'children', 'subject', 'media_type', 'config')

    def __init__(self, digest, created=None, pushed=None, children=(), subject=None, media_type=None, config=None):
        self.digest = digest
        self.created = created
        self.pushed = pushed
        self.children = tuple(children or ())
        self.subject = subject
        self.media_type = media_type
        self.config = config

    def __repr__(self):
        return 'ManifestInfo(%r, created=%r, pushed=%r, children=%r)' % (
            self.digest, self.created, self.pushed, self.children)


class RepositoryState(object):
    """One repository as read from the registry: ``tags`` maps tag -> digest (complete list),
    ``manifests`` maps digest -> ManifestInfo for every tagged digest and every index child
    that could be read. A digest missing from ``manifests`` has unknown age and no children."""

    def __init__(self, name, tags, manifests=None):
        self.name = name
        self.tags = dict(tags)
        self.manifests = {}
        for key, info in (manifests or {}).items():
            if not isinstance(info, ManifestInfo):
                info = ManifestInfo(key, **info)
            self.manifests[key] = info

    def info(self, digest):
        return self.manifests.get(digest) or ManifestInfo(digest)


class PlanEntry(object):
    """One digest's decision. ``tags`` sorted; ``reason`` human sentence; ``tag_reasons``
    maps each tag to the reason it is (not) a candidate."""

    __slots__ = ('repository', 'digest', 'tags', 'reason', 'tag_reasons', 'created', 'media_type', 'action')

    def __init__(self, repository, digest, tags, reason, tag_reasons, created=None, media_type=None, action='delete'):
        self.repository = repository
        self.digest = digest
        self.tags = sorted(tags)
        self.reason = reason
        self.tag_reasons = dict(tag_reasons)
        self.created = created
        self.media_type = media_type
        self.action = action

    def to_dict(self):
        return {
            'repository': self.repository,
            'digest': self.digest,
            'tags': list(self.tags),
            'reason': self.reason,
            'tag_reasons': dict(sorted(self.tag_reasons.items())),
            'created': _fmt_time(self.created),
            'media_type': self.media_type,
        }


class RepositoryPlan(object):
    def __init__(self, name, ordering, delete, keep, notes):
        self.name = name
        self.ordering = ordering
        self.delete = delete
        self.keep = keep
        self.notes = notes

    def to_dict(self):
        return {
            'repository': self.name,
            'ordering': self.ordering,
            'delete': [e.to_dict() for e in self.delete],
            'keep': [e.to_dict() for e in self.keep],
            'notes': list(self.notes),
        }


class Plan(object):
    """The whole plan: ``repositories`` (sorted by name) of RepositoryPlan."""

    def __init__(self, repositories, rules, now):
        self.repositories = repositories
        self.rules = rules
        self.now = now

    def deletions(self):
        """Every PlanEntry to delete, in a stable order (repository, digest)."""
        return [e for rp in self.repositories for e in rp.delete]

    def kept(self):
        return [e for rp in self.repositories for e in rp.keep]

    @property
    def fingerprint(self):
        """sha256 over the canonical list of (repository, digest, tags) to delete: what a
        reviewed check-mode plan and the real run are compared by."""
        canon = [[e.repository, e.digest, list(e.tags)] for e in self.deletions()]
        data = json.dumps(canon, sort_keys=True, separators=(',', ':')).encode('utf-8')
        return 'sha256:' + hashlib.sha256(data).hexdigest()

    def to_dict(self):
        return {
            'fingerprint': self.fingerprint,
            'now': _fmt_time(self.now),
            'rules': self.rules.to_dict(),
            'repositories': [rp.to_dict() for rp in self.repositories],
        }


def referrers_subject(tag):
    """For a referrers tag (``sha256-<hex>[.suffix]``) return the subject digest, else None."""
    m = _REFERRERS_TAG_RE.match(tag)
    if not m:
        return None
    return '%s:%s' % (m.group(1), m.group(2))


def _ordering(state, ranked):
    """Choose the ordering for keep_last over the digests in ``ranked``."""
    infos = [state.info(d) for d in ranked]
    if all(i.created is not None for i in infos):
        return ORDER_CREATED
    if all(i.pushed is not None for i in infos):
        kinds = set(isinstance(i.pushed, datetime.datetime) for i in infos)
        if len(kinds) == 1:
            return ORDER_PUSHED
    return ORDER_NONE


def _rank(state, ranked, ordering):
    """Digests of ``ranked`` newest first, ties broken by push order then digest."""
    def pushed_key(info):
        p = info.pushed
        if p is None:
            return (0, 0)
        if isinstance(p, datetime.datetime):
            return (1, p.timestamp())
        return (1, p)

    items = sorted(ranked)  # digest ascending: the final tie-breaker
    if ordering == ORDER_CREATED:
        items.sort(key=lambda d: pushed_key(state.info(d)), reverse=True)
        items.sort(key=lambda d: state.info(d).created, reverse=True)
    elif ordering == ORDER_PUSHED:
        items.sort(key=lambda d: pushed_key(state.info(d)), reverse=True)
    return items


def _age_basis(info):
    if info.created is not None:
        return info.created, 'created'
    if isinstance(info.pushed, datetime.datetime):
        return info.pushed, 'pushed'
    return None, None


def _protected_for(protected, state):
    """digest -> reason for the repository ``state`` from the protected mapping.

    A protected digest is a manifest digest; it may also be an image ID (the digest of an image
    config, what a runtime reports as a bare ``sha256:...`` ``imageID``): then every manifest of
    the repository with that config is protected, and so is every index that lists one of them.
    """
    out = {}
    if not protected:
        return out
    for key in (ANY_REPOSITORY, state.name):
        for digest, reason in (protected.get(key) or {}).items():
            out.setdefault(digest, reason)
    by_config = {}  # manifests with a protected config, and the indexes listing them (recursively)
    for digest in sorted(state.manifests):
        config = state.manifests[digest].config
        if config and config in out:
            by_config[digest] = out.get(digest) or '%s (image config %s)' % (out[config], config)
    grown = bool(by_config)
    while grown:
        grown = False
        for digest in sorted(state.manifests):
            if digest in by_config:
                continue
            child = next((c for c in state.manifests[digest].children if c in by_config), None)
            if child is not None:
                by_config[digest] = out.get(digest) or 'index listing %s, %s' % (child, by_config[child])
                grown = True
        for digest, reason in by_config.items():
            out.setdefault(digest, reason)
    return out


def _plan_repository(state, rules, protected, now):
    """The plan for one repository, in phases: tags by digest and scope, keep_last ranking, a
    verdict per tag, the initial deletion set, the protections that shrink it, then the entries."""
    notes = []
    by_digest, referrer_tags, scope = _tags_by_digest(state, rules)
    ordering, newest = _keep_last_ranking(state, rules, scope, notes)
    verdict = dict((tag, _tag_verdict(state.tags[tag], state.info(state.tags[tag]), tag, ok, why, rules, ordering,
                                      newest, now))
                   for tag, (ok, why) in scope.items())
    protected_here = _protected_for(protected, state)
    delete, keep_reason = _initial_deletions(by_digest, referrer_tags, verdict, protected_here)
    _shrink_deletions(state, by_digest, referrer_tags, protected_here, delete, keep_reason)
    for tag, subject in sorted(referrer_tags.items()):
        if state.tags[tag] in delete:
            verdict[tag] = (True, 'referrers tag of deleted subject %s' % subject)
        else:
            verdict[tag] = (False, 'referrers tag: follows its subject %s' % subject)
    return _repository_plan(state, ordering, notes, by_digest, referrer_tags, verdict, delete, keep_reason)


def _tags_by_digest(state, rules):
    """``(by_digest, referrer_tags, scope)``: tags per digest, referrers tags (``sha256-...``) with
    their subject, and ``rules.in_scope`` for every other tag."""
    by_digest = {}
    for tag, digest in sorted(state.tags.items()):
        by_digest.setdefault(digest, []).append(tag)
    referrer_tags = {}
    scope = {}
    for tag in sorted(state.tags):
        subject = referrers_subject(tag)
        if subject is not None:
            referrer_tags[tag] = subject
            continue
        scope[tag] = rules.in_scope(tag)
    return by_digest, referrer_tags, scope


def _keep_last_ranking(state, rules, scope, notes):
    """``(ordering, newest)``: how images are ranked, and ``{digest: rank}`` for the newest
    ``keep_last`` digests that have at least one in-scope tag."""
    ranked = sorted(set(state.tags[t] for t, (ok, _r) in scope.items() if ok))
    ordering = _ordering(state, ranked) if ranked else ORDER_CREATED
    newest = {}
    if rules.keep_last is not None and ranked:
        if ordering == ORDER_NONE:
            notes.append('keep_last: %d image(s) have neither a creation time nor a push order; '
                         'the images cannot be ranked, so keep_last keeps every tag' % sum(
                             1 for d in ranked if state.info(d).created is None and state.info(d).pushed is None))
        else:
            for pos, digest in enumerate(_rank(state, ranked, ordering)[:rules.keep_last]):
                newest[digest] = pos + 1
    return ordering, newest


def _tag_verdict(digest, info, tag, ok, why, rules, ordering, newest, now):
    """``(candidate, reason)`` for one ordinary tag: keep_tags, scope, keep_last, then older_than."""
    if tag in rules.keep_tags:
        return False, 'listed in keep_tags'
    if not ok:
        return False, why
    reasons = []
    if rules.tag_include:
        reasons.append('matched by tag_include')
    if rules.keep_last is not None:
        if ordering == ORDER_NONE:
            return False, 'keep_last: images cannot be ranked (creation time and push order unknown)'
        if digest in newest:
            return False, 'keep_last: image is number %d of the newest %d (by %s)' % (
                newest[digest], rules.keep_last, ordering)
        reasons.append('not among the newest %d (by %s)' % (rules.keep_last, ordering))
    if rules.older_than is not None:
        when, basis = _age_basis(info)
        if when is None:
            return False, 'older_than: age unknown (no creation time or push time)'
        age = (now - when).total_seconds()
        if age <= rules.older_than:
            return False, 'older_than: %s %s is not older than %s' % (
                basis, format_rfc3339(when), _fmt_duration(rules.older_than))
        reasons.append('%s %s is older than %s' % (basis, format_rfc3339(when), _fmt_duration(rules.older_than)))
    return True, '; '.join(reasons)


def _initial_deletions(by_digest, referrer_tags, verdict, protected_here):
    """``(delete, keep_reason)``: digests whose ordinary tags are all candidates and that are not
    protected, plus digests that only carry referrers tags (decided by the fixpoint)."""
    keep_reason = {}
    delete = set()
    for digest, tags in by_digest.items():
        ordinary = [t for t in tags if t not in referrer_tags]
        if digest in protected_here:
            keep_reason[digest] = 'protected: %s' % protected_here[digest]
            continue
        if not ordinary:
            continue  # only referrers tags: decided in the loop below
        kept_tags = sorted(t for t in ordinary if not verdict[t][0])
        if kept_tags:
            if len(kept_tags) < len(ordinary):
                keep_reason[digest] = 'shares its digest with kept tag(s) %s' % ', '.join(kept_tags)
            else:
                why = set(verdict[t][1] for t in kept_tags)
                keep_reason[digest] = why.pop() if len(why) == 1 else 'no tag is a candidate (see tag_reasons)'
            continue
        delete.add(digest)
    delete |= set(d for d, tags in by_digest.items()
                  if d not in keep_reason and all(t in referrer_tags for t in tags))
    return delete, keep_reason


def _keep_children(state, by_digest, protected_here, delete, keep_reason):
    """Take the children of every kept or protected index out of ``delete``; True if any was."""
    changed = False
    roots = sorted(set(d for d in by_digest if d not in delete) | set(protected_here), reverse=True)
    seen = set()
    stack = [(d, None) for d in roots]
    while stack:
        digest, parent = stack.pop()
        if parent is not None and digest in delete:
            delete.discard(digest)
            keep_reason[digest] = 'child of kept index %s' % parent
            changed = True
        if digest in seen:
            continue
        seen.add(digest)
        for child in state.info(digest).children:
            stack.append((child, digest))
    return changed


def _keep_referrers(state, by_digest, referrer_tags, delete, keep_reason):
    """Take referrers of subjects that stay (and digests behind a referrers tag whose subject
    stays) out of ``delete``; True if any was."""
    changed = False
    for digest in sorted(delete):
        info = state.info(digest)
        if info.subject and info.subject not in delete:
            delete.discard(digest)
            keep_reason[digest] = 'referrer of %s, which is not deleted' % info.subject
            changed = True
            continue
        for tag in by_digest[digest]:
            subject = referrer_tags.get(tag)
            if subject is not None and subject not in delete:
                delete.discard(digest)
                keep_reason[digest] = 'referrers tag %s: its subject %s is not deleted' % (tag, subject)
                changed = True
                break
    return changed


def _shrink_deletions(state, by_digest, referrer_tags, protected_here, delete, keep_reason):
    """Shrink the deletion set to a fixpoint: children of kept/protected indexes, referrers of
    subjects that stay, digests sharing tags with referrers tags whose subject stays."""
    changed = True
    while changed:
        changed = _keep_children(state, by_digest, protected_here, delete, keep_reason)
        changed = _keep_referrers(state, by_digest, referrer_tags, delete, keep_reason) or changed


def _repository_plan(state, ordering, notes, by_digest, referrer_tags, verdict, delete, keep_reason):
    """The RepositoryPlan: one PlanEntry per digest, with its reason and every tag's reason."""
    delete_entries = []
    keep_entries = []
    for digest in sorted(by_digest):
        tags = by_digest[digest]
        info = state.info(digest)
        tag_reasons = dict((t, verdict[t][1] if verdict[t][0] else 'kept: ' + verdict[t][1]) for t in tags)
        if digest in delete:
            ordinary = sorted(t for t in tags if t not in referrer_tags)
            if ordinary:
                first = verdict[ordinary[0]][1]
                same = all(verdict[t][1] == first for t in ordinary)
                reason = ('every tag is a candidate: ' + first) if same else 'every tag is a candidate'
            else:
                reason = 'referrers of deleted subject'
            delete_entries.append(PlanEntry(state.name, digest, tags, reason, tag_reasons,
                                            info.created, info.media_type, action='delete'))
        else:
            keep_entries.append(PlanEntry(state.name, digest, tags, keep_reason.get(digest, 'kept'), tag_reasons,
                                          info.created, info.media_type, action='keep'))
    return RepositoryPlan(state.name, ordering, delete_entries, keep_entries, notes)


def plan_retention(repositories, rules, protected=None, now=None):
    """Plan retention over ``repositories`` (iterable of RepositoryState).

    ``rules``: a :class:`Rules`. ``protected``: mapping repository name (or ``'*'`` for every
    repository) -> {digest: reason}; such digests and, for indexes, their children are never
    deleted. ``now``: aware datetime (required when ``older_than`` is set).

    Returns a :class:`Plan`; the same input (in any order) always gives the same plan.
    """
    if rules.older_than is not None and now is None:
        raise ValueError('plan_retention: now is required when older_than is set')
    plans = []
    for state in sorted(repositories, key=lambda s: s.name):
        plans.append(_plan_repository(state, rules, protected or {}, now))
    return Plan(plans, rules, now)
