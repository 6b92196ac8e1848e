"""Two-way: ConnectWise ticket changes flow back into the linked chat threads.

`endpoints` registers each account's callback address, `receive` checks and queues a delivery,
`sync` re-reads a ticket and words what changed for each linked conversation, `service` runs
the worker and the reconcile. docs/connectwise.md ("Two-way") is the operator's view.
"""

from bot.core.twoway.service import TwoWay, TwoWayTuning

__all__ = ["TwoWay", "TwoWayTuning"]
