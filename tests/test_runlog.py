"""Run logging: the seed's format in training_record.log and log_time."""

from __future__ import annotations

import logging
import re

from hms_kit.runlog import LOG_NAME, get_run_logger, log_time


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
