"""What the bot counts for Prometheus (``GET /metrics``).

One registry per running bot, not prometheus-client's global one, so that several bots in one
process (the tests) keep their figures apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Reminder lateness: a few seconds is normal (the flood limits spread a big fan-out); minutes
# mean trouble.
LATENESS_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Handling an update: from received to answered, dominated by the database and the Bot API.
UPDATE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric the bot exports."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "hearingwatch_deliveries",
            "Deliveries finished, by result (sent, unreachable, failed).",
            ["result"],
            registry=registry,
        )
        self.too_many_requests = Counter(
            "hearingwatch_telegram_429",
            "Answers of 429 Too Many Requests received from the Bot API.",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "hearingwatch_queue_depth",
            "Deliveries waiting to be sent.",
            registry=registry,
        )
        self.oldest_pending = Gauge(
            "hearingwatch_oldest_pending_seconds",
            "Age of the oldest delivery waiting to be sent (0 when none waits).",
            registry=registry,
        )
        self.reminder_lateness = Histogram(
            "hearingwatch_reminder_lateness_seconds",
            "When each reminder reached Telegram, minus when it was due.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.update_seconds = Histogram(
            "hearingwatch_update_seconds",
            "Time to handle one update, from received to done.",
            buckets=UPDATE_BUCKETS,
            registry=registry,
        )
        self.database_errors = Counter(
            "hearingwatch_database_errors",
            "Database operations that failed because it was unreachable or locked.",
            registry=registry,
        )
        self.active = Gauge(
            "hearingwatch_active",
            "1 when this instance is the active one (sends, reminds), 0 on a standby.",
            registry=registry,
        )
        self.updates_dropped = Counter(
            "hearingwatch_updates_dropped",
            "Updates left unhandled, by reason: chat_queue_full (a chat sent more than its"
            " queue holds), too_fast (a person sending commands faster than a human),"
            " forwarded (someone else's command).",
            ["reason"],
            registry=registry,
        )
        for reason in ("chat_queue_full", "too_fast", "forwarded"):
            self.updates_dropped.labels(reason)
        for result in ("sent", "unreachable", "failed"):
            self.deliveries.labels(result)  # exported at 0 before the first delivery
