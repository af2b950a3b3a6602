"""Attribution: every LB-generated 5xx (``target_status_code`` ``-``) gets a cause and the evidence behind
it, or ``unexplained`` with what was missing. The cause is decided by the one precedence function the
simulator uses (model/outcome.py ``Precedence``): this module only establishes, from the logs, which of
its facts held for the request.

How a request's fate shows in an access log (AWS access log field docs: processing times are -1 when
the LB could not dispatch the request or the target closed the connection before responding):
- no target (``target:port`` ``-``): nothing to route to.
- not dispatched (``request_processing_time`` -1), answered at once: the connection was refused.
- not dispatched, a 504 after the connect timeout: the target's IP did not answer at all.
- dispatched (``request_processing_time`` >= 0) but no response, answered at once: the connection was
  closed as the request went out (a keep-alive race).
- dispatched, no response, answered later: the connection was cut (process exit, the end of the
  deregistration delay) or the LB gave up (idle timeout, a 504).
The pod's life (audit log) and the target's membership (controller log, CloudTrail) then say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rollsafe.diagnose.correlate import PodLife, World
from rollsafe.diagnose.proxyview import NEW, OLD, Candidate, ProxyViews
from rollsafe.model.outcome import FACTS, Precedence
from rollsafe.model.timeline import Outcome

RESET_AT_ONCE_S = 0.05  # a refused or reset connection is answered within this (MODEL ASSUMPTION)
# The kubelet's status patch reporting an exit follows the exit by up to a PLEG relist (1 s) and a write:
# a cut connection within this window before that patch is the exit's doing (MODEL ASSUMPTION).
EXIT_PATCH_LAG_S = 2.0
NEW_POD_S = 120.0  # a refusal within this of a pod's first appearance is a pod not yet listening
PROXY_LAG_S = 2.0  # kube-proxy applies an EndpointSlice change within this (MODEL ASSUMPTION)
UNEXPLAINED = "unexplained"


@dataclass(frozen=True, slots=True)
class Failure:
    """One LB-generated 5xx as the access log has it."""

    time: datetime  # when the LB answered
    created: datetime | None  # when the LB received the request
    lb_node: str | None
    target_ip: str | None
    target_port: int | None
    dispatched: bool  # request_processing_time >= 0
    status: int

    @property
    def target(self) -> str | None:
        return None if self.target_ip is None else f"{self.target_ip}:{self.target_port}"

    @property
    def sent(self) -> datetime:
        return self.created or self.time

    @property
    def waited_s(self) -> float:
        return (self.time - self.sent).total_seconds()


def hms(at: datetime | None) -> str:
    return "?" if at is None else at.strftime("%H:%M:%S.%f")[:-3]


def _near_exit(pod: PodLife, t: datetime) -> bool:
    """Was ``t`` the moment the pod's process exited? The kubelet's status patch reports the exit up to
    EXIT_PATCH_LAG_S after it; without that patch (Metadata-level audit), the final delete, later still."""
    if pod.exited is not None:
        return pod.exited - timedelta(seconds=EXIT_PATCH_LAG_S) <= t <= pod.exited + timedelta(seconds=0.05)
    if pod.removed is not None:
        return pod.removed - timedelta(seconds=10) <= t <= pod.removed + timedelta(seconds=0.05)
    return False


def _gone_by(pod: PodLife, t: datetime) -> bool:
    end = pod.exited or pod.removed
    return end is not None and end <= t


FACT_WORDS = {NEW: "not yet listening", OLD: "stopped listening"}


@dataclass(frozen=True, slots=True)
class Decided:
    """An instance-target refusal's fact, settled from kube-proxy's candidates (proxyview.py)."""

    fact: str
    evidence: str
    ambiguous: bool


def apportion(shares: list[dict[str, float]]) -> list[str]:
    """Integer causes for requests that each have a posterior share per fact: each fact gets its expected
    count over all of them, rounded by largest remainder (ties: the fact named first in ``FACT_WORDS``),
    and the requests most likely to be a fact get it. Deterministic; unbiased up to the rounding."""
    facts = list(FACT_WORDS)
    expected = {f: sum(s.get(f, 0.0) for s in shares) for f in facts}
    counts = {f: int(expected[f]) for f in facts}
    left = len(shares) - sum(counts.values())
    for f in sorted(facts, key=lambda f: (-(expected[f] - counts[f]), facts.index(f)))[:left]:
        counts[f] += 1
    out = [""] * len(shares)
    free = set(range(len(shares)))
    for f in facts[:-1]:
        best = sorted(free, key=lambda i: (-shares[i].get(f, 0.0), i))[: counts[f]]
        for i in best:
            out[i] = f
        free -= set(best)
    for i in free:
        out[i] = facts[-1]
    return out


def _describe(cands: list[Candidate]) -> str:
    shown = ", ".join(f"{c.pod} ({FACT_WORDS[c.fact]}, {c.share:.0%})" for c in cands[:4])
    more = f" and {len(cands) - 4} more" if len(cands) > 4 else ""
    return f"one of {len(cands)} candidate pods: {shown}{more}"


class Attributor:
    def __init__(self, world: World, proxy: ProxyViews | None = None) -> None:
        self.w = world
        self.proxy = proxy
        self.expected: dict[str, float] = {}  # instance targets: the apportioned refusals' expected counts
        self.sd = 0.0  # and the standard deviation of the count of either fact among them
        self.apportioned = 0
        self.target_type = "instance" if world.instance_targets else "ip"
        self.precedence = {
            timeout: Precedence.for_setup(
                target_type=self.target_type, vanished_pod_ip="timeout" if timeout else "reset"
            )
            for timeout in (False, True)
        }

    def outcomes(self, failures: list[Failure]) -> list[Outcome]:
        """Every failure's outcome. Instance-target refusals are settled together: each gets its
        candidates' posterior shares, and the ambiguous ones are apportioned over the run."""
        decided: dict[int, Decided] = {}
        if self.w.instance_targets and self.proxy is not None:
            idx = [
                i
                for i, f in enumerate(failures)
                if f.target_ip is not None and not f.dispatched and f.status != 504
            ]
            cands = self.proxy.candidates([(failures[i].sent, failures[i].target_ip or "") for i in idx])
            amb: list[int] = []
            amb_asked: list[int] = []  # their places among the refusals asked about
            amb_shares: list[dict[str, float]] = []
            for asked, (i, cs) in enumerate(zip(idx, cands, strict=True)):
                if not cs:
                    continue
                share = {f: sum(c.share for c in cs if c.fact == f) for f in FACT_WORDS}
                facts = [f for f, v in share.items() if v > 0]
                if len(facts) == 1:
                    decided[i] = Decided(facts[0], _describe(cs), ambiguous=False)
                else:
                    amb.append(i)
                    amb_asked.append(asked)
                    amb_shares.append(share)
                    decided[i] = Decided("", _describe(cs), ambiguous=True)
            for i, fact, share in zip(amb, apportion(amb_shares), amb_shares, strict=True):
                d = decided[i]
                odds = ", ".join(f"{FACT_WORDS[f]} {v:.0%}" for f, v in share.items())
                decided[i] = Decided(
                    fact,
                    f"ambiguous: {d.evidence}; so {odds}; counted as {FACT_WORDS[fact]} by apportionment "
                    f"over the run's {len(amb)} ambiguous refusals",
                    ambiguous=True,
                )
            self.apportioned = len(amb)
            self.expected = {f: sum(s[f] for s in amb_shares) for f in FACT_WORDS}
            self.sd = (
                self.proxy.count_sd({a: s[NEW] for a, s in zip(amb_asked, amb_shares, strict=True)})
                if amb
                else 0.0
            )
        return [self.outcome(f, decided.get(i)) for i, f in enumerate(failures)]

    def outcome(self, f: Failure, decided: Decided | None = None) -> Outcome:
        facts = dict.fromkeys(FACTS, False)
        evidence: list[str] = []
        missing: list[str] = []
        head = f"{f.status} at {hms(f.time)} to {f.target or 'no target'}"
        if f.target_ip is None:
            facts["unrouted"] = True
            evidence.append(f"{head}: the LB chose no target (target:port '-')")
        elif self.w.instance_targets:
            self._instance(f, facts, evidence, missing, head, decided)
        else:
            self._ip(f, facts, evidence, missing, head)
        # a vanished IP shows as a connect timeout (504) or a reset (502): the log says which setup it was
        cause = self.precedence[f.status == 504].cause(tuple(facts[k] for k in FACTS))
        if cause is None:
            cause = UNEXPLAINED
            if not missing:
                missing.append("no fact in the logs matches this failure's shape")
            evidence.append("missing: " + "; ".join(missing))
        return Outcome(
            at=f.time,
            lb_node=f.lb_node,
            target=f.target,
            status=f.status,
            cause=cause,
            evidence=tuple(evidence),
        )

    # -- ip targets: the target is the pod --------------------------------------------------------------
    def _ip(self, f: Failure, facts: dict[str, bool], ev: list[str], missing: list[str], head: str) -> None:
        assert f.target_ip is not None
        pod = self.w.pod_at(f.target_ip, f.sent)
        shape = self._shape(f)
        if pod is None:
            ev.append(f"{head}: {shape}")
            missing.append(
                f"no audit record names the pod at {f.target_ip} (the kube-apiserver audit log at Request "
                "level has its IP in pods/status and EndpointSlice writes)"
            )
            return
        life = self._life(pod, f)
        ev.append(f"{head}: {shape}; its pod {pod.name} {life}")
        self._facts_for(f, [pod], facts, missing)

    # -- instance targets: the ALB names the node; kube-proxy picked the pod -----------------------------
    def _instance(
        self,
        f: Failure,
        facts: dict[str, bool],
        ev: list[str],
        missing: list[str],
        head: str,
        decided: Decided | None,
    ) -> None:
        shape = self._shape(f)
        t = f.sent
        if decided is not None:
            ev.append(f"{head} (a node: kube-proxy picked the pod): {shape}")
            ev.append(
                decided.evidence if decided.ambiguous else f"{decided.evidence}: {FACT_WORDS[decided.fact]}"
            )
            facts[decided.fact] = True
            return
        members = self.w.slices.at(t)
        if members is None:
            ev.append(f"{head}: {shape}")
            missing.append(
                "instance targets: the access log names the node, not the pod, and no EndpointSlice write "
                "says which pods were behind the Service"
            )
            return
        lag = timedelta(seconds=PROXY_LAG_S)
        ready = [self.w.pods[n] for n, (_ip, r, _t) in members.items() if r and n in self.w.pods]
        # pods out of the slice but maybe still in a node's rules: kube-proxy follows within PROXY_LAG_S
        lagging = [
            p
            for p in self.w.pods.values()
            if p not in ready and p.left_slice is not None and p.left_slice <= t <= p.left_slice + lag
        ]
        cands = ready + lagging
        terminating = [p for p in cands if p.deleted is not None and p.deleted <= t]
        new = [
            p
            for p in ready
            if p.created is not None and p.in_slice is not None and p.in_slice <= t <= p.in_slice + lag * 5
        ]
        ev.append(
            f"{head} (a node: kube-proxy picked the pod): {shape}; behind the Service then: "
            f"{len(ready)} ready"
            + (
                f", {len(terminating)} terminating ({', '.join(p.name for p in terminating[:3])})"
                if terminating
                else ""
            )
            + (f", {len(new)} just added ({', '.join(p.name for p in new[:3])})" if new else "")
        )
        if not cands:
            facts["unrouted"] = True
            return
        if f.status == 504 and not f.dispatched:
            facts["ip_gone"] = any(_gone_by(p, t) for p in cands)
            if not facts["ip_gone"]:
                missing.append("a connect timeout, but no pod behind the Service had exited before it")
            return
        if not f.dispatched:
            if terminating and new:
                # reached only without kube-proxy views (no EndpointSlice writes to build them from): the
                # one whose window is nearer (MODEL ASSUMPTION; proxyview.py splits by posterior instead)
                since_new = min((t - p.in_slice).total_seconds() for p in new if p.in_slice)
                since_del = min((t - p.deleted).total_seconds() for p in terminating if p.deleted)
                ev.append(
                    "either: a terminating pod and a just-added pod were both behind the Service, and no "
                    "kube-proxy view could be built to weigh them; counted as the nearer window"
                )
                facts["not_listening_yet" if since_new < since_del else "stopped_listening"] = True
            elif terminating:
                facts["stopped_listening"] = True
            elif new:
                facts["not_listening_yet"] = True
            else:
                missing.append("refused, with no pod behind the Service new or terminating at that moment")
            return
        self._facts_for(f, cands, facts, missing)

    # -- the facts, for the pod (or the pods it may have been) -------------------------------------------
    def _facts_for(self, f: Failure, pods: list[PodLife], facts: dict[str, bool], missing: list[str]) -> None:
        t = f.sent
        at_once = f.waited_s <= RESET_AT_ONCE_S
        deleted = [p for p in pods if p.deleted is not None and p.deleted <= t]
        exited_before = [p for p in pods if p.exited is not None and p.exited <= t]
        near_exit = [p for p in pods if _near_exit(p, f.time)]
        new = [
            p
            for p in pods
            if p.first_seen is not None
            and p.created is not None
            and p.first_seen <= t <= p.first_seen + timedelta(seconds=NEW_POD_S)
            and (p.deleted is None or p.deleted > t)
        ]
        if not self.w.has_audit:
            missing.append("no audit log: the pod's life (created, Ready, deleted, exited) is unknown")
        if f.status == 504 and not f.dispatched:
            gone = [p for p in pods if _gone_by(p, t)]
            facts["ip_gone"] = bool(gone) or (bool(deleted) and f.waited_s > 1)
            if not facts["ip_gone"]:
                missing.append("a connect timeout, but no audit record shows the pod gone before the request")
            return
        if not f.dispatched:
            if exited_before:
                facts["ip_gone"] = True  # refused (reset) after the exit: the IP itself was going
            if deleted:
                facts["stopped_listening"] = True
            elif new:
                facts["not_listening_yet"] = True
            elif not facts["ip_gone"]:
                missing.append(
                    "refused by a pod that was neither new nor terminating (a crash or restart the audit log "
                    "does not show?)"
                )
            return
        # dispatched, then no response
        if at_once and not near_exit:
            if deleted:
                facts["closing_idle"] = True
            else:
                facts["idle_race"] = True
            return
        if near_exit:
            facts["killed_first"] = True
            return
        dereg = self._deregistered_before(f)
        alive = all(p.exited is None or p.exited > f.time for p in pods)
        if dereg is not None and alive and f.status == 502:
            facts["drain_first"] = True
            return
        if f.status == 504:
            facts["idle_timeout_first"] = True
            return
        if dereg is None and not (self.w.has_controller or self.w.has_cloudtrail):
            missing.append("a cut connection with no deregistration record (controller log or CloudTrail)")
        else:
            missing.append("a cut connection away from the pod's exit and with no deregistration before it")

    def _deregistered_before(self, f: Failure) -> datetime | None:
        m = self.w.membership.get(f.target or "")
        if m is None:
            return None
        times = [t for t in m.deregistrations if t <= f.time]
        return max(times) if times else None

    @staticmethod
    def _shape(f: Failure) -> str:
        if not f.dispatched and f.status == 504:
            return f"connect gave up after {f.waited_s:.1f} s"
        if not f.dispatched:
            return (
                "refused at once" if f.waited_s <= RESET_AT_ONCE_S else f"not dispatched ({f.waited_s:.2f} s)"
            )
        if f.waited_s <= RESET_AT_ONCE_S:
            return "sent, and the connection closed at once"
        return f"sent, no response, cut after {f.waited_s:.2f} s"

    def _life(self, pod: PodLife, f: Failure) -> str:
        parts = []
        if pod.ready is not None:
            parts.append(f"Ready {hms(pod.ready)}")
        if pod.deleted is not None:
            gap = (f.sent - pod.deleted).total_seconds()
            rel = f"{gap:.1f} s before the request" if gap >= 0 else f"{-gap:.1f} s after the request came in"
            parts.append(f"deleted {hms(pod.deleted)} ({rel})")
        m = self.w.membership.get(f.target or "")
        if m is not None and m.deregistered:
            after = [t for t in m.deregistrations if pod.deleted is None or t >= pod.deleted]
            if after:
                src = "controller log" if any(s == "controller" for _, s in m.deregistered) else "CloudTrail"
                parts.append(f"deregistered {hms(after[0])} ({src})")
        if pod.exited is not None:
            parts.append(f"exited {hms(pod.exited)}")
        if pod.removed is not None:
            parts.append(f"removed {hms(pod.removed)}")
        return ", ".join(parts) if parts else "(no life events in the audit log)"
