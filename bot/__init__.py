"""The Telegram layer: the only package (with jobs' sender) that imports telegram."""
