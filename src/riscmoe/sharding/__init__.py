"""Members sharded over workers: the first routing stage local, each member's exact test and model where it lives.

``ShardedSystem(clf, workers=2)`` serves a trained ``RiscClassifier`` from ``workers``
shards (Ray actors, or in-process shards with ``backend="local"``): each holds its members'
score columns and models; the driver encodes inputs, picks each input's candidate members
(the first stage), and combines what the shards return into the same verdict and answers
as the classifier in one process. Ray is an optional extra: ``pip install 'riscmoe[ray]'``.
"""

from riscmoe.sharding.shard import MemberShard
from riscmoe.sharding.system import ShardedSystem

__all__ = ["MemberShard", "ShardedSystem"]
