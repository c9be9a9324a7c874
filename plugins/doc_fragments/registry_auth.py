# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Registry connection (OCI distribution API). Matches module_utils/_registry_args.py
    # REGISTRY_AUTH_ARGSPEC option for option.
    DOCUMENTATION = r'''
options:
  registry:
    description:
      - The registry server, as C(host), C(host:port) or C(https://host[:port]).
      - A path (C(/v1/), C(/v2/), or the path of a path-scoped pull-secret key) is ignored; the
        API always lives at C(/v2/) on the host.
      - Docker Hub aliases (C(docker.io), C(index.docker.io), C(https://index.docker.io/v1/)) are
        sent to the API host C(registry-1.docker.io).
      - C(http://host) is refused unless O(allow_insecure_http=true).
    type: str
  username:
    description:
      - User name for the registry (for example a Harbor robot account C(robot$project+name),
        C(AWS) for ECR, C(00000000-0000-0000-0000-000000000000) for an ACR token,
        C(oauth2accesstoken) for GAR).
      - Sent only when the registry asks for credentials, only over HTTPS, and to a token realm
        only on the registry's own host (see O(allow_cross_host_realm)).
    type: str
  password:
    description:
      - Password or token for O(username). Never logged, never returned.
      - When it is a JWT (ACR, many token services) or an ECR authorization token, its expiry is
        read (without verifying it) and reported.
    type: str
  registry_validate_certs:
    description:
      - Verify the registry's TLS certificate (and the token realm's).
      - Turning this off is shown in the result; it is never turned off implicitly.
    type: bool
    default: true
  registry_ca_path:
    description:
      - A CA bundle file (PEM) or a directory of hashed CA certificates that signs the registry's
        certificate. Without it the system trust store is used (or E(REQUESTS_CA_BUNDLE) when set).
      - Nodes need the same CA (containerd C(/etc/containerd/certs.d/<host>/)), this option only
        affects the controller running the task.
    type: path
    aliases: [ca_path]
  timeout:
    description:
      - Seconds to wait for each connect and each read from the registry or its token service.
    type: int
    default: 10
  allow_insecure_http:
    description:
      - Allow plain HTTP to the registry and its token realm, including sending credentials in
        clear. When the registry is given without a scheme, HTTPS is tried first and HTTP is used
        only if the server answers HTTPS with plain HTTP.
    type: bool
    default: false
  allow_cross_host_realm:
    description:
      - Send credentials to a token realm on another host than the registry (for example a GitLab
        registry whose realm is the GitLab host). Off by default so that a registry cannot send your
        password to a host of its choosing. A realm on the same host with another port counts as the
        same host; C(auth.docker.io) is accepted for Docker Hub.
    type: bool
    default: false
requirements:
  - python >= 3.9
  - requests >= 2.28.0
'''
