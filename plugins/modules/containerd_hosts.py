#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_hosts
short_description: Registry mirrors, pull-through caches and registry CA trust for containerd on a node (hosts.toml)
version_added: 0.1.0
description:
  - Runs on a Kubernetes node (over SSH as usual, or C(connection=local)) and writes containerd's per-registry
    host configuration, C(<config_path>/<host[:port]>/hosts.toml), with the certificate files it names.
  - This is what fixes two failures no pull secret can fix, because they happen in the node's container runtime
    before any credential is sent. A kubelet event C(x509 certificate signed by unknown authority) means the
    node does not trust the registry's CA, so give O(registries[].ca_file). Docker Hub's C(toomanyrequests)
    means too many pulls, so put a pull-through cache in front of it with O(registries[].mirrors).
  - Finds C(config_path) in containerd's config (O(containerd_config); config versions 1, 2 and 3). When it
    is not set, the task fails and says which lines to add and that containerd must then be restarted once.
    containerd reads C(hosts.toml) at every pull, so writing these files never needs a restart, and this
    module restarts nothing and never edits containerd's C(config.toml).
  - Mirrors are written in order, then the O(registries[].server) as the fallback. containerd tries the
    mirrors in that order and falls back to the server when a mirror cannot be reached or fails.
  - The module owns C(hosts.toml) (its first line is a marker comment) and the C(registrylink-*) certificate
    files in each registry's directory. Other files there are never touched. A C(hosts.toml) it did not write
    is replaced only with O(force=true), and is then kept as C(hosts.toml.registrylink-backup) and put back
    by O(state=absent).
  - Every input (hosts, URLs, PEM files, containerd's config) is checked before the first file is written.
    A CA or client certificate that holds a private key (a key file, or a cert+key bundle) is refused, and a
    file holding one is not even sent to the node.
  - Credentials for a registry or mirror still come from the image pull secret. The kubelet picks them by the
    image's registry host, not by the mirror that containerd contacts.
  - The files are written as the user the module runs as (use C(become) to write them as root).
    C(hosts.toml) and certificates get mode C(0644), client keys C(0600).
  - The role M(registrylink.k8s.node_registry_config) runs it over an inventory of nodes.
author:
  - registrylink.k8s maintainers (@registrylink)
extends_documentation_fragment:
  - registrylink.k8s.attributes
  - registrylink.k8s.attributes.actiongroup_node
attributes:
  action:
    description: Runs an action plugin on the controller before the module.
    support: full
    details: The action plugin reads O(registries[].ca_file) and the client certificate files on the controller.
  check_mode:
    support: full
    details: Reads containerd's config and the current files and reports what would be written or removed; writes nothing.
  diff_mode:
    support: full
    details: >-
      One diff per registry: the C(hosts.toml) text (paths, never key material) and the certificate and key
      files as fingerprints.
  idempotent:
    support: full
    details: A second run reports C(changed=false) and writes nothing.
options:
  state:
    description:
      - V(present) writes C(hosts.toml) and its files for every registry in O(registries). V(absent) removes
        what this module wrote there (and puts back a C(hosts.toml) it replaced with O(force=true)).
    type: str
    choices: [present, absent]
    default: present
  containerd_config:
    description:
      - containerd's config file on the node, read for C(config_path). k3s and RKE2 generate theirs under
        C(/var/lib/rancher/k3s/agent/etc/containerd/config.toml) and C(/var/lib/rancher/rke2/agent/etc/containerd/config.toml)
        from their own C(registries.yaml); see the docs before using this module there.
    type: path
    default: /etc/containerd/config.toml
  config_path:
    description:
      - The C(hosts.toml) root directory. By default the first directory of containerd's own C(config_path).
      - When containerd's config sets another directory the task fails. When it sets none, the files are written with
        a warning saying how to set C(config_path) (containerd then needs one restart).
    type: path
  force:
    description:
      - Replace a C(hosts.toml) that this module did not write. The original is kept as
        C(hosts.toml.registrylink-backup) and restored by O(state=absent).
      - Refused even with V(true) while such a backup exists (the file was replaced again by hand), because
        the original in the backup would be lost.
    type: bool
    default: false
  registries:
    description:
      - One entry per registry host as it appears in image references.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description:
          - The registry host as in image references, C(host[:port]) (for example C(registry.example.com:5000) or
            C(docker.io)), or C(_default) for every registry without a directory of its own.
        type: str
        required: true
      server:
        description:
          - The upstream URL. Default C(https://<host>), and C(https://registry-1.docker.io) for C(docker.io).
        type: str
      server_fallback:
        description:
          - Fall back to O(registries[].server) when every mirror failed. V(false) pulls only through the mirrors.
        type: bool
        default: true
      capabilities:
        description:
          - What containerd may use this endpoint for, among V(pull), V(resolve) (turn a tag into a digest) and V(push).
          - Default for the server is containerd's own (all three).
        type: list
        elements: str
      ca:
        description:
          - The PEM text of the CA that signed this endpoint's certificate. Written next to C(hosts.toml) as a
            C(registrylink-*-ca.crt) file (mode C(0644)) and named by its C(ca) key. Mutually exclusive with O(registries[].ca_file).
        type: str
      ca_file:
        description:
          - Path on the controller of the CA file; the action plugin reads it (a relative path is searched like
            M(ansible.builtin.copy)'s C(src)) and passes its text as O(registries[].ca).
        type: path
      client_cert:
        description:
          - PEM text of a client certificate for registries that require mutual TLS. Needs O(registries[].client_key).
        type: str
      client_cert_file:
        description:
          - Path on the controller of the client certificate (read like O(registries[].ca_file)).
        type: path
      client_key:
        description:
          - PEM text of the client certificate's private key. Written with mode C(0600); never logged, never in a diff
            (the diff shows a fingerprint).
        type: str
      client_key_file:
        description:
          - Path on the controller of the client key (read like O(registries[].ca_file)).
        type: path
      skip_verify:
        description:
          - Do not verify this endpoint's TLS certificate. Only when asked; the module warns, because anyone in the
            network path can then serve images to the node. Prefer O(registries[].ca).
        type: bool
        default: false
      override_path:
        description:
          - The URL already holds the API path (a registry served under a path, such as C(https://host/v2/proxy));
            containerd does not add C(/v2).
        type: bool
        default: false
      mirrors:
        description:
          - Mirrors or pull-through caches, tried in this order before the server.
        type: list
        elements: dict
        default: []
        suboptions:
          url:
            description:
              - The mirror's URL, C(https://host[:port]) (or C(http://) for a plain HTTP mirror).
            type: str
            required: true
          capabilities:
            description:
              - What containerd may use this endpoint for, among V(pull), V(resolve) (turn a tag into a digest) and V(push).
              - Default V([pull, resolve]).
            type: list
            elements: str
          ca:
            description:
              - The PEM text of the CA that signed this endpoint's certificate. Written next to C(hosts.toml) as a
                C(registrylink-*-ca.crt) file (mode C(0644)) and named by its C(ca) key. Mutually exclusive with O(registries[].mirrors[].ca_file).
            type: str
          ca_file:
            description:
              - Path on the controller of the CA file; the action plugin reads it (a relative path is searched like
                M(ansible.builtin.copy)'s C(src)) and passes its text as O(registries[].mirrors[].ca).
            type: path
          client_cert:
            description:
              - PEM text of a client certificate for registries that require mutual TLS. Needs O(registries[].mirrors[].client_key).
            type: str
          client_cert_file:
            description:
              - Path on the controller of the client certificate (read like O(registries[].mirrors[].ca_file)).
            type: path
          client_key:
            description:
              - PEM text of the client certificate's private key. Written with mode C(0600); never logged, never in a diff
                (the diff shows a fingerprint).
            type: str
          client_key_file:
            description:
              - Path on the controller of the client key (read like O(registries[].mirrors[].ca_file)).
            type: path
          skip_verify:
            description:
              - Do not verify this endpoint's TLS certificate. Only when asked; the module warns, because anyone in the
                network path can then serve images to the node. Prefer O(registries[].mirrors[].ca).
            type: bool
            default: false
          override_path:
            description:
              - The URL already holds the API path (a registry served under a path, such as C(https://host/v2/proxy));
                containerd does not add C(/v2).
            type: bool
            default: false
'''

EXAMPLES = r'''
- name: Trust a private registry's CA on every node
  registrylink.k8s.containerd_hosts:
    registries:
      - host: harbor.example.com
        ca_file: files/harbor-ca.crt
  become: true

- name: Pull Docker Hub images through a pull-through cache, falling back to Docker Hub
  registrylink.k8s.containerd_hosts:
    registries:
      - host: docker.io
        mirrors:
          - url: https://dockerhub-cache.example.com:5000
            ca_file: files/cache-ca.crt
  become: true

- name: A registry that requires a client certificate (mutual TLS); the key is written with mode 0600
  registrylink.k8s.containerd_hosts:
    registries:
      - host: registry.internal:5000
        ca_file: files/internal-ca.crt
        client_cert_file: files/node-client.crt
        client_key_file: files/node-client.key
  become: true

- name: Pull only through the cache (no fallback to Docker Hub), a mirror served under a path, check config_path
  registrylink.k8s.containerd_hosts:
    containerd_config: /etc/containerd/config.toml
    registries:
      - host: docker.io
        server_fallback: false
        mirrors:
          - url: https://cache-a.example.com
            capabilities: [pull]
          - url: https://artifacts.example.com/v2/dockerhub-proxy
            override_path: true
  become: true
  register: containerd_hosts
- name: Say whether containerd must be restarted once (only when its config did not set config_path)
  ansible.builtin.debug:
    msg: "{{ containerd_hosts.how_to_fix | default('no restart needed') }}"
  when: containerd_hosts.restart_needed

- name: Remove what the module wrote for harbor.example.com
  registrylink.k8s.containerd_hosts:
    state: absent
    registries:
      - host: harbor.example.com
  become: true
'''

RETURN = r'''
containerd_config:
  description: containerd's config file that was read.
  returned: always
  type: str
  sample: /etc/containerd/config.toml
config_version:
  description: The C(version) of containerd's config (1, 2 or 3).
  returned: when containerd's config could be read
  type: int
  sample: 2
config_path:
  description: The C(hosts.toml) root directory the files were written to.
  returned: always
  type: str
  sample: /etc/containerd/certs.d
found_in_config:
  description: Whether containerd's config sets that C(config_path) (so containerd uses the files).
  returned: always
  type: bool
restart_needed:
  description:
    - Whether containerd must be restarted before it uses the files. Only when its config does not set
      C(config_path) yet (see RV(how_to_fix)); writing C(hosts.toml) never needs a restart.
  returned: always
  type: bool
how_to_fix:
  description: The lines to add to containerd's config, when it does not set C(config_path).
  returned: when containerd's config does not set config_path
  type: str
results:
  description: One entry per registry.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The registry host (the directory name).
      type: str
      returned: always
      sample: registry.example.com:5000
    action:
      description: V(created), V(updated), V(unchanged), V(deleted), or V(absent) (nothing of ours was there).
      type: str
      returned: always
    path:
      description: The C(hosts.toml) path.
      type: str
      returned: always
    files:
      description: The certificate and key files C(hosts.toml) names (file names in its directory).
      type: list
      elements: str
      returned: always
    written:
      description: The files written by this run (or that would be, in check mode).
      type: list
      elements: str
      returned: always
    removed:
      description: The files removed by this run (or that would be, in check mode).
      type: list
      elements: str
      returned: always
    kept_backup:
      description: A C(hosts.toml) not written by this module is moved aside as C(hosts.toml.registrylink-backup).
      type: bool
      returned: always
    restored_backup:
      description: The backup is put back as C(hosts.toml) (O(state=absent)).
      type: bool
      returned: always
    detail:
      description: Why a registry was left alone.
      type: str
      returned: when O(state=absent) left a C(hosts.toml) alone because this module did not write it
summary:
  description: Number of registries per action.
  returned: always
  type: dict
  sample: {"created": 1, "unchanged": 2}
'''

from ansible_collections.registrylink.k8s.plugins.module_utils._containerd_hosts import ContainerdHostsRunner
from ansible_collections.registrylink.k8s.plugins.module_utils._module import run_module


def _endpoint_spec():
    return dict(
        capabilities=dict(type='list', elements='str'),
        ca=dict(type='str'),
        ca_file=dict(type='path'),
        client_cert=dict(type='str'),
        client_cert_file=dict(type='path'),
        client_key=dict(type='str', no_log=True),
        client_key_file=dict(type='path', no_log=False),
        skip_verify=dict(type='bool', default=False),
        override_path=dict(type='bool', default=False),
    )


def argument_spec():
    mirror = dict(url=dict(type='str', required=True))
    mirror.update(_endpoint_spec())
    registry = dict(
        host=dict(type='str', required=True),
        server=dict(type='str'),
        server_fallback=dict(type='bool', default=True),
        mirrors=dict(type='list', elements='dict', default=[], options=mirror),
    )
    registry.update(_endpoint_spec())
    return dict(
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        containerd_config=dict(type='path', default='/etc/containerd/config.toml'),
        config_path=dict(type='path'),
        force=dict(type='bool', default=False),
        registries=dict(type='list', elements='dict', required=True, options=registry),
    )


def main():
    run_module(ContainerdHostsRunner, argument_spec())


if __name__ == '__main__':
    main()
