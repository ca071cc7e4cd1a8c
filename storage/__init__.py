"""Storage: the schedule, chats and subscriptions. Plain values in and out; no Telegram here."""
