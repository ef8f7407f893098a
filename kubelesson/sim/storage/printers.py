"""The server-side Table columns of the storage kinds, which follow the server version: from
1.29 `get pvc` and `get pv` have a VOLUMEATTRIBUTESCLASS column (kubernetes
pkg/printers/internalversion/printers.go), so the table depends on `--kube-version`."""

from __future__ import annotations

from kubelesson.sim.api.printers import Cells, Column, Obj, Printer, _col
from kubelesson.sim.timeutil import age

# helper.GetAccessModesAsString prints the modes in this order, whatever the spec's order.
_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
          ("ReadWriteOncePod", "RWOP"))
UNSET = "<unset>"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"


def access_modes(modes: object) -> str:
    given = set(modes) if isinstance(modes, list) else set()
    return ",".join(short for mode, short in _MODES if mode in given)


def is_default_class(obj: Obj) -> bool:
    notes = obj["metadata"].get("annotations") or {}
    return "true" in (notes.get(DEFAULT_CLASS), notes.get(BETA_DEFAULT_CLASS))


def _storage(resources: object) -> str:
    if not isinstance(resources, dict):
        return ""
    return str(resources.get("storage", "") or "")


def _claim_class(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    if spec.get("storageClassName") is not None:
        return str(spec["storageClassName"])
    # The beta annotation still counts, as helper.GetPersistentVolumeClaimClass reads it.
    return str((obj["metadata"].get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", ""))


def _pvc_cells(with_attributes: bool) -> Printer:
    def cells(obj: Obj, now: float) -> Cells:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        phase = "Terminating" if obj["metadata"].get("deletionTimestamp") else status.get("phase", "")
        capacity = modes = ""
        if spec.get("volumeName"):  # only a bound claim shows what it got
            capacity = _storage(status.get("capacity"))
            modes = access_modes(status.get("accessModes"))
        row: Cells = [obj["metadata"]["name"], phase, spec.get("volumeName", ""), capacity, modes,
                      _claim_class(obj)]
        if with_attributes:
            row.append(spec.get("volumeAttributesClassName") or UNSET)
        return [*row, age(obj["metadata"].get("creationTimestamp"), now),
                spec.get("volumeMode") or UNSET]

    columns: list[Column] = [_col("Name"), _col("Status"), _col("Volume"), _col("Capacity"),
                             _col("Access Modes"), _col("StorageClass")]
    if with_attributes:
        columns.append(_col("VolumeAttributesClass"))
    columns += [_col("Age"), _col("VolumeMode", priority=1)]
    return columns, cells


def _pv_cells(with_attributes: bool) -> Printer:
    def cells(obj: Obj, now: float) -> Cells:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        ref = spec.get("claimRef") or {}
        claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
        phase = "Terminating" if obj["metadata"].get("deletionTimestamp") else status.get("phase", "")
        row: Cells = [obj["metadata"]["name"], _storage(spec.get("capacity")),
                      access_modes(spec.get("accessModes")),
                      spec.get("persistentVolumeReclaimPolicy", ""), phase, claim,
                      spec.get("storageClassName", "")]
        if with_attributes:
            row.append(spec.get("volumeAttributesClassName") or UNSET)
        return [*row, status.get("reason", ""), age(obj["metadata"].get("creationTimestamp"), now),
                spec.get("volumeMode") or UNSET]

    columns: list[Column] = [_col("Name"), _col("Capacity"), _col("Access Modes"),
                             _col("Reclaim Policy"), _col("Status"), _col("Claim"),
                             _col("StorageClass")]
    if with_attributes:
        columns.append(_col("VolumeAttributesClass"))
    columns += [_col("Reason"), _col("Age"), _col("VolumeMode", priority=1)]
    return columns, cells


def _storageclass_cells(obj: Obj, now: float) -> Cells:
    name = obj["metadata"]["name"] + (" (default)" if is_default_class(obj) else "")
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")),
            age(obj["metadata"].get("creationTimestamp"), now)]


STORAGECLASS: Printer = (
    [_col("Name"), _col("Provisioner"), _col("ReclaimPolicy"), _col("VolumeBindingMode"),
     _col("AllowVolumeExpansion"), _col("Age")],
    _storageclass_cells,
)


def printer_for(key: str, minor: int) -> Printer | None:
    """The columns and cells of a storage kind on a server of this minor version."""
    attributes = minor >= 29  # VolumeAttributesClass (KEP-3751) came with 1.29
    if key == "persistentvolumeclaims":
        return _pvc_cells(attributes)
    if key == "persistentvolumes":
        return _pv_cells(attributes)
    if key == "storageclasses.storage.k8s.io":
        return STORAGECLASS
    return None
