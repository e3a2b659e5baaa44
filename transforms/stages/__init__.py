"""The pipeline stages in data-flow order: read, normalize, score, tokenize, apply decisions,
plan and write shards."""
