# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace selection and label selectors. Private to this collection.

The selection is resolved from ONE list of namespaces (a single LIST request), so its cost
does not depend on how many namespaces the cluster has. Label selectors are evaluated here,
with the grammar of k8s.io/apimachinery/pkg/labels/selector.go (equality- and set-based).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._common import is_glob
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    KubernetesAPIError,
    NotFoundError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import missing_rule_advice, rbac_rule

_LABEL_KEY_RE = re.compile(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?'
                           r'[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
_LABEL_VALUE_RE = re.compile(r'^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$')
_NS_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')


def _split_top_level(text):
    """Split a selector on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(''.join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append(''.join(cur))
    return [p.strip() for p in parts]


def parse_label_selector(selector, field='namespace_selector'):
    """Parse a label selector into a list of requirements.

    :param selector: a string (``env=prod,tier in (a,b),!legacy,team``) or a dict of
        labels that must all be equal (``{'env': 'prod'}``); None or empty means "everything".
    :returns: list of tuples ``(key, operator, values)`` with operator in
        ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``.
    :raises ValidationError: naming ``field`` and the bad requirement.
    """
    if selector is None or selector == '' or selector == {}:
        return []
    if isinstance(selector, dict):
        reqs = []
        for key, value in sorted(selector.items()):
            _check_key(key, field)
            _check_value('' if value is None else str(value), field)
            reqs.append((key, '=', ('' if value is None else str(value),)))
        return reqs
    if not isinstance(selector, str):
        raise ValidationError('%s must be a label selector string or a dict of labels, got %s'
                              % (field, type(selector).__name__), field=field)
    reqs = []
    for part in _split_top_level(selector):
        if not part:
            raise ValidationError('%s: empty requirement in %r' % (field, selector), field=field)
        m = re.match(r'^([^\s!=()]+)\s+(in|notin)\s+\((.*)\)$', part)
        if m:
            key, op, raw = m.group(1), m.group(2), m.group(3)
            values = tuple(v.strip() for v in raw.split(',')) if raw.strip() else ()
            if not values:
                raise ValidationError('%s: %r needs at least one value in parentheses' % (field, part), field=field)
            _check_key(key, field)
            for v in values:
                _check_value(v, field)
            reqs.append((key, op, values))
            continue
        m = re.match(r'^([^\s!=()]+)\s*(==|=|!=)\s*([^\s,()]*)$', part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            _check_key(key, field)
            _check_value(value, field)
            reqs.append((key, '!=' if op == '!=' else '=', (value,)))
            continue
        m = re.match(r'^(!?)\s*([^\s!=()]+)$', part)
        if m:
            _check_key(m.group(2), field)
            reqs.append((m.group(2), '!' if m.group(1) else 'exists', ()))
            continue
        raise ValidationError(
            '%s: cannot parse requirement %r; use key=value, key!=value, key in (a,b), key notin (a), key or !key'
            % (field, part), field=field)
    return reqs


def is_qualified_name(key):
    """True when ``key`` is a valid label or annotation key: ``[prefix/]name`` with a DNS-subdomain
    prefix of at most 253 characters and a name of at most 63 (apimachinery
    ``validation.IsQualifiedName``)."""
    if not isinstance(key, str) or not _LABEL_KEY_RE.match(key):
        return False
    prefix, _sep, name = key.rpartition('/')
    return len(name) <= 63 and len(prefix) <= 253


def _check_key(key, field):
    if not is_qualified_name(key or ''):
        raise ValidationError('%s: %r is not a valid label key' % (field, key), field=field)


def _check_value(value, field):
    if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        raise ValidationError('%s: %r is not a valid label value' % (field, value), field=field)


def selector_matches(requirements, labels):
    """True when ``labels`` (dict) satisfies every requirement from :func:`parse_label_selector`."""
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == '=' and not (present and value == values[0]):
            return False
        if op == '!=' and present and value == values[0]:
            return False
        if op == 'in' and not (present and value in values):
            return False
        if op == 'notin' and present and value in values:
            return False
        if op == 'exists' and not present:
            return False
        if op == '!' and present:
            return False
    return True


def validate_selection(namespaces, namespace_selector, exclude_namespaces, required=True):
    """Validate the selection options without any API call.

    :returns: the parsed selector requirements.
    :raises ValidationError: no selection at all (when ``required``), a literal name that is
        not a valid namespace name, or a bad selector.
    """
    if required and not namespaces and namespace_selector in (None, '', {}):
        raise ValidationError(
            'no namespaces selected: set namespaces (names or globs, "*" for all) and/or namespace_selector',
            field='namespaces')
    for entry in namespaces or []:
        if not entry or not isinstance(entry, str):
            raise ValidationError('namespaces: empty entry', field='namespaces')
        if not is_glob(entry) and not _NS_NAME_RE.match(entry):
            raise ValidationError(
                'namespaces: %r is neither a valid namespace name (RFC 1123 label) nor a glob' % entry,
                field='namespaces')
    for entry in exclude_namespaces or []:
        if not entry or not isinstance(entry, str):
            raise ValidationError('exclude_namespaces: empty entry', field='exclude_namespaces')
    return parse_label_selector(namespace_selector)


def _matches_any(name, globs):
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def select_namespaces(cluster_namespaces, namespaces=None, namespace_selector=None,
                      exclude_namespaces=None):
    """Resolve a selection against the namespaces of a cluster (pure).

    :param cluster_namespaces: list of namespace objects as dicts (``metadata.name``,
        ``metadata.labels``, ``status.phase``), as returned by one LIST.
    :param namespaces: names or globs; ``'*'`` for all. None/empty = every namespace
        (then ``namespace_selector`` must narrow it).
    :param namespace_selector: label selector string or dict.
    :param exclude_namespaces: globs applied to glob/selector matches, never to literal names.
    :returns: dict ``{'selected': [sorted names], 'missing': [literal names not in the cluster],
        'terminating': [names left out because they are being deleted (phase Terminating),
        literal names included]}``.
    :raises ValidationError: on bad input (see :func:`validate_selection`).
    """
    reqs = validate_selection(namespaces, namespace_selector, exclude_namespaces, required=True)
    by_name = {}
    for ns in cluster_namespaces:
        meta = ns.get('metadata') or {}
        by_name[meta.get('name')] = ns
    literals = [n for n in (namespaces or []) if not is_glob(n)]
    globs = [n for n in (namespaces or []) if is_glob(n)]
    excludes = list(exclude_namespaces or [])
    selected = set()
    terminating = set()
    missing = [n for n in literals if n not in by_name]
    for name, ns in by_name.items():
        meta = ns.get('metadata') or {}
        if reqs and not selector_matches(reqs, meta.get('labels') or {}):
            continue
        if name in literals:
            wanted = True  # literal names are never excluded
        else:
            wanted = (_matches_any(name, globs) if namespaces else True) and not _matches_any(name, excludes)
        if not wanted:
            continue
        if (ns.get('status') or {}).get('phase') == 'Terminating':
            # Being deleted: the API refuses new objects there. Callers decide whether a
            # literal name in this list is an error (state=present) or nothing to do.
            terminating.add(name)
        else:
            selected.add(name)
    return {'selected': sorted(selected), 'missing': sorted(missing), 'terminating': sorted(terminating)}


def resolve_namespaces(kube, namespaces=None, namespace_selector=None, exclude_namespaces=None):
    """Resolve a selection on a live cluster with one LIST of namespaces.

    :param kube: a ``_k8s.KubeClient``.
    :returns: the dict of :func:`select_namespaces`.
    :raises ValidationError: bad input (raised before any request).
    :raises KubernetesAPIError: the LIST failed (e.g. 403 names verb list on namespaces).
    """
    validate_selection(namespaces, namespace_selector, exclude_namespaces)
    items = kube.list_all('namespaces', kube.core.list_namespace)
    return select_namespaces(items, namespaces, namespace_selector, exclude_namespaces)


class NamespaceScope(object):
    """Where a run reads: one cluster-wide LIST per resource, or, in namespaced mode, one LIST per
    listed namespace.

    :meth:`resolve` tries the cluster-wide LIST of namespaces first. When RBAC denies it and the
    selection is a literal list of names (no glob, no ``namespace_selector``), the scope switches to
    namespaced mode, for credentials bound with RoleBindings in some namespaces only: each listed
    namespace is read with a GET (existence, phase), :meth:`list` reads a resource with one LIST per
    selected namespace, and the runner's ``warn`` says so. Never one read per object.
    """

    def __init__(self, kube, namespaces=None, namespace_selector=None, exclude_namespaces=None, warn=None):
        self.kube = kube
        self.namespaces = namespaces
        self.namespace_selector = namespace_selector
        self.exclude_namespaces = exclude_namespaces
        self.warn = warn or (lambda msg: None)
        self.namespaced = False
        self.selection = None

    def resolve(self):
        """Resolve the selection. :returns: the dict of :func:`select_namespaces`.

        :raises ValidationError: bad input (before any request).
        :raises KubernetesAPIError: the LIST failed for another reason than RBAC, or RBAC denied it and
            the selection has globs or a selector (the message says why and what to do), or namespaced
            mode cannot read a listed namespace.
        """
        validate_selection(self.namespaces, self.namespace_selector, self.exclude_namespaces)
        kube = self.kube
        try:
            items = kube.list_all('namespaces', kube.core.list_namespace)
        except KubernetesAPIError as exc:
            if exc.status != 403 or exc.reason != 'Forbidden':
                raise
            items = self._namespaced()
        self.selection = select_namespaces(items, self.namespaces, self.namespace_selector, self.exclude_namespaces)
        return self.selection

    def _namespaced(self):
        literals = [n for n in (self.namespaces or []) if not is_glob(n)]
        patterns = [n for n in (self.namespaces or []) if is_glob(n)]
        if patterns or self.namespace_selector not in (None, '', {}):
            what = []
            if patterns:
                what.append('namespaces has glob(s) %s' % ', '.join(patterns))
            if self.namespace_selector not in (None, '', {}):
                what.append('namespace_selector is set')
            raise KubernetesAPIError(
                'forbidden: %s, which needs a cluster-wide LIST of namespaces, and the credentials cannot list '
                'namespaces cluster-wide. To run with rights in some namespaces only (RoleBindings), list those '
                'namespaces by name in namespaces, without globs or namespace_selector. Otherwise: %s'
                % (' and '.join(what), missing_rule_advice('list', 'namespaces')),
                status=403, reason='Forbidden', verb='list', resource='namespaces')
        kube = self.kube
        items = []
        for name in literals:
            try:
                items.append(kube.call('get', 'namespaces', kube.core.read_namespace, name=name))
            except NotFoundError:
                continue
            except KubernetesAPIError as exc:
                if exc.status != 403:
                    raise
                raise KubernetesAPIError(
                    'forbidden: the credentials cannot list namespaces cluster-wide, and cannot get namespaces in '
                    'namespace %s (with rights in some namespaces only, each listed namespace is read with a GET). '
                    'Add the rule %s to a ClusterRole bound with a ClusterRoleBinding (one LIST for every namespace), '
                    'or the rule %s to a Role in namespace %s (or a ClusterRole bound there with a RoleBinding) for '
                    'namespaced mode; the rights of every module are listed in docs/reliability.md, as manifests in '
                    'docs/rbac/.' % (name, rbac_rule('list', 'namespaces'), rbac_rule('get', 'namespaces'), name),
                    status=403, reason='Forbidden', verb='get', resource='namespaces', namespace=name)
        self.namespaced = True
        self.warn('namespaced mode: these credentials may not list namespaces cluster-wide, so each of the %d '
                  'listed namespace(s) is read on its own (a GET of the namespace and one LIST per resource in '
                  'it, instead of one cluster-wide LIST per resource)' % len(literals))
        return items

    def list(self, resource, cluster_func, namespaced_func, **kwargs):
        """Every object of ``resource`` in the selected namespaces' scope: one cluster-wide LIST
        (``cluster_func``), or in namespaced mode one LIST per selected namespace (``namespaced_func``,
        which takes ``namespace``). Cluster-wide, objects of other namespaces are included; callers
        filter by namespace as they do today."""
        if not self.namespaced:
            return self.kube.list_all(resource, cluster_func, **kwargs)
        items = []
        for name in self.selection['selected']:
            items.extend(self.kube.list_all(resource, namespaced_func, namespace=name, **kwargs))
        return items


def require_literal_namespaces(selection, namespaces):
    """Refuse a write run whose literally listed namespaces cannot take writes.

    :param selection: the dict of :func:`select_namespaces` / :func:`resolve_namespaces`.
    :param namespaces: the ``namespaces`` option (names or globs).
    :raises ValidationError: (field ``namespaces``) naming the literal namespaces that do not
        exist or are being deleted, before anything is written anywhere.
    """
    literals = set(n for n in (namespaces or []) if not is_glob(n))
    missing = [n for n in selection['missing'] if n in literals]
    terminating = [n for n in selection['terminating'] if n in literals]
    problems = []
    if missing:
        problems.append('%s listed by name but not found in the cluster (create them first or remove them '
                        'from namespaces)' % ', '.join(missing))
    if terminating:
        problems.append('%s listed by name but being deleted (phase Terminating; the API server refuses new '
                        'objects there)' % ', '.join(terminating))
    if problems:
        raise ValidationError('namespaces: ' + '; '.join(problems), field='namespaces',
                              missing_namespaces=missing, terminating_namespaces=terminating)


def validate_metadata(labels=None, annotations=None):
    """Check label keys/values and annotation keys the way the API server will, before any write.

    :param labels: dict of label key -> value (str), or None.
    :param annotations: dict of annotation key -> value, or None (values are free text).
    :raises ValidationError: (field ``labels`` or ``annotations``) naming the bad key or value.
    """
    for key, value in (labels or {}).items():
        _check_key(key, 'labels')
        _check_value('' if value is None else str(value), 'labels')
    for key in (annotations or {}):
        _check_key(key, 'annotations')
