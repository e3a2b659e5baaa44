"""Progress: the driver's board folds worker reports into monotone per-stage lines."""

from __future__ import annotations

import io
import re
import time

from pipelines.config import load_config
from pipelines.progress import ProgressBoard, ProgressPrinter, eta_seconds, rate_per_s
from pipelines.run import run
from tests.spine.small_run import write_config, write_corpus
from transforms.infra import progress as worker_progress


def _msg(sender, stage, units=0, nbytes=0, docs=0):
    return {"p": sender, "s": stage, "u": units, "b": nbytes, "d": docs}


def test_totals_never_go_backwards_whatever_the_datagram_order():
    board = ProgressBoard(input_bytes=1000, n_tasks=4, started=0.0)
    board.update(_msg("w1", "read", 1, 300, 30), now=1.0)
    board.update(_msg("w2", "read", 0, 100, 10), now=1.5)
    board.update(_msg("w1", "read", 0, 200, 20), now=2.0)  # an older datagram arrives late
    st = board.stages["read"]
    assert (st.units, st.nbytes, st.docs) == (1, 400, 40)
    assert board.fraction("read") == 0.4
    board.update(_msg("w1", "read", 3, 900, 90), now=3.0)
    board.update(_msg("w2", "read", 1, 100, 10), now=3.0)
    assert board.fraction("read") == 1.0 and board.finished("read")


def test_read_share_stays_below_100_until_every_task_is_done():
    board = ProgressBoard(input_bytes=1000, n_tasks=2, started=0.0)
    board.update(_msg("w1", "read", 1, 1000, 5), now=1.0)  # bytes counted, one task still open
    assert board.fraction("read") == 0.999 and not board.finished("read")
    assert " 99%" in board.line("read", now=2.0) and "100%" not in board.line("read", now=2.0)


def test_rate_and_eta():
    assert rate_per_s(done=400, since=0.0, done_then=0, now=4.0) == 100.0
    assert rate_per_s(done=400, since=3.9, done_then=0, now=4.0) is None  # too short a span
    assert eta_seconds(done=400, total=1000, rate=100.0) == 6.0
    assert eta_seconds(done=400, total=1000, rate=None) is None
    board = ProgressBoard(input_bytes=1000, n_tasks=4, started=0.0)
    board.update(_msg("w1", "read", 1, 250, 1), now=5.0)
    line = board.line("read", now=5.0)
    assert " 25%" in line and "250 B of 1.0 kB" in line and "50 B/s" in line
    assert "ETA 0:15" in line  # 750 bytes left at 50 B/s


def test_tokenize_total_is_what_spill_wrote_and_decisions_sit_between():
    board = ProgressBoard(input_bytes=100, n_tasks=1, started=0.0)
    board.update(_msg("w1", "spill", 4, 800, 40), now=1.0)
    board.update(_msg("w1", "read", 1, 100, 40), now=1.0)
    assert board.active() == ["read", "spill", "decisions"]
    assert "running for 0:04" in board.line("decisions", now=5.0)
    board.update(_msg("w1", "tokenize", 1, 200, 10), now=6.0)
    assert board.finished("decisions") and board.finished("spill")
    assert board.fraction("tokenize") == 0.25 and "1/4 runs" in board.line("tokenize", 6.0)
    board.update(_msg("w2", "tokenize", 3, 600, 30), now=8.0)
    assert board.fraction("tokenize") == 1.0
    assert "done after 0:05" in board.line("decisions", now=9.0)


def test_tokenize_is_not_final_before_spill_reported():
    """Datagrams can arrive out of stage order: tokenize's line must not close on a 0 total."""
    out = io.StringIO()
    printer = ProgressPrinter(input_bytes=100, n_tasks=1, stream=out, tty=False)
    board = printer.board
    board.update(_msg("w1", "read", 1, 100, 40), now=1.0)
    board.update(_msg("w1", "shards", 1, 0, 40), now=2.0)  # later stages' reports first
    board.update(_msg("w1", "tokenize", 1, 800, 40), now=2.0)
    assert not board.finished("tokenize")
    printer.tick(2.0)
    board.update(_msg("w1", "spill", 1, 800, 40), now=2.1)  # spill's report, late
    assert board.finished("tokenize")
    printer.tick(2.2, final=True)
    printer.sock.close()
    finals = [line for line in out.getvalue().splitlines() if line.startswith("[curate] tokenize")]
    assert finals and re.search(r"tokenize +100% +1/1 runs, 40 docs", finals[-1]), finals


def test_printer_receives_worker_reports_over_the_local_channel(monkeypatch):
    out = io.StringIO()
    printer = ProgressPrinter(input_bytes=10, n_tasks=1, stream=out, tty=True).start()
    monkeypatch.setenv(worker_progress.ENV, printer.address)
    worker_progress.report("read", units=1, nbytes=10, docs=2)
    worker_progress.report("shards", units=3, docs=7)
    time.sleep(0.2)
    printer.stop(other_processes=False)
    text = out.getvalue()
    assert "read" in text and "|########################| 100%" in text
    assert "3 written, 7 rows" in text


def test_a_run_prints_a_line_for_every_stage(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl", n_docs=40)
    cfg = write_config(tmp_path / "c.yaml", [str(corpus)], str(tmp_path / "out"))
    run(load_config(str(cfg), ["run.progress=true", "run.running_mode=in_memory"]))
    err = capsys.readouterr().err
    for stage in ("read", "spill", "decisions", "tokenize", "shards"):
        assert re.search(rf"^\[curate\] {stage} ", err, re.M), (stage, err)
    assert re.search(r"^\[curate\] read +100% .* 1/1 tasks .*done at", err, re.M), err
    assert re.search(r"^\[curate\] tokenize +100% +\d+/\d+ runs, 40 docs", err, re.M), err
    assert re.search(r"^\[curate\] shards +3 written, 40 rows", err, re.M), err


def test_a_terminal_shows_the_bar_of_the_read_while_spill_runs_beside_it():
    out = io.StringIO()
    printer = ProgressPrinter(input_bytes=1000, n_tasks=2, stream=out, tty=True)
    printer.board.update(_msg("w1", "read", 0, 500, 5), now=printer.board.t0 + 2)
    printer.board.update(_msg("w1", "spill", 1, 400, 5), now=printer.board.t0 + 2)
    printer.tick(printer.board.t0 + 2)
    # tqdm draws the bar (ASCII on a stream that does not declare a unicode encoding)
    assert "\r[curate] read       |############            |  50%" in out.getvalue()
    assert "spill" not in out.getvalue()
    printer.sock.close()
