"""Systems the suite runs in its own process: riscmoe, joint training, streaming LDA.

Each has the same small surface: ``partial_fit(X, y)`` for every batch of the stream
(joint training only stores it: it trains once the stream is over, on everything
shuffled), ``prepare()`` before a stage's evaluation (work every answering variant of the
system shares), ``end_of_stream()``, ``predict(X)``, and ``stats()`` for the figures of
the table (members, models run per input, time in meta-models and models, parameters).
Avalanche's strategies run in their own environment (``avalanche_runner.py``).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from riscmoe import RiscClassifier, registry
from riscmoe.feedback.protocol import Consolidating
from riscmoe.encoders.random_features import make_encoder
from riscmoe.models import VerifierKind


class FeatureMap:
    """Inputs as the peers see them: raw ``pixels``, or ``random-conv``, riscmoe's own
    fixed encoder (made on first use, for the input shape it is given)."""

    def __init__(self, features: str, seed: int) -> None:
        self.features, self.seed = features, seed
        self._enc: Any = None

    def __call__(self, X: np.ndarray) -> torch.Tensor:
        Xt = torch.from_numpy(np.ascontiguousarray(X, np.float32).reshape(len(X), -1))
        if self.features == "pixels":
            return Xt
        if self._enc is None:
            self._enc = make_encoder(tuple(X.shape[1:]), seed=self.seed)
        return self._enc(Xt)


# riscmoe with one of the mission's choices other than the default, by suite name: the
# creator as a member of the collection, and feedback in phases (``best`` routing both).
RISC_CHOICES = {
    "riscmoe-creator-member": {"creator": "as-member"},
    "riscmoe-phases": {"feedback": "phases"},
}


class RiscSystem:
    """riscmoe with a routing policy (and optionally other kinds of parts), as a user would run it."""

    def __init__(self, policy: str, seed: int, archive_size: int = 1000, name: str | None = None, **parts: Any) -> None:
        self.name = name or f"riscmoe-{policy}"
        self.clf = RiscClassifier(policy=policy, archive_size=archive_size, seed=seed, **parts)
        self._answering = self.clf  # what answers: the learner itself, or a consolidated copy of it (``prepare``)
        self._meta_s = self._model_s = 0.0
        self._n_run: np.ndarray = np.zeros(0)

    def use_policy(self, policy: str) -> None:
        """Answer from now on by another routing policy (training does not depend on it)."""
        self.clf.set_params(policy=policy)
        self._answering.set_params(policy=policy)
        self.name = f"riscmoe-{policy}"

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.clf.partial_fit(X, y)

    def end_of_stream(self) -> None:
        pass

    def prepare(self) -> None:
        """Refit and solve pair tests now, once, before the policies are scored: the first
        query after learning would do it, and whichever policy was scored first would pay
        for all three (each policy's wall time counts it; see ``benchmarks.worker``).

        Feedback in phases ends a phase in ``prepare()``: a copy of the learner is prepared
        and answers instead, so that the learner's phases end where its schedule says (every
        ``phase_length`` examples), not where the harness evaluates (a task's end)."""
        if isinstance(registry.spec("feedback", self.clf.feedback), Consolidating):
            self._answering = copy.deepcopy(self.clf).prepare()
        else:
            self._answering = self.clf.prepare()

    def predict(self, X: np.ndarray) -> np.ndarray:
        found = self._answering.predict_detailed(X)
        self._meta_s, self._model_s = found.timing["meta_seconds"], found.timing["model_seconds"]
        self._n_run = found.members_run
        return found.labels

    def stats(self) -> dict[str, Any]:
        cost = self._answering.cost_per_input_
        sizes = self._answering.n_parameters_
        enc_params, meta_params, model_params, one_model = sizes["encoder"], sizes["meta"], sizes["models"], sizes["one_model"]
        return {
            "members": self._answering.n_experts_,
            "runs_mean": float(self._n_run.mean()) if len(self._n_run) else 0.0,
            "runs_p95": float(np.percentile(self._n_run, 95)) if len(self._n_run) else 0.0,
            "meta_seconds": self._meta_s,
            "model_seconds": self._model_s,
            "params_total": enc_params + meta_params + model_params,
            # What one input touches: the encoder, one column of scores per member plus the
            # novelty test, and the models that ran.
            "params_per_input": enc_params + cost["meta_bank_macs"] + float(self._n_run.mean()) * one_model,
            "macs_meta_per_input": cost["meta_bank_macs"],
            "macs_one_model": cost["one_model_macs"],
            # Bytes a member's meta-model holds beyond what the bank shares (its model is apart).
            "meta_kb_per_member_max": max(self._answering.collection_.meta.member_nbytes() or [0]) / 1024,
        }


class StreamingLDA:
    """Streaming linear discriminant analysis (Hayes & Kanan, 2020): class means and a
    shared covariance, updated exactly with every batch, no deep learning. ``features``
    is ``pixels`` (raw inputs) or ``random-conv`` (riscmoe's own fixed encoder).

    Sums, counts and the raw second moment are accumulated (in float64, from float32
    products over a few thousand rows at a time), so a batch costs one matrix product.
    Shrinkage 1e-4 is the authors' default (``shrinkage_param`` in their Deep SLDA code),
    the best of 1e-6 to 1e-2 for batch LDA on these features: the baseline is tuned, not
    handicapped."""

    def __init__(self, features: str, seed: int, shrinkage: float = 1e-4, flush_rows: int = 4096) -> None:
        self.name = f"slda-{features}"
        self.features, self.seed, self.shrinkage, self.flush_rows = features, seed, shrinkage, flush_rows
        self._f = FeatureMap(features, seed)
        self.sums: dict[int, torch.Tensor] = {}
        self.counts: dict[int, int] = {}
        self.second: torch.Tensor | None = None  # sum of z z^T over everything seen
        self._pending: list[torch.Tensor] = []
        self._fit: tuple[torch.Tensor, torch.Tensor, list[int]] | None = None
        self._center = torch.zeros(0)  # mean of everything seen, set with each fit
        self._predict_s = 0.0

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> None:
        Z = self._f(X)
        for c in np.unique(y).tolist():
            Zc = Z[torch.from_numpy(y == c)]
            self.sums[c] = self.sums.get(c, torch.zeros(Z.shape[1], dtype=torch.float64)) + Zc.sum(0).double()
            self.counts[c] = self.counts.get(c, 0) + len(Zc)
        self._pending.append(Z)
        if sum(len(p) for p in self._pending) >= self.flush_rows:
            self._flush()
        self._fit = None

    def _flush(self) -> None:
        if not self._pending:
            return
        P = torch.cat(self._pending)
        self._pending = []
        if self.second is None:
            self.second = torch.zeros(P.shape[1], P.shape[1], dtype=torch.float64)
        self.second += (P.T @ P).double()

    def prepare(self) -> None:
        pass  # one way of answering: its first query pays for its own refit

    def end_of_stream(self) -> None:
        pass

    def _refit(self) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        self._flush()
        assert self.second is not None
        classes = sorted(self.counts)
        n = sum(self.counts.values())
        means = torch.stack([self.sums[c] / self.counts[c] for c in classes])
        counts = torch.tensor([float(self.counts[c]) for c in classes], dtype=torch.float64)
        within = self.second - (means.T * counts) @ means  # sum over classes of centred scatter
        cov = within / max(n - len(classes), 1)
        d = cov.shape[0]
        cov = (1 - self.shrinkage) * cov + self.shrinkage * torch.trace(cov) / d * torch.eye(d, dtype=torch.float64)
        # Scores in coordinates centred on the data's mean: uncentred float32 scores on
        # all-positive features are differences of numbers around 1e6 and lose close calls.
        self._center = ((means.T * counts).sum(1) / counts.sum()).float()
        centred = means - self._center.double()
        W = torch.linalg.solve(cov, centred.T)
        b = -0.5 * (centred * W.T).sum(1)
        return W.float(), b.float(), classes

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._fit is None:
            self._fit = self._refit()
        W, b, classes = self._fit
        t = time.perf_counter()
        s = (self._f(X) - self._center) @ W + b
        self._predict_s = time.perf_counter() - t
        return np.asarray(classes)[s.argmax(1).numpy()]

    def stats(self) -> dict[str, Any]:
        d = 0 if self.second is None else self.second.shape[0]
        k = len(self.counts)
        return {"members": None, "runs_mean": None, "runs_p95": None, "meta_seconds": None, "model_seconds": self._predict_s,
                "params_total": d * d + k * d, "params_per_input": d * k + k}


class JointMLP:
    """The big model: one MLP on riscmoe's fixed features (or pixels) trained on the whole
    stream shuffled, for several epochs, once the stream is over. It has as many
    parameters as riscmoe's members' models together (one per class), times ``mult``."""

    def __init__(self, mult: int, seed: int, epochs: int = 2, features: str = "random-conv", member_hidden: int | None = None) -> None:
        self.name = f"joint-mlp-x{mult}"
        # riscmoe's own default width, so that x1 always matches its parameter count.
        member_hidden = VerifierKind().hidden if member_hidden is None else member_hidden
        self.mult, self.seed, self.epochs, self.features, self.member_hidden = mult, seed, epochs, features, member_hidden
        self._X: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._f = FeatureMap(features, seed)
        self.net: nn.Module | None = None
        self.classes: np.ndarray = np.zeros(0)
        self._predict_s = 0.0

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self._X.append(np.asarray(X, np.float32))
        self._y.append(np.asarray(y))

    def prepare(self) -> None:
        pass  # one way of answering, once the stream is over

    def end_of_stream(self) -> None:
        X, y = np.concatenate(self._X), np.concatenate(self._y)
        self._X, self._y = [], []
        self.classes = np.unique(y)
        target = torch.from_numpy(np.searchsorted(self.classes, y))
        Z = torch.cat([self._f(X[i : i + 4096]) for i in range(0, len(X), 4096)])
        mu, sd = Z.mean(0), Z.std(0) + 1e-6
        self._norm = (mu, sd)
        Z = (Z - mu) / sd
        # As many parameters as riscmoe's members' models on this stream (one member of
        # width member_hidden per class), times mult.
        F_in, k = Z.shape[1], len(self.classes)
        budget = k * ((F_in + 1) * self.member_hidden + self.member_hidden + 1)
        self.hidden = max(16, int(self.mult * budget / (F_in + 1 + k)))
        g = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = nn.Sequential(nn.Linear(Z.shape[1], self.hidden), nn.ReLU(), nn.Linear(self.hidden, len(self.classes)))
        # Wider networks take smaller Adam steps (1e-3 for x1, 1e-3/sqrt(mult) beyond).
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3 / self.mult**0.5)
        for _ in range(self.epochs):
            perm = torch.randperm(len(Z), generator=g)
            for i in range(0, len(Z), 128):
                idx = perm[i : i + 128]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(self.net(Z[idx]), target[idx]).backward()
                opt.step()

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("joint training predicts only once the stream is over")
        t = time.perf_counter()
        mu, sd = self._norm
        out = self.net((self._f(X) - mu) / sd).argmax(1).numpy()
        self._predict_s = time.perf_counter() - t
        return self.classes[out]

    def stats(self) -> dict[str, Any]:
        n = sum(p.numel() for p in self.net.parameters()) if self.net is not None else 0
        return {"members": None, "runs_mean": None, "runs_p95": None, "meta_seconds": None, "model_seconds": self._predict_s,
                "params_total": n, "params_per_input": n}


def make_system(name: str, seed: int) -> Any:
    """A system by its suite name: riscmoe-POLICY, riscmoe-creator-member, riscmoe-phases, slda-pixels,
    slda-random-conv, joint-mlp-xN."""
    if name in RISC_CHOICES:
        return RiscSystem("best", seed, name=name, **RISC_CHOICES[name])
    if name.startswith("riscmoe-"):
        return RiscSystem(name.split("-", 1)[1], seed)
    if name.startswith("slda-"):
        return StreamingLDA(name.split("-", 1)[1], seed)
    if name.startswith("joint-mlp-x"):
        return JointMLP(int(name.rsplit("x", 1)[1]), seed)
    raise ValueError(f"unknown system {name!r}")
