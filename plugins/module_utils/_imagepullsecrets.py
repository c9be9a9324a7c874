# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge of a ServiceAccount's ``imagePullSecrets`` list (pure). Private to this collection.

The Kubernetes API has no merge strategy for ``ServiceAccount.imagePullSecrets``: a
strategic-merge or JSON-merge patch of the list replaces it whole (
kubernetes/kubernetes#72475). So the list is always read, merged here, and written back
whole with the ``resourceVersion`` it was read at. The rules:

* ``state=present`` appends the named secrets that are not attached yet, in the order given,
  after the existing entries. Existing entries are never removed or reordered.
* ``state=absent`` removes exactly the named entries (every occurrence); the others keep their order.
* ``purge=True`` (``state=present`` only) makes the set of entries exactly the named secrets:
  entries not named are removed, the kept ones keep their order, the missing ones are appended.
* ``keep`` (with ``purge=True``) names patterns (shell globs) of entries a platform controller
  manages, such as OpenShift's ``<ServiceAccount>-dockercfg-<suffix>``: purge leaves them in place.
* ``prune`` names entries to remove as well (references to Secrets that do not exist in the
  namespace; the runner computes them). A name that is also asked for is never pruned.
* Duplicates: an entry already present is never added again. Duplicates that someone else
  put in the list are collapsed (first occurrence kept) only when the list is written anyway
  or when ``purge=True``; a run with nothing to add or remove does not rewrite the list
  just to tidy it, so it stays a no-op.
* Inputs may be plain names or ``{name: ...}`` dicts; both normalise to ``{name: ...}``. A
  ``namespace`` key in an entry is rejected: a pull-secret reference is name-only and the
  Secret must exist in the ServiceAccount's own namespace (pull secret in another namespace).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ValidationError

_DNS_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


def valid_secret_name(name):
    """True when ``name`` is a valid Secret name (lowercase RFC 1123 subdomain, <= 253 chars)."""
    return isinstance(name, str) and 0 < len(name) <= 253 and bool(_DNS_SUBDOMAIN_RE.match(name))


def normalize_names(entries, field='pull_secrets'):
    """Validate and normalise the requested pull secrets to a list of unique names (order kept).

    :param entries: list whose items are names (str) or dicts ``{'name': str}``; None means [].
    :param field: option name used in error messages.
    :returns: list of str, duplicates removed (first occurrence kept).
    :raises ValidationError: an entry with a ``namespace`` key (pull secret in another namespace), another unknown key,
        no name, or a name that is not a valid Secret name.
    """
    names = []
    for index, entry in enumerate(entries or []):
        where = '%s[%d]' % (field, index)
        if isinstance(entry, dict):
            if 'namespace' in entry:
                raise ValidationError(
                    '%s: an image pull secret reference has no namespace: it always names a Secret in the '
                    "ServiceAccount's own namespace, and the API drops the field (so pulls would run "
                    'anonymously). Remove namespace: %r and create the Secret in every target namespace '
                    '(registrylink.k8s.registry_secret does that)' % (where, entry.get('namespace')),
                    field=field)
            unknown = sorted(str(k) for k in entry if k != 'name')
            if unknown:
                raise ValidationError('%s: unknown key(s) %s; an entry is a name or {name: <secret>}'
                                      % (where, ', '.join(unknown)), field=field)
            name = entry.get('name')
        elif isinstance(entry, str):
            name = entry
        else:
            raise ValidationError('%s: expected a Secret name or {name: <secret>}, got %s'
                                  % (where, type(entry).__name__), field=field)
        if isinstance(name, str):
            name = name.strip()
        if not valid_secret_name(name):
            raise ValidationError('%s: %r is not a valid Secret name (lowercase RFC 1123 subdomain, '
                                  'at most 253 characters)' % (where, name), field=field)
        if name not in names:
            names.append(name)
    return names


def entry_name(entry):
    """The name of a live list entry (a dict from the API, or a str); None when it has none."""
    if isinstance(entry, dict):
        name = entry.get('name')
    else:
        name = entry
    return name if isinstance(name, str) and name else None


def entry_names(current):
    """Names of a live ``imagePullSecrets`` list, in order (nameless entries skipped)."""
    return [n for n in (entry_name(e) for e in (current or [])) if n is not None]


def _canonical(entry):
    name = entry_name(entry)
    if isinstance(entry, dict):
        return dict(entry)
    return {'name': name}


def merge_pull_secrets(current, names, state='present', purge=False, prune=None, keep=None):
    """Compute the new ``imagePullSecrets`` list of one ServiceAccount (pure).

    :param current: the live list (dicts ``{'name': ...}``; None means empty).
    :param names: requested names, already normalised by :func:`normalize_names`.
    :param state: ``present`` or ``absent``.
    :param purge: with ``present``, remove every entry that is not in ``names``.
    :param prune: names to remove as well (missing Secrets); ignored for names in ``names``
        when ``state=present``.
    :param keep: shell globs of entries that ``purge`` leaves in place (entries a platform manages).
    :returns: dict ``{'image_pull_secrets': new list of dicts, 'changed': bool,
        'added': [names], 'removed': [names]}``. When nothing is added or removed the list is
        returned unchanged (same entries, same order, duplicates included) and ``changed`` is False.
    :raises ValidationError: unknown state, or purge with state=absent.
    """
    if state not in ('present', 'absent'):
        raise ValidationError('state must be present or absent, got %r' % (state,), field='state')
    if purge and state != 'present':
        raise ValidationError('purge applies to state=present only', field='purge')
    current = [_canonical(e) for e in (current or [])]
    wanted = list(names or [])
    wanted_set = set(wanted)
    prune_set = set(prune or ())
    if state == 'present':
        drop = prune_set - wanted_set
    else:
        drop = wanted_set | prune_set

    kept = []
    removed = []
    for entry in current:
        name = entry_name(entry)
        if name is None:
            # A nameless entry means nothing to the kubelet: purge drops it, otherwise it stays.
            if purge:
                removed.append(None)
            else:
                kept.append(entry)
        elif name in drop or (purge and name not in wanted_set and not _matches(name, keep)):
            removed.append(name)
        else:
            kept.append(entry)
    kept_names = entry_names(kept)
    added = [n for n in wanted if n not in kept_names] if state == 'present' else []
    has_duplicates = len(set(kept_names)) != len(kept_names)
    if not removed and not added and not (purge and has_duplicates):
        return {'image_pull_secrets': current, 'changed': False, 'added': [], 'removed': []}
    # We write anyway: collapse duplicates (first occurrence kept), then append what is missing.
    merged = []
    seen = set()
    for entry in kept:
        name = entry_name(entry)
        if name is not None:
            if name in seen:
                continue
            seen.add(name)
        merged.append(entry)
    merged.extend({'name': n} for n in added)
    removed_names = []
    for name in removed:
        if name is not None and name not in removed_names:
            removed_names.append(name)
    return {'image_pull_secrets': merged, 'changed': merged != current,
            'added': added, 'removed': removed_names}


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns or ())


def platform_patterns(patterns, service_account):
    """The patterns of ``platform_pull_secrets`` for one ServiceAccount: ``{service_account}`` replaced
    by its name (glob characters in the name are escaped)."""
    escaped = re.sub(r'([*?\[])', r'[\1]', service_account)
    return [p.replace('{service_account}', escaped) for p in patterns or ()]


def validate_platform_patterns(patterns, field='platform_pull_secrets'):
    """Refuse a pattern that is empty or has a placeholder other than ``{service_account}``.

    :returns: the list of patterns.
    :raises ValidationError: naming ``field``.
    """
    out = []
    for index, pattern in enumerate(patterns or []):
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValidationError('%s[%d]: empty pattern' % (field, index), field=field)
        rest = pattern.replace('{service_account}', '')
        if '{' in rest or '}' in rest:
            raise ValidationError('%s[%d]: %r has a placeholder other than {service_account}, the only one there is '
                                  '(it stands for the ServiceAccount\'s name)' % (field, index, pattern), field=field)
        out.append(pattern)
    return out
