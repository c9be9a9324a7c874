# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Namespace selection, resolved with one LIST of namespaces whatever their number.
    DOCUMENTATION = r'''
options:
  namespaces:
    description:
      - Namespaces to act on, as literal names or shell-style globs (C(team-*), C(app-?)).
        C('*') selects every namespace.
      - A literal name is always selected, even when it also matches O(exclude_namespaces).
      - With O(namespace_selector) as well, a namespace must match both.
      - At least one of O(namespaces) and O(namespace_selector) is required.
    type: list
    elements: str
  namespace_selector:
    description:
      - A label selector for namespaces, in the Kubernetes syntax
        (C(env=prod,team in (a,b),!legacy)), or a dictionary of labels that must all match.
      - Namespaces it selects are subject to O(exclude_namespaces).
    type: raw
  exclude_namespaces:
    description:
      - Globs of namespaces left out of a selection made by a glob or by O(namespace_selector).
        Never applied to a namespace listed by its literal name in O(namespaces).
      - Set to C([]) to include the system namespaces in a glob.
    type: list
    elements: str
    default: [kube-system, kube-public, kube-node-lease]
notes:
  - Namespaces in phase C(Terminating) are left out of a selection made by a glob or a selector.
'''

    BULK = r'''
options:
  max_concurrent_writes:
    description:
      - Upper bound on API write requests in flight at once. Reads are LIST requests whose
        number does not depend on the number of namespaces.
    type: int
    default: 16
'''
