"""When a channel's alerts may go out: digest times (APScheduler cron triggers) and quiet hours.

Both are pure functions of a delivery's creation time and the clock, so every worker and every
restart agrees on them without extra state: a digest delivery is released at the first digest
time after it was created; a quiet-hours window holds everything until it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_TICK = timedelta(microseconds=1)
_HEADINGS = {"hourly": "Hourly digest", "daily": "Daily digest", "weekly": "Weekly digest"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Digest:
    """A channel's digest schedule: `spec` as configured, `trigger` when it fires."""

    spec: str
    trigger: CronTrigger

    @property
    def heading(self) -> str:
        return _HEADINGS[self.spec.split()[0]]

    def release(self, created_at: datetime) -> datetime:
        """The digest time that sends an alert created at `created_at` (the first one after it)."""
        # Strictly after: an alert created at 08:00:00.2 missed the 08:00 digest.
        fire: datetime = self.trigger.get_next_fire_time(None, created_at + _TICK)
        return fire


def digest(spec: str, timezone: str) -> Digest:
    """`"hourly"`, `"daily 08:00"` or `"weekly mon 08:00"` (validated by settings) as a trigger."""
    words = spec.split()
    tz = ZoneInfo(timezone)
    if words[0] == "hourly":
        return Digest(spec=spec, trigger=CronTrigger(minute=0, timezone=tz))
    hour, minute = (int(part) for part in words[-1].split(":"))
    day = words[1] if words[0] == "weekly" else "*"
    trigger = CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz)
    return Digest(spec=spec, trigger=trigger)


@dataclass(frozen=True, kw_only=True, slots=True)
class QuietHours:
    """A daily window of local time (it may wrap past midnight) in which nothing is sent."""

    start: time
    end: time
    tz: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime) -> datetime:
        """The first end of the window after `moment` (for a moment inside it: when it ends)."""
        local = moment.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, tzinfo=self.tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.tz)
        return end


def quiet_hours(spec: str, timezone: str) -> QuietHours:
    """`"22:00-07:00"` (validated by settings) in `timezone`."""
    start, end = (time.fromisoformat(part.strip()) for part in spec.split("-"))
    return QuietHours(start=start, end=end, tz=ZoneInfo(timezone))
