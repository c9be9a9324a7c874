# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Cluster connection. Same option names and K8S_AUTH_* environment variables as
    # kubernetes.core, so existing inventories and module_defaults carry over.
    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - A C(:)-separated list of files is merged the way E(KUBECONFIG) is (files that do not exist
        are skipped; at least one must exist). The inventory plugin P(registrylink.k8s.kubeconfig#inventory)
        sets such a list as the host variable C(kubeconfig) for contexts of a merged source.
      - When neither O(kubeconfig), O(host) nor the environment variable is set, the
        client reads the file named by E(KUBECONFIG) (default C(~/.kube/config)); when
        that does not exist and the task runs inside a Pod, the in-cluster ServiceAccount is used.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's C(current-context).
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://203.0.113.10:6443).
        Used with O(api_key) or O(client_cert)/O(client_key) instead of a kubeconfig.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token for the API server. Never logged.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Verify the API server's TLS certificate. When unset, the kubeconfig decides
        (C(insecure-skip-tls-verify)); otherwise verification is on.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA bundle that signs the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for the API server.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP(S) proxy URL for API server requests.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
requirements:
  - python >= 3.9
  - kubernetes >= 28.1.0
notes:
  - Use the action group C(group/registrylink.k8s.registrylink) in C(module_defaults)
    to set the connection once for every module of this collection.
'''
