"""Fault injection: a TCP proxy the harness puts between a service and its server, steady traffic recorded in
a ledger, a flood of poison messages, and a stack of its own whose every part can be stopped, killed, paused
or cut."""

from harness.faults._control import FaultControl, FaultControlClient
from harness.faults._poison import PoisonFlood
from harness.faults._proxy import TcpProxy
from harness.faults._stack import FaultStack
from harness.faults._traffic import Traffic

__all__ = ["FaultControl", "FaultControlClient", "FaultStack", "PoisonFlood", "TcpProxy", "Traffic"]
