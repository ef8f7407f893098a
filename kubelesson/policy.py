"""The safety policy for lesson steps, enforced when a lesson file is loaded.

kubelesson promises that ``check`` never touches what the learner built. A lesson file
is only text, so that promise has to be checked on the text, before anything runs:
every ``run:`` step and every ``cleanup:`` item is a kubectl command whose words are read
here, and every manifest it names is opened and read. A step that breaks a rule refuses
the whole lesson with ``file:line`` and the rule in words (exit 2).

The rules, in short (docs/policy.md has the table):

- read-only kubectl commands may look anywhere (other namespaces, cluster-scoped kinds),
  except at Secrets outside the lesson's namespace;
- every other command acts only inside the lesson's namespace: no ``-n``/``-A``, only
  kinds known to live in a namespace, no bulk selection, manifests without a namespace;
- never: kubeconfig changes or credentials, flags that switch cluster or user, plugins,
  remote files, files outside the course folder, flags that write files on the machine;
- ``host:`` steps may only be ``docker ps`` with ``-a``/``--filter``/``--format``.

The command line is read the way kubectl (cobra/pflag) reads it, with kubectl's own
table of which flags take a value, so that a flag's value is never taken for a resource
and a resource never for a flag's value. When in doubt the policy refuses: a lesson
author can rewrite a step, a learner cannot undo a deleted namespace.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, SequenceNode

from kubelesson.errors import PolicyViolation

# libyaml's parser where PyYAML was built with it: lessons and manifests load several times
# faster (`kubelesson list` reads them all), with the same marks and errors; libyaml also
# stops nesting at depth 1000 with a clean error.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

if TYPE_CHECKING:
    from kubelesson.lesson import Lesson

# --- what kubectl has ------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# kubectl's built-in subcommands (1.24 to 1.37). Any other word is a plugin: kubectl runs
# ``kubectl-<word>`` from PATH, a program the lesson cannot vouch for.
BUILTIN = _words(
    "alpha annotate api-resources api-versions apply attach auth autoscale certificate cluster-info completion "
    "config cordon cp create debug delete describe diff drain edit events exec explain expose get help kuberc "
    "kustomize label logs options patch plugin port-forward proxy replace rollout run scale set taint top "
    "uncordon version wait"
)

# Commands that only read. They may look at other namespaces and cluster-scoped objects.
READ_ONLY = _words(
    "get describe logs cluster-info explain api-resources api-versions version wait top events kustomize "
    "completion diff options help"
)
# Read-only subcommands of commands that otherwise change state.
READ_ONLY_SUB = {
    "auth": frozenset({"can-i", "whoami"}),
    "rollout": frozenset({"status", "history"}),
    "apply": frozenset({"view-last-applied"}),
}
# ``kubectl config`` may only say which context is in use; everything else reads or writes
# the learner's kubeconfig (clusters, users, credentials).
CONFIG_READ = frozenset({"current-context", "get-contexts"})
# Built-in commands a lesson never runs, and the message key that says why.
NEVER = {
    "proxy": "policy.proxy",  # serves the API with the learner's credentials on a local port
    "kuberc": "policy.kubectl_setup",  # kubectl's own preferences file
    "plugin": "policy.kubectl_setup",
    "alpha": "policy.kubectl_setup",
}
# Built-in commands that only act on cluster-scoped objects.
NODE_COMMANDS = {"cordon": "nodes", "uncordon": "nodes", "drain": "nodes", "taint": "nodes",
                 "certificate": "certificatesigningrequests"}

# Global flags that take a value (``kubectl options``).
GLOBAL_VALUE = _words(
    "--namespace --server --context --kubeconfig --cluster --user --token --as --as-group --as-uid --as-user-extra "
    "--cache-dir --certificate-authority --client-certificate --client-key --kuberc --log-flush-frequency "
    "--password --profile --profile-output --proxy-url --request-timeout --tls-server-name --username --v "
    "--vmodule"
)
# Flags of the subcommands that take a value (collected from ``kubectl <cmd> --help`` of
# kubectl 1.37: every flag whose default is not true/false), plus removed ones of older
# versions that took a value.
COMMAND_VALUE = _words(
    "accept-hosts accept-paths address aggregation-rule annotation annotations api-group api-prefix api-version "
    "audience bound-object-kind bound-object-name bound-object-uid categories cert chunk-size class cluster-ip "
    "clusterip clusterrole concurrency container containers copy-to cpu current-replicas custom default-backend "
    "description detach-keys docker-email docker-password docker-server docker-username duration env external-ip "
    "external-name field-manager field-selector filename for from from-env-file from-file from-literal grace-period "
    "group hard helm-api-versions helm-command helm-kube-version image image-pull-policy keepalive key keys "
    "kustomize label-columns labels limit-bytes limits load-balancer-ip load-restrictor max max-depth "
    "max-log-requests max-unavailable memory min min-available mount name namespaces network-name node-port "
    "non-resource-url output output-directory override-type overrides patch patch-file pod-running-timeout "
    "pod-selector port preemption-policy prefix profile protocol prune-allowlist prune-whitelist raw "
    "reject-methods reject-paths replicas requests resource resource-name resource-version restart retries "
    "revision role rule schedule scopes selector serviceaccount session-affinity set-image since since-time "
    "skip-wait-for-delete-timeout sort-by subresource tail target target-port tcp template timeout to-revision "
    "type types unix-socket user value verb verbs www www-prefix generator"
)
# Flags with a value only when written ``--flag=value`` (pflag's NoOptDefVal): alone they
# do not take the next word.
OPTIONAL_VALUE = frozenset({"--dry-run", "--cascade", "--validate"})
# Flags that take a value in most commands but are switches in these.
SWITCH_IN = {("logs", "--prefix"), ("top", "--containers"), ("config", "--raw")}

# Short flags: the long flag each stands for, and whether it takes a value.
SHORT = {
    "n": ("--namespace", True), "s": ("--server", True), "v": ("--v", True), "o": ("--output", True),
    "f": ("--filename", True), "k": ("--kustomize", True), "l": ("--selector", True), "c": ("--container", True),
    "p": ("--patch", True), "L": ("--label-columns", True), "e": ("--env", True),
    "A": ("--all-namespaces", False), "R": ("--recursive", False), "w": ("--watch", False),
    "i": ("--stdin", False), "t": ("--tty", False), "q": ("--quiet", False),
}
# Short flags that mean something else in some commands.
SHORT_IN = {
    ("logs", "f"): ("--follow", False), ("logs", "p"): ("--previous", False),
    ("run", "l"): ("--labels", True), ("expose", "l"): ("--labels", True),
    ("delete", "i"): ("--interactive", False),
}

# Flags that point kubectl at another cluster, user or credentials.
CREDENTIAL_FLAGS = _words(
    "--context --kubeconfig --server --token --user --cluster --as --as-group --as-uid --as-user-extra "
    "--certificate-authority --client-key --client-certificate --username --password --insecure-skip-tls-verify "
    "--tls-server-name --proxy-url --kuberc"
)
# Flags that make kubectl write files on the learner's machine.
WRITES_FILES = frozenset({"--cache-dir", "--profile-output", "--output-directory"})
# Flags that let kustomize run programs, reach the network or read outside its folder.
KUSTOMIZE_FLAGS = _words(
    "--enable-helm --helm-command --helm-api-versions --helm-kube-version --helm-debug --enable-alpha-plugins "
    "--enable-exec --load-restrictor --mount --network --network-name --env"
)
NAMESPACE_FLAGS = frozenset({"--namespace", "--all-namespaces"})
# Flags that make a changing command reach objects the lesson did not name.
BULK_FLAGS = frozenset({"--all", "--selector", "--field-selector", "--prune", "--prune-allowlist",
                        "--prune-whitelist", "--all-pods"})
# Flags whose value is a local path that kubectl reads.
PATH_FLAGS = frozenset({"--filename", "--kustomize", "--patch-file", "--from-file", "--from-env-file",
                        "--cert", "--key", "--custom"})
FILE_OUTPUTS = ("go-template-file=", "templatefile=", "jsonpath-file=", "custom-columns-file=")
# port-forward listens on these addresses only: anything else opens the pod to other machines.
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})

# --- kinds ---------------------------------------------------------------------------------


def _names(*groups: str) -> dict[str, str]:
    """Every spelling of a resource (plural, singular, short names) -> its plural."""
    table: dict[str, str] = {}
    for group in groups:
        words = group.split()
        for word in words:
            table[word] = words[0]
    return table


# Resources known to live in a namespace: a changing command may act on these.
NAMESPACED = _names(
    "pods pod po", "services service svc", "deployments deployment deploy", "replicasets replicaset rs",
    "statefulsets statefulset sts", "daemonsets daemonset ds", "jobs job", "cronjobs cronjob cj",
    "configmaps configmap cm", "secrets secret", "persistentvolumeclaims persistentvolumeclaim pvc",
    "serviceaccounts serviceaccount sa", "endpoints ep", "endpointslices endpointslice", "events event ev",
    "ingresses ingress ing", "networkpolicies networkpolicy netpol", "roles role", "rolebindings rolebinding",
    "limitranges limitrange limits", "resourcequotas resourcequota quota",
    "poddisruptionbudgets poddisruptionbudget pdb", "horizontalpodautoscalers horizontalpodautoscaler hpa",
    "controllerrevisions controllerrevision", "leases lease", "podtemplates podtemplate",
    "replicationcontrollers replicationcontroller rc", "csistoragecapacities csistoragecapacity",
    "resourceclaims resourceclaim", "resourceclaimtemplates resourceclaimtemplate", "all",
)
# Resources known to be cluster-scoped: named in the refusal as such.
CLUSTER_SCOPED = _names(
    "namespaces namespace ns", "nodes node no", "persistentvolumes persistentvolume pv",
    "storageclasses storageclass sc", "ingressclasses ingressclass", "clusterroles clusterrole",
    "clusterrolebindings clusterrolebinding", "customresourcedefinitions customresourcedefinition crd crds",
    "priorityclasses priorityclass pc", "runtimeclasses runtimeclass", "csidrivers csidriver", "csinodes csinode",
    "volumeattachments volumeattachment", "volumeattributesclasses volumeattributesclass vac",
    "mutatingwebhookconfigurations mutatingwebhookconfiguration",
    "validatingwebhookconfigurations validatingwebhookconfiguration",
    "validatingadmissionpolicies validatingadmissionpolicy",
    "validatingadmissionpolicybindings validatingadmissionpolicybinding",
    "mutatingadmissionpolicies mutatingadmissionpolicy",
    "mutatingadmissionpolicybindings mutatingadmissionpolicybinding",
    "apiservices apiservice", "certificatesigningrequests certificatesigningrequest csr",
    "clustertrustbundles clustertrustbundle", "flowschemas flowschema",
    "prioritylevelconfigurations prioritylevelconfiguration", "componentstatuses componentstatus cs",
    "tokenreviews tokenreview", "subjectaccessreviews subjectaccessreview",
    "selfsubjectaccessreviews selfsubjectaccessreview", "selfsubjectrulesreviews selfsubjectrulesreview",
    "selfsubjectreviews selfsubjectreview", "deviceclasses deviceclass", "resourceslices resourceslice",
    "ipaddresses ipaddress", "servicecidrs servicecidr", "storageversionmigrations storageversionmigration",
    "storageversions storageversion",
)
# ``kubectl create <generator>``: the resource each generator makes.
CREATE_GENERATORS = {"secret": "secrets", "service": "services", "svc": "services", "quota": "resourcequotas",
                     "token": "token"}

# kustomization.yaml: the keys a lesson's kustomization may use. The others set a namespace
# (``namespace``), run programs (helmCharts, generators, transformers, validators) or
# rewrite fields from elsewhere (replacements, vars), which this policy cannot follow.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_KEYS = _words(
    "apiVersion kind metadata resources bases components labels commonLabels commonAnnotations namePrefix "
    "nameSuffix images replicas configMapGenerator secretGenerator generatorOptions patches "
    "patchesStrategicMerge patchesJson6902 buildMetadata sortOptions"
)
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Kubernetes' own API groups: a kind or resource of another group is a custom resource,
# whose scope the policy cannot know from the lesson file.
BUILTIN_GROUPS = _words(
    "apps batch autoscaling policy networking.k8s.io rbac.authorization.k8s.io coordination.k8s.io "
    "discovery.k8s.io storage.k8s.io resource.k8s.io events.k8s.io node.k8s.io scheduling.k8s.io "
    "apiextensions.k8s.io apiregistration.k8s.io admissionregistration.k8s.io certificates.k8s.io "
    "flowcontrol.apiserver.k8s.io authentication.k8s.io authorization.k8s.io internal.apiserver.k8s.io "
    "storagemigration.k8s.io"
)


class Refused(Exception):
    """One rule broken: the message key of the rule and what to fill in."""

    def __init__(self, key: str, /, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# --- reading a kubectl command line ----------------------------------------------------------


@dataclass
class Command:
    """A kubectl command line as kubectl reads it: the command, its positional words (up
    to ``--``) and its flags, each as (long name, value or None)."""

    name: str | None = None
    words: list[str] = field(default_factory=list)
    flags: list[tuple[str, str | None]] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # long name -> as the step wrote it

    @property
    def sub(self) -> str | None:
        return self.words[0] if self.words else None

    def has(self, *names: str) -> bool:
        return any(flag in names for flag, _ in self.flags)

    def values(self, *names: str) -> list[str]:
        return [value for flag, value in self.flags if flag in names and value is not None]

    def first(self, *names: str) -> str | None:
        """The first of these flags on the line, as the step wrote it (``-n``, ``--namespace``)."""
        found = next((flag for flag, _ in self.flags if flag in names), None)
        return self.written.get(found, found) if found else None


def _takes_value(command: str | None, flag: str) -> bool:
    if (command, flag) in SWITCH_IN or flag in OPTIONAL_VALUE:
        return False
    return flag in GLOBAL_VALUE or flag[2:] in COMMAND_VALUE


def parse(args: list[str]) -> Command:
    """Read kubectl's arguments (without the leading ``kubectl``)."""
    cmd = Command()
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            break
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if not eq and _takes_value(cmd.name, name) and i < len(args):
                value, i = args[i], i + 1
            cmd.flags.append((name, value if (eq or _takes_value(cmd.name, name)) else None))
            cmd.written.setdefault(name, name)
        elif word.startswith("-") and len(word) > 1:
            i = _short_flags(cmd, word, args, i)
        elif cmd.name is None:
            cmd.name = word
        else:
            cmd.words.append(word)
    return cmd


def _short_flags(cmd: Command, word: str, args: list[str], i: int) -> int:
    """``-it``, ``-n ns``, ``-nns``, ``-n=ns``: letters are switches until one takes a value,
    which is the rest of the word or else the next word."""
    letters = word[1:]
    for pos, letter in enumerate(letters):
        long, valued = SHORT_IN.get((cmd.name or "", letter)) or SHORT.get(letter) or (f"-{letter}", False)
        cmd.written.setdefault(long, f"-{letter}")
        if not valued:
            cmd.flags.append((long, None))
            continue
        rest = letters[pos + 1:]
        if rest:
            cmd.flags.append((long, rest[1:] if rest.startswith("=") else rest))
        elif i < len(args):
            cmd.flags.append((long, args[i]))
            i += 1
        else:
            cmd.flags.append((long, ""))
        break
    return i


# --- paths and manifests ---------------------------------------------------------------------


@dataclass
class Course:
    """The course folder, against which every relative path of a step is resolved (the
    folder kubectl runs in)."""

    root: Path

    def __post_init__(self) -> None:
        self.real = Path(os.path.realpath(self.root))

    def local(self, value: str, flag: str) -> Path:
        """The file a flag names, refused when remote or outside the course (symlinks and
        ``..`` resolved)."""
        if "://" in value:
            raise Refused("policy.remote", flag=flag, path=value)
        if value == "-":
            raise Refused("policy.stdin", flag=flag)
        real = Path(os.path.realpath(self.root / value))
        if real != self.real and self.real not in real.parents:
            raise Refused("policy.outside", flag=flag, path=value)
        return real

    def shown(self, path: Path) -> str:
        """A path as the lesson author knows it: relative to the course folder."""
        try:
            return str(path.relative_to(self.real))
        except ValueError:
            return str(path)


def _manifest_files(course: Course, path: Path, flag: str, seen: set[Path] | None = None) -> Iterator[Path]:
    """The files kubectl reads for ``-f path``: the file, or the manifests in the folder
    (all levels, which is stricter than kubectl without -R). Each must stay in the course."""
    if not path.is_dir():
        yield path
        return
    seen = set() if seen is None else seen
    if path in seen:  # a symlink loop
        return
    seen.add(path)
    for entry in sorted(path.iterdir()):
        real = course.local(str(entry), flag)
        if real.is_dir():
            yield from _manifest_files(course, real, flag, seen)
        elif entry.name.endswith(MANIFEST_SUFFIXES):
            yield real


def _documents(course: Course, path: Path) -> list[Any]:
    """The YAML documents of a file; a file that cannot be read cannot be checked."""
    try:
        return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=YAML_LOADER) if doc is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = getattr(exc, "problem", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise Refused("policy.manifest_unreadable", path=course.shown(path), problem=str(problem)) from None


def _objects(doc: Any) -> Iterator[dict[str, Any]]:
    """The objects of one document; a ``List`` (``kind: ...List``) holds more in ``items``."""
    if not isinstance(doc, dict) or "kind" not in doc:
        return  # kubectl refuses such a document (it has no kind); nothing is sent
    kind = str(doc["kind"])
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _objects(item)
    else:
        yield doc


def check_object(obj: dict[str, Any], shown: str) -> None:
    """A manifest object a changing command sends: no namespace of its own, and a kind
    known to live in a namespace."""
    kind = str(obj.get("kind"))
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    name = str(metadata.get("name") or metadata.get("generateName") or "?")
    namespace = metadata.get("namespace")
    if namespace not in (None, ""):
        raise Refused("policy.manifest_namespace", path=shown, object=f"{kind}/{name}", namespace=str(namespace))
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    resource = kind.lower() if not group or group in BUILTIN_GROUPS else f"{kind}.{group}".lower()
    if resource in CLUSTER_SCOPED:
        raise Refused("policy.manifest_cluster_scoped", path=shown, object=f"{kind}/{name}")
    if resource not in NAMESPACED or resource == "all":
        raise Refused("policy.manifest_unknown_kind", path=shown, object=f"{kind}/{name}")


def check_manifests(course: Course, path: Path, flag: str, changes: bool) -> None:
    """``-f path``: the files must be in the course; for a changing command, every object
    in them must pass :func:`check_object`."""
    for file in _manifest_files(course, path, flag):
        if changes and file.exists():
            for doc in _documents(course, file):
                for obj in _objects(doc):
                    check_object(obj, course.shown(file))


@dataclass
class Kustomization:
    """A kustomize folder and everything it pulls in, checked like kubectl -k would read it."""

    course: Course
    changes: bool
    flag: str
    seen: set[Path] = field(default_factory=set)

    def folder(self, path: Path) -> None:
        if path in self.seen:
            return
        self.seen.add(path)
        if not path.is_dir():
            # kustomize takes a name that is no local folder for a remote (git) address.
            raise Refused("policy.kustomize_missing", flag=self.flag, path=self.course.shown(path))
        found = [path / name for name in KUSTOMIZATION_FILES if (path / name).is_file()]
        if not found:
            return  # kustomize refuses a folder without one; nothing is sent
        kfile = found[0]
        docs = _documents(self.course, kfile)
        spec = docs[0] if docs and isinstance(docs[0], dict) else {}
        for key in spec:
            if key == "namespace":
                if self.changes:
                    raise Refused("policy.manifest_namespace", path=self.course.shown(kfile),
                                  object="kustomization", namespace=str(spec[key]))
            elif key not in KUSTOMIZE_KEYS:
                raise Refused("policy.kustomize_key", path=self.course.shown(kfile), setting=str(key))
        for entry in _strings(spec.get("resources")) + _strings(spec.get("bases")) + _strings(spec.get("components")):
            target = self.local(path, entry)
            if target.is_dir():
                self.folder(target)
            elif not target.exists():
                raise Refused("policy.kustomize_missing", flag=self.flag, path=self.course.shown(target))
            else:
                check_manifests(self.course, target, self.flag, self.changes)
        self.generators(path, kfile, spec)
        self.patches(path, kfile, spec)

    def local(self, base: Path, entry: str) -> Path:
        if "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/")):
            raise Refused("policy.remote", flag=self.flag, path=entry)
        return self.course.local(str(base / entry), self.flag)

    def generators(self, base: Path, kfile: Path, spec: dict[str, Any]) -> None:
        for generator in _dicts(spec.get("configMapGenerator")) + _dicts(spec.get("secretGenerator")):
            if generator.get("namespace") and self.changes:
                raise Refused("policy.manifest_namespace", path=self.course.shown(kfile),
                              object=f"generator/{generator.get('name', '?')}", namespace=str(generator["namespace"]))
            sources = _strings(generator.get("files")) + _strings(generator.get("envs"))
            sources += _strings(generator.get("env"))
            for source in sources:
                self.local(base, source.split("=", 1)[-1])

    def patches(self, base: Path, kfile: Path, spec: dict[str, Any]) -> None:
        texts: list[tuple[str, str]] = []
        for entry in _strings(spec.get("patchesStrategicMerge")):
            # kustomize takes an entry for an inline patch when it is not a file name.
            inline = "\n" in entry
            texts.append((self.course.shown(kfile), entry) if inline else self.patch_file(base, entry))
        for patch in _dicts(spec.get("patches")) + _dicts(spec.get("patchesJson6902")):
            if isinstance(patch.get("path"), str):
                texts.append(self.patch_file(base, patch["path"]))
            if isinstance(patch.get("patch"), str):
                texts.append((self.course.shown(kfile), patch["patch"]))
        if self.changes:
            for shown, text in texts:
                if _sets_namespace(text):
                    raise Refused("policy.manifest_namespace", path=shown, object="patch", namespace="-")

    def patch_file(self, base: Path, entry: str) -> tuple[str, str]:
        target = self.local(base, entry)
        try:
            return self.course.shown(target), target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Refused("policy.manifest_unreadable", path=self.course.shown(target), problem=str(exc)) from None


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _sets_namespace(text: str) -> bool:
    """Does a patch (strategic merge or JSON 6902) write an object's namespace?"""
    try:
        docs = list(yaml.load_all(text, Loader=YAML_LOADER))
    except yaml.YAMLError:
        return True  # cannot tell, so it might
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and "namespace" in doc["metadata"]:
            return True
        for op in _dicts(doc):
            if "namespace" in str(op.get("path", "")) or "namespace" in json.dumps(op.get("value")):
                return True
    return False


# --- the rules for one kubectl command -------------------------------------------------------


def _resource(word: str) -> str:
    """``deployments.apps`` -> ``deployments``; ``Deployment`` -> ``deployment``. A group
    that is not one of Kubernetes' own (a custom resource may reuse a built-in name) gives
    a name no table knows."""
    name, _, group = word.lower().partition(".")
    if group and group.split(".", 1)[-1] not in BUILTIN_GROUPS and group not in BUILTIN_GROUPS:
        return word.lower()
    return name


def check_kind(resource: str, shown: str | None = None) -> None:
    """A resource a changing command acts on must be known to live in a namespace."""
    name = _resource(resource)
    if name in CLUSTER_SCOPED:
        raise Refused("policy.cluster_scoped", resource=shown or resource)
    if name not in NAMESPACED:
        raise Refused("policy.unknown_kind", resource=shown or resource)


def _targets(cmd: Command, words: list[str]) -> list[str]:
    """The resource types named by ``TYPE[,TYPE] NAME...`` or ``TYPE/NAME...`` words;
    words with ``=`` (labels, images, env) and label removals (``key-``) are not resources."""
    found: list[str] = []
    for index, word in enumerate(words):
        if "=" in word or (cmd.name in ("label", "annotate") and word.endswith("-")):
            continue
        if "/" in word:
            found.append(word.split("/", 1)[0])
        elif index == 0:
            found.extend(part for part in word.split(",") if part)
    return found


def _pod_targets(words: list[str]) -> list[str]:
    """exec, attach, port-forward, debug: ``POD`` or ``TYPE/NAME``."""
    return [words[0].split("/", 1)[0]] if words and "/" in words[0] else []


def check_credentials(cmd: Command) -> None:
    flag = cmd.first(*CREDENTIAL_FLAGS)
    if flag:
        raise Refused("policy.credentials_flag", flag=flag)
    flag = cmd.first(*WRITES_FILES) or (cmd.first("--profile") if cmd.name != "debug" else None)
    if flag or (cmd.name == "kustomize" and cmd.has("--output")):
        raise Refused("policy.writes_files", flag=flag or "--output")
    flag = cmd.first(*KUSTOMIZE_FLAGS) if cmd.name == "kustomize" else cmd.first(*(KUSTOMIZE_FLAGS - {"--env"}))
    if flag:
        raise Refused("policy.kustomize_flag", flag=flag)


def check_command_word(cmd: Command) -> None:
    """Plugins, and the built-in commands no lesson runs."""
    name = cmd.name
    if name is None:
        return
    if name not in BUILTIN:
        raise Refused("policy.plugin", command=name)
    if name in NEVER:
        raise Refused(NEVER[name], command=name)
    if name == "config" and cmd.sub not in CONFIG_READ:
        raise Refused("policy.config", command=f"config {cmd.sub or ''}".strip())
    if name in NODE_COMMANDS:
        raise Refused("policy.cluster_scoped", resource=NODE_COMMANDS[name])
    if name == "create" and cmd.sub == "token":
        raise Refused("policy.credentials_output", command="create token")


def changes_state(cmd: Command) -> bool:
    if cmd.name is None or cmd.name in READ_ONLY or cmd.name == "config":
        return False
    return not (cmd.name in READ_ONLY_SUB and cmd.sub in READ_ONLY_SUB[cmd.name])


def check_paths(cmd: Command, course: Course, changes: bool) -> None:
    """Every local file the command reads is in the course folder; manifests of a changing
    command name no namespace and hold only namespaced kinds."""
    for flag, value in cmd.flags:
        if flag not in PATH_FLAGS or value is None:
            continue
        for part in value.split(",") if flag == "--filename" else [value]:
            if flag == "--from-file":
                part = part.split("=", 1)[-1]
            if flag == "--kustomize":
                Kustomization(course, changes, "-k").folder(course.local(part, "-k"))
                continue
            path = course.local(part, "-f" if flag == "--filename" else flag)
            if flag == "--filename":
                check_manifests(course, path, "-f", changes)
    for value in cmd.values("--output"):
        if value.startswith(FILE_OUTPUTS):
            course.local(value.split("=", 1)[1], "-o")
            for template in cmd.values("--template"):
                course.local(template, "--template")
    if cmd.name == "kustomize":
        target = cmd.words[0] if cmd.words else "."
        if "://" in target:
            raise Refused("policy.remote", flag="kustomize", path=target)
        Kustomization(course, False, "kustomize").folder(course.local(target, "kustomize"))


def check_secrets(cmd: Command) -> None:
    """Read-only commands may look at other namespaces, but not at their Secrets: a
    cluster's Secrets hold credentials, and a report or a support file would carry them."""
    elsewhere = cmd.has(*NAMESPACE_FLAGS)
    named = any(_resource(t) in ("secrets", "secret") for t in _targets(cmd, cmd.words))
    raw = any("secret" in value.lower() or "%" in value for value in cmd.values("--raw"))
    if raw or (elsewhere and (named or cmd.has("--show-secrets"))):
        raise Refused("policy.credentials_output", command=f"kubectl {cmd.name} secrets")


def check_changing(cmd: Command) -> None:
    """A command that changes state acts only inside the lesson's namespace, on objects the
    lesson names."""
    flag = cmd.first(*NAMESPACE_FLAGS)
    if flag:
        raise Refused("policy.namespace_flag", flag=flag)
    flag = cmd.first(*BULK_FLAGS)
    if flag:
        raise Refused("policy.bulk", flag=flag)
    if cmd.has("--raw"):
        raise Refused("policy.raw", flag="--raw")
    for overrides in cmd.values("--overrides"):
        if "namespace" in overrides:
            raise Refused("policy.namespace_flag", flag="--overrides")
    for address in cmd.values("--address"):
        if not set(address.split(",")) <= LOCAL_ADDRESSES:
            raise Refused("policy.address", flag="--address", address=address)
    name, words = cmd.name, cmd.words
    if name in ("rollout", "set"):
        words = words[1:]
        if words and "/" not in words[0] and not [w for w in words[1:] if "=" not in w]:
            raise Refused("policy.bulk", flag=f"{name} {cmd.sub} {words[0]}")
    if name == "create" and words:
        generator = CREATE_GENERATORS.get(words[0], words[0])
        check_kind(generator, words[0])
    elif name in ("exec", "attach", "port-forward", "debug", "logs"):
        for target in _pod_targets(words):
            check_kind(target)
    elif name == "cp":
        check_cp(words)
    elif name not in ("run", "apply", "replace", "auth", "create"):
        for target in _targets(cmd, words):
            check_kind(target)


def check_cp(words: list[str]) -> None:
    """``kubectl cp SRC DEST``: the pod side has no namespace prefix; the local side is a
    source in the course folder, never a destination (that would write on the machine)."""
    for word in words:
        pod, colon, _ = word.partition(":")
        if colon and "/" in pod:
            raise Refused("policy.namespace_flag", flag=f"cp {pod}:")
    if len(words) == 2 and ":" not in words[1]:
        raise Refused("policy.writes_files", flag="cp")


def check_kubectl(argv: list[str], root: Path) -> None:
    """Raise :class:`Refused` when a kubectl command (``kubectl`` and its arguments) breaks
    the policy; the course folder is where it runs."""
    if not argv or argv[0] != "kubectl":
        raise Refused("policy.not_kubectl", command=argv[0] if argv else "")
    cmd = parse(argv[1:])
    check_credentials(cmd)
    check_command_word(cmd)
    changes = changes_state(cmd)
    check_paths(cmd, Course(root), changes)
    if cmd.name == "cp":
        for word in cmd.words:
            if ":" not in word:
                Course(root).local(word, "cp")
    if changes:
        check_changing(cmd)
    else:
        check_secrets(cmd)


# ``host:`` steps: a read-only look at the learner's Docker.
HOST_VALUE = frozenset({"--filter", "-f", "--format"})
HOST_SWITCH = frozenset({"-a", "--all"})


def check_host(argv: list[str], needs: str | None) -> None:
    if argv[:2] != ["docker", "ps"] or needs not in (None, "docker"):
        raise Refused("policy.host", command=shlex.join(argv[:2]))
    args = iter(argv[2:])
    for word in args:
        name, eq, _ = word.partition("=")
        if name in HOST_VALUE:
            if not eq and next(args, None) is None:
                raise Refused("policy.host", command=word)
        elif word not in HOST_SWITCH:
            raise Refused("policy.host", command=word)


# --- the whole lesson ------------------------------------------------------------------------


def _cleanup_lines(text: str | None) -> list[int]:
    """The file line of each ``cleanup:`` item, for the refusal's ``file:line``."""
    try:
        root = yaml.compose(text, Loader=YAML_LOADER) if text else None
    except yaml.YAMLError:
        return []
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if key.value == "cleanup" and isinstance(value, SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def enforce(lesson: Lesson, text: str | None = None) -> None:
    """Refuse the lesson (:class:`PolicyViolation`, exit 2) at its first step or cleanup item
    that breaks the policy. ``text`` is the file's text, for the cleanup items' lines."""
    root = lesson.root
    for step in lesson.steps:
        try:
            if step.kind == "kubectl":
                check_kubectl(step.argv, root)
            elif step.kind == "host":
                check_host(step.argv, step.needs)
        except Refused as refused:
            raise PolicyViolation(refused.key, file=str(lesson.path), line=step.line, **refused.params) from None
    lines = _cleanup_lines(text)
    for index, command in enumerate(lesson.cleanup):
        line = lines[index] if index < len(lines) else 1
        try:
            check_kubectl(shlex.split(command), root)
        except ValueError as exc:
            raise PolicyViolation("policy.not_kubectl", file=str(lesson.path), line=line, command=str(exc)) from None
        except Refused as refused:
            raise PolicyViolation(refused.key, file=str(lesson.path), line=line, **refused.params) from None
