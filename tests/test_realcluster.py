"""Lesson checks against a real cluster (k3d, kind, ...), for CI runners that have Docker.

Skipped unless KUBELESSON_REAL_CONTEXT names the context to use; never run by default,
and the autouse guard's kubeconfig is replaced only by the user's own one here."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Cli

pytestmark = pytest.mark.realcluster
CONTEXT = os.environ.get("KUBELESSON_REAL_CONTEXT")


@pytest.mark.skipif(not CONTEXT, reason="set KUBELESSON_REAL_CONTEXT to a real cluster's context")
def test_check_3_on_a_real_cluster(cli: Cli) -> None:
    real_config = os.environ.get("KUBELESSON_REAL_KUBECONFIG", os.path.expanduser("~/.kube/config"))
    cli.env["KUBECONFIG"] = real_config
    result = cli("check", "3", "--context", str(CONTEXT), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
