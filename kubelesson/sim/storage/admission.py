"""What kube-apiserver does to storage objects and Secrets before storing them, as the
store's admission hook (chained after the apps one):

* PersistentVolumeClaim: the StorageObjectInUseProtection plugin's
  `kubernetes.io/pvc-protection` finalizer, the DefaultStorageClass plugin's class when
  none is named, `volumeMode: Filesystem`, phase Pending; access modes and a storage request
  are required; the spec may not change afterwards except for what the controllers fill in.
* PersistentVolume: the `kubernetes.io/pv-protection` finalizer, `volumeMode: Filesystem`,
  reclaim policy Retain unless given, phase Pending.
* StorageClass: reclaimPolicy Delete and volumeBindingMode Immediate unless given; the
  provisioner, parameters, reclaim policy and binding mode cannot change.
* Secret: `stringData` is merged into `data` (base64) and not stored, as the apiserver does.
"""

from __future__ import annotations

import base64
from typing import Any

from kubelesson.sim.api import errors, resources
from kubelesson.sim.options import SimOptions
from kubelesson.sim.storage.printers import is_default_class
from kubelesson.sim.store import Admission, Obj

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
PVCS = "persistentvolumeclaims"
PVS = "persistentvolumes"
CLASSES = "storageclasses.storage.k8s.io"
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
Cause = tuple[str, str, str]


def _rt(key: str) -> resources.ResourceType:
    found = next(rt for rt in resources.RESOURCES if rt.key == key)
    return found


def _add_finalizer(obj: Obj, finalizer: str) -> None:
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def _access_mode_causes(modes: Any) -> list[Cause]:
    if not isinstance(modes, list) or not modes:
        return [("FieldValueRequired", "spec.accessModes",
                 "Required value: at least 1 access mode is required")]
    supported = ", ".join(f'"{m}"' for m in ACCESS_MODES)
    return [("FieldValueNotSupported", "spec.accessModes",
             f'Unsupported value: "{m}": supported values: {supported}')
            for m in modes if m not in ACCESS_MODES]


class StorageAdmission:
    def __init__(self, options: SimOptions, inner: Admission | None) -> None:
        self.minor = options.minor
        self.inner = inner
        self.store: Any = None  # set by storage.install: the default class is looked up in it

    def __call__(self, resource: str, old: Obj | None, new: Obj) -> None:
        if self.inner is not None:
            self.inner(resource, old, new)
        if resource == PVCS:
            self._claim(old, new)
        elif resource == PVS:
            self._volume(old, new)
        elif resource == CLASSES:
            self._class(old, new)
        elif resource == "secrets":
            _string_data(new)

    # -- claims ---------------------------------------------------------------------------
    def _claim(self, old: Obj | None, new: Obj) -> None:
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        name = str(new["metadata"].get("name", ""))
        if old is None:
            _add_finalizer(new, PVC_PROTECTION)
            notes = new["metadata"].get("annotations") or {}
            if spec.get("storageClassName") is None and "volume.beta.kubernetes.io/storage-class" not in notes:
                default = self._default_class()
                if default:
                    spec["storageClassName"] = default
            spec.setdefault("volumeMode", "Filesystem")
            new["status"] = {"phase": "Pending"}
            causes = _access_mode_causes(spec.get("accessModes"))
            requests = (spec.get("resources") or {}).get("requests") or {}
            if not requests.get("storage"):
                causes.append(("FieldValueRequired", "spec.resources[storage]", "Required value"))
            if causes:
                raise errors.invalid(_rt(PVCS), name, causes)
            return
        before = dict(old.get("spec") or {})
        after = dict(spec)
        if not before.get("volumeName"):  # binding fills it in once
            after.pop("volumeName", None)
            before.pop("volumeName", None)
        after.setdefault("volumeMode", before.get("volumeMode"))
        if before != after:
            extra = " and volumeAttributesClassName" if self.minor >= 29 else ""
            raise errors.invalid(_rt(PVCS), name, [(
                "FieldValueForbidden", "spec",
                f"Forbidden: spec is immutable after creation except resources.requests{extra} "
                "for bound claims")])

    def _default_class(self) -> str:
        if self.store is None:
            return ""
        classes, _ = self.store.list(CLASSES)
        defaults = [c for c in classes if is_default_class(c)]
        # With several, the newest wins (the apiserver's rule since 1.26).
        defaults.sort(key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]))
        return str(defaults[-1]["metadata"]["name"]) if defaults else ""

    # -- volumes and classes --------------------------------------------------------------
    def _volume(self, old: Obj | None, new: Obj) -> None:
        if old is not None:
            return
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        _add_finalizer(new, PV_PROTECTION)
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        new.setdefault("status", {})["phase"] = "Pending"
        causes = _access_mode_causes(spec.get("accessModes"))
        if not (spec.get("capacity") or {}).get("storage"):
            causes.append(("FieldValueRequired", "spec.capacity", "Required value"))
        if causes:
            raise errors.invalid(_rt(PVS), str(new["metadata"].get("name", "")), causes)

    def _class(self, old: Obj | None, new: Obj) -> None:
        if old is None:
            new.setdefault("reclaimPolicy", "Delete")
            new.setdefault("volumeBindingMode", "Immediate")
            if not new.get("provisioner"):
                raise errors.invalid(_rt(CLASSES), str(new["metadata"].get("name", "")), [
                    ("FieldValueRequired", "provisioner", "Required value")])
            return
        new.setdefault("reclaimPolicy", old.get("reclaimPolicy"))
        new.setdefault("volumeBindingMode", old.get("volumeBindingMode"))
        causes: list[Cause] = []
        for field in ("provisioner", "parameters", "reclaimPolicy"):
            if new.get(field) != old.get(field):
                causes.append(("FieldValueForbidden", field,
                               f"Forbidden: updates to {field} are forbidden."))
        if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
            causes.append(("FieldValueInvalid", "volumeBindingMode",
                           f'Invalid value: "{new.get("volumeBindingMode")}": field is immutable'))
        if causes:
            raise errors.invalid(_rt(CLASSES), str(new["metadata"].get("name", "")), causes)


def _string_data(secret: Obj) -> None:
    given = secret.pop("stringData", None)
    if not isinstance(given, dict) or not given:
        return
    data = secret.get("data")
    if not isinstance(data, dict):
        data = secret["data"] = {}
    for key, value in given.items():
        data[str(key)] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
