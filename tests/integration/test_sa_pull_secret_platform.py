"""sa_pull_secret with purge next to an entry a platform controller manages (OpenShift's dockercfg).

OpenShift adds ``<ServiceAccount>-dockercfg-<suffix>`` to every ServiceAccount for its internal
registry and puts it back whenever it is removed. OpenShift does not run here, so a stand-in for that
controller runs in a thread against the real API server: it watches the namespace's ServiceAccounts
and, like OpenShift's, adds the entry back (read-modify-write with the resourceVersion) when it is
missing. With the default ``platform_pull_secrets``, three purge runs report changed, unchanged,
unchanged and the controller never has to act. With ``platform_pull_secrets: []``, every purge
removes the entry, the controller adds it back, and every run reports a change: the flapping loop.
"""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from ansible_collections.registrylink.k8s.plugins.module_utils._sa_pull_secret import SaPullSecretRunner
from tests.support.ansible_run import run_module
from tests.support.rbac import run_in_process

MODULE = "registrylink.k8s.sa_pull_secret"
SUFFIX = "x7k2p"


class DockercfgController:
    """Stand-in for OpenShift's controller: keeps ``<sa>-dockercfg-<suffix>`` in ``default``'s list."""

    def __init__(self, core, ns):
        self.core = core
        self.ns = ns
        self.entry = f"default-dockercfg-{SUFFIX}"
        self.readds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors = []

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        try:
            while not self._stop.is_set():
                w = watch.Watch()
                for event in w.stream(self.core.list_namespaced_service_account, self.ns, timeout_seconds=1):
                    sa = event["object"]
                    if sa.metadata.name == "default" and event["type"] != "DELETED":
                        self._ensure(sa)
                    if self._stop.is_set():
                        w.stop()
                        break
        except Exception as exc:  # reported by the test
            self.errors.append(exc)

    def _ensure(self, sa):
        names = [r.name for r in sa.image_pull_secrets or []]
        if self.entry in names:
            return
        sa.image_pull_secrets = (sa.image_pull_secrets or []) + [k8s.V1LocalObjectReference(name=self.entry)]
        try:
            self.core.replace_namespaced_service_account("default", self.ns, sa)
            self.readds += 1
        except ApiException as exc:
            if exc.status != 409:  # a newer version is on its way through the watch
                raise

    def wait_readds(self, count, timeout=15):
        deadline = time.monotonic() + timeout
        while self.readds < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the stand-in controller re-added {self.readds} times, expected {count}")
            time.sleep(0.05)


@pytest.fixture
def openshift_like(kube_client, unique_ns):
    core = k8s.CoreV1Api(kube_client("local-1"))
    ns = unique_ns("saplat")
    for name, stype in (("regcred", "Opaque"), ("old-pull", "Opaque"), (f"default-dockercfg-{SUFFIX}", "Opaque")):
        core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), type=stype,
                                                       string_data={"x": "y"}))
    sa = core.read_namespaced_service_account("default", ns)
    sa.image_pull_secrets = [k8s.V1LocalObjectReference(name=f"default-dockercfg-{SUFFIX}"),
                             k8s.V1LocalObjectReference(name="old-pull")]
    core.replace_namespaced_service_account("default", ns, sa)
    controller = DockercfgController(core, ns)
    controller.start()
    yield core, ns, controller
    controller.stop()
    assert not controller.errors, controller.errors


def _names(core, ns):
    return [r.name for r in core.read_namespaced_service_account("default", ns).image_pull_secrets or []]


def test_three_purge_runs_leave_the_platform_entry_and_report_changed_unchanged_unchanged(localenv, openshift_like):
    core, ns, controller = openshift_like
    args = {"pull_secrets": ["regcred"], "namespaces": [ns], "purge": True}
    runs = [run_module(localenv, MODULE, args) for _i in range(3)]
    for run in runs:
        assert not run.failed, run.result.get("msg")
    assert [r.changed for r in runs] == [True, False, False]
    assert runs[0].result["results"][0]["removed"] == ["old-pull"]
    assert _names(core, ns) == [f"default-dockercfg-{SUFFIX}", "regcred"]
    assert controller.readds == 0


def test_purge_without_platform_patterns_flaps_against_the_controller(localenv, openshift_like):
    """What the default prevents (docs: the flapping risk of exact lists). In process: the runs through
    ansible-playbook are the test above; this one is about the controller's answer."""
    core, ns, controller = openshift_like
    args = {"pull_secrets": ["regcred"], "namespaces": [ns], "purge": True, "platform_pull_secrets": []}
    changed = []
    for attempt in range(1, 4):
        run = run_in_process("sa_pull_secret", SaPullSecretRunner, dict(args, kubeconfig=localenv.kubeconfig))
        assert not run.failed, run.result.get("msg")
        assert f"default-dockercfg-{SUFFIX}" in run.result["results"][0]["removed"]
        changed.append(run.changed)
        controller.wait_readds(attempt)
    assert changed == [True, True, True]
    assert _names(core, ns) == ["regcred", f"default-dockercfg-{SUFFIX}"]
    # naming it with state=absent removes it (the controller then adds it back, as OpenShift would)
    run = run_in_process("sa_pull_secret", SaPullSecretRunner, {
        "pull_secrets": [f"default-dockercfg-{SUFFIX}"], "namespaces": [ns], "state": "absent",
        "kubeconfig": localenv.kubeconfig})
    assert run.result["results"][0]["removed"] == [f"default-dockercfg-{SUFFIX}"]
