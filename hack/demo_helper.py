#!/usr/bin/env python
"""The Python half of hack/demo.sh (`make demo`): one subcommand per demo step that needs the
Kubernetes API or the registry.

    demo_helper.py namespaces CONTEXTS NS...        create the demo namespaces (+ legacy-mirror)
    demo_helper.py vars setup|verify|cleanup ...    print a playbook's extra vars (JSON) to stdout
    demo_helper.py stuck CONTEXTS                   a Deployment of the private image, ImagePullBackOff
    demo_helper.py running CONTEXTS                 wait until the kubelet ran it with the pull secret
    demo_helper.py prove CONTEXTS CURL_CFG          pull secrets decode to the registry's credentials
    demo_helper.py verify-prepare CONTEXTS          push demo/hello:1.0, make broken-demo
    demo_helper.py verify-check FLEET_JSON TARGET   the fleet report names the broken namespace
    demo_helper.py cleanup-prepare CONTEXTS         older demo/hello tags, a Deployment running 0.8
    demo_helper.py cleanup-check CONTEXTS GC        only what setup made is gone; 0.8 kept

CONTEXTS is a comma-separated list of kubeconfig contexts. The registry and its credentials come
from the environment (REGISTRY, REGISTRY_USER, REGISTRY_PASSWORD, REGISTRY_CA, set by demo.sh);
passwords never go to argv or stdout. Every failed expectation exits non-zero with a message.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from kubernetes import client as k, config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

from tests.support.kube import dockerconfig_secret, image_pull_secrets as sa_pull_secrets, wait_default_sa  # noqa: E402

STUCK_NS = "demo-api"
STUCK_DEPLOYMENT = "shop"
SECRET = "regcred"


class DemoFailed(Exception):
    pass


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


def kubeconfig() -> str:
    return os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or ""


def api(ctx: str) -> k.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig(), context=ctx or None)


def contexts(arg: str) -> List[str]:
    return arg.split(",")


def registry_auth():
    return os.environ["REGISTRY_USER"], os.environ["REGISTRY_PASSWORD"]


def registry_ca():
    return os.environ.get("REGISTRY_CA") or None


def ignore_conflict(call, *args, **kwargs) -> bool:
    """Call a create; True when it created, False when the object was there already."""
    try:
        call(*args, **kwargs)
        return True
    except ApiException as exc:
        if exc.status != 409:
            raise
        return False


# ------------------------------------------------------------------------------ namespaces

def cmd_namespaces(args) -> None:
    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        for ns in args.namespaces:
            made = ignore_conflict(core.create_namespace, k.V1Namespace(
                metadata=k.V1ObjectMeta(name=ns, labels={"registrylink.demo": "true"})))
            say(f"{ctx}: namespace {ns} {'created' if made else 'exists'}")
            wait_default_sa(core, ns)
        # Someone else's pull secret, already on demo-legacy's default ServiceAccount: it must stay.
        ignore_conflict(core.create_namespaced_secret, "demo-legacy",
                        dockerconfig_secret("legacy-mirror", "mirror.example.test", "mirror-bot", "not-ours"))
        names = sa_pull_secrets(core, "demo-legacy")
        if "legacy-mirror" not in names:
            core.patch_namespaced_service_account("default", "demo-legacy", {
                "imagePullSecrets": [{"name": n} for n in ["legacy-mirror"] + names]})
        say(f"{ctx}: demo-legacy/default imagePullSecrets = {sa_pull_secrets(core, 'demo-legacy')} (unmanaged)")


# ------------------------------------------------------------------------------ playbook vars

def cmd_vars(args) -> None:
    registry = os.environ["REGISTRY"]
    user, password = registry_auth()
    if args.playbook == "setup":
        out: Dict[str, Any] = {
            "registrylink_integration": "registry_credentials",
            "registry_credentials_registries": [{"server": registry, "username": user, "password": password}],
            "registry_credentials_secret_name": SECRET,
            "registry_credentials_namespaces": ["demo-*"],
            "registry_credentials_service_accounts": ["default"],
            # Pods that got stuck before the secret existed are deleted for their controller
            # to recreate: the new ones get the pull secret from the ServiceAccount at admission.
            "registry_credentials_restart_stuck_pods": True,
        }
    elif args.playbook == "verify":
        out = {
            "verify_images": [args.extra[0]],
            "verify_namespaces": ["demo-*", "broken-demo"],
            "verify_secret_name": SECRET,
            "verify_registry_ca_path": registry_ca(),
            "verify_report_dir": args.extra[1],
            "verify_fail_on_error": False,
        }
    else:
        gc = args.extra[0] == "true"
        out = {"registrylink_cleanup_secret_names": [SECRET], "registrylink_cleanup_namespaces": ["demo-*"],
               "cleanup_registry_gc": gc}
        if gc:
            out["cleanup_registry"] = {"registry": registry, "username": user, "password": password,
                                       "registry_ca_path": registry_ca()}
            out["cleanup_retention"] = {"repositories": ["demo/hello"], "keep_last": 1}
    print(json.dumps(out))


# ------------------------------------------------------------------------------ the kubelet journey

def _stuck_deployment(image: str) -> Dict[str, Any]:
    labels = {"app": STUCK_DEPLOYMENT}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": STUCK_DEPLOYMENT},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         # Always: an image already on the node must not pass for working credentials
                         "containers": [{"name": "shop", "image": image, "imagePullPolicy": "Always",
                                         "command": ["sleep", "3600"]}]}}}}


def _pods(core: k.CoreV1Api) -> List[k.V1Pod]:
    return [p for p in core.list_namespaced_pod(STUCK_NS, label_selector=f"app={STUCK_DEPLOYMENT}").items
            if not p.metadata.deletion_timestamp]


def _waiting_reason(pod: k.V1Pod) -> str:
    for st in (pod.status.container_statuses or []) if pod.status else []:
        if st.state and st.state.waiting:
            return st.state.waiting.reason or ""
        if st.state and st.state.running:
            return "Running"
    return pod.status.phase if pod.status else ""


PULL_EVENTS = ("Pulling", "Pulled", "Failed", "BackOff", "FailedToRetrieveImagePullSecret", "Started")


def _kubelet_events(core: k.CoreV1Api, pod: k.V1Pod) -> List[k.CoreV1Event]:
    """The kubelet's image-related events of ``pod``, oldest first."""
    events = core.list_namespaced_event(STUCK_NS, field_selector=f"involvedObject.uid={pod.metadata.uid}").items
    return sorted([e for e in events if e.source and e.source.component == "kubelet" and e.reason in PULL_EVENTS],
                  key=lambda e: e.first_timestamp or e.event_time or e.metadata.creation_timestamp)


def _show_event(e: k.CoreV1Event) -> None:
    count = f" (x{e.count})" if e.count and e.count > 1 else ""
    say(f"    {e.type:7} {e.reason:8} {e.message}{count}")


def _wait(what: str, check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def cmd_stuck(args) -> None:
    image = os.environ["DEMO_IMAGE"]
    for ctx in contexts(args.contexts):
        core, apps = k.CoreV1Api(api(ctx)), k.AppsV1Api(api(ctx))
        expect(SECRET not in sa_pull_secrets(core, STUCK_NS),
               f"{ctx}: {STUCK_NS}/default already lists {SECRET} (left over from an interrupted demo): "
               "`make down && make up` gives a clean start")
        try:  # a rerun starts from a new Deployment
            apps.delete_namespaced_deployment(STUCK_DEPLOYMENT, STUCK_NS, propagation_policy="Foreground")
            _wait("the previous Deployment's pods to go",
                  lambda: not _pods(core) and not apps.list_namespaced_deployment(STUCK_NS).items, 90)
        except ApiException as exc:
            if exc.status != 404:
                raise
        apps.create_namespaced_deployment(STUCK_NS, _stuck_deployment(image))
        say(f"{ctx}: Deployment {STUCK_NS}/{STUCK_DEPLOYMENT} runs {image} (no pull secret yet)")

    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        pod = _wait(f"{ctx}: the kubelet to give up pulling",
                    lambda: next((p for p in _pods(core) if _waiting_reason(p) == "ImagePullBackOff"), None))
        say(f"{ctx}: pod {pod.metadata.name} on node {pod.spec.node_name}: ImagePullBackOff; the kubelet's events:")
        for e in _kubelet_events(core, pod):
            _show_event(e)


def cmd_running(args) -> None:
    image = os.environ["DEMO_IMAGE"]
    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        pod = _wait(f"{ctx}: {STUCK_NS}/{STUCK_DEPLOYMENT} to run",
                    lambda: next((p for p in _pods(core) if _waiting_reason(p) == "Running"), None))
        secrets = [r.name for r in pod.spec.image_pull_secrets or []]
        status = pod.status.container_statuses[0]
        say(f"{ctx}: pod {pod.metadata.name} (new, created by the ReplicaSet) is Running on {pod.spec.node_name}, "
            f"imagePullSecrets {secrets}")
        say(f"{ctx}:     {status.image_id}")
        for e in _kubelet_events(core, pod):
            _show_event(e)
        expect(SECRET in secrets, f"{ctx}: the running pod does not list {SECRET}")
        expect(status.image == image or status.image.endswith("/" + image.split("/", 1)[1]),
               f"{ctx}: the pod runs {status.image}, not {image}")
        digest = os.environ.get("DEMO_IMAGE_DIGEST")
        if digest:
            expect(status.image_id.endswith("@" + digest), f"{ctx}: the pod runs {status.image_id}, not {digest}")


# ------------------------------------------------------------------------------ proof

def cmd_prove(args) -> None:
    registry = os.environ["REGISTRY"]
    user = password = ""
    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        names = sa_pull_secrets(core, "demo-legacy")
        expect(names == ["legacy-mirror", SECRET], f"{ctx}: demo-legacy/default lists {names}")
        say(f"{ctx}: demo-legacy/default imagePullSecrets = {names} (legacy-mirror kept, first)")
        for ns in ("demo-web", "demo-api", "demo-batch"):
            names = sa_pull_secrets(core, ns)
            expect(names == [SECRET], f"{ctx}: {ns}/default lists {names}")
        secret = core.read_namespaced_secret(SECRET, "demo-api")
        expect(secret.type == "kubernetes.io/dockerconfigjson", f"{ctx}: secret type {secret.type}")
        expect((secret.metadata.labels or {}).get("app.kubernetes.io/managed-by") == "registrylink.k8s",
               f"{ctx}: {SECRET} is not labelled as managed by registrylink.k8s")
        entry = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))["auths"][registry]
        user, _sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        expect(user == entry["username"] and password == entry["password"], f"{ctx}: auth and username/password differ")
        say(f'{ctx}: demo-api/{SECRET} decodes to {{"auths": {{"{registry}": {{"username": "{entry["username"]}", '
            '"password": "<redacted>", "auth": "<redacted>"}}}')
    # curl reads the credentials from a config file (never from argv); the last cluster's secret wins.
    quoted = '"%s"' % f"{user}:{password}".replace("\\", "\\\\").replace('"', '\\"')
    fd = os.open(args.curl_cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"user = {quoted}\n")


# ------------------------------------------------------------------------------ verify

def cmd_verify_prepare(args) -> None:
    from tests.support.images import push_image  # noqa: PLC0415

    digest = push_image("https://" + os.environ["REGISTRY"], "demo/hello", ["1.0"], auth=registry_auth(),
                        ca=registry_ca())
    say(f"pushed demo/hello:1.0 ({digest})")
    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        ignore_conflict(core.create_namespace, k.V1Namespace(metadata=k.V1ObjectMeta(name="broken-demo")))
        sa = k.V1ServiceAccount(metadata=k.V1ObjectMeta(name="default"),
                                image_pull_secrets=[k.V1LocalObjectReference(name=SECRET)])
        if not ignore_conflict(core.create_namespaced_service_account, "broken-demo", sa):
            core.patch_namespaced_service_account("default", "broken-demo", {"imagePullSecrets": [{"name": SECRET}]})
        say(f"{ctx}: broken-demo/default lists {SECRET}, which does not exist there")


def cmd_verify_check(args) -> None:
    report = json.loads(Path(args.fleet).read_text())
    for cluster in report["clusters"]:
        say(f"{cluster.get('cluster')}: ok={cluster.get('ok')} category={cluster.get('category')}")
        if args.target == "local":
            expect(not cluster.get("ok"), "the broken namespace was not reported")
            expect("broken-demo" in json.dumps(cluster), "the diagnosis does not name broken-demo")
    say("machine-readable report: fleet.json (verify_report_dir)")


# ------------------------------------------------------------------------------ cleanup

def cmd_cleanup_prepare(args) -> None:
    from tests.support.images import push_image  # noqa: PLC0415

    for tag, created in (("0.8", "2023-01-01T00:00:00Z"), ("0.9", "2023-06-01T00:00:00Z")):
        push_image("https://" + os.environ["REGISTRY"], "demo/hello", [tag], auth=registry_auth(), ca=registry_ca(),
                   created=created)
    say("pushed demo/hello:0.8 and 0.9 (older than 1.0)")
    ctx = contexts(args.contexts)[0]
    image = os.environ["REGISTRY"] + "/demo/hello:0.8"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                    "template": {"metadata": {"labels": {"app": "hello"}},
                                 "spec": {"containers": [{"name": "hello", "image": image}]}}}}
    ignore_conflict(k.AppsV1Api(api(ctx)).create_namespaced_deployment, "demo-web", dep)
    say(f"{ctx}: Deployment demo-web/hello runs {image}: retention must keep it")


def cmd_cleanup_check(args) -> None:
    from tests.support.images import list_tags  # noqa: PLC0415

    for ctx in contexts(args.contexts):
        core = k.CoreV1Api(api(ctx))
        names = sa_pull_secrets(core, "demo-legacy")
        expect(names == ["legacy-mirror"], f"{ctx}: demo-legacy/default lists {names}")
        left = [s.metadata.namespace for s in
                core.list_secret_for_all_namespaces(field_selector=f"metadata.name={SECRET}").items]
        expect(not [ns for ns in left if ns.startswith("demo-")], f"{ctx}: {SECRET} left in {left}")
        say(f"{ctx}: {SECRET} detached and deleted in demo-*; demo-legacy/default still lists {names}")
    if args.gc == "true":
        tags = sorted(list_tags("https://" + os.environ["REGISTRY"], "demo/hello", auth=registry_auth(),
                                ca=registry_ca()))
        expect("0.8" in tags and "1.0" in tags and "0.9" not in tags, f"demo/hello tags {tags}")
        say(f"registry demo/hello tags after retention: {tags} (0.8 kept: a Deployment runs it)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="hack/demo_helper.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("namespaces")
    p.add_argument("contexts")
    p.add_argument("namespaces", nargs="+")
    p.set_defaults(func=cmd_namespaces)
    p = sub.add_parser("vars")
    p.add_argument("playbook", choices=("setup", "verify", "cleanup"))
    p.add_argument("extra", nargs="*")
    p.set_defaults(func=cmd_vars)
    for name, func in (("stuck", cmd_stuck), ("running", cmd_running), ("verify-prepare", cmd_verify_prepare),
                       ("cleanup-prepare", cmd_cleanup_prepare)):
        p = sub.add_parser(name)
        p.add_argument("contexts")
        p.set_defaults(func=func)
    p = sub.add_parser("prove")
    p.add_argument("contexts")
    p.add_argument("curl_cfg")
    p.set_defaults(func=cmd_prove)
    p = sub.add_parser("verify-check")
    p.add_argument("fleet")
    p.add_argument("target")
    p.set_defaults(func=cmd_verify_check)
    p = sub.add_parser("cleanup-check")
    p.add_argument("contexts")
    p.add_argument("gc")
    p.set_defaults(func=cmd_cleanup_check)
    args = ap.parse_args(argv)
    try:
        args.func(args)
    except DemoFailed as exc:
        print(f"[demo] FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
