"""What kube-apiserver does to apps/v1 objects before storing them: defaults and validation.

Installed as the store's admission hook, so it sees every create and update of a
Deployment, ReplicaSet, StatefulSet or DaemonSet, whichever verb (POST, PUT, PATCH,
server-side apply) or controller wrote it. Defaults follow pkg/apis/apps/v1/defaults.go
and the pod-spec defaults of core/v1; the messages follow pkg/apis/apps/validation, with
the value rendering of the apiserver version the simulator reports (Go syntax before 1.34,
JSON from 1.34, kubernetes PR #132314).
"""

from __future__ import annotations

import json
from typing import Any

from kubelesson.sim.api import errors
from kubelesson.sim.api.cluster import _pod_causes, _pull_policy
from kubelesson.sim.api.resources import RESOURCES, ResourceType
from kubelesson.sim.controllers import selectors
from kubelesson.sim.kubelet import probes
from kubelesson.sim.options import SimOptions
from kubelesson.sim.store import Obj

Cause = tuple[str, str, str]
APPS = ("deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps")
_BY_KEY = {rt.key: rt for rt in RESOURCES}
MISMATCH = "`selector` does not match template `labels`"


class AppsAdmission:
    """The store's admission hook for the apps kinds."""

    def __init__(self, options: SimOptions) -> None:
        self.minor = options.minor

    def __call__(self, resource: str, old: Obj | None, new: Obj) -> None:
        if resource not in APPS:
            return
        rt = _BY_KEY[resource]
        if old is None:
            new["status"] = initial_status(resource)
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        if old is not None and spec == old.get("spec"):
            return  # a status or metadata write: nothing to default or validate
        apply_defaults(resource, spec, self.minor)
        causes = self.spec_causes(resource, spec)
        if old is not None:
            causes += self.update_causes(resource, spec, old.get("spec") or {})
        if causes:
            raise errors.invalid(rt, str(new["metadata"].get("name", "")), causes)

    # -- value rendering -------------------------------------------------------------
    def render(self, kind: str, value: Any) -> str:
        """A value as field.Invalid prints it; kind is labels, selector or intstr."""
        if self.minor >= 34:
            return json.dumps(value, separators=(",", ":"), sort_keys=True)
        return _go_syntax(kind, value)

    # -- validation ------------------------------------------------------------------
    def spec_causes(self, resource: str, spec: Obj) -> list[Cause]:
        what = resource.split(".")[0][:-1]  # deployment, replicaset, statefulset, daemonset
        causes: list[Cause] = []
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            causes.append(("FieldValueInvalid", "spec.replicas",
                           f"Invalid value: {replicas}: must be greater than or equal to 0"))
        selector = spec.get("selector")
        if selector is None:
            causes.append(("FieldValueRequired", "spec.selector", "Required value"))
        elif selectors.is_empty(selector) and what != "replicaset":
            causes.append(("FieldValueInvalid", "spec.selector",
                           f"Invalid value: {self.render('selector', selector)}: empty "
                           f"selector is invalid for {what}"))
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels")
        if not selectors.is_empty(selector) and not selectors.matches(selector, labels):
            causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                           f"Invalid value: {self.render('labels', labels)}: {MISMATCH}"))
        causes += [(reason, "spec.template." + field, message) for reason, field, message
                   in _pod_causes({"spec": template.get("spec")})]
        policy = (template.get("spec") or {}).get("restartPolicy", "Always")
        if policy != "Always":
            causes.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                           f'Unsupported value: "{policy}": supported values: "Always"'))
        if resource == "deployments.apps":
            causes += self._strategy_causes(spec.get("strategy") or {})
        return causes

    def _strategy_causes(self, strategy: Obj) -> list[Cause]:
        rolling = strategy.get("rollingUpdate")
        if strategy.get("type") == "Recreate" and rolling is not None:
            return [("FieldValueForbidden", "spec.strategy.rollingUpdate",
                     "Forbidden: may not be specified when strategy `type` is 'Recreate'")]
        if not isinstance(rolling, dict):
            return []
        if _is_zero(rolling.get("maxSurge")) and _is_zero(rolling.get("maxUnavailable")):
            value = self.render("intstr", rolling.get("maxUnavailable"))
            return [("FieldValueInvalid", "spec.strategy.rollingUpdate.maxUnavailable",
                     f"Invalid value: {value}: may not be 0 when `maxSurge` is 0")]
        return []

    def update_causes(self, resource: str, spec: Obj, old: Obj) -> list[Cause]:
        if resource == "statefulsets.apps":
            return self._statefulset_update_causes(spec, old)
        if spec.get("selector") != old.get("selector"):
            value = self.render("selector", spec.get("selector"))
            return [("FieldValueInvalid", "spec.selector",
                     f"Invalid value: {value}: field is immutable")]
        return []

    def _statefulset_update_causes(self, spec: Obj, old: Obj) -> list[Cause]:
        """Only some StatefulSet fields may change; the list grew over the versions."""
        allowed = ["replicas", "template", "updateStrategy"]
        if self.minor >= 22:
            allowed.append("minReadySeconds")
        if self.minor >= 27:
            allowed += ["ordinals", "persistentVolumeClaimRetentionPolicy"]
        if self.minor >= 33:
            allowed.append("revisionHistoryLimit")
        rest_new = {k: v for k, v in spec.items() if k not in allowed}
        rest_old = {k: v for k, v in old.items() if k not in allowed}
        if rest_new == rest_old:
            return []
        if self.minor >= 33:
            names = ("'replicas', 'ordinals', 'template', 'updateStrategy', "
                     "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                     "'minReadySeconds'")
        elif self.minor >= 27:
            names = ("'replicas', 'ordinals', 'template', 'updateStrategy', "
                     "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds'")
        elif self.minor >= 22:
            names = "'replicas', 'template', 'updateStrategy' and 'minReadySeconds'"
        else:
            names = "'replicas', 'template', and 'updateStrategy'"
        return [("FieldValueForbidden", "spec", "Forbidden: updates to statefulset spec for "
                 f"fields other than {names} are forbidden")]


def _is_zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def _go_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _go_map(mapping: dict[str, Any] | None) -> str:
    if mapping is None:
        return "map[string]string(nil)"
    items = ", ".join(f"{_go_string(k)}:{_go_string(str(v))}" for k, v in sorted(mapping.items()))
    return "map[string]string{" + items + "}"


def _go_selector(selector: Obj | None) -> str:
    if selector is None:
        return "null"
    exprs = selector.get("matchExpressions")
    if exprs:
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{Key:" + _go_string(str(e.get("key", ""))) +
            ", Operator:" + _go_string(str(e.get("operator", ""))) + ", Values:" +
            ("[]string{" + ", ".join(_go_string(str(v)) for v in e["values"]) + "}"
             if e.get("values") else "[]string(nil)") + "}"
            for e in exprs)
        expr_text = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    return ("v1.LabelSelector{MatchLabels:" + _go_map(selector.get("matchLabels")) +
            ", MatchExpressions:" + expr_text + "}")


def _go_syntax(kind: str, value: Any) -> str:
    if kind == "labels":
        return _go_map(value)
    if kind == "selector":
        return _go_selector(value)
    if isinstance(value, str):
        return f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_go_string(value)}}}'
    return f'intstr.IntOrString{{Type:0, IntVal:{int(value or 0)}, StrVal:""}}'


# ------------------------------------------------------------------------------ defaults
def initial_status(resource: str) -> Obj:
    """The status a new object starts with (the apiserver drops a submitted one)."""
    if resource == "replicasets.apps":
        return {"replicas": 0}
    if resource == "statefulsets.apps":
        return {"replicas": 0, "availableReplicas": 0}
    if resource == "daemonsets.apps":
        return {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0}
    return {}


def apply_defaults(resource: str, spec: Obj, minor: int) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        default_pod_template(template, minor)
    if resource == "daemonsets.apps":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        return
    spec.setdefault("replicas", 1)
    if resource == "deployments.apps":
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    elif resource == "statefulsets.apps":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        if minor >= 27:  # StatefulSetAutoDeletePVC, on by default since 1.27
            retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
            retention.setdefault("whenDeleted", "Retain")
            retention.setdefault("whenScaled", "Retain")
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                claim.setdefault("apiVersion", "v1")
                claim.setdefault("kind", "PersistentVolumeClaim")
                claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
                claim.setdefault("status", {"phase": "Pending"})


def default_pod_template(template: Obj, minor: int) -> None:
    """core/v1 pod-spec defaults inside a template (not the pod admission ones: no
    service-account volume, no tolerations; those come when a pod is created)."""
    meta = template.setdefault("metadata", {})
    if minor < 34 and isinstance(meta, dict):  # kubernetes PR #130989 dropped it
        meta.setdefault("creationTimestamp", None)  # printed as `creationTimestamp: null`
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            c.setdefault("imagePullPolicy", _pull_policy(str(c.get("image", ""))))
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            for port in c.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
            probes.set_defaults(c)  # SetDefaults_Probe reaches templates too
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)


def resource_type(resource: str) -> ResourceType:
    return _BY_KEY[resource]
