"""The serving side of learning: read-only policy snapshots (the plan-ranking bandit) and the holder that polls
the store for a newer published version and swaps it in atomically. The update rules live in ``learning/``."""
