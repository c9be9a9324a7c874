# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the registry_secret module. Private to this collection.

Flow: validate every input (no network) -> resolve the namespace selection (1 LIST) ->
read the named Secret in every namespace (1 LIST across namespaces with a field selector)
-> plan per namespace (pure: :func:`plan_namespace`) -> refuse the whole run if any
namespace needs ``force`` -> apply with bounded concurrency -> per-namespace results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from ansible_collections.registrylink.k8s.plugins.module_utils._bulk import run_bounded, summarize
from ansible_collections.registrylink.k8s.plugins.module_utils._common import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    content_hash,
    format_rfc3339,
    is_managed,
)
from ansible_collections.registrylink.k8s.plugins.module_utils import _dockerconfig as dc
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import (
    ConflictError,
    NotFoundError,
    RegistryLinkError,
    ValidationError,
)
from ansible_collections.registrylink.k8s.plugins.module_utils._k8s import KubeClient, retry_on_conflict
from ansible_collections.registrylink.k8s.plugins.module_utils._namespaces import resolve_namespaces, validate_selection

TYPE_DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson'
TYPE_DOCKERCFG = 'kubernetes.io/dockercfg'
DATA_KEYS = {TYPE_DOCKERCONFIGJSON: '.dockerconfigjson', TYPE_DOCKERCFG: '.dockercfg'}
EXPIRES_AT_ANNOTATION = 'registrylink.k8s/expires-at'
_DNS_SUBDOMAIN_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


class DesiredSecret(object):
    """What the task asks for, validated. Holds credentials: never return or log it.

    ``config``: the docker config dict to write (``{"auths": {...}}``, or the legacy map);
    ``servers``: the sorted normalised registry keys; ``expires_at``: aware datetime of the
    earliest provider-minted credential, or None for static credentials.
    """

    def __init__(self, name, secret_type, config, servers, labels, annotations, expires_at=None):
        self.name = name
        self.type = secret_type
        self.config = config
        self.servers = servers
        self.labels = labels
        self.annotations = annotations
        self.expires_at = expires_at


def validate_params(params, warn=None):
    """Validate the module's parameters without any network access (pure).

    :param params: the module params dict.
    :param warn: callable receiving warning strings (never secrets).
    :returns: a DesiredSecret, or None for state=absent.
    :raises ValidationError: naming the field and the fix.
    """
    warn = warn or (lambda msg: None)
    name = params.get('name') or ''
    if len(name) > 253 or not _DNS_SUBDOMAIN_RE.match(name):
        raise ValidationError('name: %r is not a valid Secret name (lowercase RFC 1123 subdomain, at most 253 characters)'
                              % name, field='name')
    validate_selection(params.get('namespaces'), params.get('namespace_selector'), params.get('exclude_namespaces'))
    if params.get('max_concurrent_writes') is not None and params['max_concurrent_writes'] < 1:
        raise ValidationError('max_concurrent_writes must be at least 1', field='max_concurrent_writes')
    for field in ('labels', 'annotations'):
        for key, value in (params.get(field) or {}).items():
            if not isinstance(value, str):
                raise ValidationError('%s: the value of %r must be a string (quote it in YAML)' % (field, key), field=field)
    labels = dict(params.get('labels') or {})
    if labels.get(MANAGED_BY_LABEL, MANAGED_BY_VALUE) != MANAGED_BY_VALUE:
        raise ValidationError('labels: %s is set by this collection and cannot be overridden' % MANAGED_BY_LABEL,
                              field='labels')
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    if params.get('state') == 'absent':
        return None

    secret_type = params.get('type') or TYPE_DOCKERCONFIGJSON
    entries = []
    imported = []
    if params.get('docker_config') not in (None, '', {}):
        imported, warnings = dc.parse_docker_config(params['docker_config'])
        for w in warnings:
            warn(w)
    static_entries = []
    for index, reg in enumerate(params.get('registries') or []):
        entry, warnings = _entry_from_registry(index, reg)
        for w in warnings:
            warn(w)
        static_entries.append(entry)
    # registries win over docker_config for the same key; duplicates inside registries are an error.
    declared_keys = {}
    for entry in static_entries:
        key = dc.entry_key(entry)
        if key in declared_keys:
            raise ValidationError(
                'registries: %r and %r both normalise to the registry key %r; list each registry once'
                % (declared_keys[key], dc.entry_server(entry), key), field='registries')
        declared_keys[key] = dc.entry_server(entry)
    entries = [e for e in imported if dc.entry_key(e) not in declared_keys] + static_entries
    if not entries:
        raise ValidationError('state=present needs at least one registry: set registries and/or docker_config',
                              field='registries')
    config = dc.build_config(entries, legacy=(secret_type == TYPE_DOCKERCFG))
    servers = sorted(dc.entry_key(e) for e in entries)
    annotations = dict(params.get('annotations') or {})
    return DesiredSecret(name, secret_type, config, servers, labels, annotations)


def _entry_from_registry(index, reg):
    try:
        return dc.entry_from_params(reg)
    except ValidationError as exc:
        raise ValidationError('registries[%d]: %s' % (index, exc.msg), field='registries')



def _decode(secret):
    """Decode an existing Secret's docker config; returns (config or None, error message or None)."""
    stype = secret.get('type')
    data = secret.get('data') or {}
    key = DATA_KEYS.get(stype)
    if key is None:
        return None, 'type %s' % stype
    raw = data.get(key)
    if raw is None:
        return None, 'no %s key' % key
    try:
        return dc.decode_secret(stype, data), None
    except (ValidationError, ValueError) as exc:
        return None, str(getattr(exc, 'msg', exc))


def describe(secret_type, config, labels=None, annotations=None):
    """A secret-free view of a docker config for diffs and results.

    :returns: dict with ``type``, ``servers`` (key -> username and redacted markers),
        ``content_hash`` (fingerprint of the serialised config), and the given labels/annotations.
    """
    if config is None:
        return {}
    view = {'type': secret_type, 'servers': dc.redacted_view(config),
            'content_hash': content_hash(dc.serialize_config(config))}
    if labels is not None:
        view['labels'] = dict(sorted(labels.items()))
    if annotations is not None:
        view['annotations'] = dict(sorted(annotations.items()))
    return view


def plan_namespace(namespace, existing, desired, state, merge=False, force=False):
    """Decide what to do in one namespace (pure).

    :param existing: the current Secret as a dict (from the API), or None.
    :param desired: DesiredSecret (state=present) or None.
    :returns: dict ``{namespace, action, reason, body, before, after}``; ``action`` is one of
        create, update, recreate, unchanged, delete, absent, conflict. ``body`` is the object to write
        (holds credentials: never returned). ``before``/``after`` are secret-free views.
    """
    plan = {'namespace': namespace, 'action': None, 'reason': None, 'body': None,
            'before': {}, 'after': {}}
    managed = existing is not None and is_managed(existing.get('metadata'))
    if existing is not None:
        meta = existing.get('metadata') or {}
        current_config, _err = _decode(existing)
        plan['before'] = describe(existing.get('type'), current_config, meta.get('labels') or {},
                                  meta.get('annotations') or {}) or {'type': existing.get('type')}
    if state == 'absent':
        if existing is None:
            plan['action'] = 'absent'
        elif not managed and not force:
            plan['action'] = 'conflict'
            plan['reason'] = ('secret exists but was not created by registrylink.k8s (no label %s=%s); '
                              'set force=true to delete it' % (MANAGED_BY_LABEL, MANAGED_BY_VALUE))
        else:
            plan['action'] = 'delete'
        return plan

    if existing is None:
        plan['action'] = 'create'
        plan['body'] = _body(namespace, desired, None)
        plan['after'] = describe(desired.type, desired.config, desired.labels, _annotations(desired, {}))
        return plan

    meta = existing.get('metadata') or {}
    if not managed and not force:
        plan['action'] = 'conflict'
        plan['reason'] = ('secret exists but was not created by registrylink.k8s (no label %s=%s); '
                          'set force=true to take it over' % (MANAGED_BY_LABEL, MANAGED_BY_VALUE))
        return plan
    if existing.get('type') != desired.type:
        if not force:
            plan['action'] = 'conflict'
            plan['reason'] = ('secret exists with type %s, not %s; the API forbids changing the type in place: '
                              'set force=true to delete and recreate it' % (existing.get('type'), desired.type))
            return plan
        plan['action'] = 'recreate'
        plan['body'] = _body(namespace, desired, None)
        plan['after'] = describe(desired.type, desired.config, desired.labels, _annotations(desired, {}))
        return plan

    current_config, _err = _decode(existing)
    config = desired.config
    if merge and current_config is not None:
        config = dc.merge_configs(current_config, desired.config, merge=True)
    labels = dict(meta.get('labels') or {})
    labels.update(desired.labels)
    annotations = _annotations(desired, meta.get('annotations') or {})
    same_content = current_config is not None and dc.canonical(current_config) == dc.canonical(config)
    same_meta = labels == (meta.get('labels') or {}) and annotations == (meta.get('annotations') or {})
    if same_content and same_meta:
        plan['action'] = 'unchanged'
        plan['after'] = plan['before']
        return plan
    effective = DesiredSecret(desired.name, desired.type, config, desired.servers, labels, annotations,
                              desired.expires_at)
    plan['action'] = 'update'
    plan['body'] = _body(namespace, effective, existing)
    plan['after'] = describe(desired.type, config, labels, annotations)
    return plan


def _annotations(desired, current):
    annotations = dict(current)
    annotations.update(desired.annotations)
    if desired.expires_at is not None:
        annotations[EXPIRES_AT_ANNOTATION] = format_rfc3339(desired.expires_at)
    return annotations


def _body(namespace, desired, existing):
    meta = {'name': desired.name, 'namespace': namespace}
    if existing is not None:
        old = existing.get('metadata') or {}
        meta['resourceVersion'] = old.get('resourceVersion')
        meta['labels'] = dict(desired.labels)
        meta['annotations'] = dict(desired.annotations)
    else:
        meta['labels'] = dict(desired.labels)
        meta['annotations'] = _annotations(desired, {})
    payload = dc.serialize_config(desired.config)
    return {
        'apiVersion': 'v1',
        'kind': 'Secret',
        'metadata': meta,
        'type': desired.type,
        'data': {DATA_KEYS[desired.type]: base64.b64encode(payload).decode('ascii')},
    }



class RegistrySecretRunner(object):
    """Apply registry_secret across a namespace selection; see the module docs for the contract."""

    def __init__(self, params, check_mode=False, warn=None, kube=None):
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.kube = kube

    def run(self):
        """Validate, plan and apply. :returns: the module result dict (never holds a secret)."""
        params = self.params
        state = params.get('state') or 'present'
        desired = validate_params(params, warn=self.warn)
        self._desired = desired
        if self.kube is None:
            self.kube = KubeClient.from_params(params, pool_size=params.get('max_concurrent_writes') or 16)
        kube = self.kube
        selection = resolve_namespaces(kube, params.get('namespaces'), params.get('namespace_selector'),
                                       params.get('exclude_namespaces'))
        if selection['missing'] and state == 'present':
            raise ValidationError(
                'namespaces: %s listed by name but not found in the cluster; create them first or remove them '
                'from namespaces' % ', '.join(selection['missing']), field='namespaces',
                missing_namespaces=selection['missing'])
        namespaces = selection['selected']
        secrets = kube.list_all('secrets', kube.core.list_secret_for_all_namespaces,
                                field_selector='metadata.name=%s' % params['name'])
        existing_by_ns = dict(((s.get('metadata') or {}).get('namespace'), s) for s in secrets)
        plans = [plan_namespace(ns, existing_by_ns.get(ns), desired, state, merge=params.get('merge'),
                                force=params.get('force'))
                 for ns in namespaces]
        conflicts = [p for p in plans if p['action'] == 'conflict']
        if conflicts:
            results = [self._result(p, failed=(p['action'] == 'conflict'), skipped=(p['action'] != 'conflict'))
                       for p in plans]
            raise RegistryLinkError(
                'nothing was changed: %d namespace(s) need force=true: %s' % (
                    len(conflicts), '; '.join('%s: %s' % (p['namespace'], p['reason']) for p in conflicts[:10])),
                results=results, summary=summarize(results), failed_namespaces=[p['namespace'] for p in conflicts])

        outcomes = {}
        if not self.check_mode:
            to_write = [p for p in plans if p['action'] in ('create', 'update', 'recreate', 'delete')]
            for plan, _res, exc in run_bounded(self._apply, to_write, params.get('max_concurrent_writes') or 16):
                if exc is not None:
                    outcomes[plan['namespace']] = exc
        results = []
        for plan in plans:
            exc = outcomes.get(plan['namespace'])
            results.append(self._result(plan, error=exc))
        failed = [r['namespace'] for r in results if r['action'] == 'failed']
        changed = any(r['action'] in ('created', 'updated', 'deleted') for r in results)
        result = {
            'changed': changed,
            'results': results,
            'summary': summarize(results),
            'servers': desired.servers if desired is not None else [],
            'namespaces': namespaces,
        }
        diffs = [{'before_header': '%s/%s' % (p['namespace'], params['name']),
                  'after_header': '%s/%s' % (p['namespace'], params['name']),
                  'before': p['before'], 'after': p['after'] if p['action'] not in ('delete',) else {}}
                 for p in plans if p['action'] not in ('unchanged', 'absent')]
        result['diff'] = diffs
        if failed:
            result['failed'] = True
            result['msg'] = '%d namespace(s) failed: %s' % (len(failed), '; '.join(
                '%s: %s' % (r['namespace'], r.get('msg')) for r in results if r['action'] == 'failed')[:2000])
            result['failed_namespaces'] = failed
        return result

    def _apply(self, plan):
        kube = self.kube
        ns = plan['namespace']
        name = self.params['name']
        action = plan['action']
        if action == 'create':
            kube.call('create', 'secrets', kube.core.create_namespaced_secret, namespace=ns, body=plan['body'])
        elif action == 'update':
            pending = {'body': plan['body']}

            def attempt():
                body = pending.pop('body', None)
                if body is None:
                    # 409: someone wrote in between; re-read and re-plan this one namespace.
                    current = kube.call('get', 'secrets', kube.core.read_namespaced_secret, namespace=ns, name=name)
                    replan = plan_namespace(ns, current, self._desired, 'present',
                                            merge=self.params.get('merge'), force=self.params.get('force'))
                    if replan['action'] != 'update':
                        raise ConflictError('secret changed while being updated: now needs %s' % replan['action'])
                    body = replan['body']
                kube.call('update', 'secrets', kube.core.replace_namespaced_secret, namespace=ns, name=name, body=body)

            retry_on_conflict(attempt)
        elif action == 'recreate':
            kube.call('delete', 'secrets', kube.core.delete_namespaced_secret, namespace=ns, name=name)
            kube.call('create', 'secrets', kube.core.create_namespaced_secret, namespace=ns, body=plan['body'])
        elif action == 'delete':
            try:
                kube.call('delete', 'secrets', kube.core.delete_namespaced_secret, namespace=ns, name=name)
            except NotFoundError:
                pass
        return action


    def _result(self, plan, error=None, failed=False, skipped=False):
        mapping = {'create': 'created', 'update': 'updated', 'recreate': 'updated', 'delete': 'deleted',
                   'unchanged': 'unchanged', 'absent': 'absent', 'conflict': 'failed'}
        res = {'namespace': plan['namespace'], 'name': self.params['name'],
               'action': mapping.get(plan['action'], plan['action']),
               'servers': sorted((plan['after'] or plan['before'] or {}).get('servers', {}).keys())}
        if plan['action'] == 'recreate':
            res['recreated'] = True
        if plan['reason'] and plan['action'] == 'conflict':
            res['msg'] = plan['reason']
        if skipped:
            res['action'] = 'skipped'
        if error is not None:
            res['action'] = 'failed'
            res['msg'] = getattr(error, 'msg', None) or str(error)
        return res

