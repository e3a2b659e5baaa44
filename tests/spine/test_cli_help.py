"""`curate --version` and every subcommand's `--help`: a description, the defaults, an example."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from pipelines import cli

HELP = {
    # subcommand -> what its help must show besides "example" (defaults, Beam flags, exit codes)
    ("run",): ["--runner", "--job_endpoint", "`--`", "130", "exit codes", "3 "],
    ("report",): ["OUT"],
    ("train",): ["--manifest", "adapters/NAME"],
    ("classifier",): ["train"],
    ("classifier", "train"): ["(default: 5000)", "(default: 0.2)", "(default: 0.5)", "--json"],
    ("ablate",): ["--output"],
}


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", sorted(HELP))
def test_every_subcommand_help_has_a_description_defaults_and_an_example(argv, capsys):
    text = _help(list(argv), capsys)
    assert "example" in text.lower()
    for part in HELP[argv]:
        assert part in text, (argv, part)
    usage, description = text.split("\n\n")[:2]
    assert not description.lstrip().startswith(("options:", "positional")), description


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"curate {version('curate')}"


def test_an_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args, beam_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_report", interrupted)
    assert cli.main(["report", "nowhere"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_beams_info_chatter_stays_off_the_console():
    """The portable runner relays job-service lines through the root logger: not as curate's."""
    import logging
    import os

    import apache_beam
    from apache_beam.runners.portability import portable_runner

    cli._quiet_beam(["run"])
    beam_file = portable_runner.__file__
    assert beam_file.startswith(os.path.dirname(apache_beam.__file__))
    root = logging.getLogger()
    assert all(cli._HIDE_BEAM_CHATTER in h.filters for h in root.handlers)

    def shown(level: int, msg: str, pathname: str) -> bool:
        record = root.makeRecord("root", level, pathname, 1, msg, (), None)
        return cli._HIDE_BEAM_CHATTER.filter(record)

    assert not shown(logging.INFO, "Completed job in 3.2 seconds with state DONE.", beam_file)
    assert not shown(logging.INFO, "starting control server on port 4567", beam_file)
    assert shown(logging.ERROR, "the job failed: boom", beam_file)
    assert shown(logging.INFO, "local runner: in_memory", cli.__file__)
