"""media-monitor: watch news feeds, alert once per matching story through apprise."""

__version__ = "0.1.0"
