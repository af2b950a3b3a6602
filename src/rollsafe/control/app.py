"""The app in a pod's container, behind a small interface: what it does, not when it is started, probed,
signalled or killed (the kubelet decides those, and the ALB when to health-check).

``App`` is what the kubelet and the load balancers ask: start the process, does a connection succeed now
(a readiness probe, an ALB health check), stop it with SIGTERM then SIGKILL and say when it has exited.
``SimulatedApp`` is the simulator's implementation: from the scenario's ``app`` section it precomputes
each pod's windows (listening from, stops accepting at, exits at) on the Pod, which the data plane then
joins requests against. A real-process lab implements the same interface with processes and sockets on
loopback, answering ``accepts`` by connecting.

Nothing here reads a clock or sleeps; randomness comes only from a named stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rollsafe.control.api import INF, ApiServer, Pod
from rollsafe.control.scheduler import Sampler, Streams


class App(Protocol):
    def start(self, pod: Pod, at_s: float) -> None:
        """The container's process starts at ``at_s`` (now or later)."""

    def accepts(self, pod: Pod, t: float) -> bool:
        """A connection to the pod's port at ``t`` (now) is accepted and answered: an httpGet or tcpSocket
        readiness probe, an ALB health check."""

    def stop(self, pod: Pod, *, sigterm_s: float, sigkill_s: float, on_exit: Callable[[str], None]) -> None:
        """SIGTERM reaches the process at ``sigterm_s``, SIGKILL at ``sigkill_s`` if it still runs. The app
        calls ``on_exit(reason)`` once its process has exited (``exited-on-sigterm``, ``drained``,
        ``SIGKILL``)."""


def accepts_at(t: float, listen_s: float, stop_accept_s: float, ip_gone_s: float) -> bool:
    """The simulated server accepts at ``t`` given its windows: it listens, has not stopped accepting,
    and the IP still exists. The one statement of that rule: the checkers that compute their results in
    advance (control/target_group.py, control/kubelet.py) call it on the windows they hold."""
    return listen_s <= t < stop_accept_s and t < ip_gone_s


def window_accepts(pod: Pod, t: float) -> bool:
    """The simulated server accepts on the pod's IP at ``t`` (accepts_at on the pod's windows)."""
    return accepts_at(t, pod.listen_s, pod.stop_accept_s, pod.ip_gone_s)


def window_fixed_from(listen_s: float, stop_accept_s: float, ip_gone_s: float) -> float:
    """The time from which window_accepts no longer changes (-inf if it never accepts): it accepts on
    [listen_s, min(stop_accept_s, ip_gone_s)) only."""
    end = stop_accept_s if stop_accept_s < ip_gone_s else ip_gone_s
    if listen_s >= end:
        return -INF
    return end if end != INF else listen_s  # the later edge that is finite (listen_s is, being < end)


def answers_from_windows(app: object) -> bool:
    """Whether ``app.accepts`` is exactly window_accepts on the pod's windows, written only through the
    Pod (so a write is seen by Pod.watch_windows): then a checker may compute its results in advance
    instead of asking at each check. Any other App (a subclass too) is asked at each check."""
    return type(app) is SimulatedApp


class SimulatedApp:
    """The scenario's app (``app.startupSeconds``, ``app.onSigterm``, ``app.drainSeconds``), as windows
    on each Pod: ``listen_s``, ``stop_accept_s``, ``exit_s`` and ``closes_idle_at_stop``."""

    def __init__(self, api: ApiServer, streams: Streams) -> None:
        self.api = api
        self.spec = api.scenario.app
        self.startup = Sampler(streams, "app/startup", self.spec.startup_seconds)

    def already_listening(self, pod: Pod, since_s: float) -> None:
        """A pod that was serving before the simulation began."""
        pod.listen_s = since_s

    def start(self, pod: Pod, at_s: float) -> None:
        api = self.api
        pod.listen_s = at_s + self.startup()

        def listening() -> None:
            if pod.stop_accept_s > api.sched.now():
                api.rec.emit("app", "Listening", f"pod/{pod.name}")

        api.sched.call_at(pod.listen_s, listening)

    def accepts(self, pod: Pod, t: float) -> bool:
        return window_accepts(pod, t)

    def stop(self, pod: Pod, *, sigterm_s: float, sigkill_s: float, on_exit: Callable[[str], None]) -> None:
        api = self.api
        mode = self.spec.on_sigterm
        if mode == "exit":
            stop, exit_s, why = sigterm_s, sigterm_s, "exited-on-sigterm"
        elif mode == "drain":
            # stop accepting, finish in-flight work (closing idle keep-alive connections), exit when done
            # or at SIGKILL
            stop = sigterm_s
            exit_s = min(sigterm_s + self.spec.drain_seconds, sigkill_s)
            why = "drained" if sigterm_s + self.spec.drain_seconds < sigkill_s else "SIGKILL"
            pod.closes_idle_at_stop = True
        else:
            stop, exit_s, why = sigkill_s, sigkill_s, "SIGKILL"
        pod.exit_s = exit_s
        # one write of both windows, so the health checkers plan again once
        pod.write_windows(
            stop_accept_s=stop,
            listen_s=INF if pod.listen_s >= stop else pod.listen_s,  # INF: stopped before it ever listened
        )
        if mode != "ignore":
            api.sched.call_at(stop, lambda: api.rec.emit("app", "StoppedAccepting", f"pod/{pod.name}"))
        api.sched.call_at(exit_s, lambda: on_exit(why))
