"""Real Pods on the local environment's node: create them, wait for the kubelet's verdict, clean up.

The kubelet is the judge in the tests that use this: a Pod really runs or really fails to pull.
Timings on the local node (kubelet v1.33.13, containerd 1.6): ``ErrImagePull`` about 2.5 s after
the Pod is created, ``ImagePullBackOff`` after 13-17 s (the first back-off is 10 s), Running
about 3 s. Every wait here polls the real status and events with a bound and fails with what it
last saw::

    from tests.support.realpods import busybox_pod, wait_verdict, push_busybox_build

    core.create_namespaced_pod(ns, busybox_pod("app", image, pull_secrets=["regcred"]))
    verdict = wait_verdict(core, ns, "app")          # Verdict(state="Running", ...)
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kubernetes import client as k
from kubernetes.client.rest import ApiException

from tests.support.images import OCI_MANIFEST, RegistryClient, busybox_image

RUNNING = "Running"
BACKOFF = "ImagePullBackOff"
PULL_FAILED = ("ErrImagePull", "ImagePullBackOff")


@dataclasses.dataclass
class Verdict:
    """What the kubelet decided for a Pod's (first) container: ``state`` is ``Running`` or the
    waiting reason (``ImagePullBackOff``); ``message`` the kubelet's pull failure text (from the
    ``Failed`` event, else the waiting message); ``image_id`` the container status ``imageID``;
    ``events`` the Pod's event reasons in order; ``seconds`` from the start of the wait."""

    state: str
    message: str
    image_id: str
    events: List[str]
    seconds: float
    node: Optional[str]


def busybox_pod(name: str, image: str, pull_secrets: Sequence[str] = (), labels: Optional[Dict[str, str]] = None,
                service_account: Optional[str] = None, command: Sequence[str] = ("sleep", "3600")) -> k.V1Pod:
    """A Pod running ``command`` (``sleep 3600``) from ``image`` with ``imagePullPolicy: Always`` (a copy
    already on the node must never hide a credential failure) and no grace period (fast clean-up)."""
    spec = k.V1PodSpec(
        containers=[k.V1Container(name="app", image=image, image_pull_policy="Always", command=list(command))],
        image_pull_secrets=[k.V1LocalObjectReference(name=s) for s in pull_secrets] or None,
        service_account_name=service_account, termination_grace_period_seconds=0,
        automount_service_account_token=False)
    return k.V1Pod(metadata=k.V1ObjectMeta(name=name, labels=labels), spec=spec)


def busybox_deployment(name: str, image: str) -> k.V1Deployment:
    """A one-replica Deployment of the busybox Pod above (its pull secrets come from the ServiceAccount)."""
    labels = {"app": name}
    pod = busybox_pod(name, image)
    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name=name),
        spec=k.V1DeploymentSpec(replicas=1, selector=k.V1LabelSelector(match_labels=labels),
                                template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels=labels), spec=pod.spec)))


def pod_events(core: k.CoreV1Api, ns: str, name: str) -> List[Any]:
    items = core.list_namespaced_event(ns, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}").items
    return sorted(items, key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp).isoformat())


def _container_state(pod: Any) -> Tuple[Optional[str], str, str]:
    for cs in (pod.status.container_statuses or []) if pod.status else []:
        if cs.state and cs.state.running:
            return RUNNING, "", cs.image_id or ""
        if cs.state and cs.state.waiting:
            return cs.state.waiting.reason, cs.state.waiting.message or "", cs.image_id or ""
    return None, "", ""


def wait_verdict(core: k.CoreV1Api, ns: str, name: str, want: Sequence[str] = (RUNNING, BACKOFF),
                 timeout: float = 90.0) -> Verdict:
    """Poll the Pod (every 0.5 s, at most ``timeout`` s) until its container is in one of the
    states ``want`` (``Running`` or a waiting reason); then read the kubelet's events."""
    start = time.monotonic()
    last: Tuple[Optional[str], str, str] = (None, "", "")
    node = None
    while time.monotonic() - start < timeout:
        pod = core.read_namespaced_pod(name, ns)
        node = pod.spec.node_name
        last = _container_state(pod)
        if last[0] in want:
            break
        time.sleep(0.5)
    else:
        events = [f"{e.reason}: {e.message}" for e in pod_events(core, ns, name)]
        raise AssertionError(f"pod {ns}/{name}: no kubelet verdict in {want} within {timeout}s; last state "
                             f"{last[0]!r} ({last[1]!r}) on node {node!r}; events: {events}")
    seconds = time.monotonic() - start
    # the kubelet's events are written asynchronously: give the one that goes with the state a moment
    settle = time.monotonic() + 10
    while True:
        events = pod_events(core, ns, name)
        failed = [e.message for e in events if e.reason == "Failed" and "Failed to pull image" in (e.message or "")]
        reasons = [e.reason for e in events]
        if (last[0] == RUNNING and "Started" in reasons) or (last[0] in PULL_FAILED and failed) or \
                last[0] not in PULL_FAILED + (RUNNING,) or time.monotonic() > settle:
            break
        time.sleep(0.3)
    return Verdict(state=last[0] or "", message=(failed[-1] if failed else last[1]), image_id=last[2],
                   events=[e.reason for e in events], seconds=round(seconds, 1), node=node)


def wait_gone(core: k.CoreV1Api, ns: str, name: str, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            core.read_namespaced_pod(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    raise AssertionError(f"pod {ns}/{name} still exists {timeout}s after its deletion")


def delete_pods(core: k.CoreV1Api, ns: str) -> None:
    """Delete every Pod of ``ns`` at once (grace period 0); a missing namespace is fine."""
    try:
        core.delete_collection_namespaced_pod(ns, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


def push_busybox_build(registry: Any, repo: str, tags: Sequence[str], created: str) -> str:
    """Push the busybox image with its own ``created`` time (so each build is a distinct image:
    another config, another manifest digest, the same layer) under ``tags``; returns the digest."""
    _manifest, config, layer = busybox_image()
    cfg = json.loads(config)
    cfg["created"] = created
    cfg["history"] = [dict(h, created=created) for h in cfg.get("history") or []]
    config = json.dumps(cfg, separators=(",", ":"), sort_keys=True).encode()
    client = RegistryClient(registry)
    config_digest = client.push_blob(repo, config)
    layer_digest = client.push_blob(repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": json.loads(_manifest)["config"]["mediaType"], "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": json.loads(_manifest)["layers"][0]["mediaType"], "digest": layer_digest,
                    "size": len(layer)}],
    }, separators=(",", ":"), sort_keys=True).encode()
    digest = ""
    for tag in tags:
        digest = client.put_manifest(repo, tag, manifest, OCI_MANIFEST)
    return digest
