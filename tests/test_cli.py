"""The `monitor` command's contract: exit codes, messages, `test-notify`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main

from servers.smtp import SMTPServer
from test_end_to_end import write_config


def test_check_reports_a_bad_config_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        feeds={"a": "http://127.0.0.1:1/a.xml"},
        channels={},
        watchlists={"w": (["Musk"], ["nowhere"])},
    )
    assert main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        f'{config}: watchlists[0].notify[0] (in watchlists "w"): no channel named "nowhere"' in err
    )


def test_check_rejects_an_unknown_apprise_url_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        feeds={},
        channels={"x": ["nosuchservice://user:hunter2secret@host/"]},
        watchlists={},
    )
    assert main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "channels.x.urls[0]" in err
    assert "hunter2secret" not in err


def test_once_with_an_unreachable_store_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds={}, channels={}, watchlists={})
    config.write_text(
        config.read_text().replace(
            f"sqlite:///{tmp_path}/data/monitor.db",
            "postgresql+psycopg://nobody:pw@127.0.0.1:1/none",
        )
    )
    assert main(["once", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "cannot open the store" in err and ":pw@" not in err


def test_test_notify_sends_to_every_url_of_the_channel(
    tmp_path: Path, smtp_server: SMTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        feeds={},
        channels={"mail": [smtp_server.url(), smtp_server.url(to="c@example.org")]},
        watchlists={},
    )
    assert main(["test-notify", "mail", "--config", str(config)]) == 0
    mails = smtp_server.wait_for(2)
    assert {tuple(m.rcpt_tos) for m in mails} == {("alerts@example.org",), ("c@example.org",)}
    assert capsys.readouterr().out.count(": sent") == 2


def test_test_notify_reports_failure_and_unknown_channel(
    tmp_path: Path, smtp_server: SMTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = smtp_server.url()
    smtp_server.stop()
    config = write_config(tmp_path, feeds={}, channels={"mail": [url]}, watchlists={})
    assert main(["test-notify", "mail", "--config", str(config)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(["test-notify", "nope", "--config", str(config)]) == 2
    assert "no channel named 'nope' (channels: mail)" in capsys.readouterr().err


def test_config_defaults_to_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds={}, channels={}, watchlists={})
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    assert main(["check"]) == 0
    assert str(config) in capsys.readouterr().out
