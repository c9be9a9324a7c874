#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and independent read-back for the registry_secret target.

Talks to the cluster with the kubernetes client directly (never through the collection's code),
using $K8S_AUTH_KUBECONFIG / $KUBECONFIG and the current context. Prints JSON, never a password.

  secret_fixture.py namespace NAME            create a namespace and wait for its default ServiceAccount
  secret_fixture.py read NS NAME              {exists, type, managed, keys, usernames, password_ok}
                                              (password_ok: every entry's password and auth equal
                                              $RST_EXPECT_PASSWORD)
  secret_fixture.py unmanaged NS NAME         create a dockerconfigjson Secret without our label
  secret_fixture.py cleanup PREFIX            delete every namespace named PREFIX-*
"""

from __future__ import absolute_import, division, print_function

import base64
import json
import os
import sys
import time

from kubernetes import client as k8s
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException


def core():
    path = os.environ.get('K8S_AUTH_KUBECONFIG') or os.environ.get('KUBECONFIG')
    return k8s.CoreV1Api(kconfig.new_client_from_config(config_file=path))


def namespace(api, name):
    api.create_namespace({'metadata': {'name': name}})
    for _attempt in range(200):
        try:
            api.read_namespaced_service_account('default', name)
            return {'namespace': name}
        except ApiException:
            time.sleep(0.1)
    raise SystemExit('ServiceAccount default never appeared in %s' % name)


def read(api, ns, name):
    try:
        secret = api.read_namespaced_secret(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return {'exists': False}
        raise
    labels = secret.metadata.labels or {}
    doc = json.loads(base64.b64decode(secret.data['.dockerconfigjson']))
    auths = doc.get('auths') or {}
    expected = os.environ.get('RST_EXPECT_PASSWORD')
    ok = True
    for entry in auths.values():
        user, _sep, password = base64.b64decode(entry['auth']).decode('utf-8').partition(':')
        ok = ok and password == expected and entry.get('password') == expected and user == entry.get('username')
    return {'exists': True, 'type': secret.type, 'managed': labels.get('app.kubernetes.io/managed-by'),
            'keys': sorted(auths), 'usernames': dict((k, v.get('username')) for k, v in auths.items()),
            'password_ok': ok, 'resource_version': secret.metadata.resource_version}


def unmanaged(api, ns, name):
    data = {'auths': {'other.example.test': {'username': 'someone', 'password': 'not-ours',
                                             'auth': base64.b64encode(b'someone:not-ours').decode()}}}
    api.create_namespaced_secret(ns, {'metadata': {'name': name}, 'type': 'kubernetes.io/dockerconfigjson',
                                      'data': {'.dockerconfigjson': base64.b64encode(json.dumps(data).encode()).decode()}})
    return {'created': name}


def cleanup(api, prefix):
    gone = []
    for ns in api.list_namespace().items:
        if ns.metadata.name.startswith(prefix + '-'):
            api.delete_namespace(ns.metadata.name)
            gone.append(ns.metadata.name)
    return {'deleted': gone}


def main(argv):
    api = core()
    cmd, args = argv[1], argv[2:]
    out = {'namespace': namespace, 'read': read, 'unmanaged': unmanaged, 'cleanup': cleanup}[cmd](api, *args)
    print(json.dumps(out))


if __name__ == '__main__':
    main(sys.argv)
