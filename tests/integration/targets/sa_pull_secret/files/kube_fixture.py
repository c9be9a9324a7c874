#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and independent read-back for the sa_pull_secret target.

Talks to the cluster with the kubernetes client directly (never through the collection's code),
using $K8S_AUTH_KUBECONFIG / $KUBECONFIG and the current context. Prints JSON.

  kube_fixture.py namespaces PREFIX COUNT [LABEL=VALUE ...]   create PREFIX-000..; wait for default SA
  kube_fixture.py namespace NAME [LABEL=VALUE ...]            create one namespace; wait for default SA
  kube_fixture.py sa NS NAME [--labels k=v,..] [--pull a,b] [--annotations k=v,..]   create/replace a SA
  kube_fixture.py secret NS NAME [NAME ...]                   create dockerconfigjson Secrets (dummy content)
  kube_fixture.py secrets-all GLOB NAME                       create Secret NAME in every namespace matching GLOB
  kube_fixture.py get NS NAME                                 {exists, image_pull_secrets, annotations, labels, resource_version}
  kube_fixture.py list GLOB                                   {"ns/name": {...}} for every SA in namespaces matching GLOB
  kube_fixture.py cleanup PREFIX                              delete every namespace named PREFIX-*
"""

from __future__ import absolute_import, division, print_function

import fnmatch
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the repository root (tests/integration/targets/<target>/files/ is five levels below it)
sys.path.insert(0, str(Path(__file__).resolve().parents[5]))

from kubernetes.client.rest import ApiException  # noqa: E402

from tests.support import kube  # noqa: E402


def core():
    return kube.core_api()


def kv(text):
    out = {}
    for part in (text or '').split(','):
        if part:
            k, _sep, v = part.partition('=')
            out[k] = v
    return out


def make_namespace(api, name, labels):
    try:
        kube.ensure_namespace(api, name, labels=labels)
    except kube.KubeHelperError as exc:
        raise SystemExit(str(exc))
    return name


def describe(sa):
    if sa is None:
        return {'exists': False, 'image_pull_secrets': [], 'annotations': {}, 'labels': {}}
    meta = sa['metadata']
    return {'exists': True,
            'image_pull_secrets': [e.get('name') for e in sa.get('imagePullSecrets') or []],
            'annotations': meta.get('annotations') or {},
            'labels': meta.get('labels') or {},
            'resource_version': meta.get('resourceVersion')}


def raw(api, func, *args, **kwargs):
    kwargs['_preload_content'] = False
    return json.loads(func(*args, **kwargs).data)


def main(argv):
    api = core()
    cmd = argv[0]
    if cmd == 'namespaces':
        prefix, count = argv[1], int(argv[2])
        labels = kv(','.join(argv[3:]))
        names = ['%s-%03d' % (prefix, i) for i in range(count)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: make_namespace(api, n, labels), names))
        print(json.dumps(names))
    elif cmd == 'namespace':
        print(json.dumps(make_namespace(api, argv[1], kv(','.join(argv[2:])))))
    elif cmd == 'sa':
        ns, name = argv[1], argv[2]
        opts = dict(zip(argv[3::2], argv[4::2]))
        body = {'apiVersion': 'v1', 'kind': 'ServiceAccount',
                'metadata': {'name': name, 'namespace': ns, 'labels': kv(opts.get('--labels')),
                             'annotations': kv(opts.get('--annotations'))}}
        pulls = [p for p in (opts.get('--pull') or '').split(',') if p]
        if pulls:
            body['imagePullSecrets'] = [{'name': p} for p in pulls]
        try:
            current = raw(api, api.read_namespaced_service_account, name, ns)
            body['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
            out = raw(api, api.replace_namespaced_service_account, name, ns, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            out = raw(api, api.create_namespaced_service_account, ns, body)
        print(json.dumps(describe(out)))
    elif cmd in ('secret', 'secrets-all'):
        if cmd == 'secret':
            targets = [(argv[1], n) for n in argv[2:]]
        else:
            nss = [n['metadata']['name'] for n in raw(api, api.list_namespace)['items']
                   if fnmatch.fnmatchcase(n['metadata']['name'], argv[1])]
            targets = [(ns, argv[2]) for ns in nss]

        def create(target):
            ns, name = target
            try:
                api.create_namespaced_secret(ns, kube.dockerconfig_secret(name, 'registry.example.test', 'u', 'p'))
            except ApiException as exc:
                if exc.status != 409:
                    raise
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, targets))
        print(json.dumps(len(targets)))
    elif cmd == 'get':
        try:
            sa = raw(api, api.read_namespaced_service_account, argv[2], argv[1])
        except ApiException as exc:
            if exc.status != 404:
                raise
            sa = None
        print(json.dumps(describe(sa)))
    elif cmd == 'list':
        out = {}
        for sa in raw(api, api.list_service_account_for_all_namespaces)['items']:
            meta = sa['metadata']
            if fnmatch.fnmatchcase(meta['namespace'], argv[1]):
                out['%s/%s' % (meta['namespace'], meta['name'])] = describe(sa)
        print(json.dumps(out, sort_keys=True))
    elif cmd == 'cleanup':
        gone = []
        for n in raw(api, api.list_namespace)['items']:
            name = n['metadata']['name']
            if name.startswith(argv[1] + '-'):
                try:
                    api.delete_namespace(name)
                    gone.append(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
        print(json.dumps(len(gone)))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
