# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Standard attributes of this collection's modules.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
'''

    # Read-only modules (*_info, registry_probe): the same in check mode, never a change.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
'''

    # Modules that talk to a Kubernetes cluster (they take the cluster connection options).
    ACTIONGROUP_REGISTRYLINK = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.registrylink) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.registrylink
'''

    # Modules that talk to AWS (they take region, profile and endpoint_url, never cluster options).
    ACTIONGROUP_AWS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.aws) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.aws
'''

    # Modules that run on a Kubernetes node (they write the node's container runtime files).
    ACTIONGROUP_NODE = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.node) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.node
'''

    # Modules that talk to Google Cloud (credentials_file, token_uri and the API endpoints).
    ACTIONGROUP_GCP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.gcp) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.gcp
'''

    # Modules that talk to Azure Resource Manager (they take the Azure credential and endpoint options).
    ACTIONGROUP_AZURE = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.azure
'''

    # Modules that talk to registry vendor APIs (Harbor, GitLab, Artifactory), never to a cluster.
    ACTIONGROUP_VENDOR = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/registrylink.k8s.vendor) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - registrylink.k8s.vendor
'''
