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
import sys
from pathlib import Path

# the repository root (tests/integration/targets/<target>/files/ is five levels below it)
sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from kubernetes.client.rest import ApiException  # noqa: E402

from tests.support import kube  # noqa: E402


def main(argv):
    verb, name = argv[1], argv[2]
    api = kube.core_api()
    if verb == 'namespace':
        try:
            kube.ensure_namespace(api, name, labels={'registrylink.test/target': 'pull_canary'}, timeout=30)
        except kube.KubeHelperError as exc:
            raise SystemExit(str(exc))
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
