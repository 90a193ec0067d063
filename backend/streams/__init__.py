"""Live event streams (Server-Sent Events): per-run change notices, shared feeds, and the reads they make."""
