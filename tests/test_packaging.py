"""S4 installed from a wheel (no checkout around it) still ships its pipelines and schedule."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_pipelines_and_schedules_and_init_uses_them(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("s4-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "s4/_shipped/pipelines/default.yaml" in names
    assert "s4/_shipped/retention_rules/uk-local-government.yaml" in names
    # The desk needs no checkout either: its pages and stylesheet are in the wheel.
    for template in sorted((ROOT / "s4" / "web" / "templates").glob("*.html")):
        assert f"s4/web/templates/{template.name}" in names
    assert "s4/web/static/s4.css" in names and "s4/web/static/favicon.svg" in names

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True)
    home = tmp_path / "home"
    # Run from an unrelated folder with the wheel's copy first on the path: no checkout.
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", "import s4, sys; from s4.cli import main; "
         "assert s4.__file__.startswith(sys.argv[2]), s4.__file__; "
         "sys.argv = ['s4', '--home', sys.argv[1], 'init']; main()",
         str(home), str(target)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (home / "pipelines" / "default.yaml").read_text() == \
        (ROOT / "pipelines" / "default.yaml").read_text()
    assert (home / "retention_rules" / "uk-local-government.yaml").exists()
