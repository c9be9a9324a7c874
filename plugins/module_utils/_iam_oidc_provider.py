# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner and runner of the iam_oidc_provider module. Private to this collection.

Flow: validate (no network) -> find the provider by its URL (one ListOpenIDConnectProviders,
one GetOpenIDConnectProvider) -> plan (pure: :func:`plan_provider`) -> apply the few IAM calls
the plan names. Ownership: a provider this collection creates carries the tag
``app.kubernetes.io/managed-by=registrylink.k8s``; one without it is never deleted or
reduced (client IDs, tags, thumbprints) unless ``force`` is set.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _aws
from ansible_collections.registrylink.k8s.plugins.module_utils._common import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._module import Runner

_THUMBPRINT_RE = re.compile(r'^[0-9a-fA-F]{40}$')
_URL_RE = re.compile(r'^https://([A-Za-z0-9.-]+(:\d+)?)(/[A-Za-z0-9._~%!$&\'()*+,;=:@/-]*)?$')


def normalize_url(url):
    """``(url, identifier)`` of an OIDC issuer URL: ``https://host/path`` without a trailing slash,
    and ``host/path`` (how IAM names the provider in its ARN). Raises ValidationError(field='url')."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError('url: the OIDC issuer URL is required (for EKS: aws eks describe-cluster --name '
                              '<cluster> --query cluster.identity.oidc.issuer)', field='url')
    url = url.strip().rstrip('/')
    m = _URL_RE.match(url)
    if not m:
        raise ValidationError('url: %r is not an https:// issuer URL without query or fragment '
                              '(for example https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE)' % url, field='url')
    ident = url[len('https://'):]
    host, rest = (ident.split('/', 1) + [''])[:2]
    ident = host.lower() + ('/' + rest if rest else '')
    return 'https://' + ident, ident


def validate_params(params):
    """Check the module's parameters (no network); returns a normalised dict."""
    url, ident = normalize_url(params.get('url'))
    _aws.check_options(region=params.get('region'), endpoint_url=params.get('endpoint_url'))
    client_ids = params.get('client_ids')
    if client_ids is None:
        client_ids = []
    for cid in client_ids:
        if not isinstance(cid, str) or not cid.strip() or len(cid) > 255:
            raise ValidationError('client_ids: %r is not a client ID (1 to 255 characters)' % (cid,),
                                  field='client_ids')
    thumbprints = params.get('thumbprints')
    if thumbprints is not None:
        if len(thumbprints) > 5:
            raise ValidationError('thumbprints: IAM accepts at most 5', field='thumbprints')
        for tp in thumbprints:
            if not isinstance(tp, str) or not _THUMBPRINT_RE.match(tp):
                raise ValidationError('thumbprints: %r is not a SHA-1 fingerprint (40 hex digits)' % (tp,),
                                      field='thumbprints')
        thumbprints = sorted(set(tp.lower() for tp in thumbprints))
    tags = params.get('tags') or {}
    for key, value in tags.items():
        if not isinstance(value, str):
            raise ValidationError('tags: the value of %r must be a string (quote it in YAML)' % key, field='tags')
    if tags.get(MANAGED_BY_LABEL, MANAGED_BY_VALUE) != MANAGED_BY_VALUE:
        raise ValidationError('tags: %s is set by this collection and cannot be overridden' % MANAGED_BY_LABEL,
                              field='tags')
    return {
        'url': url, 'ident': ident, 'state': params.get('state') or 'present',
        'client_ids': sorted(set(c.strip() for c in client_ids)), 'thumbprints': thumbprints, 'tags': dict(tags),
        'purge_client_ids': bool(params.get('purge_client_ids')), 'purge_tags': bool(params.get('purge_tags')),
        'force': bool(params.get('force')),
    }


def view(current):
    """The comparable, secret-free view of a provider (``{}`` when absent)."""
    if not current:
        return {}
    return {'url': current['url'], 'client_ids': sorted(current['client_ids']),
            'thumbprints': sorted(current['thumbprints']), 'tags': dict(sorted(current['tags'].items()))}


def plan_provider(current, desired):
    """Decide what to do (pure).

    :param current: ``{url, client_ids, thumbprints, tags}`` of the existing provider, or None.
    :param desired: the dict of :func:`validate_params`.
    :returns: dict ``action`` (create, update, unchanged, delete, absent, kept, conflict), ``reason``,
        ``ops`` (list of ``(operation, argument)``), ``before``, ``after``.
    """
    plan = {'action': None, 'reason': None, 'ops': [], 'before': view(current), 'after': {}}
    managed = bool(current) and current['tags'].get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
    if desired['state'] == 'absent':
        if not current:
            plan['action'] = 'absent'
        elif not managed and not desired['force']:
            plan['action'] = 'kept'
            plan['reason'] = ('OIDC provider %s was not created by registrylink.k8s (no tag %s=%s); left in place '
                              '(force=true deletes it)' % (desired['ident'], MANAGED_BY_LABEL, MANAGED_BY_VALUE))
            plan['after'] = plan['before']
        else:
            plan['action'] = 'delete'
            plan['ops'] = [('delete', None)]
        return plan

    if not current:
        tags = dict(desired['tags'])
        tags[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
        after = {'url': desired['url'], 'client_ids': desired['client_ids'],
                 'thumbprints': desired['thumbprints'] or [], 'tags': dict(sorted(tags.items()))}
        plan.update(action='create', after=after, ops=[('create', after)])
        return plan

    client_ids = set(current['client_ids'])
    add_ids = sorted(set(desired['client_ids']) - client_ids)
    remove_ids = sorted(client_ids - set(desired['client_ids'])) if desired['purge_client_ids'] else []
    thumbprints = sorted(current['thumbprints'])
    new_thumbprints = desired['thumbprints'] if desired['thumbprints'] is not None else thumbprints
    owned = managed or desired['force']
    want_tags = dict((k, v) for k, v in desired['tags'].items() if k != MANAGED_BY_LABEL)
    if owned:
        want_tags[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    set_tags = dict((k, v) for k, v in want_tags.items() if current['tags'].get(k) != v)
    untag = []
    if desired['purge_tags']:
        untag = sorted(k for k in current['tags'] if k not in want_tags)
    if not owned and set_tags and not untag:
        # someone else's provider: no tags of ours (state=absent could not take them back)
        plan['reason'] = ('OIDC provider %s was not created by registrylink.k8s (no tag %s=%s); its tags are left '
                          'as they are (force=true sets them)' % (desired['ident'], MANAGED_BY_LABEL, MANAGED_BY_VALUE))
        set_tags = {}
    destructive = []
    if remove_ids:
        destructive.append('remove client IDs %s' % ', '.join(remove_ids))
    if new_thumbprints != thumbprints and not set(new_thumbprints) >= set(thumbprints):
        destructive.append('replace the thumbprints')
    if untag:
        destructive.append('remove tags %s' % ', '.join(untag))
    if destructive and not managed and not desired['force']:
        plan['action'] = 'conflict'
        plan['reason'] = ('OIDC provider %s was not created by registrylink.k8s (no tag %s=%s); this task would %s: '
                          'set force=true to allow it' % (desired['ident'], MANAGED_BY_LABEL, MANAGED_BY_VALUE,
                                                          '; '.join(destructive)))
        return plan
    ops = [('add_client_id', c) for c in add_ids] + [('remove_client_id', c) for c in remove_ids]
    if new_thumbprints != thumbprints:
        ops.append(('thumbprints', new_thumbprints))
    if set_tags:
        ops.append(('tag', set_tags))
    if untag:
        ops.append(('untag', untag))
    tags = dict((k, v) for k, v in current['tags'].items() if k not in untag)
    tags.update(set_tags)
    after = {'url': current['url'], 'client_ids': sorted((client_ids | set(add_ids)) - set(remove_ids)),
             'thumbprints': new_thumbprints, 'tags': dict(sorted(tags.items()))}
    plan.update(action='update' if ops else 'unchanged', ops=ops, after=after)
    return plan


class OidcProviderRunner(Runner):
    """Apply iam_oidc_provider. ``iam`` (a boto3 IAM client) and ``sts`` may be injected by tests."""

    def __init__(self, params, check_mode=False, diff=False, warn=None, register_secret=None, iam=None, sts=None):
        super(OidcProviderRunner, self).__init__(params, check_mode, diff, warn, register_secret)
        self.iam = iam
        self.sts = sts

    def _clients(self):
        if self.iam is None or self.sts is None:
            sess = _aws.session(region=self.params.get('region'), profile=self.params.get('profile'),
                                what='iam_oidc_provider')
            endpoint = self.params.get('endpoint_url')
            if self.iam is None:
                self.iam = _aws.client(sess, 'iam', endpoint_url=endpoint)
            if self.sts is None:
                self.sts = _aws.client(sess, 'sts', endpoint_url=endpoint)

    def find(self, ident):
        """The ARN of the provider for ``ident`` (``host/path``), or None (one List call)."""
        resp = _aws.call('IAM ListOpenIDConnectProviders', self.iam.list_open_id_connect_providers)
        for item in resp.get('OpenIDConnectProviderList') or []:
            arn = item.get('Arn') or ''
            if arn.split(':oidc-provider/', 1)[-1].lower() == ident.lower():
                return arn
        return None

    def read(self, arn):
        resp = _aws.call('IAM GetOpenIDConnectProvider %s' % arn, self.iam.get_open_id_connect_provider,
                         OpenIDConnectProviderArn=arn)
        url = resp.get('Url') or ''
        if not url.startswith('https://'):
            url = 'https://' + url
        return {'url': url, 'client_ids': list(resp.get('ClientIDList') or []),
                'thumbprints': sorted(t.lower() for t in resp.get('ThumbprintList') or []),
                'tags': dict((t['Key'], t['Value']) for t in resp.get('Tags') or [])}

    def arn_for(self, ident):
        ident_resp = _aws.call('STS GetCallerIdentity', self.sts.get_caller_identity)
        partition = (ident_resp.get('Arn') or 'arn:aws:').split(':')[1] or 'aws'
        return 'arn:%s:iam::%s:oidc-provider/%s' % (partition, ident_resp['Account'], ident)

    def run(self):
        desired = validate_params(self.params)
        self._clients()
        arn = self.find(desired['ident'])
        current = self.read(arn) if arn else None
        plan = plan_provider(current, desired)
        if plan['action'] == 'conflict':
            raise RegistryLinkError(plan['reason'], arn=arn, url=desired['url'])
        if plan['action'] in ('kept', 'unchanged', 'update') and plan['reason']:
            self.warn(plan['reason'])
        if arn is None and plan['action'] == 'create':
            arn = self.arn_for(desired['ident']) if self.check_mode else None
        if not self.check_mode:
            arn = self.apply(arn, plan) or arn
        state = plan['after']
        done = {'create': 'created', 'update': 'updated', 'delete': 'deleted'}
        result = {
            'changed': plan['action'] in ('create', 'update', 'delete'),
            'action': done.get(plan['action'], plan['action']),
            'arn': arn if plan['action'] not in ('absent',) else None,
            'url': desired['url'],
            'managed': bool(state) and state.get('tags', {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE,
            'client_ids': state.get('client_ids', []),
            'thumbprints': state.get('thumbprints', []),
            'tags': state.get('tags', {}),
        }
        if result['changed']:
            result['diff'] = {'before': plan['before'], 'after': state if plan['action'] != 'delete' else {}}
        return result

    def apply(self, arn, plan):
        iam = self.iam
        for op, arg in plan['ops']:
            if op == 'create':
                kwargs = {'Url': arg['url'], 'ClientIDList': arg['client_ids'],
                          'Tags': [{'Key': k, 'Value': v} for k, v in sorted(arg['tags'].items())]}
                if arg['thumbprints']:
                    kwargs['ThumbprintList'] = arg['thumbprints']
                resp = _aws.call('IAM CreateOpenIDConnectProvider %s' % arg['url'],
                                 iam.create_open_id_connect_provider, **kwargs)
                arn = resp['OpenIDConnectProviderArn']
            elif op == 'delete':
                _aws.call('IAM DeleteOpenIDConnectProvider %s' % arn, iam.delete_open_id_connect_provider,
                          OpenIDConnectProviderArn=arn)
            elif op == 'add_client_id':
                _aws.call('IAM AddClientIDToOpenIDConnectProvider', iam.add_client_id_to_open_id_connect_provider,
                          OpenIDConnectProviderArn=arn, ClientID=arg)
            elif op == 'remove_client_id':
                _aws.call('IAM RemoveClientIDFromOpenIDConnectProvider',
                          iam.remove_client_id_from_open_id_connect_provider, OpenIDConnectProviderArn=arn, ClientID=arg)
            elif op == 'thumbprints':
                _aws.call('IAM UpdateOpenIDConnectProviderThumbprint', iam.update_open_id_connect_provider_thumbprint,
                          OpenIDConnectProviderArn=arn, ThumbprintList=arg)
            elif op == 'tag':
                _aws.call('IAM TagOpenIDConnectProvider', iam.tag_open_id_connect_provider,
                          OpenIDConnectProviderArn=arn, Tags=[{'Key': k, 'Value': v} for k, v in sorted(arg.items())])
            elif op == 'untag':
                _aws.call('IAM UntagOpenIDConnectProvider', iam.untag_open_id_connect_provider,
                          OpenIDConnectProviderArn=arn, TagKeys=arg)
        return arn
