"""Fault injection at the network: a TCP proxy the harness puts between a service and its server."""

from harness.faults._proxy import TcpProxy

__all__ = ["TcpProxy"]
