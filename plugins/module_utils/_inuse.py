# -*- coding: utf-8 -*-
# Copyright: contributors to registrylink.k8s
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which images do clusters run? In-use protection for registry_gc. Private to this collection.

Two parts:

* pure: :func:`object_images` pulls every image reference out of a Pod or a workload
  object (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob; containers,
  initContainers and ephemeralContainers, and for Pods the resolved ``imageID`` of every
  container status), and :func:`protected_digests` turns the references into the
  ``protected`` mapping of the retention planner, resolving tags through the tag -> digest
  maps the runner read from the registry;
* in use means the digest the kubelet runs: a container status ``imageID`` names the digest
  the node pulled, whatever the tag in the spec points at today (the tag may have been pushed
  again since). That digest is protected in the repository the ``imageID`` names **and** in the
  repository of the container's spec image (the runtime reports the first of the names it
  holds for that image, which may be another alias of the same registry). A bare ``sha256:...``
  ``imageID`` is the runtime's image ID, i.e. the digest of the image **config**; it protects,
  in every repository, the manifests with that config (``_retention``);
* I/O: :func:`scan_clusters` lists those kinds in every cluster, **fail closed**: if any
  list in any cluster fails, :class:`InUseScanError` is raised naming everything that could
  not be read, and the runner deletes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError, ValidationError
from ansible_collections.registrylink.k8s.plugins.module_utils._imageref import parse_image_reference
from ansible_collections.registrylink.k8s.plugins.module_utils._registry_host import image_host
from ansible_collections.registrylink.k8s.plugins.module_utils._retention import ANY_REPOSITORY

CONTAINER_FIELDS = ('initContainers', 'containers', 'ephemeralContainers')
STATUS_FIELDS = ('initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses')

#: kind -> (plural resource, api attribute, all-namespaces list method)
KINDS = (
    ('Pod', 'pods', 'core', 'list_pod_for_all_namespaces'),
    ('Deployment', 'deployments', 'apps', 'list_deployment_for_all_namespaces'),
    ('StatefulSet', 'statefulsets', 'apps', 'list_stateful_set_for_all_namespaces'),
    ('DaemonSet', 'daemonsets', 'apps', 'list_daemon_set_for_all_namespaces'),
    ('ReplicaSet', 'replicasets', 'apps', 'list_replica_set_for_all_namespaces'),
    ('Job', 'jobs', 'batch', 'list_job_for_all_namespaces'),
    ('CronJob', 'cronjobs', 'batch', 'list_cron_job_for_all_namespaces'),
)

_DIGEST_IN_TEXT_RE = re.compile(r'(sha256:[0-9a-f]{64})')


class InUseScanError(RegistryLinkError):
    """A cluster (or one kind in it) could not be read completely: nothing may be deleted."""


class ImageUse(object):
    """One image reference found in a cluster: ``image`` as written (or a resolved imageID),
    ``source`` a secret-free description (cluster, kind, namespace/name, container),
    ``resolved`` True when it came from a container status ``imageID``, ``spec_image`` (only
    for resolved ones) the image the container's spec names, when the status could be paired
    with a spec container."""

    __slots__ = ('image', 'source', 'resolved', 'spec_image')

    def __init__(self, image, source, resolved=False, spec_image=None):
        self.image = image
        self.source = source
        self.resolved = resolved
        self.spec_image = spec_image

    def _key(self):
        return (self.image, self.source, self.resolved, self.spec_image)

    def __repr__(self):
        return 'ImageUse(%r, %r%s%s)' % (self.image, self.source, ', resolved' if self.resolved else '',
                                         ', spec_image=%r' % self.spec_image if self.spec_image else '')

    def __eq__(self, other):
        return isinstance(other, ImageUse) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())


def pod_spec_of(obj, kind):
    """The Pod spec inside ``obj`` (a dict as the API returns it) for ``kind``; {} if absent."""
    spec = obj.get('spec') or {}
    if kind == 'Pod':
        return spec
    if kind == 'CronJob':
        spec = ((spec.get('jobTemplate') or {}).get('spec') or {})
    return ((spec.get('template') or {}).get('spec') or {})


def object_images(obj, kind, cluster=None):
    """Every image reference in one object: list of :class:`ImageUse` (spec order, no duplicates).

    ``kind`` is one of the kinds in :data:`KINDS`. For Pods, ``status.*ContainerStatuses[].imageID``
    (the digest the node actually pulled, ``docker-pullable://`` / ``containerd`` forms) is added
    with ``resolved=True`` and ``spec_image`` set to the image of the spec container of the same
    name and list (None when there is none).
    """
    meta = obj.get('metadata') or {}
    where = '%s %s/%s' % (kind, meta.get('namespace') or '-', meta.get('name') or '?')
    if cluster:
        where = '%s: %s' % (cluster, where)
    out = []
    seen = set()
    spec = pod_spec_of(obj, kind)
    for field in CONTAINER_FIELDS:
        for container in spec.get(field) or []:
            image = (container or {}).get('image')
            if image and image not in seen:
                seen.add(image)
                out.append(ImageUse(image, '%s container %s' % (where, container.get('name') or '?')))
    if kind == 'Pod':
        status = obj.get('status') or {}
        for spec_field, field in zip(CONTAINER_FIELDS, STATUS_FIELDS):
            spec_images = dict(((c or {}).get('name'), (c or {}).get('image')) for c in spec.get(spec_field) or [])
            for cs in status.get(field) or []:
                image_id = (cs or {}).get('imageID') or ''
                spec_image = spec_images.get(cs.get('name')) or None
                if image_id and (image_id, spec_image) not in seen:
                    seen.add((image_id, spec_image))
                    out.append(ImageUse(image_id, '%s container %s (imageID)' % (where, cs.get('name') or '?'),
                                        resolved=True, spec_image=spec_image))
    return out


def parse_use(use):
    """Parse an ImageUse into ``(registry, repository, tag, digest)``; None when unparsable.

    ``imageID`` values look like ``docker-pullable://reg/repo@sha256:...``, ``reg/repo@sha256:...``
    or a bare ``sha256:...`` (then registry and repository are None).
    """
    text = use.image
    if use.resolved:
        for prefix in ('docker-pullable://', 'docker://', 'containerd://', 'cri-o://'):
            if text.startswith(prefix):
                text = text[len(prefix):]
        if _DIGEST_IN_TEXT_RE.fullmatch(text):
            return (None, None, None, text)
    try:
        ref = parse_image_reference(text, field='image')
    except ValidationError:
        return None
    return (image_host(ref.registry), ref.repository, ref.tag, ref.digest)


def protected_digests(uses, registry_hosts, tag_maps):
    """Turn image uses into the planner's ``protected`` mapping.

    :param uses: iterable of :class:`ImageUse` (from clusters, or ``in_use_images``).
    :param registry_hosts: the host names under which the registry is referred to
        (``host[:port]``; the registry itself plus any aliases/mirrors).
    :param tag_maps: ``{repository: {tag: digest}}`` as read from the registry.
    :returns: ``(protected, unparsable)``: ``protected`` maps repository (``'*'`` for a bare
        digest from an imageID, which the planner matches against manifest and config digests)
        to ``{digest: reason}``; a resolved ``imageID`` protects its digest under its own
        repository and under the repository of its ``spec_image`` (when both name this
        registry), whatever the spec's tag resolves to now; ``unparsable`` lists the uses that
        could not be parsed but mention one of ``registry_hosts`` (the caller fails closed on
        those).
    """
    hosts = set(image_host(h) for h in registry_hosts)
    protected = {}
    unparsable = []

    def add(repository, digest, reason):
        protected.setdefault(repository, {})
        previous = protected[repository].get(digest)
        if previous is None:
            protected[repository][digest] = reason
        elif reason not in previous.split('; ') and previous.count('; ') < 4:
            protected[repository][digest] = previous + '; ' + reason

    for use in sorted(uses, key=lambda u: (u.source, u.image, u.spec_image or '')):
        parsed = parse_use(use)
        if parsed is None:
            lowered = use.image.lower()
            if any(h and h in lowered for h in hosts):
                unparsable.append(use)
            continue
        registry, repository, tag, digest = parsed
        reason = 'in use: %s (%s)' % (use.source, use.image)
        if registry is None:
            add(ANY_REPOSITORY, digest, reason)
            continue
        if use.resolved and digest:
            # the digest the kubelet runs, also under the repository the spec names (another
            # alias of this registry, or the same image known under several names on the node)
            spec = parse_use(ImageUse(use.spec_image, use.source)) if use.spec_image else None
            if spec is not None and spec[0] in hosts and (spec[0], spec[1]) != (registry, repository):
                add(spec[1], digest, reason)
        if registry not in hosts:
            continue
        if digest:
            add(repository, digest, reason)
            continue
        resolved = (tag_maps.get(repository) or {}).get(tag)
        if resolved:
            add(repository, resolved, reason)
    return protected, unparsable


def scan_cluster(client, cluster_name, kinds=KINDS):
    """List every kind in ``kinds`` across all namespaces of one cluster.

    :param client: a ``_k8s.KubeClient`` (``core`` / ``apps`` / ``batch`` and ``list_all``).
    :returns: ``(uses, failures)``: ``uses`` list of ImageUse; ``failures`` list of secret-free
        strings naming what could not be read (kind and the API's error).
    """
    uses = []
    failures = []
    for kind, resource, api_attr, method in kinds:
        try:
            api = getattr(client, api_attr)
            items = client.list_all(resource, getattr(api, method))
        except RegistryLinkError as exc:
            failures.append('%s: cannot list %s: %s' % (cluster_name, resource, exc.msg))
            continue
        except Exception as exc:  # anything unexpected is also "could not read": fail closed
            failures.append('%s: cannot list %s: %s: %s' % (cluster_name, resource, type(exc).__name__, exc))
            continue
        for obj in items:
            uses.extend(object_images(obj, kind, cluster_name))
    return uses, failures


def cluster_label(params, index):
    """A readable, secret-free name for a cluster entry: its context, else kubeconfig path, else host."""
    params = params or {}
    for key in ('context', 'host'):
        if params.get(key):
            return str(params[key])
    kubeconfig = params.get('kubeconfig')
    if isinstance(kubeconfig, str) and kubeconfig:
        return kubeconfig
    return 'cluster[%d]' % index


def scan_clusters(clusters, client_factory):
    """Scan every cluster; fail closed.

    :param clusters: list of cluster parameter dicts (``kubeconfig``, ``context``, ...).
    :param client_factory: callable(params) -> KubeClient (``KubeClient.from_params``).
    :returns: ``(uses, report)``; ``report`` is a list of ``{cluster, objects_scanned?, images}``.
    :raises InUseScanError: when any cluster cannot be connected to or any kind cannot be
        listed; its ``details`` carry ``unreadable`` (every failure, not just the first).
    """
    all_uses = []
    failures = []
    report = []
    for index, params in enumerate(clusters):
        name = cluster_label(params, index)
        try:
            client = client_factory(params)
        except RegistryLinkError as exc:
            failures.append('%s: cannot connect: %s' % (name, exc.msg))
            continue
        except Exception as exc:
            failures.append('%s: cannot connect: %s: %s' % (name, type(exc).__name__, exc))
            continue
        uses, errs = scan_cluster(client, name)
        failures.extend(errs)
        all_uses.extend(uses)
        report.append({'cluster': name, 'images': len(set(u.image for u in uses)), 'complete': not errs})
    if failures:
        raise InUseScanError(
            'in-use protection: %d cluster read(s) failed, so it cannot be proven which images are unused; '
            'nothing was deleted. %s' % (len(failures), ' | '.join(failures)),
            unreadable=failures)
    return all_uses, report
