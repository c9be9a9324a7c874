# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runner of the gke_cluster_info module: who pulls images on a GKE cluster. Private to this collection.

Flow: validate (no network) -> GET the cluster (GKE v1) and its node pools -> the project number
from Resource Manager v3 (``GET /v3/projects/ID`` answers ``name: projects/NUMBER``) when a node
pool uses the Compute Engine default account (``serviceAccount: default`` names
``NUMBER-compute@developer.gserviceaccount.com``) or Workload Identity principals are asked for
(their path holds the project NUMBER, their pool name the project ID) -> the pure description
(:func:`describe_node_pools`, :func:`workload_identity_problems`, :func:`workload_principals`).
Reads only; nothing is ever written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.registrylink.k8s.plugins.module_utils import _gcp
from ansible_collections.registrylink.k8s.plugins.module_utils._errors import ProviderError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._gcp_iam_member import DEFAULT_ENDPOINTS
from ansible_collections.registrylink.k8s.plugins.module_utils._gcp_iam_member import _LOCATION_RE as LOCATION_RE
from ansible_collections.registrylink.k8s.plugins.module_utils._gcp_iam_member import _PROJECT_RE as PROJECT_RE

#: GKE cluster names: 1 to 40 lowercase letters, digits and hyphens, a letter first, no hyphen last
CLUSTER_RE = re.compile(r'^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$')
#: Kubernetes names of a namespace (DNS label) and a ServiceAccount (DNS subdomain)
NAMESPACE_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
KSA_RE = re.compile(r'^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$')
COMPUTE_DEFAULT_RE = re.compile(r'^\d+-compute@developer\.gserviceaccount\.com$')
GKE_METADATA = 'GKE_METADATA'
PRINCIPAL_FORMAT = ('principal://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s'
                    '/subject/ns/%s/sa/%s')


def compute_default_account(project_number):
    """The Compute Engine default service account of a project (``NUMBER-compute@developer.gserviceaccount.com``)."""
    return '%s-compute@developer.gserviceaccount.com' % project_number


def validate_params(params):
    """Check the module's parameters (no network); returns a normalised copy.

    :raises ValidationError: naming the option and the fix.
    """
    out = dict(params)
    project, location, cluster = params.get('project'), params.get('location'), params.get('cluster')
    if not isinstance(project, str) or not PROJECT_RE.match(project):
        raise ValidationError('project: %r is not a project ID (6 to 30 lowercase letters, digits and hyphens, '
                              'starting with a letter; the ID, not the number or the display name)' % (project,),
                              field='project')
    if not isinstance(location, str) or not LOCATION_RE.match(location):
        raise ValidationError('location: %r is not a GKE location (a region such as europe-west1 for a regional '
                              'cluster, a zone such as europe-west1-b for a zonal one)' % (location,), field='location')
    if not isinstance(cluster, str) or not CLUSTER_RE.match(cluster):
        raise ValidationError('cluster: %r is not a GKE cluster name (1 to 40 lowercase letters, digits and '
                              'hyphens, starting with a letter)' % (cluster,), field='cluster')
    accounts = []
    for i, item in enumerate(params.get('workload_service_accounts') or []):
        field = 'workload_service_accounts[%d]' % i
        if not isinstance(item, dict) or set(item) - set(['namespace', 'name']):
            raise ValidationError('%s: give namespace and name of a Kubernetes ServiceAccount' % field,
                                  field='workload_service_accounts')
        ns, name = item.get('namespace'), item.get('name')
        if not isinstance(ns, str) or not NAMESPACE_RE.match(ns):
            raise ValidationError('%s.namespace: %r is not a namespace name (lowercase letters, digits and hyphens, '
                                  'at most 63)' % (field, ns), field='workload_service_accounts')
        if not isinstance(name, str) or not KSA_RE.match(name):
            raise ValidationError('%s.name: %r is not a ServiceAccount name (lowercase letters, digits, "-" and '
                                  '".")' % (field, name), field='workload_service_accounts')
        accounts.append({'namespace': ns, 'name': name})
    out['workload_service_accounts'] = accounts
    for key in ('resource_manager_endpoint', 'container_endpoint'):
        out[key] = _gcp.check_url(params.get(key), key, example=DEFAULT_ENDPOINTS[key]) or DEFAULT_ENDPOINTS[key]
    out['token_uri'] = _gcp.check_url(params.get('token_uri'), 'token_uri')
    if params.get('credentials_file'):
        _gcp.check_credentials_file(params['credentials_file'])
    return out


def needs_project_number(node_pools, workload_service_accounts):
    """Whether the project number must be read: a node pool names the default account as ``default``,
    or Workload Identity principals are asked for."""
    if workload_service_accounts:
        return True
    return any(((p.get('config') or {}).get('serviceAccount') or 'default') == 'default' for p in node_pools)


def describe_node_pools(node_pools, project_number=None):
    """Pure: one dict per node pool (``name``, ``service_account`` as an e-mail, ``member``
    (``serviceAccount:EMAIL``), ``compute_default_account``, ``workload_metadata_mode``).

    A pool without ``config.serviceAccount`` (or with ``default``) runs as the Compute Engine default
    account, which needs ``project_number`` to be named.
    """
    out = []
    for pool in node_pools:
        config = pool.get('config') or {}
        account = config.get('serviceAccount') or 'default'
        if account == 'default':
            if not project_number:
                raise ProviderError('node pool %s uses the Compute Engine default service account, and the project '
                                    'number that names it is unknown' % pool.get('name'))
            account = compute_default_account(project_number)
        out.append({
            'name': pool.get('name') or '',
            'service_account': account,
            'member': 'serviceAccount:' + account,
            'compute_default_account': bool(COMPUTE_DEFAULT_RE.match(account)),
            'workload_metadata_mode': (config.get('workloadMetadataConfig') or {}).get('mode') or '',
        })
    return out


def workload_identity_problems(project, workload_pool, pools):
    """Pure: what stops Workload Identity on this cluster, as sentences naming the fix (empty: ready).

    The cluster needs the workload pool ``PROJECT.svc.id.goog``, and every node pool the GKE metadata
    server (``workloadMetadataConfig.mode: GKE_METADATA``), which can only be enabled once the cluster
    has the pool.
    """
    problems = []
    expected = '%s.svc.id.goog' % project
    if not workload_pool:
        problems.append('the cluster has no workload pool (gcloud container clusters update CLUSTER '
                        '--workload-pool=%s)' % expected)
    elif workload_pool != expected:
        problems.append('the cluster\'s workload pool is %s, not %s' % (workload_pool, expected))
    for pool in pools:
        if pool['workload_metadata_mode'] != GKE_METADATA:
            problems.append('node pool %s does not use the GKE metadata server (mode %s; gcloud container node-pools '
                            'update %s --cluster=CLUSTER --workload-metadata=GKE_METADATA)'
                            % (pool['name'], pool['workload_metadata_mode'] or 'unset', pool['name']))
    return problems


def workload_principals(project, project_number, accounts):
    """Pure: the Workload Identity principals of Kubernetes ServiceAccounts: ``principal`` (Workload
    Identity Federation for GKE, no Google service account: the project NUMBER in the path, the pool
    ``PROJECT.svc.id.goog``) and ``member`` (``serviceAccount:PROJECT.svc.id.goog[NS/KSA]``, the member
    that is given ``roles/iam.workloadIdentityUser`` on a Google service account)."""
    pool = '%s.svc.id.goog' % project
    return [dict(a, principal=PRINCIPAL_FORMAT % (project_number, pool, a['namespace'], a['name']),
                 member='serviceAccount:%s[%s/%s]' % (pool, a['namespace'], a['name'])) for a in accounts]


def default_account_warning(pool):
    return ('node pool %s runs as the Compute Engine default service account %s: image pulls use it. Organisations '
            'created since May 2024 no longer give it the Editor role, so it pulls nothing until it is granted '
            'roles/artifactregistry.reader; better, give the node pool a dedicated service account with only '
            'roles/container.defaultNodeServiceAccount and roles/artifactregistry.reader'
            % (pool['name'], pool['service_account']))


class GkeClusterInfoRunner(_gcp.GoogleRunner):
    """Runs gke_cluster_info; ``api`` may be injected (see ``_gcp.GoogleRunner``)."""

    MODULE = 'gke_cluster_info'

    def run(self):
        p = validate_params(self.params)
        api = self._api(p)
        resource = 'projects/%s/locations/%s/clusters/%s' % (p['project'], p['location'], p['cluster'])
        base = '%s/v1/%s' % (p['container_endpoint'], resource)
        cluster = api.call('GET', base, action='GET cluster %s' % resource)
        listed = api.call('GET', base + '/nodePools', action='GET node pools of %s' % resource)
        node_pools = listed.get('nodePools') or []
        if not isinstance(node_pools, list) or not all(isinstance(n, dict) for n in node_pools):
            raise ProviderError('GET node pools of %s: the answer has no nodePools list' % resource)
        number = ''
        if needs_project_number(node_pools, p['workload_service_accounts']):
            number = self._project_number(api, p)
        pools = describe_node_pools(node_pools, number)
        for pool in pools:
            if pool['compute_default_account']:
                self.warn(default_account_warning(pool))
        workload_pool = (cluster.get('workloadIdentityConfig') or {}).get('workloadPool') or ''
        problems = workload_identity_problems(p['project'], workload_pool, pools)
        return {
            'changed': False,
            'cluster': {'name': cluster.get('name') or p['cluster'], 'project': p['project'],
                        'location': cluster.get('location') or p['location'], 'resource': resource,
                        'workload_pool': workload_pool},
            'project_number': number,
            'node_pools': pools,
            'node_service_accounts': sorted(set(pool['service_account'] for pool in pools)),
            'workload_identity': {'ready': not problems, 'problems': problems},
            'workload_principals': workload_principals(p['project'], number, p['workload_service_accounts']),
        }

    def _project_number(self, api, p):
        answer = api.call('GET', '%s/v3/projects/%s' % (p['resource_manager_endpoint'], p['project']),
                          action='GET project %s (Resource Manager)' % p['project'])
        match = re.match(r'^projects/(\d+)$', str(answer.get('name') or ''))
        if not match:
            raise ProviderError('GET project %s (Resource Manager): the answer names no project number (name: %r)'
                                % (p['project'], answer.get('name')))
        return match.group(1)
