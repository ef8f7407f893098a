"""The support bundle: one text file a learner can attach to a question.

It holds what is needed to understand a failed check — the raw transcript, the normalized
diff, versions, and what the cluster said about the lesson's objects — and nothing
secret: no kubeconfig, tokens or certificates (kubectl's describe and events hold none,
and whatever a lesson itself printed goes through :mod:`kubelesson.redact`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kubelesson import __version__, lesson, redact, transcript
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
    return redact.text("\n".join(sections))


def write(checked: Checked, path: Path | None) -> Path:
    """Write the bundle to ``path``, or to a new file in the temporary folder."""
    if path is None:
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"kubelesson-{checked.lesson.number}-", suffix=".txt", delete=False
        ) as handle:
            path = Path(handle.name)
    lesson.write_atomically(path, render(checked))
    return path
