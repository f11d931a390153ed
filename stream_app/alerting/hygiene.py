"""Alert hygiene, pure: anomalies of one asset form episodes; one episode alerts at most once.

* An anomaly whose ``event_id`` was already seen is a duplicate (redelivery) and changes nothing.
* An anomaly of an asset without an open episode opens one; further anomalies update it; an episode
  closes when its asset had no anomaly for ``recovery_s`` (see :meth:`EpisodeTracker.close_idle`).
* The first anomaly of an episode that passes the configuration's filter makes the episode alert,
  unless the asset alerted less than ``cooldown_s`` ago (the episode is then marked suppressed).
Times are seconds (the anomaly's ``detected_at``, and the agent's clock for closing).

Memory per asset is bounded (issue 14: asset ids are chosen by clients): beyond ``max_assets`` assets
the least recently updated open episode, dormant episode and alert time are forgotten each. A
forgotten open episode stays stored as it was (the database closes abandoned ones); a forgotten alert
time no longer holds back the asset's next alert by the cooldown.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from stream_app.alerting.config import AlertConfig

EPISODE_NS = uuid.UUID("6f1c1b1e-5c55-4c1e-9a0e-7d8f0b1d2c3a")
Action = Literal["duplicate", "opened", "updated"]


@dataclass(slots=True)
class Episode:
    """An open run of anomalies on one asset."""

    episode_id: uuid.UUID
    asset_id: str
    opened_at: float
    last_at: float
    first_event_id: uuid.UUID
    count: int = 1
    max_score: float = 0.0
    types: set[str] = field(default_factory=set)
    alerted: bool = False
    suppressed: bool = False
    closed_at: float | None = None


@dataclass(slots=True, frozen=True)
class Outcome:
    """What one anomaly did: its action, its episode, and whether the episode must alert now."""

    action: Action
    episode: Episode | None
    alert: bool = False
    closed: Episode | None = None  # the asset's previous episode, closed because it had recovered


class EpisodeTracker:
    """Open episodes per asset, recent event ids, last alert time per asset."""

    def __init__(
        self, recovery_s: float, cooldown_s: float, max_seen_ids: int = 100_000, max_assets: int = 100_000
    ) -> None:
        self.recovery_s = recovery_s
        self.cooldown_s = cooldown_s
        self.max_seen_ids = max_seen_ids
        self.max_assets = max_assets
        # Least recently updated first (the bound drops from the front).
        self.open: OrderedDict[str, Episode] = OrderedDict()
        self.dormant: OrderedDict[str, Episode] = OrderedDict()
        self.last_alert_at: OrderedDict[str, float] = OrderedDict()
        self._seen: OrderedDict[uuid.UUID, None] = OrderedDict()

    def _bound(self, per_asset: OrderedDict[str, Episode] | OrderedDict[str, float]) -> None:
        while len(per_asset) > self.max_assets:
            per_asset.popitem(last=False)

    def restore(self, episodes: Iterable[Episode]) -> None:
        """Remember open episodes stored by any worker (after a restart or a rebalance). They stay
        dormant until an anomaly of their asset arrives here: only the worker that owns an asset's
        partition updates or closes its episode (the database closes abandoned ones)."""
        for ep in episodes:
            self.dormant[ep.asset_id] = ep
            self._remember(ep.first_event_id)
            if ep.alerted:
                self.last_alert_at[ep.asset_id] = max(self.last_alert_at.get(ep.asset_id, 0.0), ep.opened_at)
        self._bound(self.dormant)
        self._bound(self.last_alert_at)

    def forget_dormant(self, older_than: float) -> int:
        """Drop dormant episodes whose last anomaly is older than ``older_than``."""
        stale = [a for a, ep in self.dormant.items() if ep.last_at < older_than]
        for asset_id in stale:
            del self.dormant[asset_id]
        return len(stale)

    def _remember(self, event_id: uuid.UUID) -> bool:
        """True when ``event_id`` is new."""
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self.max_seen_ids:
            self._seen.popitem(last=False)
        return True

    def observe(
        self, config: AlertConfig, event_id: uuid.UUID, asset_id: str, at: float, score: float, kind: str
    ) -> Outcome:
        """Fold one anomaly in. An open episode idle for longer than the recovery window is closed
        first, so a late-arriving anomaly after recovery opens a new episode."""
        if not self._remember(event_id):
            return Outcome("duplicate", self.open.get(asset_id))
        ep = self.open.get(asset_id)
        if ep is None and asset_id in self.dormant:
            ep = self.open[asset_id] = self.dormant.pop(asset_id)
        closed = None
        if ep is not None and at - ep.last_at > self.recovery_s:
            ep.closed_at = ep.last_at + self.recovery_s
            del self.open[asset_id]
            closed, ep = ep, None
        if ep is None:
            ep = Episode(
                episode_id=uuid.uuid5(EPISODE_NS, f"{asset_id}|{event_id}"),
                asset_id=asset_id,
                opened_at=at,
                last_at=at,
                first_event_id=event_id,
                max_score=score,
                types={kind},
            )
            self.open[asset_id] = ep
            self._bound(self.open)
            action: Action = "opened"
        else:
            self.open.move_to_end(asset_id)
            ep.count += 1
            ep.last_at = max(ep.last_at, at)
            ep.max_score = max(ep.max_score, score)
            ep.types.add(kind)
            action = "updated"
        alert = False
        if not ep.alerted and not ep.suppressed and config.wants(score, kind):
            last = self.last_alert_at.get(asset_id)
            if last is not None and at - last < self.cooldown_s:
                ep.suppressed = True
            else:
                ep.alerted = alert = True
                self.last_alert_at[asset_id] = at
                self.last_alert_at.move_to_end(asset_id)
                self._bound(self.last_alert_at)
        return Outcome(action, ep, alert, closed)

    def close_idle(self, now: float) -> list[Episode]:
        """Close and return episodes whose asset had no anomaly for the recovery window."""
        closed = []
        for asset_id, ep in list(self.open.items()):
            if now - ep.last_at > self.recovery_s:
                ep.closed_at = ep.last_at + self.recovery_s
                del self.open[asset_id]
                closed.append(ep)
        return closed
