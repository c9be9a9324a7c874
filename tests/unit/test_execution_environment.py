"""meta/execution-environment.yml: the build context ansible-builder makes of it (offline), the
collection metadata its introspection reads, and the pins matching the versions the tests use."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
META = REPO_ROOT / "meta"
BUILDER = str(Path(sys.executable).parent / "ansible-builder")


def _requirement_lines(path: Path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, 1)[0].lower().replace("_", "-")


def test_ansible_builder_create_writes_the_context_offline(tmp_path):
    # no proxy, no network: create must not need any
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "PIP_NO_INDEX": "1"})
    context = tmp_path / "context"
    proc = subprocess.run([BUILDER, "create", "-f", str(META / "execution-environment.yml"), "--context", str(context),
                           "--output-filename", "Containerfile", "-v", "3"],
                          env=env, capture_output=True, text=True, timeout=300, check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "ansible-core==2.19.14" in containerfile and "ansible-runner==2.4.3" in containerfile
    assert "RUN ansible-doc -t inventory registrylink.k8s.kubeconfig" in containerfile
    build = context / "_build"
    assert (build / "requirements.txt").read_text() == (META / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (META / "bindep.txt").read_text()
    # the build installs the user files together with what introspection finds in the collections
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert {(c["name"], c["version"]) for c in galaxy["collections"]} == {("registrylink.k8s", "0.1.0"),
                                                                          ("amazon.aws", "10.1.2")}


def test_introspection_reads_the_collection_dependencies(tmp_path):
    """What ansible-builder's introspection finds when this collection is installed in an EE."""
    from ansible_builder._target_scripts.introspect import process_collection
    link = tmp_path / "ansible_collections" / "registrylink" / "k8s"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO_ROOT, target_is_directory=True)
    python, system = process_collection(str(link))
    assert python == _requirement_lines(REPO_ROOT / "requirements.txt")
    assert system == _requirement_lines(REPO_ROOT / "bindep.txt")


def test_pins_are_the_versions_the_tests_use():
    definition = yaml.safe_load((META / "execution-environment.yml").read_text())
    deps = definition["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % importlib.metadata.version("ansible-core")
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % importlib.metadata.version("ansible-runner")
    pins = dict(line.split("==") for line in _requirement_lines(META / "requirements.txt"))
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name
    pinned = {_name(n): v for n, v in pins.items()}
    # the collection's requirements and the optional ones of the cloud paths (not dev or bench tooling)
    tooling = ("requirements-dev.txt", "requirements-bench.txt")
    module_requirements = [REPO_ROOT / "requirements.txt"] + [
        p for p in sorted(REPO_ROOT.glob("requirements-*.txt")) if p.name not in tooling]
    for requirement in [line for p in module_requirements for line in _requirement_lines(p)
                        if not line.startswith("-")]:
        req = Requirement(requirement)
        assert _name(req.name) in pinned, "%s has no pin in meta/requirements.txt" % requirement
        assert req.specifier.contains(pinned[_name(req.name)]), "the pin of %s is outside %s" % (req.name, req)
    assert _requirement_lines(META / "bindep.txt") == _requirement_lines(REPO_ROOT / "bindep.txt")
    amazon = [c for c in deps["galaxy"]["collections"] if c["name"] == "amazon.aws"][0]
    from ansible_collections.amazon.aws.plugins.module_utils import common as aws_common  # the tested copy
    assert amazon["version"] == aws_common.AMAZON_AWS_COLLECTION_VERSION
