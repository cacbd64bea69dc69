"""RiscClassifier: the whole system behind a scikit-learn style surface."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from riscmoe import threads
from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection
from riscmoe.controller.controller import POLICIES, Controller, Routing
from riscmoe.creator.creator import Creator
from riscmoe.feedback.learner import Feedback, FeedbackReport
from riscmoe.meta.gaussian import GaussianMetaBank
from riscmoe.encoders.random_features import make_encoder
from riscmoe.validation import ValueScale, check_X, check_y


class RiscClassifier:
    """A growing collection of small classifiers, each behind a calibrated meta-model.

    The learner is never told how many classes exist nor when a new one starts. Inputs
    whose label no member can handle are archived; once ``min_examples`` of one label have
    gathered, the creator makes a member for them. Feedback from every labelled batch trains
    the members that answered and those whose meta-models were near their threshold.

    ``predict`` returns labels of the kind given to ``partial_fit``. An input no member
    accepts, but whose most confident member comes near its threshold (confidence at
    least ``threshold / margin``, the same band in which feedback moves borders), is
    answered by that member with its low confidence; an input below that band is unlike
    anything the collection knows and gets "unknown": ``-1`` when labels are integers,
    ``None`` (in an object array) when they are strings.

    Args:
        policy: routing policy, one of ``"first"``, ``"best"``, ``"mixture"``.
        threshold: meta-model confidence needed to accept an input (the same for all
            members: the fraction of a member's own inputs that look stranger).
        max_experts: most members whose model may run on one input.
        margin: confidences down to ``threshold / margin`` count as near the border (and
            still get an answer from ``predict``; below it, "unknown").
        min_examples: unexplained inputs of one label the creator waits for.
        archive_size: most inputs the archive stores (None: no count limit).
        archive_bytes: most bytes of inputs the archive stores (None: no byte limit).
        hidden: hidden width of each member's model.
        lr: learning rate of the members' models.
        seed: seed of everything random (weights, sketches, sampling).
        outlier_factor: a row whose largest absolute value exceeds this many times the
            typical row's (the median over every row learned, see ``ValueScale``) is
            refused, by ``partial_fit`` and ``predict`` alike, with the rows named; one
            such row could otherwise ruin every meta-model it touches. None accepts any
            finite row whose features stay within float32's range.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = RiscClassifier(seed=0).partial_fit(X[:1000] / 16, y[:1000])
        >>> clf.n_experts_
        10
        >>> float((clf.predict(X[1000:] / 16) == y[1000:]).mean()) > 0.8
        True
    """

    def __init__(
        self,
        policy: str = "best",
        threshold: float = 1e-3,
        max_experts: int = 3,
        margin: float = 100.0,
        min_examples: int = 32,
        archive_size: int | None = 1000,
        archive_bytes: int | None = None,
        hidden: int = 64,
        lr: float = 2e-3,
        seed: int = 0,
        outlier_factor: float | None = 100.0,
    ) -> None:
        self.policy = policy
        self.threshold = threshold
        self.max_experts = max_experts
        self.margin = margin
        self.min_examples = min_examples
        self.archive_size = archive_size
        self.archive_bytes = archive_bytes
        self.hidden = hidden
        self.lr = lr
        self.seed = seed
        self.outlier_factor = outlier_factor

    # ------------------------------------------------------------- parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _PARAMS}

    def set_params(self, **params: Any) -> "RiscClassifier":
        for k, v in params.items():
            if k not in _PARAMS:
                raise ValueError(f"unknown parameter {k!r}; valid: {', '.join(_PARAMS)}")
            setattr(self, k, v)
        return self

    def _check_params(self, input_shape: tuple[int, ...] | None = None) -> None:
        """Raise on any parameter out of range, naming it; nothing is built before this passes.

        ``input_shape`` (before the first batch is learned) also checks that the archive's
        byte budget holds the ``min_examples`` inputs the creator needs for one member.
        """
        if not isinstance(self.policy, str) or self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        threshold = _real("threshold", self.threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")
        if _integer("max_experts", self.max_experts) < 1:
            raise ValueError(f"max_experts must be at least 1, got {self.max_experts}")
        if not _real("margin", self.margin) >= 1.0:
            raise ValueError(f"margin must be at least 1, got {self.margin}")
        min_examples = _integer("min_examples", self.min_examples)
        if min_examples < 2:
            raise ValueError(f"min_examples must be at least 2, got {self.min_examples}")
        if self.archive_size is not None and _integer("archive_size", self.archive_size) < min_examples:
            raise ValueError(f"archive_size={self.archive_size} cannot hold the min_examples={min_examples} inputs the creator "
                             "waits for: no member could ever be made; give at least that many (or None: no count limit)")
        if self.archive_bytes is not None:
            budget = _integer("archive_bytes", self.archive_bytes)
            need = 4 * min_examples * (int(np.prod(input_shape)) if input_shape is not None else 1)
            if budget < need:
                raise ValueError(f"archive_bytes={self.archive_bytes} cannot hold the min_examples={min_examples} inputs the creator "
                                 f"waits for ({need} bytes of float32 inputs): no member could ever be made")
        if _integer("hidden", self.hidden) < 1:
            raise ValueError(f"hidden must be at least 1, got {self.hidden}")
        if not _real("lr", self.lr) > 0.0:
            raise ValueError(f"lr must be a positive learning rate, got {self.lr}")
        if not 0 <= _integer("seed", self.seed) < 2**63:
            raise ValueError(f"seed must lie in [0, 2**63), got {self.seed}")
        if self.outlier_factor is not None and not _real("outlier_factor", self.outlier_factor) > 1.0:
            raise ValueError(f"outlier_factor must exceed 1 (or be None: no outlier check), got {self.outlier_factor}")

    # ---------------------------------------------------------------- fitted
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "collection_")

    def _new_state(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """Everything a first batch creates, built apart: assigned only once the batch passed every check."""
        dim = int(np.prod(input_shape))
        encoder = make_encoder(tuple(int(s) for s in input_shape), seed=int(self.seed))
        return {
            "input_shape_": tuple(int(s) for s in input_shape),
            "classes_": [],
            "label_kind_": "",  # "int" or "str", fixed by the first labels seen
            "collection_": Collection(encoder, GaussianMetaBank(encoder.dim, seed=int(self.seed))),
            "archive_": Archive(dim, max_records=self.archive_size, max_bytes=self.archive_bytes, featurizer=self._featurize),
            "value_scale_": ValueScale(),
            "n_seen_": 0,
            "experts_run_per_input_": 0.0,
            "history_": [],  # one row per member creation
            "_rng": np.random.default_rng(int(self.seed)),
        }

    def _init_state(self, input_shape: tuple[int, ...]) -> None:
        self.__dict__.update(self._new_state(input_shape))

    def _featurize(self, X: np.ndarray) -> np.ndarray:
        return self.collection_.encode(torch.from_numpy(np.ascontiguousarray(X, np.float32))).numpy()

    def _parts(self) -> tuple[Controller, Feedback, Creator]:
        threshold, margin = float(self.threshold), float(self.margin)
        controller = Controller(self.policy, threshold, int(self.max_experts), floor=threshold / margin)
        feedback = Feedback(threshold=threshold, margin=margin)
        creator = Creator(min_examples=int(self.min_examples), hidden=int(self.hidden), lr=float(self.lr), seed=int(self.seed))
        return controller, feedback, creator

    @property
    def n_experts_(self) -> int:
        """Members now in the collection."""
        return len(self.collection_) if self.is_fitted else 0

    @property
    def cost_per_input_(self) -> dict[str, float]:
        """Multiply-adds per input (machine-independent): the shared encoder, the whole
        bank of meta-models, one member's model, and the models the last ``predict`` ran."""
        if not self.is_fitted:
            return {}
        col = self.collection_
        model = max((m.model.macs_per_input for m in col.members), default=0)
        meta = col.meta.macs_per_input()
        return {
            "encoder_macs": float(col.encoder.macs_per_input),
            "meta_bank_macs": float(meta),
            "one_model_macs": float(model),
            "meta_bank_over_one_model": meta / model if model else 0.0,
            "models_macs_last_predict": self.experts_run_per_input_ * model,
        }

    # -------------------------------------------------------------- labels
    def _encode(self, y: np.ndarray, *, grow: bool) -> tuple[np.ndarray, list[Any], str]:
        """Label ids for y, the labels seen for the first time, and the kind of labels."""
        kind = "str" if y.dtype == object else "int"
        known, known_kind = getattr(self, "classes_", []), getattr(self, "label_kind_", "")
        if known_kind and kind != known_kind:
            raise TypeError(f"labels were {known_kind}s before; got {kind} labels now")
        lookup = {c: i for i, c in enumerate(known)}
        out = np.empty(len(y), np.int64)
        new: list[Any] = []
        for i, v in enumerate(y.tolist()):
            j = lookup.get(v)
            if j is None:
                if not grow:
                    raise ValueError(f"unknown label {v!r}")
                j = len(known) + len(new)
                lookup[v] = j
                new.append(v)
            out[i] = j
        return out, new, kind

    def _decode(self, ids: np.ndarray) -> np.ndarray:
        if self.label_kind_ == "str":
            out = np.empty(len(ids), dtype=object)
            for i, j in enumerate(ids.tolist()):
                out[i] = None if j < 0 else self.classes_[j]
            return out
        classes = np.asarray(self.classes_ + [-1], dtype=np.int64)
        return classes[np.where(ids < 0, len(self.classes_), ids)]

    # ------------------------------------------------------------ learning
    def partial_fit(self, X: Any, y: Any) -> "RiscClassifier":
        """Learn from one labelled batch (feedback), creating members when needed.

        Args:
            X: inputs, shape (n, ...), the same per-example shape on every call.
            y: n integer or string labels; never -1, which stands for "unknown".

        Returns:
            self.
        """
        threads.configure()  # (once per process: threads chosen from the cores really free)
        Xc = check_X(X, input_shape=self.input_shape_ if self.is_fitted else None)
        self._check_params(None if self.is_fitted else Xc.shape[1:])
        yc = check_y(y, len(Xc))
        y_ids, new_labels, kind = self._encode(yc, grow=True)
        state = None if self.is_fitted else self._new_state(Xc.shape[1:])
        scale: ValueScale = self.value_scale_ if state is None else state["value_scale_"]
        row_scales = scale.check(Xc, self.outlier_factor)
        collection: Collection = self.collection_ if state is None else state["collection_"]
        Xt = torch.from_numpy(Xc.reshape(len(Xc), -1))
        Z = collection.encode(Xt)
        _check_features(Z)
        # Everything was checked: from here on the batch is learned from.
        if state is not None:
            self.__dict__.update(state)
        self.value_scale_.learn(row_scales)
        self.label_kind_ = kind
        self.classes_.extend(new_labels)
        controller, feedback, creator = self._parts()
        yt = torch.from_numpy(y_ids)
        # A fit at most a few thousand examples old is close enough to decide what to learn.
        meta = self.collection_.evaluate(Z, exact=False)
        quota = max(1, (self.archive_.capacity or 10**9) // max(1, len(self.classes_)))
        report = feedback.learn(self.collection_, self.archive_, Xt, Z, yt, meta, self._rng, quota, self.n_seen_)
        self.n_seen_ += len(Xc)
        for label in creator.ready_labels(self.archive_):
            member = creator.create(label, self.archive_, self.collection_, self.n_seen_, self._rng)
            self.history_.append(
                {"member": member.index, "label": self.classes_[label], "seen": self.n_seen_, "reason": member.reason}
            )
        self.archive_.commit()
        self.last_feedback_: FeedbackReport = report
        return self

    # ----------------------------------------------------------- prediction
    def _route(self, X: Any) -> Routing:
        if not self.is_fitted:
            raise RuntimeError("this RiscClassifier has not learned anything yet: call partial_fit first")
        threads.configure()
        self._check_params()
        Xc = check_X(X, input_shape=self.input_shape_)
        self.value_scale_.check(Xc, self.outlier_factor, learning=False)
        controller, _, _ = self._parts()
        Xt = torch.from_numpy(Xc.reshape(len(Xc), -1))
        # Blocks of rows, start to finish: each input's answer is its own, and a block's
        # features (10 MB) stay in cache between the encoder, the meta-models and the
        # models; 30,000 inputs in one piece took a fifth longer (and 290 MB per copy).
        seconds = [0.0, 0.0, 0.0]
        parts = []
        for i in range(0, len(Xt), _PREDICT_BLOCK):
            t0 = time.perf_counter()
            Z = self.collection_.encode(Xt[i : i + _PREDICT_BLOCK])
            _check_features(Z, offset=i)
            t1 = time.perf_counter()
            meta = self.collection_.evaluate(Z)
            t2 = time.perf_counter()
            parts.append(controller.route(self.collection_, Z, meta))
            t3 = time.perf_counter()
            for j, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                seconds[j] += dt
        routing = Routing(*(torch.cat([getattr(r, f) for r in parts]) for f in ("label", "member", "n_run", "confidence")))
        self.experts_run_per_input_ = float(routing.n_run.float().mean())
        self.last_timing_ = {"encoder_seconds": seconds[0], "meta_seconds": seconds[1], "model_seconds": seconds[2], "n": len(Xc)}
        self.last_n_run_ = routing.n_run.numpy()
        return routing

    def predict(self, X: Any) -> np.ndarray:
        """Labels for X (n, ...); -1 (integer labels) or None (string labels) for unknown."""
        return self._decode(self._route(X).label.numpy())

    def predict_with_confidence(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, the confidence of each answer, and the index of the member that gave it."""
        r = self._route(X)
        return self._decode(r.label.numpy()), r.confidence.numpy(), r.member.numpy()

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on (X, y); "unknown" counts as wrong."""
        pred = self.predict(X)
        yc = check_y(y, len(pred))
        return float(np.mean(pred == yc))

    # ---------------------------------------------------------- persistence
    def save(self, path: str) -> None:
        """Write the whole system to a folder: manifest, weights (safetensors), archive (SQLite)."""
        from riscmoe.persistence.folder import save

        save(self, path)


# Inputs answered at a time by predict (see ``RiscClassifier._route``).
_PREDICT_BLOCK = 1024
# Largest feature magnitude learned or scored: squares and sums of many stay far inside
# float32 (3.4e38), so no statistic can overflow to inf and then NaN.
_MAX_FEATURE = 1e15


def _check_features(Z: torch.Tensor, offset: int = 0) -> None:
    """Refuse inputs whose features would overflow the float32 statistics (the last guard
    before state, whatever ``outlier_factor`` is)."""
    # (B,); two reductions, no temporary (abs() of a block would cost several times more).
    # NaN compares False, so it counts as too large.
    big = ~((Z.amax(dim=1) <= _MAX_FEATURE) & (Z.amin(dim=1) >= -_MAX_FEATURE))
    if bool(big.any()):
        rows = (torch.nonzero(big).flatten() + offset)[:5].tolist()
        raise ValueError(f"X rows {rows} are too large: their features exceed {_MAX_FEATURE:.0e} and would overflow the "
                         "meta-models' float32 statistics; rescale the inputs (e.g. to [0, 1])")


def _real(name: str, value: Any) -> float:
    """A parameter that must be a finite real number (not a bool, not a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _integer(name: str, value: Any) -> int:
    """A parameter that must be a whole number (an int, or a float with no fraction)."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)

_PARAMS = (
    "policy",
    "threshold",
    "max_experts",
    "margin",
    "min_examples",
    "archive_size",
    "archive_bytes",
    "hidden",
    "lr",
    "seed",
    "outlier_factor",
)
