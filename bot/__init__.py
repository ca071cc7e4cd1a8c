"""The Telegram layer: the only package (with jobs' sender) that imports telegram."""

import os

# python-telegram-bot 22 warns on every RetryAfter unless durations are timedeltas; opt in,
# as its next major version will do anyway (jobs.sender reads both forms).
os.environ.setdefault("PTB_TIMEDELTA", "1")
