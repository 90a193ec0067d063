"""Access: tokens, browser sessions and guards, and what a submission or a request body must pass."""
