"""Property-based envelope fuzzing (hypothesis), deterministic in CI."""
