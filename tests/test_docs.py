"""The docs are tested: every setting is documented, the example config is valid."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from monitor.cli import main
from monitor.settings import Settings

from conftest import ROOT


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[-1]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if prefix == "" and name in ("channels", "entities"):
                sub = "channels.NAME." if name == "channels" else 'entities."NAME".'
            elif getattr(annotation, "__origin__", None) is list:
                sub = f"{prefix}{name}[]."
            else:
                sub = f"{prefix}{name}."
            keys += _keys(inner, sub)
        else:
            keys.append(prefix + name)
    return keys


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    keys = _keys(Settings)
    assert "feeds[].interval" in keys and "storage.url" in keys  # the walk itself works
    missing = [key for key in keys if f"| `{key}` |" not in readme]
    assert missing == [], f"settings missing from README's configuration table: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    fence = lines.index("```sh")
    assert lines[fence + 1].startswith("make run")
    assert lines[fence + 2].startswith("make test")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_example_config_passes_check(capsys: object, tmp_path: Path) -> None:
    config = ROOT / "config" / "monitor.toml"
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "config OK" in out
    assert "tagesschau" in out and "musk" in out and "console" in out
