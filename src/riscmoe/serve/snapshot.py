"""Served copies of a learning system that copy only the members learning changed.

A served copy must be what ``copy.deepcopy(learner)`` then ``prepare()`` would give (every
prediction reads it, and it never changes once served). Copying the whole system for
every update costs what the whole system holds: at 2,000 members, 3.5 s of ``deepcopy``
on an idle core, nine tenths of it the members' small models, while one feedback record
changes a handful of members. So ``Snapshots`` copies the rest of the system as before but
shares each member that has not changed since the previous served copy with that copy:
the member the previous copy holds is what a deep copy would make again. The bank's
per-member tensors (means and reservoirs: ``_BANK_LISTS``) are shared the same way. The
result at 2,000 members, 8 of them changed: 0.5-1 s of copying against 3.5-8 s, plus the
``prepare()`` any served copy needs (see BENCHMARKS.md, "The service under load").

Why sharing is safe: a shared member is a served copy's own object (never the learner's),
and nothing writes to a served copy's members (``prepare()`` of a schedule that learns
continuously brings only the bank up to date; a schedule in phases consolidates members
in ``prepare()``, so its copies are made whole, as before). The learner's own members are
never shared, so learning goes on writing in place.

How "not changed" is known: ``marks(obj)`` lists everything a member's state is made of,
walking its attributes: each tensor by identity and torch's in-place version counter
(which every in-place write, an optimiser step included, increments), plain values by
value, anything whose changes cannot be seen (a NumPy array, an object of unknown kind)
as always changed. Equal marks before and after mean the same objects in the same state.
"""

from __future__ import annotations

import copy
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_PLAIN = (int, float, complex, str, bytes, bool, type(None), torch.dtype, torch.device)
_PLAIN_TYPES = frozenset(_PLAIN)
_EMPTY_TYPES = frozenset((dict, OrderedDict, list, set, tuple))
_CODE = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)


class _Unseen:
    """A mark that equals nothing (not even itself): a part whose changes cannot be seen."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def marks(obj: Any) -> tuple[list, list]:
    """What ``obj``'s state is made of, for comparison: (marks, the objects they name).

    Keep the second list alive as long as the marks are compared: a mark names a tensor
    by ``id``, and a living object's ``id`` is never another's."""
    out: list = []
    keep: list = []
    _walk(obj, out, keep, set())
    return out, keep


def _walk(obj: Any, out: list, keep: list, seen: set[int]) -> None:
    if type(obj) in _PLAIN_TYPES or isinstance(obj, _PLAIN):
        out.append(obj)
        return
    if isinstance(obj, torch.Tensor):
        keep.append(obj)
        out.append(("tensor", id(obj), obj._version, tuple(obj.shape)))
        return
    if isinstance(obj, _CODE):
        out.append(("code", obj))
        return
    if id(obj) in seen:  # (a second path to an object already listed)
        out.append(("again", id(obj)))
        return
    seen.add(id(obj))
    keep.append(obj)
    if isinstance(obj, (list, tuple)):
        out.append((type(obj), len(obj)))
        for v in obj:
            _walk(v, out, keep, seen)
    elif isinstance(obj, dict):
        _walk_items(obj, out, keep, seen)
    elif isinstance(obj, (set, frozenset)):
        out.append((type(obj), frozenset(v for v in obj if isinstance(v, _PLAIN)), len(obj)))
        if any(not isinstance(v, _PLAIN) for v in obj):
            out.append(_Unseen())
    elif isinstance(obj, np.ndarray):
        out.append(_Unseen())  # (NumPy keeps no version of in-place writes)
    elif hasattr(obj, "__dict__") and not hasattr(type(obj), "__slots__"):
        out.append(("object", type(obj)))
        _walk_items(vars(obj), out, keep, seen)
    else:
        out.append(_Unseen())


def _walk_items(d: dict, out: list, keep: list, seen: set[int]) -> None:
    out.append((type(d), len(d)))
    for k, v in d.items():
        out.append(k)
        t = type(v)
        if t in _PLAIN_TYPES:
            out.append(v)
        elif t in _EMPTY_TYPES and not v:
            out.append(t)  # (an empty container: the torch modules' hook tables; faster than a walk)
        else:
            _walk(v, out, keep, seen)


def _prepare_changes_members(learner: Any) -> bool:
    """Whether ``prepare()`` writes to members: a schedule in phases consolidates them there."""
    from riscmoe.feedback.protocol import Consolidating

    return isinstance(learner._check_params()["feedback"], Consolidating)


@dataclass
class _Kept:
    """One member as the last served copy took it."""

    learner: Any  # the learner's member (its identity is part of "unchanged")
    marks: list
    keep: list
    served: Any  # the served copy's member: what a deep copy of it would be


# Lists of one tensor per member in the bank of meta-models (``GaussianBank``): the members'
# means and reservoirs. Learning replaces an entry or writes it in place; ``prepare()`` only
# reads them (``take`` checks that after every prepare). Shared like the members: 6,000 small
# tensors at 2,000 members were 0.5 s of each copy. (A bank without them is copied whole.)
_BANK_LISTS = ("means64", "reservoirs", "_flushed_means")


class Snapshots:
    """Served copies of one learner, each sharing the members unchanged since the previous one.

    Call ``take(learner)`` from the thread that changes the learner (nothing may change
    it during the call). ``shared`` and ``copied`` count the members of the last copy.
    """

    def __init__(self) -> None:
        self._kept: list[_Kept] = []
        # Per bank list entry shared or made last time: (learner's tensor, its version, served tensor, its version).
        self._bank: dict[tuple[str, int], tuple[torch.Tensor, int, torch.Tensor, int]] = {}
        self.shared = 0
        self.copied = 0

    def take(self, learner: Any) -> Any:
        """A prepared copy of ``learner`` that is what ``deepcopy(learner).prepare()`` would be."""
        members = learner.collection_.members if learner.is_fitted else []
        if not learner.is_fitted or _prepare_changes_members(learner):
            self._kept, self._bank = [], {}
            served = copy.deepcopy(learner)
            if learner.is_fitted:
                served.prepare()
            self.shared, self.copied = 0, len(members)
            return served
        memo: dict[int, Any] = {}
        now = [marks(m) for m in members]
        shared = 0
        for i, (m, (mk, _)) in enumerate(zip(members, now)):
            if i < len(self._kept) and self._kept[i].learner is m and self._kept[i].marks == mk:
                old = self._kept[i].served
                memo[id(m)] = old  # deepcopy takes what the memo holds instead of copying it again
                memo[id(m.model)] = old.model  # (and so does any other path to its model)
                shared += 1
        bank_shared = self._share_bank(learner.collection_.meta, memo)
        served = copy.deepcopy(learner, memo)
        # What each learner object became, taken before prepare() (which may replace a list's
        # entry in the copy: the object the copy was made with is still the learner's equal).
        self._keep_bank(learner.collection_.meta, memo)
        self._kept = [_Kept(m, mk, keep, memo[id(m)]) for m, (mk, keep) in zip(members, now)]
        served.prepare()
        for t, version in bank_shared:
            if t._version != version:
                raise RuntimeError("prepare() wrote in place to a per-member tensor of the bank that served copies share; "
                                   "riscmoe.serve.snapshot._BANK_LISTS must not name it")
        self.shared, self.copied = shared, len(members) - shared
        return served

    def _lists(self, bank: Any) -> list[tuple[str, list]]:
        out = []
        for name in _BANK_LISTS:
            v = getattr(bank, name, None)
            if isinstance(v, list) and all(isinstance(t, torch.Tensor) for t in v):
                out.append((name, v))
        return out

    def _share_bank(self, bank: Any, memo: dict[int, Any]) -> list[tuple[torch.Tensor, int]]:
        """Put the bank's unchanged per-member tensors in ``memo`` (those the last copy holds); returns them with their versions."""
        out = []
        for name, values in self._lists(bank):
            for i, t in enumerate(values):
                kept = self._bank.get((name, i))
                if kept is not None and kept[0] is t and kept[1] == t._version and kept[2]._version == kept[3]:
                    memo[id(t)] = kept[2]
                    out.append((kept[2], kept[3]))
        return out

    def _keep_bank(self, bank: Any, memo: dict[int, Any]) -> None:
        self._bank = {}
        for name, values in self._lists(bank):
            for i, t in enumerate(values):
                s = memo[id(t)]
                self._bank[(name, i)] = (t, t._version, s, s._version)
