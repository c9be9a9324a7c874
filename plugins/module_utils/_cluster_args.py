# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the shared option groups. Private to this collection.

Each dict here matches one doc fragment in plugins/doc_fragments/ option for option.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

# Same names and K8S_AUTH_* environment fallbacks as kubernetes.core (doc fragment: cluster).
CLUSTER_ARGSPEC = dict(
    kubeconfig=dict(type='raw', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
    context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
    host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
    validate_certs=dict(type='bool', aliases=['verify_ssl'], fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
    client_cert=dict(type='path', aliases=['cert_file'], fallback=(env_fallback, ['K8S_AUTH_CERT_FILE'])),
    client_key=dict(type='path', aliases=['key_file'], no_log=False, fallback=(env_fallback, ['K8S_AUTH_KEY_FILE'])),
    proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_PROXY'])),
)

CLUSTER_KEYS = tuple(CLUSTER_ARGSPEC)

# Doc fragment: namespaces.
DEFAULT_EXCLUDE_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease']
NAMESPACES_ARGSPEC = dict(
    namespaces=dict(type='list', elements='str'),
    namespace_selector=dict(type='raw'),
    exclude_namespaces=dict(type='list', elements='str', default=list(DEFAULT_EXCLUDE_NAMESPACES)),
)

# Doc fragment: bulk.
BULK_ARGSPEC = dict(
    max_concurrent_writes=dict(type='int', default=16),
)


def cluster_params(params):
    """Pick the cluster connection options out of a module's ``params`` dict."""
    return dict((k, params.get(k)) for k in CLUSTER_KEYS)
