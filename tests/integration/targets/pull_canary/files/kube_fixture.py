#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and independent read-back for the pull_canary target.

Talks to the cluster with the kubernetes client directly (never through the collection's code),
using $K8S_AUTH_KUBECONFIG / $KUBECONFIG and the current context. Prints JSON.

  kube_fixture.py namespace NAME      create a namespace; wait for its default ServiceAccount
  kube_fixture.py pods NAME           {"pods": [names of every Pod in the namespace]}
  kube_fixture.py delete NAME         delete the namespace (absent is fine)
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import time

from kubernetes import client as k8s
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException


def core():
    path = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
    return k8s.CoreV1Api(kconfig.new_client_from_config(config_file=path, context=os.environ.get('K8S_AUTH_CONTEXT')))


def main(argv):
    verb, name = argv[1], argv[2]
    api = core()
    if verb == 'namespace':
        api.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(
            name=name, labels={'registrylink.test/target': 'pull_canary'})))
        deadline = time.time() + 30
        while not api.list_namespaced_service_account(name, field_selector='metadata.name=default').items:
            if time.time() > deadline:
                raise SystemExit('no default ServiceAccount in %s after 30 s' % name)
            time.sleep(0.2)
        print(json.dumps({'namespace': name}))
    elif verb == 'pods':
        print(json.dumps({'pods': sorted(p.metadata.name for p in api.list_namespaced_pod(name).items)}))
    elif verb == 'delete':
        try:
            api.delete_namespace(name, propagation_policy='Background')
        except ApiException as exc:
            if exc.status != 404:
                raise
        print(json.dumps({'deleted': name}))
    else:
        raise SystemExit('unknown verb %s' % verb)


if __name__ == '__main__':
    main(sys.argv)
