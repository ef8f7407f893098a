"""One exception hierarchy for every foreseeable problem.

Each error carries a message key from :mod:`kubelesson.messages` and the values it
needs, so the report layer can print it in the learner's language, and an exit code
from the command-line contract (2: usage or environment, 1: mismatch, 130: interrupted).
"""

from __future__ import annotations

from typing import Any

EXIT_PASS = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class KubelessonError(Exception):
    """A problem the user can fix; shown as one line, never as a traceback."""

    exit_code = EXIT_USAGE
    key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(f"{self.key} {params}")


class LessonNotFound(KubelessonError):
    key = "error.lesson_not_found"


class LessonFileError(KubelessonError):
    """A lesson file that is not valid YAML or breaks the lesson schema (file, line, what)."""

    key = "error.lesson_file"


class KubectlMissing(KubelessonError):
    key = "error.kubectl_missing"


class KubectlTooOld(KubelessonError):
    key = "error.kubectl_too_old"


class NoContext(KubelessonError):
    key = "error.no_context"


class KubeconfigMissing(NoContext):
    """Every kubeconfig file named (``--kubeconfig``, ``$KUBECONFIG``) is absent."""

    key = "error.kubeconfig_missing"


class KubectlUnresponsive(KubelessonError):
    """``kubectl version`` hung, or printed no version at all (``--kubectl /bin/true``)."""

    key = "error.kubectl_hung"


class EditImpossible(KubelessonError):
    """A step's ``edit`` cannot be made to the course file it names."""

    key = "error.edit_impossible"


class NamespaceMissing(KubelessonError):
    """``--namespace NS`` names a namespace the cluster does not have."""

    key = "error.namespace_missing"


class ContextNotLocal(KubelessonError):
    key = "error.context_not_local"


class ClusterUnreachable(KubelessonError):
    key = "error.cluster_unreachable"


class Forbidden(KubelessonError):
    key = "error.forbidden"


class ObjectsExist(KubelessonError):
    """--namespace was given and an object the lesson creates is already there."""

    key = "error.objects_exist"


class SharedInUse(KubelessonError):
    """A cluster-wide thing the lesson needs to itself (a node folder, a LoadBalancer port,
    an Ingress host name) is held by an object outside the lesson: the run could not pass,
    or would check the other object instead of its own."""

    key = "error.hostpath_in_use"


class OutputNotWritable(KubelessonError):
    key = "error.output_not_writable"


class TranscriptFileError(KubelessonError):
    key = "error.transcript_file"


class Interrupted(KubelessonError):
    """SIGINT, SIGTERM or SIGHUP arrived; raised so every ``finally`` runs."""

    exit_code = EXIT_INTERRUPTED
    key = "error.interrupted"


class PolicyViolation(KubelessonError):
    """A lesson step breaks the safety policy (kubelesson/policy.py): refused before
    anything runs. The key names the rule; params hold file, line and what broke it."""

    key = "policy.generic"
