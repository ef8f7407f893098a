"""The Deployment controller (pkg/controller/deployment): ReplicaSets per pod template.

A Deployment owns one ReplicaSet per template it has had, named
`<deployment>-<pod-template-hash>`. A template change creates a new ReplicaSet and moves
the replicas over as `RollingUpdate` (maxSurge/maxUnavailable) or `Recreate` allow; a
replica change alone scales the ReplicaSets proportionally. Every scaling writes a
`ScalingReplicaSet` event, and the status (replicas, updated, ready, available,
conditions) and revision annotations are those `kubectl get deployments`, `rollout status`,
`rollout history` and `rollout undo` read. The arithmetic follows sync.go, rolling.go,
recreate.go, progress.go and util/deployment_util.go.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from kubelesson.sim import timeutil
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import find
from kubelesson.sim.controllers import selectors
from kubelesson.sim.controllers.base import (
    Controller,
    Key,
    controller_ref,
    is_terminating,
    now_stamp,
    owned_by,
    owner_key,
    owner_reference,
)
from kubelesson.sim.controllers.hashing import pod_template_hash
from kubelesson.sim.controllers.scale import int_or_percent
from kubelesson.sim.store import Obj, WatchEvent, deep_copy

RESOURCE = "deployments.apps"
RS = "replicasets.apps"
RS_TYPE = find("apps", "v1", "replicasets")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
              DESIRED, MAX, "deprecated.deployment.rollback.to"}
MAX_REVISION_HISTORY_CHARS = 2000
# Reasons of the Progressing and Available conditions (util/deployment_util.go).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# ---------------------------------------------------------------------------- arithmetic
def replicas(obj: Obj) -> int:
    return int(obj.get("spec", {}).get("replicas", 1) or 0)


def status_count(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0) or 0)


def is_rolling(d: Obj) -> bool:
    return bool((d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both zero would stall, so unavailable becomes 1."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


def revision_of(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def created_at(obj: Obj) -> tuple[float, str]:
    return (timeutil.parse(obj["metadata"].get("creationTimestamp")) or 0.0,
            obj["metadata"]["name"])


def without_hash(template: Obj) -> Obj:
    copy = deep_copy(template)
    labels = (copy.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return copy


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return without_hash(a) == without_hash(b)


def round_half_away(value: float) -> int:
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def new_rs_replicas(d: Obj, all_rs: list[Obj], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (NewRSNewReplicas)."""
    if not is_rolling(d):
        return replicas(d)
    current = sum(replicas(rs) for rs in all_rs)
    most = replicas(d) + max_surge(d)
    if current >= most:
        return replicas(new_rs)
    room = min(most - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + room


def complete(d: Obj, status: Obj) -> bool:
    want = replicas(d)
    return bool(status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= int(d["metadata"].get("generation", 1)))


def progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return bool(new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def get_condition(status: Obj, type_: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def new_condition(type_: str, status: str, reason: str, message: str) -> Obj:
    stamp = now_stamp()
    return {"type": type_, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: same status and reason is no change; a new reason with the
    same status keeps the transition time; the condition moves to the end of the list."""
    current = get_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current["lastTransitionTime"]
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_deadline(d: Obj) -> bool:
    value = d["spec"].get("progressDeadlineSeconds")
    return value is not None and int(value) < 2**31 - 1


def timed_out(d: Obj, status: Obj) -> bool:
    if not has_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = timeutil.parse(cond.get("lastUpdateTime")) or timeutil.now()
    return since + int(d["spec"]["progressDeadlineSeconds"]) < timeutil.now()


def set_replicas_annotations(rs: Obj, desired: int, most: int) -> bool:
    notes = rs["metadata"].setdefault("annotations", {})
    changed = bool(notes.get(DESIRED) != str(desired) or notes.get(MAX) != str(most))
    notes[DESIRED], notes[MAX] = str(desired), str(most)
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, revision: str, exists: bool) -> bool:
    """Copy the Deployment's annotations, raise the revision (remembering the old one in
    revision-history when an old ReplicaSet comes back), size annotations for a new one."""
    notes = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key not in NOT_COPIED and notes.get(key) != value:
            notes[key] = value
            changed = True
    had = REVISION in notes
    try:
        old = int(notes.get(REVISION, "0"))
    except ValueError:
        old = 0
    if old < int(revision):
        notes[REVISION] = revision
        changed = True
        if had:
            history = [h for h in notes.get(REVISION_HISTORY, "").split(",") if h]
            history.append(str(old))
            while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            notes[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ---------------------------------------------------------------------------- controller
class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"
    resource = RESOURCE

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        obj = event.object
        if event.resource == RESOURCE:
            yield (event.namespace, obj["metadata"]["name"])
        elif event.resource == RS:
            key = owner_key(event, "Deployment")
            if key is not None:
                yield key
            elif controller_ref(obj) is None:  # an orphan a Deployment may adopt
                for d in self.store.list(RESOURCE, event.namespace)[0]:
                    if selectors.matches(d["spec"].get("selector"),
                                         obj["metadata"].get("labels")):
                        yield (event.namespace, d["metadata"]["name"])
        elif event.resource == "pods" and event.type == "DELETED":
            rs_key = owner_key(event, "ReplicaSet")  # Recreate waits for old pods to go
            rs = self.store.get(RS, *rs_key) if rs_key else None
            ref = controller_ref(rs) if rs else None
            if ref is not None and ref.get("kind") == "Deployment":
                yield (event.namespace, str(ref["name"]))

    # -- messages --------------------------------------------------------------------------
    def scaled_message(self, direction: str, name: str, old: int, new: int) -> str:
        """The ScalingReplicaSet wording of the simulated version (kubernetes PR #101142
        added the old count, PR #125118 in 1.31 put it first)."""
        minor = self.cluster.options.minor
        if minor >= 31:
            return f"Scaled {direction} replica set {name} from {old} to {new}"
        if minor >= 23:
            return f"Scaled {direction} replica set {name} to {new} from {old}"
        return f"Scaled {direction} replica set {name} to {new}"

    def created_message(self, name: str, count: int) -> str:
        if self.cluster.options.minor >= 31:
            return f"Scaled up replica set {name} from 0 to {count}"
        return f"Scaled up replica set {name} to {count}"

    # -- sync ------------------------------------------------------------------------------
    def sync(self, namespace: str, name: str) -> float | None:
        stored = self.store.get(RESOURCE, namespace, name)
        if stored is None:
            return None
        d = deep_copy(stored)
        d.setdefault("status", {})
        rs_list = self._claim_replicasets(d)
        try:
            if is_terminating(d):
                return self._sync_status_only(d, rs_list)
            self._check_paused(d)
            if d["spec"].get("paused") or self._is_scaling_event(d, rs_list):
                return self._sync_scale(d, self._claim_replicasets(d))
            rs_list = self._claim_replicasets(d)
            if not is_rolling(d):
                return self._rollout_recreate(d, rs_list)
            return self._rollout_rolling(d, rs_list)
        except ApiError:
            return 1.0  # a write was refused (object changed or gone): try again shortly

    def _claim_replicasets(self, d: Obj) -> list[Obj]:
        """Owned ReplicaSets whose labels still match, plus matching orphans (adopted)."""
        selector = d["spec"].get("selector")
        items, _ = self.store.list(RS, d["metadata"]["namespace"])
        mine = []
        for rs in items:
            matching = selectors.matches(selector, rs["metadata"].get("labels"))
            if owned_by(rs, d):
                if matching or is_terminating(d):
                    mine.append(rs)
                else:
                    self.set_controller(RS, rs, None)
            elif matching and controller_ref(rs) is None and not is_terminating(d) \
                    and not is_terminating(rs):
                adopted = self.set_controller(RS, rs, d)
                if adopted is not None:
                    mine.append(adopted)
        return mine

    def _save(self, d: Obj) -> None:
        """Write the working copy's status and revision annotation (UpdateStatus)."""
        revision = (d["metadata"].get("annotations") or {}).get(REVISION)
        self.write_status(RESOURCE, d, d["status"],
                          {REVISION: revision} if revision is not None else None)

    def _update_rs(self, rs: Obj) -> Obj:
        """Store the spec and annotations of a changed ReplicaSet (a client Update)."""
        uid = rs["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            changed = False
            if current.get("spec") != rs["spec"]:
                current["spec"] = deep_copy(rs["spec"])
                current["metadata"]["generation"] = int(
                    current["metadata"].get("generation", 1)) + 1
                changed = True
            notes = rs["metadata"].get("annotations") or {}
            if (current["metadata"].get("annotations") or {}) != notes:
                current["metadata"]["annotations"] = deep_copy(notes)
                changed = True
            return current if changed else None

        meta = rs["metadata"]
        updated = self.store.mutate(RS, meta["namespace"], meta["name"], change)
        if updated is None or updated["metadata"]["uid"] != uid:
            raise ApiError(404, "NotFound", f'replicasets.apps "{meta["name"]}" not found')
        return updated

    # -- revisions and the new ReplicaSet ---------------------------------------------------
    def _find_new(self, d: Obj, rs_list: list[Obj]) -> Obj | None:
        for rs in sorted(rs_list, key=created_at):
            if equal_ignore_hash(rs["spec"].get("template") or {}, d["spec"]["template"]):
                return rs
        return None

    def _all_replicasets(self, d: Obj, rs_list: list[Obj],
                         create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: (new, olds), revisions brought up to date."""
        new = self._find_new(d, rs_list)
        olds = [rs for rs in rs_list if new is None or rs["metadata"]["uid"] !=
                new["metadata"]["uid"]]
        revision = str(max((revision_of(rs) for rs in olds), default=0) + 1)
        if new is not None:
            copy = deep_copy(new)
            notes_changed = set_new_rs_annotations(d, copy, revision, exists=True)
            min_ready = d["spec"].get("minReadySeconds")
            if notes_changed or copy["spec"].get("minReadySeconds") != min_ready:
                if min_ready:
                    copy["spec"]["minReadySeconds"] = min_ready
                else:
                    copy["spec"].pop("minReadySeconds", None)
                return self._update_rs(copy), olds
            changed = self._set_revision(d, revision)
            if has_deadline(d) and get_condition(d["status"], "Progressing") is None:
                set_condition(d["status"], new_condition(
                    "Progressing", "True", FOUND_NEW_RS,
                    f'Found new replica set "{new["metadata"]["name"]}"'))
                changed = True
            if changed:
                self._save(d)
            return new, olds
        if not create:
            return None, olds
        return self._create_new(d, olds, revision), olds

    def _set_revision(self, d: Obj, revision: str) -> bool:
        notes = d["metadata"].setdefault("annotations", {})
        if notes.get(REVISION) == revision:
            return False
        notes[REVISION] = revision
        return True

    def _create_new(self, d: Obj, olds: list[Obj], revision: str) -> Obj | None:
        collisions = d["status"].get("collisionCount")
        template = deep_copy(d["spec"]["template"])
        hash_ = pod_template_hash(d["spec"]["template"], collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = deep_copy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        spec: Obj = {"replicas": 0, "selector": selector, "template": template}
        if d["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        name = f"{d['metadata']['name']}-{hash_}"
        body: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": d["metadata"]["namespace"],
                         "labels": deep_copy(template["metadata"]["labels"]),
                         "ownerReferences": [owner_reference(d)]},
            "spec": spec,
        }
        count = new_rs_replicas(d, [*olds, body], body)
        spec["replicas"] = count
        set_new_rs_annotations(d, body, revision, exists=False)
        assert RS_TYPE is not None
        try:
            created = self.cluster.create(RS_TYPE, d["metadata"]["namespace"], body)
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                self._failed_create(d, name, exc)
                raise
            existing = self.store.get(RS, d["metadata"]["namespace"], name)
            if existing is not None and owned_by(existing, d) and equal_ignore_hash(
                    existing["spec"].get("template") or {}, d["spec"]["template"]):
                return existing
            d["status"]["collisionCount"] = int(collisions or 0) + 1  # hash clash: retry
            self._save(d)
            raise
        if count > 0:
            self.record(d, "ScalingReplicaSet", self.created_message(name, count))
        changed = self._set_revision(d, revision)
        if has_deadline(d):
            set_condition(d["status"], new_condition(
                "Progressing", "True", NEW_RS_CREATED, f'Created new replica set "{name}"'))
            changed = True
        if changed:
            self._save(d)
        return created

    def _failed_create(self, d: Obj, name: str, error: ApiError) -> None:
        if "because it is being terminated" in error.message:
            return
        message = f'Failed to create new replica set "{name}": {error.message}'
        if has_deadline(d):
            set_condition(d["status"], new_condition("Progressing", "False",
                                                     "ReplicaSetCreateError", message))
            self._save(d)
        self.record(d, "ReplicaSetCreateError", message, "Warning")

    # -- scaling ReplicaSets -------------------------------------------------------------
    def _scale_rs(self, rs: Obj, new_size: int, d: Obj, direction: str | None = None) -> Obj:
        desired, most = replicas(d), replicas(d) + max_surge(d)
        notes = rs["metadata"].get("annotations") or {}
        resize = replicas(rs) != new_size
        if not resize and notes.get(DESIRED) == str(desired) and notes.get(MAX) == str(most):
            return rs
        old_size = replicas(rs)
        copy = deep_copy(rs)
        copy["spec"]["replicas"] = new_size
        set_replicas_annotations(copy, desired, most)
        updated = self._update_rs(copy)
        if resize:
            way = direction or ("up" if old_size < new_size else "down")
            self.record(d, "ScalingReplicaSet",
                        self.scaled_message(way, rs["metadata"]["name"], old_size, new_size))
        return updated

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        new, olds = self._all_replicasets(d, rs_list, create=False)
        for rs in active([*olds, new]):
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED)
            if desired is not None and desired != str(replicas(d)):
                return True
        return False

    def _sync_scale(self, d: Obj, rs_list: list[Obj]) -> float | None:
        """dc.sync: a replica change (or a paused Deployment) scales without rolling."""
        new, olds = self._all_replicasets(d, rs_list, create=False)
        self._scale(d, new, olds)
        new, olds = self._all_replicasets(d, self._claim_replicasets(d), create=False)
        if d["spec"].get("paused"):
            self._cleanup(d, olds)
        return self._write_status(d, [*olds, *([new] if new else [])], new)

    def _scale(self, d: Obj, new: Obj | None, olds: list[Obj]) -> None:
        ordered = sorted(olds, key=created_at)
        actives = active([*ordered, new])
        target = None
        if not actives:
            target = new if new is not None else (ordered[-1] if ordered else None)
        elif len(actives) == 1:
            target = actives[0]
        if target is not None:
            if replicas(target) != replicas(d):
                self._scale_rs(target, replicas(d), d)
            return
        if (new is not None and (new["metadata"].get("annotations") or {}).get(DESIRED)
                == str(replicas(d)) and replicas(new) == replicas(d)
                and status_count(new, "availableReplicas") == replicas(d)):
            for rs in active(olds):
                self._scale_rs(rs, 0, d)
            return
        if is_rolling(d):
            self._scale_proportionally(d, actives)

    def _scale_proportionally(self, d: Obj, actives: list[Obj]) -> None:
        allowed = replicas(d) + max_surge(d) if replicas(d) > 0 else 0
        to_add = allowed - sum(replicas(rs) for rs in actives)
        if to_add > 0:  # larger first, newer first among equals
            actives.sort(key=lambda rs: (-replicas(rs), -created_at(rs)[0]))
            direction = "up"
        elif to_add < 0:  # larger first, older first among equals
            actives.sort(key=lambda rs: (-replicas(rs), created_at(rs)[0]))
            direction = "down"
        else:
            direction = None
        added = 0
        sizes: dict[str, int] = {}
        for rs in actives:
            share = self._proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs["metadata"]["name"]] = replicas(rs) + share
            added += share
        for i, rs in enumerate(actives):
            size = sizes[rs["metadata"]["name"]]
            if i == 0 and to_add:
                size = max(size + to_add - added, 0)
            self._scale_rs(rs, size, d, direction)

    @staticmethod
    def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
        if replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if replicas(d) == 0:
            fraction = -replicas(rs)
        else:
            total = replicas(d) + max_surge(d)
            try:
                annotated = int((rs["metadata"].get("annotations") or {})[MAX])
            except (KeyError, ValueError):
                annotated = status_count(d, "replicas")
            fraction = (round_half_away(replicas(rs) * total / annotated) - replicas(rs)
                        if annotated else 0)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # -- rolling update ------------------------------------------------------------------
    def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> float | None:
        new, olds = self._all_replicasets(d, rs_list, create=True)
        if new is None:
            return 1.0
        all_rs = [*olds, new]
        if self._reconcile_new(all_rs, new, d):
            return self._rollout_status(d, self._claim_replicasets(d))
        if self._reconcile_olds(all_rs, active(olds), new, d):
            return self._rollout_status(d, self._claim_replicasets(d))
        if complete(d, d["status"]):
            self._cleanup(d, olds)
        return self._rollout_status(d, self._claim_replicasets(d))

    def _reconcile_new(self, all_rs: list[Obj], new: Obj, d: Obj) -> bool:
        if replicas(new) == replicas(d):
            return False
        if replicas(new) > replicas(d):
            self._scale_rs(new, replicas(d), d)
            return True
        count = new_rs_replicas(d, all_rs, new)
        if count == replicas(new):
            return False
        self._scale_rs(new, count, d)
        return True

    def _reconcile_olds(self, all_rs: list[Obj], olds: list[Obj], new: Obj, d: Obj) -> bool:
        if sum(replicas(rs) for rs in olds) == 0:
            return False
        all_pods = sum(replicas(rs) for rs in all_rs)
        min_available = replicas(d) - max_unavailable(d)
        new_unavailable = replicas(new) - status_count(new, "availableReplicas")
        room = all_pods - min_available - new_unavailable
        if room <= 0:
            return False
        olds, cleaned = self._cleanup_unhealthy(olds, d, room)
        scaled = self._scale_down_olds([*olds, new], olds, d)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, olds: list[Obj], d: Obj, room: int) -> tuple[list[Obj], int]:
        """Old ReplicaSets' unavailable pods go first: they serve nobody."""
        total = 0
        result = []
        for rs in sorted(olds, key=created_at):
            if total >= room or replicas(rs) == 0 or \
                    replicas(rs) == status_count(rs, "availableReplicas"):
                result.append(rs)
                continue
            down = min(room - total, replicas(rs) - status_count(rs, "availableReplicas"))
            result.append(self._scale_rs(rs, replicas(rs) - down, d))
            total += down
        return result, total

    def _scale_down_olds(self, all_rs: list[Obj], olds: list[Obj], d: Obj) -> int:
        min_available = replicas(d) - max_unavailable(d)
        available = sum(status_count(rs, "availableReplicas") for rs in all_rs)
        if available <= min_available:
            return 0
        budget = available - min_available
        done = 0
        for rs in sorted(olds, key=created_at):
            if done >= budget:
                break
            if replicas(rs) == 0:
                continue
            down = min(replicas(rs), budget - done)
            self._scale_rs(rs, replicas(rs) - down, d)
            done += down
        return done

    # -- recreate ------------------------------------------------------------------------
    def _rollout_recreate(self, d: Obj, rs_list: list[Obj]) -> float | None:
        new, olds = self._all_replicasets(d, rs_list, create=False)
        scaled = False
        for rs in active(olds):
            self._scale_rs(rs, 0, d)
            scaled = True
        if scaled or self._old_pods_running(olds):
            return self._rollout_status(d, self._claim_replicasets(d))
        if new is None:
            new, olds = self._all_replicasets(d, self._claim_replicasets(d), create=True)
            if new is None:
                return 1.0
        if replicas(new) != replicas(d):
            self._scale_rs(new, replicas(d), d)
        if complete(d, d["status"]):
            self._cleanup(d, olds)
        return self._rollout_status(d, self._claim_replicasets(d))

    def _old_pods_running(self, olds: list[Obj]) -> bool:
        if sum(status_count(rs, "replicas") for rs in olds) > 0:
            return True
        uids = {rs["metadata"]["uid"] for rs in olds}
        if not uids:
            return False
        namespace = olds[0]["metadata"]["namespace"]
        for pod in self.store.list("pods", namespace)[0]:
            if (controller_ref(pod) or {}).get("uid") in uids and \
                    pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                return True
        return False

    # -- cleanup and status --------------------------------------------------------------
    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Keep revisionHistoryLimit old ReplicaSets; delete older empty ones."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in olds if not is_terminating(rs)]
        extra = len(alive) - int(limit)
        if extra <= 0:
            return
        alive.sort(key=lambda rs: (revision_of(rs), created_at(rs)))
        for rs in alive[:extra]:
            if status_count(rs, "replicas") or replicas(rs) or int(
                    rs["metadata"].get("generation", 1)) > status_count(rs, "observedGeneration"):
                continue
            assert RS_TYPE is not None
            try:
                self.cluster.delete(RS_TYPE, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError:
                continue

    def _sync_status_only(self, d: Obj, rs_list: list[Obj]) -> float | None:
        new, olds = self._all_replicasets(d, rs_list, create=False)
        return self._write_status(d, [*olds, *([new] if new else [])], new)

    def _check_paused(self, d: Obj) -> None:
        if not has_deadline(d):
            return
        cond = get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return
        paused_noted = cond is not None and cond.get("reason") == PAUSED
        if d["spec"].get("paused") and not paused_noted:
            set_condition(d["status"], new_condition("Progressing", "Unknown", PAUSED,
                                                     "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_noted:
            set_condition(d["status"], new_condition("Progressing", "Unknown", RESUMED,
                                                     "Deployment is resumed"))
        else:
            return
        self._save(d)

    def calculate_status(self, d: Obj, all_rs: list[Obj], new: Obj | None) -> Obj:
        available = sum(status_count(rs, "availableReplicas") for rs in all_rs)
        total = sum(replicas(rs) for rs in all_rs)
        counts = {
            "replicas": sum(status_count(rs, "replicas") for rs in all_rs),
            "updatedReplicas": status_count(new, "replicas") if new else 0,
            "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
        }
        status: Obj = {"observedGeneration": int(d["metadata"].get("generation", 1))}
        status.update({k: v for k, v in counts.items() if v})  # omitempty
        if d["status"].get("collisionCount") is not None:
            status["collisionCount"] = d["status"]["collisionCount"]
        if d["status"].get("conditions"):
            status["conditions"] = deep_copy(d["status"]["conditions"])
        if available >= replicas(d) - max_unavailable(d):
            set_condition(status, new_condition("Available", "True", MIN_AVAILABLE,
                                                "Deployment has minimum availability."))
        else:
            set_condition(status, new_condition("Available", "False", MIN_UNAVAILABLE,
                                                "Deployment does not have minimum availability."))
        return status

    def _write_status(self, d: Obj, all_rs: list[Obj], new: Obj | None) -> float | None:
        status = self.calculate_status(d, all_rs, new)
        if status != d["status"]:
            d["status"] = status
            self._save(d)
        return None

    def _rollout_status(self, d: Obj, rs_list: list[Obj]) -> float | None:
        """syncRolloutStatus: status plus the Progressing condition, and a re-check at the
        progress deadline while the rollout is unfinished."""
        new = self._find_new(d, rs_list)
        olds = [rs for rs in rs_list if new is None or rs is not new]
        status = self.calculate_status(d, [*olds, *([new] if new else [])], new)
        if not has_deadline(d):
            remove_condition(status, "Progressing")
        current = get_condition(d["status"], "Progressing")
        name = new["metadata"]["name"] if new else ""
        if has_deadline(d) and not (current and current.get("reason") == TIMED_OUT):
            if complete(d, status):
                message = f'ReplicaSet "{name}" has successfully progressed.' if new else ""
                set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE,
                                                    message))
            elif progressing(d, status):
                message = f'ReplicaSet "{name}" is progressing.' if new else \
                    "Deployment is progressing."
                cond = new_condition("Progressing", "True", RS_UPDATED, message)
                if current and current["status"] == "True":
                    cond["lastTransitionTime"] = current["lastTransitionTime"]
                remove_condition(status, "Progressing")
                set_condition(status, cond)
            elif timed_out(d, status):
                message = f'ReplicaSet "{name}" has timed out progressing.' if new else \
                    f'Deployment "{d["metadata"]["name"]}" has timed out progressing.'
                set_condition(status, new_condition("Progressing", "False", TIMED_OUT, message))
        if status == d["status"]:
            return self._stuck_requeue(d, status)
        d["status"] = status
        self._save(d)
        return None

    @staticmethod
    def _stuck_requeue(d: Obj, status: Obj) -> float | None:
        cond = get_condition(status, "Progressing")
        if not has_deadline(d) or cond is None or complete(d, status):
            return None
        since = timeutil.parse(cond.get("lastUpdateTime")) or timeutil.now()
        after = since + int(d["spec"]["progressDeadlineSeconds"]) - timeutil.now()
        return max(after, 0.0) + 1.0
