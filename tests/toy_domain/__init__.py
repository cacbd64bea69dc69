"""A third domain as one folder of parts: words answered by their endings.

It supplies what riscmoe's core leaves to a domain, and nothing else: a meta-model bank
(``parts.SuffixBank``: how well a word's ending matches each member's, as a ``Scores``
verdict), a member model (``parts.EndsWith``), a creator (``parts.LastLetters``, keeping the
core's ``create(need, context)`` protocol) and the loop that ties them (``system.WordSystem``).
Routing is the core's: its cascade and its shared policies (``first``, ``best``, ``mixture``),
found through the registry under the domain's name. No riscmoe file knows this domain.
"""
