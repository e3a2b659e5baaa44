"""Beam infrastructure and the shared record contract: files, spill runs, on-disk groups,
accounting, progress, runner detection, sinks, hashing."""
