"""Beam's SDK worker process for local `multi_processing` runs, without Beam's GCP notice.

Beam starts each local worker process as `python -m apache_beam.runners.worker.sdk_worker_main`,
and importing Beam there logs "apitools not found, and bigquery client libraries are not
available..." (the optional GCP libraries are missing), once per worker: a newcomer reads it as
an error. This entry point installs the CLI's filter for that one notice before Beam is imported,
quiets the worker's start-up INFO lines, caps glibc's malloc arenas (pipelines/malloc.py), then hands over to Beam's own worker main. `pipelines.run.local_runner` points the runner at it.
"""

from __future__ import annotations

import logging
import sys


class HideGcpImportNotice(logging.Filter):
    """Drops Beam's import-time notice that the optional GCP client libraries are missing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def _quiet_on_interrupt(signum, frame) -> None:
    import threading

    logging.disable(logging.CRITICAL)
    threading.excepthook = lambda args: None


def main() -> None:
    import signal

    # Ctrl-C reaches the whole process group: the driver handles it (it restores the previous
    # outputs, then its runner ends the workers); a worker interrupted mid-bundle, or one whose
    # bundles the stopping runner abandons, would only add tracebacks: it goes quiet instead.
    signal.signal(signal.SIGINT, _quiet_on_interrupt)
    from pipelines.malloc import limit_malloc_arenas

    limit_malloc_arenas()  # before Beam starts its threads (see pipelines/malloc.py)
    logging.getLogger().addFilter(HideGcpImportNotice())
    # The worker's start-up chatter (INFO lines per process) is noise in a local run's log.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # "No semi_persistent_directory found": local workers have none, by design.
    logging.getLogger("apache_beam.runners.worker.sdk_worker_main").setLevel(logging.ERROR)
    from apache_beam.runners.worker import sdk_worker_main

    from transforms.infra.beam_fastpath import install

    install()  # each stage's DoFns are introspected once, not twice (transforms/infra/beam_fastpath.py)
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
