"""Channels: each renders the same `Reply` and talks only to `bot.service.Service`."""
