"""Filters registrylink.k8s.pull_secret_drift, verify_drift and drift_report (pure)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.registrylink.k8s.plugins.filter import drift as d

SECRET = "pw-4b1d9e"  # a value that must never reach a report


def secret_result(*rows, namespaces=None):
    results = [dict({"name": "regcred", "servers": ["registry.example.com"]}, namespace=ns, action=action, **extra)
               for ns, action, extra in rows]
    return {"changed": any(r["action"] != "unchanged" for r in results), "results": results,
            "namespaces": namespaces if namespaces is not None else [r["namespace"] for r in results],
            "diff": {"after": SECRET}}


def sa_result(*rows, stuck=()):
    return {"results": [dict(namespace=ns, service_account=sa, action=action, **extra) for ns, sa, action, extra in rows],
            "stuck_pods": list(stuck)}


def test_setup_drift_sorts_every_action_into_its_kind():
    secrets = secret_result(
        ("a", "unchanged", {}),
        ("b", "created", {}),
        ("c", "updated", {}),
        ("d", "updated", {"refreshed": True, "refresh_reason": "expires in 2h10m, within refresh_before (6h00m)",
                          "expires_at": "2026-01-02T00:00:00Z"}),
        ("e", "updated", {"refreshed": True, "refresh_reason": "expired 1h00m ago"}),
        ("f", "updated", {"refreshed": True, "refresh_reason": "the provider entry changed since the token was minted"}),
        ("g", "failed", {"msg": "forbidden"}),
    )
    sas = sa_result(("a", "default", "unchanged", {}), ("c", "default", "updated", {"added": ["regcred"]}),
                    ("c", "builder", "missing", {"msg": "ServiceAccount builder does not exist"}),
                    ("h", "default", "failed", {"msg": "conflict"}),
                    stuck=[{"namespace": "c", "name": "web-1", "reasons": ["ImagePullBackOff"],
                            "missing_pull_secrets": ["regcred"]}])
    report = d.pull_secret_drift(secrets, sas)
    assert report["source"] == "setup" and report["secret_name"] == "regcred" and report["namespaces"] == 7
    assert report["missing_secret"] == ["b"]
    assert report["stale_secret"] == ["c", "f"]
    assert report["expiring_tokens"] == ["d", "e"]
    assert report["unwired_service_accounts"] == ["c/builder", "c/default"]
    assert report["stuck_pods"] == ["c/web-1"]
    assert report["other"] == ["g", "h/default"]
    assert report["drift"] == 1 + 2 + 2 + 2 + 1 + 2
    assert len(report["details"]) == report["drift"]
    expiring = [x for x in report["details"] if x["item"] == "d"]
    assert expiring == [{"kind": "expiring_tokens", "item": "d", "namespace": "d",
                         "detail": "expires in 2h10m, within refresh_before (6h00m)"}]
    assert [x["detail"] for x in report["details"] if x["item"] == "c/default"] == ["imagePullSecrets lacks regcred"]
    assert SECRET not in json.dumps(report)


def test_converged_cluster_has_no_drift():
    report = d.pull_secret_drift(secret_result(("a", "unchanged", {}), ("b", "unchanged", {})),
                                 sa_result(("a", "default", "unchanged", {}), ("b", "default", "unchanged", {})))
    assert report["drift"] == 0 and report["details"] == [] and report["namespaces"] == 2
    assert all(report[kind] == [] for kind, title in d.KINDS)


def test_setup_drift_without_service_account_result():
    report = d.pull_secret_drift(secret_result(("a", "created", {})))
    assert report["drift"] == 1 and report["missing_secret"] == ["a"] and report["unwired_service_accounts"] == []


@pytest.mark.parametrize("bad", ["text", ["a"], 3])
def test_setup_drift_refuses_what_is_not_a_result(bad):
    with pytest.raises(AnsibleFilterError, match="registered result"):
        d.pull_secret_drift(bad)


def verify_row(ns, problems=(), sas=(("default", True, True),)):
    return {"namespace": ns, "ok": not problems, "problems": [dict(p) for p in problems],
            "service_accounts": [{"name": n, "found": f, "wired": w} for n, f, w in sas]}


def test_verify_drift_maps_problem_codes():
    out = {"namespaces": [
        verify_row("a"),
        verify_row("b", [{"code": "secret_missing", "detail": "the Secret does not exist"}],
                   sas=(("default", True, False),)),
        verify_row("c", [{"code": "secret_shape", "detail": "no auths"}]),
        verify_row("d", [{"code": "probe_failed", "category": "unauthorized", "image": "reg/app:1"}]),
        verify_row("e", [{"code": "probe_failed", "category": "expired_credentials", "image": "reg/app:1"}]),
        verify_row("f", [{"code": "probe_failed", "category": "connect", "image": "reg/app:1"}]),
        verify_row("g", [{"code": "service_account_missing"}], sas=(("default", False, False),)),
    ], "stuck_pods": [{"namespace": "b", "name": "web-1", "category": "no_credentials_matched"}]}
    report = d.verify_drift(out)
    assert report["source"] == "verify" and report["namespaces"] == 7
    assert report["missing_secret"] == ["b"]
    assert report["stale_secret"] == ["c", "d"]
    assert report["expiring_tokens"] == ["e"]
    assert report["other"] == ["f"]
    assert report["unwired_service_accounts"] == ["b/default", "g/default"]
    assert report["stuck_pods"] == ["b/web-1"]
    assert report["drift"] == 8


def test_fleet_report_totals_table_and_skipped_clusters():
    drifted = d.pull_secret_drift(secret_result(("a", "created", {}), ("b", "unchanged", {})),
                                  sa_result(("a", "default", "updated", {"added": ["regcred"]})))
    clean = d.pull_secret_drift(secret_result(("a", "unchanged", {})))
    fleet = d.drift_report({"prod-2": drifted, "prod-1": clean, "edge": None})
    assert [c["cluster"] for c in fleet["clusters"]] == ["prod-1", "prod-2"]
    assert fleet["drift"] == 2 and fleet["clusters_with_drift"] == ["prod-2"]
    assert fleet["counts"] == {"missing_secret": 1, "stale_secret": 0, "expiring_tokens": 0,
                               "unwired_service_accounts": 1, "stuck_pods": 0, "other": 0}
    table = fleet["table"]
    assert table[0].split() == ["cluster", "namespaces", "missing", "secret", "stale", "secret", "expiring", "token",
                                "SA", "not", "wired", "stuck", "pods", "other", "drift"]
    assert table[2].split() == ["prod-1", "1", "0", "0", "0", "0", "0", "0", "0"]
    assert table[3].split() == ["prod-2", "2", "1", "0", "0", "1", "0", "0", "2"]
    assert table[4].split() == ["fleet", "(2)", "3", "1", "0", "0", "1", "0", "0", "2"]
    assert table[5:] == ["prod-2: missing secret a - the Secret does not exist",
                         "prod-2: SA not wired a/default - imagePullSecrets lacks regcred"]
    assert len({len(line) for line in table[:2]}) == 1
    assert d.drift_report({"x": clean})["table"][-1].startswith("no drift")


def test_fleet_report_refuses_foreign_values():
    with pytest.raises(AnsibleFilterError, match="not the output"):
        d.drift_report({"x": {"changed": True}})
    with pytest.raises(AnsibleFilterError, match="dict of cluster"):
        d.drift_report(["x"])


def test_filters_are_registered():
    assert sorted(d.FilterModule().filters()) == ["drift_report", "pull_secret_drift", "verify_drift"]
