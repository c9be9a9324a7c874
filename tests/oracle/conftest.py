"""Fixtures for the kubelet oracle tests: one oracle process per test session."""

from __future__ import annotations

import pytest

from .oracle_client import KubeletOracle

_STATE = {}


@pytest.fixture(scope="session")
def oracle():
    """The running kubelet oracle (hack/build-oracle.sh builds it when it is not cached).
    Fails, never skips, when it cannot be built."""
    orc = KubeletOracle.start()
    _STATE["oracle"] = orc
    yield orc
    orc.close()


def pytest_terminal_summary(terminalreporter):
    orc = _STATE.get("oracle")
    if orc is not None:
        terminalreporter.write_line("kubelet oracle: k8s.io/kubernetes %s built with %s%s" % (
            orc.version.get("kubernetes"), orc.version.get("go"),
            "  ** FALLBACK: %s **" % orc.fallback if orc.fallback else ""))
