"""RiscClassifier: the whole system behind a scikit-learn surface, composed of parts."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from riscmoe import registry, threads
from riscmoe.archive.policy import ArchivePolicy
from riscmoe.archive.sqlite_archive import Archive
from riscmoe.collection.collection import Collection
from riscmoe.config import check_fields, integer, real
from riscmoe.controller.controller import Controller, Routing
from riscmoe.controller.protocol import RoutingPolicy
from riscmoe.creator.protocol import ArchiveCreator, Creation, MemberCreator
from riscmoe.encoders.kinds import Module, as_encoder
from riscmoe.feedback.protocol import Consolidating, Context, FeedbackReport, FeedbackSchedule
from riscmoe.models.protocol import MemberModel, ModelFactory
from riscmoe.validation import ValueScale, check_X, check_y

# The parts, in the order of the constructor's arguments.
PARTS = registry.PARTS
# Parts built once, by the first batch, into state (their kind is fixed from then on).
_BUILT = ("encoder", "meta", "model")


@dataclass(frozen=True)
class Prediction:
    """Everything one ``predict_detailed`` call found, returned rather than kept (``predict`` changes nothing).

    labels: (n,) labels, of the kind learned; -1 (integer labels) or None (strings) for "unknown".
    confidence: (n,) confidence of each answer in [0, 1] (0 when unknown).
    member: (n,) index of the member that answered, -1 if none.
    members_run: (n,) how many members' models ran on each input.
    model_runs: (M,) inputs each member's model ran on.
    timing: seconds in the encoder, the meta-models and the models (``encoder_seconds``,
        ``meta_seconds``, ``model_seconds``), and ``n`` inputs.
    """

    labels: np.ndarray
    confidence: np.ndarray
    member: np.ndarray
    members_run: np.ndarray
    model_runs: np.ndarray
    timing: dict[str, float]

    @property
    def runs_per_input(self) -> float:
        """Members' models run per input, on average."""
        return float(self.members_run.mean()) if len(self.members_run) else 0.0


@dataclass(frozen=True)
class _SeededModels:
    """The model factory handed to the creator: member i's model gets seed ``seed + i``."""

    kind: ModelFactory
    seed: int

    def build(self, in_dim: int, seed: int) -> MemberModel:
        return self.kind.build(in_dim, self.seed + seed)


class RiscClassifier(ClassifierMixin, BaseEstimator):
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
    ``None`` (in an object array) when they are strings. ``predict`` changes nothing
    (``predict_detailed`` returns what it found: members run, timings).

    Every part is given by the name of a registered kind, an instance of one (its fields
    are the part's settings, ``part__field`` in ``get_params(deep=True)``), or an object of
    your own that keeps the part's protocol (see each part's ``protocol`` module, and
    ``riscmoe.registry`` to register a kind).

    Args:
        encoder: the fixed feature map (``auto``: random convolutions for images, random
            ReLU features otherwise; ``random-conv``; ``random-relu``), or any
            ``torch.nn.Module`` or callable from a batch of inputs to (B, F) features.
        meta: the bank of meta-models (``gaussian``).
        model: the factory of members' models (``verifier``: a small MLP).
        policy: routing policy, ``first``, ``best`` or ``mixture``.
        archive: what the archive keeps when full (``balanced``).
        creator: what makes new members (``from-archive``).
        feedback: the feedback schedule (``continuous``).
        threshold: meta-model confidence needed to accept an input (the same for all
            members: the fraction of a member's own inputs that look stranger).
        max_experts: most members whose model may run on one input.
        margin: confidences down to ``threshold / margin`` count as near the border (and
            still get an answer from ``predict``; below it, "unknown").
        min_examples: unexplained inputs of one label the creator waits for.
        archive_size: most inputs the archive stores while the collection is small (None: no
            count limit).
        archive_per_member: the archive grows with the collection: it stores at most
            ``max(archive_size, archive_per_member * members)`` inputs, so that every member
            keeps about this many records to rehearse and to serve as others' negatives
            (0: a fixed ``archive_size``). With 32, nothing changes up to 31 members; at
            1,000 members it holds 32,000 inputs (about 100 MB of MNIST images on disk, and
            their features in memory). Within ``archive_bytes`` when that is given.
        archive_bytes: most bytes of inputs the archive stores (None: no byte limit).
        seed: seed of everything random (weights, sketches, sampling).
        outlier_factor: a row whose largest absolute value exceeds this many times the
            typical row's (the median over every row learned, see ``ValueScale``) is
            refused, by ``partial_fit`` and ``predict`` alike, with the rows named; one
            such row could otherwise ruin every meta-model it touches. None accepts any
            finite row whose features stay within float32's range.
        predict_block: inputs answered at a time, start to finish (their features stay in
            cache between the encoder, the meta-models and the models; 30,000 inputs in
            one piece took a fifth longer).
        fit_batch: rows per ``partial_fit`` call when ``fit`` learns a whole data set.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = RiscClassifier(seed=0).partial_fit(X[:1000] / 16, y[:1000])
        >>> clf.n_experts_
        10
        >>> float((clf.predict(X[1000:] / 16) == y[1000:]).mean()) > 0.8
        True
        >>> clf.get_params()["model__hidden"]
        64
    """

    def __init__(
        self,
        encoder: Any = "auto",
        meta: Any = "gaussian",
        model: Any = "verifier",
        policy: Any = "best",
        archive: Any = "balanced",
        creator: Any = "from-archive",
        feedback: Any = "continuous",
        threshold: float = 1e-3,
        max_experts: int = 3,
        margin: float = 100.0,
        min_examples: int = 32,
        archive_size: int | None = 1000,
        archive_per_member: int = 32,
        archive_bytes: int | None = None,
        seed: int = 0,
        outlier_factor: float | None = 100.0,
        predict_block: int = 1024,
        fit_batch: int = 64,
    ) -> None:
        self.encoder = encoder
        self.meta = meta
        self.model = model
        self.policy = policy
        self.archive = archive
        self.creator = creator
        self.feedback = feedback
        self.threshold = threshold
        self.max_experts = max_experts
        self.margin = margin
        self.min_examples = min_examples
        self.archive_size = archive_size
        self.archive_per_member = archive_per_member
        self.archive_bytes = archive_bytes
        self.seed = seed
        self.outlier_factor = outlier_factor
        self.predict_block = predict_block
        self.fit_batch = fit_batch

    # ------------------------------------------------------------- parameters
    def part(self, name: str) -> Any:
        """The part ``name`` as its parameter gives it: a kind instance (a name resolved to
        the kind with its defaults; a module or callable encoder as a ``module`` kind), or
        the object given."""
        value = getattr(self, name)
        spec = registry.spec(name, value)
        if name == "encoder" and registry.kind_of(spec) is None and not hasattr(spec, "build"):
            return Module(module=spec)
        return spec

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters by the constructor's names; with ``deep``, every part's settings as ``part__field`` too."""
        out = super().get_params(deep=False)
        if deep:
            for name in PARTS:
                try:
                    spec = self.part(name)
                except (ValueError, TypeError):
                    continue  # an unknown kind name: reported by fit, not here
                if registry.kind_of(spec) is not None:
                    out.update({f"{name}__{k}": v for k, v in registry.config(spec).items()})
                elif hasattr(spec, "get_params"):
                    out.update({f"{name}__{k}": v for k, v in spec.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> "RiscClassifier":
        """Set parameters by name; ``part__field`` replaces one setting of a part (its kind kept).

        A part's whole value (``policy="mixture"``) is set before its fields
        (``policy__sure=0.2``), whatever the order given. Nothing is checked until the next
        ``fit``, ``partial_fit`` or ``predict``, except that every name must exist.
        """
        valid = super().get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"unknown parameter {key!r}; valid: {', '.join(valid)} (and PART__SETTING for the parts "
                                 f"{', '.join(PARTS)})")
            if sep:
                if name not in PARTS:
                    raise ValueError(f"{name!r} is not a part and has no settings of its own; parts: {', '.join(PARTS)}")
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub in nested.items():
            spec = self.part(name)
            if registry.kind_of(spec) is not None:
                fields = {f.name for f in dataclasses.fields(spec)}
                unknown = sorted(set(sub) - fields)
                if unknown:
                    info = registry.kind_of(spec)
                    raise ValueError(f"the {name} kind {info[1]!r} has no setting {unknown[0]!r}; its settings: "
                                     f"{', '.join(sorted(fields)) or 'none'}")
                setattr(self, name, dataclasses.replace(spec, **sub))
            elif hasattr(spec, "set_params"):
                spec.set_params(**sub)
            else:
                raise ValueError(f"the {name} given ({type(spec).__name__}) is neither a registered kind nor has set_params: "
                                 f"its settings cannot be changed by name")
        return self

    def _parts(self) -> dict[str, Any]:
        """Every part resolved and checked (names known, protocols kept, settings in range)."""
        parts = {}
        for name in PARTS:
            spec = self.part(name)
            if registry.kind_of(spec) is not None:
                check_fields(name, spec)
            parts[name] = spec
        wants = {"encoder": "build", "meta": "build", "model": "build"}
        for name, method in wants.items():
            if not callable(getattr(parts[name], method, None)):
                raise TypeError(f"{name} must be a kind name ({', '.join(registry.kinds(name))}), a kind instance or an object "
                                f"with {method}(...); got {type(parts[name]).__name__}")
        for name, protocol in (("policy", RoutingPolicy), ("archive", ArchivePolicy), ("creator", ArchiveCreator), ("feedback", FeedbackSchedule)):
            if not isinstance(parts[name], protocol):
                raise TypeError(f"{name} must be a kind name ({', '.join(registry.kinds(name))}) or an object keeping the "
                                f"{protocol.__name__} protocol (see riscmoe.{name if name != 'policy' else 'controller'}); "
                                f"got {type(parts[name]).__name__}")
        return parts

    def _check_params(self, input_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
        """Raise on any parameter out of range, naming it; nothing is built before this passes. Returns the parts.

        ``input_shape`` (before the first batch is learned) also checks that the archive's
        byte budget holds the ``min_examples`` inputs the creator needs for one member.
        """
        threshold = real("threshold", self.threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")
        if integer("max_experts", self.max_experts) < 1:
            raise ValueError(f"max_experts must be at least 1, got {self.max_experts}")
        if not real("margin", self.margin) >= 1.0:
            raise ValueError(f"margin must be at least 1, got {self.margin}")
        min_examples = integer("min_examples", self.min_examples)
        if min_examples < 2:
            raise ValueError(f"min_examples must be at least 2, got {self.min_examples}")
        if self.archive_size is not None and integer("archive_size", self.archive_size) < min_examples:
            raise ValueError(f"archive_size={self.archive_size} cannot hold the min_examples={min_examples} inputs the creator "
                             "waits for: no member could ever be made; give at least that many (or None: no count limit)")
        if integer("archive_per_member", self.archive_per_member) < 0:
            raise ValueError(f"archive_per_member must be 0 or more records, got {self.archive_per_member}")
        if self.archive_bytes is not None:
            budget = integer("archive_bytes", self.archive_bytes)
            need = 4 * min_examples * (int(np.prod(input_shape)) if input_shape is not None else 1)
            if budget < need:
                raise ValueError(f"archive_bytes={self.archive_bytes} cannot hold the min_examples={min_examples} inputs the creator "
                                 f"waits for ({need} bytes of float32 inputs): no member could ever be made")
        if not 0 <= integer("seed", self.seed) < 2**63:
            raise ValueError(f"seed must lie in [0, 2**63), got {self.seed}")
        if self.outlier_factor is not None and not real("outlier_factor", self.outlier_factor) > 1.0:
            raise ValueError(f"outlier_factor must exceed 1 (or be None: no outlier check), got {self.outlier_factor}")
        for name in ("predict_block", "fit_batch"):
            if integer(name, getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        parts = self._parts()
        if self.is_fitted:
            for name in _BUILT:
                if parts[name] != self.kinds_[name]:
                    raise ValueError(f"{name} cannot change once learning started (it was built as {self.kinds_[name]!r}, "
                                     f"the parameter now gives {parts[name]!r}); fit a new estimator, or set it back")
        return parts

    # ---------------------------------------------------------------- fitted
    @property
    def is_fitted(self) -> bool:
        return "collection_" in self.__dict__

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False
        tags.requires_fit = True
        return tags

    def _not_fitted(self) -> NotFittedError:
        return NotFittedError(f"this {type(self).__name__} has not learned anything yet: call partial_fit or fit first")

    def _new_state(self, input_shape: tuple[int, ...], parts: dict[str, Any], classes: list[Any] | None = None) -> dict[str, Any]:
        """Everything a first batch creates, built apart: assigned only once the batch passed every check."""
        shape = tuple(int(s) for s in input_shape)
        seed = int(self.seed)
        encoder = as_encoder(parts["encoder"].build(shape, seed), shape)
        bank = parts["meta"].build(int(encoder.dim), seed)
        return {
            "input_shape_": shape,
            "n_features_in_": int(np.prod(shape)),
            "labels_": list(classes or []),  # label of each internal id, in the order first seen
            "label_kind_": "",  # "int" or "str", fixed by the first labels seen
            "kinds_": {name: parts[name] for name in _BUILT},
            "collection_": Collection(encoder, bank),
            "archive_": Archive(int(np.prod(shape)), max_records=self._archive_records(0), max_bytes=self.archive_bytes,
                                featurizer=self._featurize, policy=parts["archive"], reserve=int(self.min_examples)),
            "value_scale_": ValueScale(),
            "n_seen_": 0,
            "history_": [],  # one row per member creation
            "_rng": np.random.default_rng(seed),
        }

    def _featurize(self, X: np.ndarray) -> np.ndarray:
        return self.collection_.encode(torch.from_numpy(np.ascontiguousarray(X, np.float32))).numpy()

    @property
    def classes_(self) -> np.ndarray:
        """Every label learned so far, sorted (the columns of ``predict_proba``)."""
        if not self.is_fitted:
            raise AttributeError("classes_ exists once the estimator has learned (partial_fit or fit)")
        labels = self.labels_
        if self.label_kind_ == "str":
            return np.array(sorted(labels), dtype=object)
        return np.array(sorted(labels), dtype=np.int64)

    @property
    def n_experts_(self) -> int:
        """Members now in the collection."""
        return len(self.collection_) if self.is_fitted else 0

    @property
    def cost_per_input_(self) -> dict[str, float]:
        """Multiply-adds per input (machine-independent): the shared encoder, the whole bank
        of meta-models and one member's model (0 where a part does not say)."""
        if not self.is_fitted:
            return {}
        col = self.collection_
        model = max((m.model.macs_per_input or 0 for m in col.members), default=0)
        meta = col.meta.macs_per_input() or 0
        return {
            "encoder_macs": float(col.encoder.macs_per_input or 0),
            "meta_bank_macs": float(meta),
            "one_model_macs": float(model),
            "meta_bank_over_one_model": meta / model if model else 0.0,
        }

    @property
    def n_parameters_(self) -> dict[str, int]:
        """Numbers that define the system (0 where a part does not say): the encoder's, the
        bank's, every member's model together (``models``) and the largest one (``one_model``)."""
        if not self.is_fitted:
            return {}
        col = self.collection_
        sizes = [int(m.model.n_parameters) for m in col.members]
        return {"encoder": int(col.encoder.n_parameters or 0), "meta": int(col.meta.n_parameters() or 0),
                "models": sum(sizes), "one_model": max(sizes, default=0)}

    # -------------------------------------------------------------- labels
    def _encode(self, y: np.ndarray, *, grow: bool, extra: list[Any] = ()) -> tuple[np.ndarray, list[Any], str]:
        """Label ids for y, the labels seen for the first time, and the kind of labels (``extra``: labels to know first)."""
        kind = "str" if y.dtype == object else "int"
        known, known_kind = self.__dict__.get("labels_", []) + list(extra), self.__dict__.get("label_kind_", "")
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
                out[i] = None if j < 0 else self.labels_[j]
            return out
        labels = np.asarray(self.labels_ + [-1], dtype=np.int64)
        return labels[np.where(ids < 0, len(self.labels_), ids)]

    # ------------------------------------------------------------ learning
    def fit(self, X: Any, y: Any) -> "RiscClassifier":
        """Learn (X, y) afresh, in order, ``fit_batch`` rows at a time (forgetting anything learned before).

        It learns into a new estimator and takes its state only once every batch was
        learned: an error leaves this one as it was.
        """
        Xc = check_X(X)
        yc = check_y(y, len(Xc))
        fresh = type(self)(**self.get_params(deep=False))
        step = integer("fit_batch", self.fit_batch)
        for i in range(0, len(Xc), max(1, step)):
            fresh.partial_fit(Xc[i : i + step], yc[i : i + step])
        fresh.prepare()  # the data set is learned whole (its last phase too): answers see all of it
        if self.is_fitted:
            self.archive_.close()
        for key in [k for k in self.__dict__ if k.endswith("_") and not k.startswith("__")] + ["_rng"]:
            self.__dict__.pop(key, None)
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in self.get_params(deep=False)})
        self.archive_.featurizer = self._featurize  # (it was the fresh estimator's)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "RiscClassifier":
        """Learn from one labelled batch (feedback), creating members when needed.

        Args:
            X: inputs, shape (n, ...), the same per-example shape on every call.
            y: n integer or string labels; never -1, which stands for "unknown".
            classes: optional labels to know from the start (scikit-learn's convention);
                riscmoe learns every new label as it meets it, so none is required, but
                labels given here show in ``classes_`` and ``predict_proba`` at once.

        Returns:
            self.
        """
        threads.configure()  # (once per process: threads chosen from the cores really free)
        Xc = check_X(X, input_shape=self.input_shape_ if self.is_fitted else None, who=type(self).__name__)
        parts = self._check_params(None if self.is_fitted else Xc.shape[1:])
        yc = check_y(y, len(Xc))
        new_classes: list[Any] = []
        if classes is not None:
            cc = check_y(np.asarray(classes), len(np.asarray(classes)), what="classes")
            _, new_classes, _ = self._encode(cc, grow=True)  # those not known yet, in the order given
        y_ids, new_labels, kind = self._encode(yc, grow=True, extra=new_classes)
        if classes is not None and new_labels:
            raise ValueError(f"y holds labels {new_labels[:5]} that are neither among classes={cc.tolist()[:10]} "
                             "nor learned before")
        state = None if self.is_fitted else self._new_state(Xc.shape[1:], parts)
        scale: ValueScale = self.value_scale_ if state is None else state["value_scale_"]
        row_scales = scale.check(Xc, self.outlier_factor)
        collection: Collection = self.collection_ if state is None else state["collection_"]
        Xt = torch.from_numpy(Xc.reshape(len(Xc), -1))
        Z = collection.encode(Xt)
        _check_features(Z)
        # Everything was checked: from here on the batch is learned from.
        if state is not None:
            self.__dict__.update(state)
        self.archive_.policy = parts["archive"]
        self.archive_.reserve = int(self.min_examples)  # (set_params may have changed it)
        self.archive_.resize(self._archive_records(len(self.collection_)))
        self.value_scale_.learn(row_scales)
        self.label_kind_ = kind
        self.labels_.extend(new_classes + new_labels)
        yt = torch.from_numpy(y_ids)
        # A fit at most a few thousand examples old is close enough to decide what to learn.
        meta = self.collection_.evaluate(Z, exact=False)
        context = self._context()
        creator: ArchiveCreator = parts["creator"]
        if isinstance(creator, MemberCreator):
            # The creator is a member: the controller's cascade decides which inputs go to creation.
            routing = self._controller(parts).route(creator.member(self.collection_, len(self.labels_)), Z,
                                                    creator.extend(meta, self._creator_border(creator), float(self.threshold)))
            taken = routing.member == len(self.collection_)
            context = dataclasses.replace(context, novel=taken)
        feedback: FeedbackSchedule = parts["feedback"]
        report = feedback.learn(self.collection_, self.archive_, Xt, Z, yt, meta, self._rng, context)
        if isinstance(creator, MemberCreator):
            # Feedback on the creator member's border: the inputs no member of their label could take.
            own = ~(self.collection_.labels()[None, :] == yt[:, None]).any(1)
            creator.learn_border(self._creator_border(creator), meta, own, taken)
        seen = self.n_seen_
        self.n_seen_ += len(Xc)
        if not isinstance(feedback, Consolidating):
            self._create(creator)
        elif feedback.phase_ends(seen, len(Xc)):
            report = self._consolidate(parts)
        self.archive_.commit()
        self.last_feedback_: FeedbackReport = report
        return self

    def _archive_records(self, members: int) -> int | None:
        """The archive's count limit for a collection of ``members`` (``archive_size``, grown by ``archive_per_member``)."""
        if self.archive_size is None:
            return None
        return max(int(self.archive_size), int(self.archive_per_member) * members)

    def _context(self) -> Context:
        quota = max(1, (self.archive_.capacity or 10**9) // max(1, len(self.labels_)))
        return Context(threshold=float(self.threshold), margin=float(self.margin), quota=quota, step=self.n_seen_)

    def _controller(self, parts: dict[str, Any]) -> Controller:
        threshold = float(self.threshold)
        return Controller(parts["policy"], threshold, int(self.max_experts), floor=threshold / float(self.margin))

    def _creator_border(self, creator: MemberCreator) -> Any:
        """The creator member's learned state (made when a creator member first learns)."""
        if "creator_border_" not in self.__dict__:
            self.creator_border_ = creator.start(float(self.threshold), float(self.margin))
        return self.creator_border_

    def _create(self, creator: ArchiveCreator) -> None:
        """The members the archive is ready for."""
        factory = _SeededModels(self.kinds_["model"], int(self.seed))
        for label in creator.ready(self.archive_, int(self.min_examples)):
            member = creator.create(label, Creation(self.archive_, self.collection_, factory, self.n_seen_, self._rng))
            self.archive_.resize(self._archive_records(len(self.collection_)))  # room for the new member's records
            self.history_.append(
                {"member": member.index, "label": self.labels_[label], "seen": self.n_seen_, "reason": member.reason}
            )

    def _consolidate(self, parts: dict[str, Any]) -> FeedbackReport:
        """A phased schedule's phase end: what it held back, then the members the archive is ready for."""
        report = parts["feedback"].consolidate(self.collection_, self.archive_, self._rng, self._context())
        self._create(parts["creator"])
        self.collection_.meta.prepare()  # answers change at phase ends only, and then to the exact fit
        return report

    def learn_one(self, x: Any, y: Any) -> "RiscClassifier":
        """Learn one example (river's convention): ``partial_fit`` on a batch of one."""
        return self.partial_fit(np.asarray(x)[None], [y])

    # ----------------------------------------------------------- prediction
    def prepare(self, end_phase: bool = True) -> "RiscClassifier":
        """Bring the meta-models exactly up to date with everything learned (the bank's refit
        and pair solves), so that answers see the very last examples.

        ``predict`` never does this work itself: it answers from the fit that learning keeps
        (the shared shape refitted every ``refresh_every`` examples, new members at once, pair
        tests solved again as their members quadruple), so its latency does not depend on what
        was learned before it. Call ``prepare()`` before an evaluation, or before serving.

        With feedback in phases (``feedback="phases"``) it also ends the phase at once (unless
        ``end_phase`` is False): what the phase held back is learned and members are made,
        and answers then see it."""
        if not self.is_fitted:
            raise self._not_fitted()
        parts = self._check_params()
        if end_phase and isinstance(parts["feedback"], Consolidating):
            # A schedule in phases consolidates now: answers never see half a phase.
            self.last_feedback_ = self._consolidate(parts)
            self.archive_.commit()
        self.collection_.meta.prepare()
        return self

    def _route(self, X: Any, collection: Any = None) -> tuple[Routing, dict[str, float]]:
        """Route X through the collection (or ``collection``: a view whose members live elsewhere,
        ``riscmoe.sharding``)."""
        if not self.is_fitted:
            raise self._not_fitted()
        threads.configure()
        parts = self._check_params()
        Xc = check_X(X, input_shape=self.input_shape_, who=type(self).__name__)
        self.value_scale_.check(Xc, self.outlier_factor, learning=False)
        controller = self._controller(parts)
        creator = parts["creator"]
        if isinstance(creator, MemberCreator):
            # (a creator made a member after learning started has its starting border; nothing is stored)
            border = self.__dict__.get("creator_border_") or creator.start(float(self.threshold), float(self.margin))
            M = len(self.collection_)
            creation = len(self.labels_)  # the creator member's label id: none of the members'
            view = creator.member(self.collection_, creation)
        col = self.collection_ if collection is None else collection
        Xt = torch.from_numpy(Xc.reshape(len(Xc), -1))
        # Blocks of rows, start to finish: each input's answer is its own, and a block's
        # features (10 MB) stay in cache between the encoder, the meta-models and the
        # models; 30,000 inputs in one piece took a fifth longer (and 290 MB per copy).
        block = int(self.predict_block)
        seconds = [0.0, 0.0, 0.0]
        pieces = []
        for i in range(0, len(Xt), block):
            t0 = time.perf_counter()
            Z = col.encode(Xt[i : i + block])
            _check_features(Z, offset=i)
            t1 = time.perf_counter()
            meta = col.evaluate(Z)
            t2 = time.perf_counter()
            if isinstance(creator, MemberCreator):
                # An input the creator member takes is novel: "unknown" (creation needs its label).
                r = controller.route(view, Z, creator.extend(meta, border, float(self.threshold)))
                to_creator = r.member == M
                none = torch.full_like(r.label, -1)
                r = Routing(torch.where(to_creator, none, r.label), torch.where(to_creator, none, r.member), r.n_run,
                            torch.where(to_creator, torch.zeros_like(r.confidence), r.confidence), r.model_runs[:M])
            else:
                r = controller.route(col, Z, meta)
            pieces.append(r)
            t3 = time.perf_counter()
            for j, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                seconds[j] += dt
        routing = Routing(*(torch.cat([getattr(r, f) for r in pieces]) for f in ("label", "member", "n_run", "confidence")),
                          model_runs=torch.stack([r.model_runs for r in pieces]).sum(0))
        timing = {"encoder_seconds": seconds[0], "meta_seconds": seconds[1], "model_seconds": seconds[2], "n": len(Xc)}
        return routing, timing

    def predict_detailed(self, X: Any) -> Prediction:
        """Labels for X (n, ...) with each answer's confidence and member, the models run, and the time spent.

        It changes nothing: no learned state, no cached fit (answers come from the fit that
        learning keeps; ``prepare()`` brings it exactly up to date)."""
        return self._predict(X)

    def _predict(self, X: Any, collection: Any = None) -> Prediction:
        r, timing = self._route(X, collection)
        return Prediction(labels=self._decode(r.label.numpy()), confidence=r.confidence.numpy(), member=r.member.numpy(),
                          members_run=r.n_run.numpy(), model_runs=r.model_runs.numpy(), timing=timing)

    def predict(self, X: Any) -> np.ndarray:
        """Labels for X (n, ...); -1 (integer labels) or None (string labels) for unknown."""
        return self.predict_detailed(X).labels

    def predict_with_confidence(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, the confidence of each answer, and the index of the member that gave it."""
        p = self.predict_detailed(X)
        return p.labels, p.confidence, p.member

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, len(classes_)) probabilities: the answer's confidence q on its class, and 1 - q
        spread evenly over every class ("unknown" answers are uniform rows).

        The answer is the row's most probable class whenever q > 0. Rows sum to 1.
        """
        p = self.predict_detailed(X)
        classes = self.classes_
        K = len(classes)
        q = np.clip(p.confidence.astype(np.float64), 0.0, 1.0)
        out = np.repeat(((1.0 - q) / K)[:, None], K, axis=1)
        answered = np.flatnonzero(p.member >= 0)
        column = np.searchsorted(classes, p.labels[answered]) if len(answered) else np.zeros(0, np.int64)
        out[answered, column] += q[answered]
        return out

    def predict_one(self, x: Any) -> Any:
        """The label of one example (river's convention); -1 or None for unknown."""
        return self.predict(np.asarray(x)[None])[0]

    def predict_proba_one(self, x: Any) -> dict[Any, float]:
        """Class probabilities of one example, as a dict (river's convention)."""
        row = self.predict_proba(np.asarray(x)[None])[0]
        return {c: float(v) for c, v in zip(self.classes_.tolist(), row)}

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on (X, y); "unknown" counts as wrong.

        An evaluation: the meta-models are brought up to date first (``prepare(end_phase=False)``),
        so the score is of everything learned, whatever ``predict`` would answer from before."""
        if self.is_fitted:
            self.prepare(end_phase=False)
        pred = self.predict(X)
        yc = check_y(y, len(pred))
        right = (pred == yc).astype(np.float64)
        return float(np.average(right, weights=sample_weight))

    # ---------------------------------------------------------- persistence
    def save(self, path: str) -> None:
        """Write the whole system to a folder: manifest, weights (safetensors), archive (SQLite).

        The meta-models are prepared first (``prepare(end_phase=False)``: their fit brought up
        to date; nothing learned changes), so this system and a copy loaded from the folder
        answer alike."""
        from riscmoe.persistence.folder import save

        if self.is_fitted:
            self.prepare(end_phase=False)
        save(self, path)


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
