"""PNG plots of a run: accuracy over the stream, members over time, who answers what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_run(out: Path, metrics: dict[str, Any], members_over_time: list[tuple[int, int]], answered_by: np.ndarray, y_test: np.ndarray, member_labels: list[Any]) -> None:
    """Write accuracy.png, members.png and routing.png into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = metrics["stages"]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [s["examples_seen"] for s in stages]
    ax.plot(xs, [s["accuracy_seen_classes"] for s in stages], "o-", label="classes seen so far")
    ax.plot(xs, [s["accuracy_all_test"] for s in stages], "s--", label="whole test set")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"{metrics['dataset']} {metrics['scenario']} ({metrics['policy']})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    mt = np.array(members_over_time)
    ax.step(mt[:, 0], mt[:, 1], where="post")
    for s in stages:
        ax.axvline(s["examples_seen"], color="grey", lw=0.5, ls=":")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("members in the collection")
    ax.set_title("members over time (dotted: ends of groups, hidden from the learner)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "members.png", dpi=110)
    plt.close(fig)

    classes = np.unique(y_test)
    M = len(member_labels)
    counts = np.zeros((M + 1, len(classes)))
    for j, c in enumerate(classes):
        who = answered_by[y_test == c]
        counts[:, j] = np.bincount(np.where(who < 0, M, who), minlength=M + 1)
    frac = counts / counts.sum(0, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(7, 0.4 * (M + 1) + 1.5))
    im = ax.imshow(frac, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), [str(c) for c in classes])
    ax.set_yticks(range(M + 1), [f"#{i} ({member_labels[i]})" for i in range(M)] + ["unknown"])
    ax.set_xlabel("true class of test input")
    ax.set_ylabel("member that answered (its label)")
    ax.set_title("which member answers which class (fraction of the class)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "routing.png", dpi=110)
    plt.close(fig)
