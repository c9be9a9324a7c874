#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_hosts_info
short_description: What containerd on a node uses for a registry - its hosts.toml, mirrors and CA
version_added: 0.1.0
description:
  - Runs on a Kubernetes node and reads, for each registry host, the C(hosts.toml) containerd uses for it
    (C(<config_path>/<host[:port]>/hosts.toml), with C(config_path) read from containerd's config). It reports
    whether a mirror or pull-through cache is configured, in which order, and whether a CA is set.
  - When containerd's config sets no C(config_path) but has the older C(registry.mirrors) table, the mirrors
    come from that table, as containerd 1.x uses it then.
  - The directory is found as containerd finds it. In each C(config_path) directory, in order, it tries
    C(<host>_<port>_), then C(<host[:port]>), then C(_default), and uses the first directory that exists,
    even one without a C(hosts.toml).
  - Read-only. The role M(registrylink.k8s.verify) runs it on the node a rate-limited Pod was scheduled on, when
    that node is in the inventory. M(registrylink.k8s.containerd_hosts) writes these files.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.info_module
  - registrylink.k8s.attributes.actiongroup_node
options:
  hosts:
    description:
      - Registry hosts as in image references, C(host[:port]) (C(docker.io) for Docker Hub), or C(_default).
    type: list
    elements: str
    required: true
  containerd_config:
    description:
      - containerd's config file on the node, read for C(config_path).
    type: path
    default: /etc/containerd/config.toml
  config_path:
    description:
      - The C(hosts.toml) root directory, instead of the one containerd's config sets.
    type: path
'''

EXAMPLES = r'''
- name: Is a mirror configured for Docker Hub on this node?
  registrylink.k8s.containerd_hosts_info:
    hosts: [docker.io]
  register: hosts_info

- name: Say so
  ansible.builtin.debug:
    msg: "mirror for docker.io: {{ hosts_info.registries[0].mirror_configured }}"
'''

RETURN = r'''
containerd_config:
  description: containerd's config file that was read.
  returned: always
  type: str
config_version:
  description: The C(version) of containerd's config.
  returned: when containerd's config could be read
  type: int
config_path:
  description: The C(hosts.toml) root directory, or null when containerd's config sets none (then it reads no C(hosts.toml)).
  returned: always
  type: str
found_in_config:
  description: Whether containerd's config sets C(config_path).
  returned: always
  type: bool
how_to_fix:
  description: The lines to add to containerd's config, when it sets no C(config_path).
  returned: when containerd's config sets no config_path
  type: str
registries:
  description: One entry per host in O(hosts).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The registry host.
      type: str
      returned: always
    path:
      description: The C(hosts.toml) path containerd reads for it (possibly under C(_default) or C(<host>_<port>_)).
      type: str
      returned: always
    exists:
      description: Whether that C(hosts.toml) exists.
      type: bool
      returned: always
    managed:
      description: Whether this collection wrote it.
      type: bool
      returned: always
    server:
      description: Its C(server) (the upstream), if set.
      type: str
      returned: always
    mirrors:
      description: The mirrors (C(url), C(capabilities)) in the order containerd tries them.
      type: list
      elements: dict
      returned: always
    mirror_configured:
      description: Whether at least one mirror is configured.
      type: bool
      returned: always
    ca:
      description: Whether a CA is set for the server.
      type: bool
      returned: always
    source:
      description:
        - Where RV(registries[].mirrors) come from. V(hosts.toml), or V(config.toml registry.mirrors) when containerd's
          config sets no C(config_path) but has the older C(registry.mirrors) table (containerd 1.x then uses that).
      type: str
      returned: always
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._containerd_hosts import ContainerdHostsInfoRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def argument_spec():
    return dict(
        hosts=dict(type='list', elements='str', required=True),
        containerd_config=dict(type='path', default='/etc/containerd/config.toml'),
        config_path=dict(type='path'),
    )


def main():
    run_module(ContainerdHostsInfoRunner, argument_spec())


if __name__ == '__main__':
    main()
