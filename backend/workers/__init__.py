"""Workers as rows: their heartbeats, the lost ones, and why a queued run waits for them."""
