"""A fake Telegram Bot API server for end-to-end tests (and the benchmarks)."""

from tests.fakebot.server import (
    ApiError,
    ChatRef,
    FakeBotApi,
    Fault,
    FloodLimits,
    UploadedFile,
    UserRef,
    Webhook,
    WebhookDelivery,
    busiest,
)

__all__ = [
    "ApiError",
    "ChatRef",
    "FakeBotApi",
    "Fault",
    "FloodLimits",
    "UploadedFile",
    "UserRef",
    "Webhook",
    "WebhookDelivery",
    "busiest",
]
