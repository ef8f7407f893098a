"""The support bundle: one text file a learner can attach to a question.

It holds what is needed to understand a failed check — the raw transcript, the normalized
diff, versions, and what the cluster said about the lesson's objects — and nothing
secret: no kubeconfig, tokens or certificates (kubectl's describe and events hold none).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kubelesson import __version__, lesson, transcript
from kubelesson.kubectl import Kubectl

if TYPE_CHECKING:
    from kubelesson.core import Checked


def diagnostics(kubectl: Kubectl, found: lesson.Lesson) -> str:
    """`kubectl describe` of the lesson's objects and the namespace's events, as printed."""
    parts = []
    commands = [["describe", obj] for obj in found.objects]
    commands.append(["get", "events", "--sort-by=.lastTimestamp"])
    for args in commands:
        result = kubectl.run(args, timeout=30)
        parts.append(
            transcript.render(
                transcript.Transcript(
                    (
                        transcript.Entry(
                            "kubectl " + " ".join(args), result.output, result.exit_code
                        ),
                    )
                )
            )
        )
    return "".join(parts)


# Belt and braces: nothing kubelesson puts in a bundle should hold a secret, but a lesson's
# own output (a `kubectl config view --raw`, a describe of a Secret) could. These shapes
# are blanked whatever section they turn up in.
_SECRETS = (
    # kubeconfig / YAML fields that carry credentials
    re.compile(
        r"(?im)^(\s*-?\s*(?:token|client-key-data|client-certificate-data|password|"
        r"id-token|refresh-token|access-token)\s*:\s*)\S.*$"
    ),
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+"),
    re.compile(r"(?i)(--token[= ])\S+"),
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """The text with anything that looks like a credential replaced by ``<redacted>``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    text = _PEM.sub(REDACTED, text)
    return _JWT.sub(REDACTED, text)


def render(checked: Checked) -> str:
    run = checked.run
    diffs = [step.diff for step in checked.comparison.steps if step.diff]
    sections = [
        f"# kubelesson support bundle, lesson {checked.lesson.number}",
        f"# kubelesson {__version__}, kubectl {run.target.client_version}, "
        f"server {run.target.server_version}, context {run.target.context}",
        f"# written {dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "",
        "## Differences from the lesson (normalized)",
        "\n".join(diffs) or "(none)",
        "",
        "## Raw transcript",
        transcript.render(run.transcript),
        "## Cluster state",
        checked.diagnostics or "(not collected)",
    ]
    return redact("\n".join(sections))


def write(checked: Checked, path: Path | None) -> Path:
    """Write the bundle to ``path``, or to a new file in the temporary folder."""
    if path is None:
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"kubelesson-{checked.lesson.number}-", suffix=".txt", delete=False
        ) as handle:
            path = Path(handle.name)
    lesson.write_atomically(path, render(checked))
    return path
