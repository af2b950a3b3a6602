"""The lab: the control plane on a wall clock (asyncio), later against real pod processes on loopback."""
