"""Tests of transforms.stats (and the fake run output shared with tests/quality)."""
