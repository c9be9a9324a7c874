"""Test support code for registrylink.k8s (not part of the collection).

- ``tests.support.localenv``: the building blocks of the local environment (PKI, free ports,
  processes, etcd, kube-apiserver, kube-controller-manager, distribution registry, moto) and
  ``load_state()`` for tests that need the environment started by ``make up``.
- ``tests.support.images``: push small real images and OCI indexes into a registry.

Standard library only at import time, so that ``hack/localenv.py`` can use it without the
virtualenv's packages.
"""
