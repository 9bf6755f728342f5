"""Settings and pipeline errors name the file, the line and the field."""

from __future__ import annotations

import pytest

from s4.config import ConfigError, load_pipeline, load_settings
from tests.conftest import run_s4


def test_shipped_default_pipeline_is_valid(home):
    pipeline = home.pipeline("default")
    assert pipeline.ocr.language == ["eng"]
    assert pipeline.ocr.mode == "skip_text"


def test_pipeline_error_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nocr:\n  language: [eng]\n  deskew: maybe\n  optimize: 7\n")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    message = str(caught.value)
    assert f"{path}:4: ocr.deskew:" in message
    assert f"{path}:5: ocr.optimize:" in message


def test_pipeline_unknown_key_is_refused_with_its_line(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\nocr:\n  langauge: [eng]\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: ocr.langauge: Extra inputs"):
        load_pipeline(path)


def test_yaml_syntax_error_has_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nocr:\n  language: [eng\n  deskew: true\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: YAML syntax"):
        load_pipeline(path)


def test_settings_error_names_line_and_field(tmp_path):
    path = tmp_path / "s4.toml"
    path.write_text("[s4]\ncouncil = 'X'\n\n[ingest]\nquiet_seconds = -3\n")
    with pytest.raises(ConfigError, match=rf"{path}:5: ingest.quiet_seconds:"):
        load_settings(path)


def test_run_with_broken_pipeline_exits_2_and_names_the_line(home, tmp_path):
    (home.pipelines / "default.yaml").write_text("name: default\nocr:\n  mode: sometimes\n")
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n")
    code, output = run_s4(home, "run", str(scan))
    assert code == 2
    assert "default.yaml:3: ocr.mode" in output


def test_unknown_pipeline_lists_known_ones(home, tmp_path):
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"x")
    code, output = run_s4(home, "run", "--pipeline", "nosuch", str(scan))
    assert code == 2
    assert "no such pipeline 'nosuch' (known: default)" in output
