"""A ServiceAccount that holds exactly the rights of one RBAC manifest, and a kubeconfig for its token.

    grant = Grant(localenv, admin_api, "rbac-ns", "docs/rbac/registry_secret-write.yml", tmp_path)
    grant.kubeconfig                       # a kubeconfig file: server, CA, a TokenRequest token; nothing else
    grant.set_rules(without(grant.rules, ("", "secrets", "update")))   # waits until the authorizer agrees
    grant.close()                          # deletes the ClusterRole and its bindings
    for triple in take_away_each(grant): ...   # each verb of the manifest taken away in turn, then put back

The manifest's ClusterRole is created under a unique name and bound to the ServiceAccount with a
ClusterRoleBinding (``namespaces=None``), or with one RoleBinding per namespace in ``namespaces``
(the namespaced mode). After every change of rules the helper asks the API server
(SubjectAccessReview, as the admin) until each verb of the manifest is allowed or denied as the new
rules say: RBAC changes reach the authorizer through an informer, a moment later.
"""

from __future__ import annotations

import importlib
import secrets
import time
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from kubernetes import client as k8s

from tests.support.ansible_run import TaskRun

REPO_ROOT = Path(__file__).resolve().parents[2]
Triple = Tuple[str, str, str]  # (api group, resource, verb)


def load_manifest(path) -> dict:
    """The ClusterRole of a manifest file under docs/rbac/ (path relative to the repository root)."""
    doc = yaml.safe_load((REPO_ROOT / path).read_text())
    if doc.get("kind") != "ClusterRole":
        raise ValueError(f"{path}: expected a ClusterRole, got {doc.get('kind')}")
    return doc


def triples(rules: Iterable[dict]) -> List[Triple]:
    """Every (api group, resource, verb) a list of rules grants, in the manifest's order."""
    out = []
    for rule in rules:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if (group, resource, verb) not in out:
                        out.append((group, resource, verb))
    return out


def without(rules: Sequence[dict], triple: Triple) -> List[dict]:
    """``rules`` with one verb on one resource taken away (a rule left with no verb is dropped)."""
    group, resource, verb = triple
    out = []
    for rule in rules:
        if group in (rule.get("apiGroups") or [""]) and resource in rule["resources"] and verb in rule["verbs"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                out.append(dict(rule, resources=others))
            verbs = [v for v in rule["verbs"] if v != verb]
            if verbs:
                out.append(dict(rule, resources=[resource], verbs=verbs))
        else:
            out.append(dict(rule))
    return out


def take_away_each(grant: "Grant"):
    """Each (api group, resource, verb) of the grant's manifest in turn, with the ServiceAccount's rules
    set to the manifest without it (waiting until the authorizer agrees); the whole manifest is put back
    after the last one. The take-a-verb-away matrix of every manifest test::

        for triple in take_away_each(grant):
            run = ...                      # a scenario that needs that verb
            assert run.failed ...          # naming the verb, the resource, the scope and the rule
    """
    for triple in triples(grant.manifest_rules):
        grant.set_rules(without(grant.manifest_rules, triple))
        yield triple
    grant.set_rules(grant.manifest_rules)


class Grant:
    """A ServiceAccount bound to one ClusterRole built from a manifest; see the module docstring."""

    def __init__(self, localenv, api: k8s.ApiClient, sa_namespace: str, manifest: str, tmp_dir: Path,
                 namespaces: Optional[Sequence[str]] = None, context: str = "local-1"):
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.rbac = k8s.RbacAuthorizationV1Api(api)
        self.sa_namespace = sa_namespace
        self.sa = "rl-bot"
        self.namespaces = list(namespaces) if namespaces is not None else None
        # manifest=None: a ServiceAccount bound to nothing (no ClusterRole, no binding): no rights at all
        nothing = {"metadata": {"name": "registrylink-nothing"}, "rules": []}
        doc = load_manifest(manifest) if manifest is not None else nothing
        self.manifest_rules = doc["rules"]
        self.rules = doc["rules"]
        self.name = f"{doc['metadata']['name']}-{secrets.token_hex(3)}"
        self.bound = manifest is not None
        self.core.create_namespaced_service_account(sa_namespace, k8s.V1ServiceAccount(
            metadata=k8s.V1ObjectMeta(name=self.sa)))
        token = self.core.create_namespaced_service_account_token(self.sa, sa_namespace, k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
        self.token = token
        cluster = localenv.cluster(context)
        self.kubeconfig = str(Path(tmp_dir) / f"{self.name}.kubeconfig")
        Path(self.kubeconfig).write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "bot",
            "clusters": [{"name": "c", "cluster": {"server": cluster["server"], "certificate-authority": cluster["ca"]}}],
            "users": [{"name": "bot", "user": {"token": token}}],
            "contexts": [{"name": "bot", "context": {"cluster": "c", "user": "bot"}}],
        }))
        if not self.bound:
            return
        self.rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=self.name),
                                                        rules=self._rules(self.rules)))
        role_ref = k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=self.name)
        subject = k8s.RbacV1Subject(kind="ServiceAccount", name=self.sa, namespace=sa_namespace)
        if self.namespaces is None:
            self.rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
                metadata=k8s.V1ObjectMeta(name=self.name), role_ref=role_ref, subjects=[subject]))
        else:
            for ns in self.namespaces:
                self.rbac.create_namespaced_role_binding(ns, k8s.V1RoleBinding(
                    metadata=k8s.V1ObjectMeta(name=self.name), role_ref=role_ref, subjects=[subject]))
        self._wait()

    @staticmethod
    def _rules(rules):
        return [k8s.V1PolicyRule(api_groups=r.get("apiGroups") or [""], resources=r["resources"], verbs=r["verbs"])
                for r in rules]

    def set_rules(self, rules: Sequence[dict]) -> None:
        """Replace the ClusterRole's rules and wait until the authorizer answers with them."""
        self.rules = list(rules)
        body = self.rbac.read_cluster_role(self.name)
        body.rules = self._rules(self.rules)
        self.rbac.replace_cluster_role(self.name, body)
        self._wait()

    def allowed(self, group: str, resource: str, verb: str, namespace: Optional[str] = None) -> bool:
        """The authorizer's answer for the ServiceAccount (SubjectAccessReview, asked by the admin)."""
        user = f"system:serviceaccount:{self.sa_namespace}:{self.sa}"
        review = k8s.AuthorizationV1Api(self.api).create_subject_access_review(k8s.V1SubjectAccessReview(
            spec=k8s.V1SubjectAccessReviewSpec(
                user=user, groups=["system:serviceaccounts", f"system:serviceaccounts:{self.sa_namespace}",
                                   "system:authenticated"],
                resource_attributes=k8s.V1ResourceAttributes(group=group, resource=resource, verb=verb,
                                                             namespace=namespace))))
        return bool(review.status.allowed)

    def _wait(self, timeout: float = 20.0) -> None:
        wanted = set(triples(self.rules))
        where = self.namespaces[0] if self.namespaces else None
        deadline = time.monotonic() + timeout
        while True:
            wrong = [t for t in triples(self.manifest_rules) if self.allowed(*t, namespace=where) != (t in wanted)]
            if not wrong:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"RBAC of {self.name} not in effect after {timeout:g}s: {wrong}")
            time.sleep(0.1)

    def close(self) -> None:
        if not self.bound:
            return
        if self.namespaces is None:
            _ignore_404(self.rbac.delete_cluster_role_binding, self.name)
        else:
            for ns in self.namespaces:
                _ignore_404(self.rbac.delete_namespaced_role_binding, self.name, ns)
        _ignore_404(self.rbac.delete_cluster_role, self.name)


def run_in_process(module: str, runner_class, args: dict, check: bool = False) -> TaskRun:
    """Run a module's runner in this process, with the parameters Ansible would give it (the module's
    own argument spec, defaults included) and the failure ``run_module`` would report (``msg`` and the
    error's details). For the many short runs of a rule-removal matrix; ``ansible-playbook`` costs
    seconds per run on a busy machine. ``TaskRun.output`` holds the message and the warnings."""
    from ansible_collections.registrylink.k8s.plugins.module_utils._errors import RegistryLinkError

    spec = importlib.import_module(f"ansible_collections.registrylink.k8s.plugins.modules.{module}").argument_spec()
    validated = ArgumentSpecValidator(spec).validate(args)
    if validated.error_messages:
        raise AssertionError(f"{module}: bad arguments {validated.error_messages}")
    warnings: List[str] = []
    try:
        result = runner_class(validated.validated_parameters, check_mode=check, warn=warnings.append).run()
    except RegistryLinkError as exc:
        result = dict(exc.details, failed=True, msg=exc.msg)
        result.setdefault("changed", False)
    result.pop("diff", None)
    if warnings:
        result["warnings"] = warnings
    return TaskRun(result=result, output="\n".join([str(result.get("msg", ""))] + warnings), rc=2 if result.get("failed") else 0)


def _ignore_404(func, *args):
    try:
        func(*args)
    except k8s.exceptions.ApiException as exc:
        if exc.status != 404:
            raise
