"""Run logging: the seed's format in training_record.log and log_time."""

from __future__ import annotations

import logging
import re

from hms_kit.runlog import LOG_NAME, ensure_run_log, get_run_logger, log_time


def test_log_format_and_log_time(tmp_path, capsys):
    log = get_run_logger(tmp_path, console=False)

    @log_time
    def read_everything(x):
        return x * 2

    assert read_everything(21) == 42
    log.info("hello")
    for h in log.handlers:
        h.flush()
    lines = (tmp_path / LOG_NAME).read_text().splitlines()
    stamp = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
    assert re.fullmatch(stamp + r" INFO read_everything took \d+\.\d{4} seconds\.", lines[0])
    assert re.fullmatch(stamp + r" INFO hello", lines[1])
    get_run_logger(None, console=False)  # detach the file handler


def test_runs_in_one_process_each_log_to_their_own_file(tmp_path):
    """A notebook training run A then run B: B's lines go to B's log, not A's too; the
    CLI's own log file (get_run_logger) keeps receiving them."""
    cli = get_run_logger(tmp_path / "cli", console=False)
    a, b = tmp_path / "a", tmp_path / "b"
    ensure_run_log(a).info("first run")
    ensure_run_log(a).info("first run again")  # the same run: no second handler
    ensure_run_log(b).info("second run")
    for h in cli.handlers:
        h.flush()
    assert (a / LOG_NAME).read_text().count("first run") == 2
    assert "second run" not in (a / LOG_NAME).read_text()
    assert "second run" in (b / LOG_NAME).read_text()
    assert (tmp_path / "cli" / LOG_NAME).read_text().count("run") == 3
    files = [h for h in cli.handlers if isinstance(h, logging.FileHandler)]
    assert len(files) == 2
    # a repeated run's seed folders: the run's own log keeps every seed's lines
    ensure_run_log(b / "seeds" / "seed1").info("seed one")
    ensure_run_log(b / "seeds" / "seed2").info("seed two")
    for h in cli.handlers:
        h.flush()
    assert "seed one" in (b / LOG_NAME).read_text() and "seed two" in (b / LOG_NAME).read_text()
    assert "seed two" not in (b / "seeds" / "seed1" / LOG_NAME).read_text()
    get_run_logger(None, console=False)  # detach the file handlers


def test_log_time_prints_without_a_run(capsys):
    logging.getLogger("hms_kit").handlers.clear()

    @log_time
    def stage():
        return None

    stage()
    assert re.search(r"stage took \d+\.\d{4} seconds\.", capsys.readouterr().err)


def test_progress_bar_in_a_log_draws_the_real_count_not_a_line_per_step():
    """Written to a file (not a terminal), a fast loop's bar draws its start and its end,
    with the real count, not one line per step (the demo's log had 1,830 of them)."""
    import io

    from hms_kit.runlog import progress_bar

    out = io.StringIO()
    bar = progress_bar(range(200), file=out, desc="fold 0", unit="batch")
    for _ in bar:
        pass
    bar.close()
    draws = [d for d in out.getvalue().replace("\r", "\n").splitlines() if d.strip()]
    assert len(draws) <= 3, draws
    assert "200/200" in draws[-1]
