"""A third domain is a folder of parts (tests/toy_domain), not a copy of the system."""

import pytest

from riscmoe import registry
from riscmoe.creator.protocol import Creator

from tests.toy_domain.parts import DOMAIN, LastLetters
from tests.toy_domain.system import WordSystem

TRAIN = [("running", "verb"), ("quickly", "adverb"), ("kindness", "noun"), ("jumping", "verb"), ("slowly", "adverb"),
         ("darkness", "noun"), ("singing", "verb"), ("gladly", "adverb")]
HELD_BACK = [("walking", "verb"), ("sadly", "adverb"), ("goodness", "noun"), ("reading", "verb"), ("madly", "adverb")]


@pytest.mark.parametrize("policy", ["first", "best", "mixture"])
def test_a_third_domain_learns_through_the_shared_core(policy):
    system = WordSystem(policy=policy)
    # One member per ending nobody answered yet: "ing", "kly" (quickly), "ess", "wly" (slowly), "dly" (gladly).
    assert system.learn(*zip(*TRAIN)) == 5
    assert sorted(m.ending for m in system.members) == ["dly", "ess", "ing", "kly", "wly"]
    assert system.learn(*zip(*TRAIN)) == 0  # a second pass: every training word is answered
    words, want = zip(*HELD_BACK)
    assert system.answer(list(words)) == list(want)  # words it never saw, answered by their endings
    assert system.answer(["xyz"]) == [None]  # nothing ends like that: unknown


def test_the_domains_kinds_are_its_own_and_the_policies_shared():
    assert registry.kinds("creator", DOMAIN) == ["last-letters"]
    assert registry.kinds("meta", DOMAIN) == ["suffix-bank"]
    shipped = ["first", "best", "mixture"]  # shared by every domain (tests register toy policies of recognition too)
    assert registry.kinds("policy", DOMAIN) == shipped and registry.kinds("policy", "functions")[:3] == shipped
    assert set(shipped) <= set(registry.kinds("policy"))
    assert "last-letters" not in registry.kinds("creator") and "last-letters" not in registry.kinds("creator", "functions")
    with pytest.raises(ValueError, match="unknown creator kind 'from-archive' of the toy-words domain"):
        registry.spec("creator", "from-archive", DOMAIN)
    assert isinstance(LastLetters(), Creator)  # the core's one creator protocol


def test_each_shipped_domain_sees_its_own_kinds():
    assert registry.kinds("creator", "functions") == ["synthesis", "llm"]
    assert registry.kinds("meta", "functions") == ["applicability"]
    assert {"from-archive", "as-member"} <= set(registry.kinds("creator")) and "synthesis" not in registry.kinds("creator")
    from riscmoe.functions.creator import FunctionCreator
    from riscmoe.creator.protocol import ArchiveCreator

    assert issubclass(FunctionCreator, Creator) and issubclass(ArchiveCreator, Creator)
    built = registry.spec("creator", "synthesis", "functions").build()
    assert isinstance(built, FunctionCreator) and isinstance(built, Creator)
