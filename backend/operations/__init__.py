"""Operations: the reconciler (dead workers, lost messages), the broker scan it uses, and /metrics with JSON logs."""
