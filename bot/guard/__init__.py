"""Privacy guard: `bot.guard.redact.redact` masks personal data in a message before anything stores, logs or parses it."""
