"""The sample generator's rough damage (issue 15): the old-file kinds (show-through, stain,
faded) are planned, recorded and really drawn, and ``--rough 0`` output does not change."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "samples" / "make_samples.py"
OLD_FILE_KINDS = ("show_through", "stain", "faded")
DPI = 100
TEMPLATE = "council-tax/bill-letter"  # one page, text from top to bottom


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_samples", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ms = load_generator()
RENDERER = ms.Renderer(ms.FontBook("portable"), DPI)


def front_and_damaged(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One page without and with only ``kind`` of rough damage, upright and unskewed, with
    the same ordinary wear (so every difference between them is the rough damage)."""
    deg = ms.plan(1, seed, TEMPLATE, rough=1.0, damage=(kind,))[0].degradations[0]
    assert deg["rough"]["damage"] == [kind]
    deg.update(rotation=0, skew_deg=0, jpeg_artefacts_q=None)
    plain = {k: v for k, v in deg.items() if k != "rough"}
    page = ms.plan(1, seed, TEMPLATE)[0].pages[0]
    upright, _ = RENDERER.render(page)
    back = (ms.render_back(RENDERER, deg["rough"]["show_through"])
            if kind == "show_through" else None)
    front = ms.degrade(upright, plain, DPI, colour=False)
    damaged = ms.degrade(upright, deg, DPI, colour=False, back=back)
    return (np.asarray(front, dtype=np.int16), np.asarray(damaged, dtype=np.int16),
            deg["rough"])


def first_seed(kind: str, wanted) -> int:
    """The first seed whose planned ``kind`` damage satisfies ``wanted`` (deterministic)."""
    for seed in range(200):
        rough = ms.plan(1, seed, TEMPLATE, rough=1.0, damage=(kind,))[0].degradations[0]["rough"]
        if wanted(rough):
            return seed
    raise AssertionError(f"no seed under 200 plans such {kind}")


def test_rough_pages_draw_the_old_file_kinds_over_a_few_seeds_and_mix_them_with_others():
    seen: dict[str, int] = {}
    mixed = 0
    for seed in range(1, 6):
        for item in ms.plan(8, seed, None, rough=1.0):
            for deg in item.degradations:
                kinds = deg["rough"]["damage"]
                assert 2 <= len(kinds) <= 4
                for kind in kinds:
                    seen[kind] = seen.get(kind, 0) + 1
                    if kind in OLD_FILE_KINDS:
                        assert deg["rough"][kind], f"{kind} planned without its parameters"
                mixed += any(k in OLD_FILE_KINDS for k in kinds) and any(
                    k not in OLD_FILE_KINDS for k in kinds)
    assert set(seen) == set(ms.ROUGH_DAMAGE)
    assert all(seen[kind] >= 3 for kind in OLD_FILE_KINDS), seen
    assert mixed >= 5


def test_the_manifest_records_each_rough_pages_kinds_and_their_parameters(tmp_path):
    out = tmp_path / "out"
    code = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--count", "2",
                           "--seed", "2", "--dpi", str(DPI), "--rough", "1", "--quiet",
                           "--damage", ",".join(OLD_FILE_KINDS)], check=False).returncode
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rough_kinds"] == list(OLD_FILE_KINDS)
    pages = [p for d in manifest["documents"] for p in d["page_details"]]
    assert pages
    for details in pages:
        assert details["level"] == "rough"
        assert 2 <= len(details["rough_damage"]) <= 3
        assert set(details["rough_damage"]) <= set(OLD_FILE_KINDS)
        assert set(details["rough_damage"]) == set(details["rough_params"])
    faded = [p["rough_params"]["faded"] for p in pages if "faded" in p["rough_damage"]]
    assert all(110 <= f["ink"] <= 160 and 190 <= f["paper"] <= 220 for f in faded)


def test_an_unknown_damage_kind_is_a_usage_error_that_names_the_choices(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "out"),
                             "--rough", "1", "--damage", "faded,coffee"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "coffee" in result.stderr and "show_through" in result.stderr
    assert not (tmp_path / "out").exists()


def run_generator(out: Path, *extra: str) -> dict[str, bytes]:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--quiet", *extra],
                   check=True)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def page_pixels(path: Path) -> list[np.ndarray]:
    """Every page of a sample scan as grey pixels (PDF pages rendered at 50 dpi)."""
    if path.suffix == ".pdf":
        import pypdfium2

        document = pypdfium2.PdfDocument(path)
        try:
            return [np.asarray(page.render(scale=50 / 72, grayscale=True).to_pil().convert("L"),
                               dtype=np.int16) for page in document]
        finally:
            document.close()
    with Image.open(path) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(np.asarray(image.convert("L"), dtype=np.int16))
        return frames


def test_rough_0_reproduces_the_committed_sample_scans(tmp_path):
    """samples/scans was made before the old-file kinds existed; ``--rough 0`` (the default)
    must still make those pages. The texts must be identical; the images must show the same
    pixels (byte for byte on the same Pillow, libjpeg and img2pdf; compared as pixels so that
    another encoder version does not fail the suite while a change in what is drawn does)."""
    made = tmp_path / "scans"
    run_generator(made, "--count", "12", "--seed", "4")
    committed = sorted(p for p in (ROOT / "samples" / "scans").iterdir()
                       if p.name.startswith("scan_"))
    assert len(committed) == 24
    for path in committed:
        ours = made / path.name
        assert ours.exists(), path.name
        if path.suffix == ".txt":
            assert ours.read_bytes() == path.read_bytes(), path.name
            continue
        if ours.read_bytes() == path.read_bytes():
            continue
        theirs, mine = page_pixels(path), page_pixels(ours)
        assert [p.shape for p in mine] == [p.shape for p in theirs], path.name
        for page_theirs, page_mine in zip(theirs, mine, strict=True):
            difference = np.abs(page_theirs - page_mine)
            # An encoder's rounding moves pixels by a few levels; anything drawn differently
            # (a speck, a stroke, a stain) moves some by far more.
            assert difference.mean() < 1.0 and (difference > 40).mean() < 1e-4, path.name


@pytest.mark.parametrize("rough", ["0", "1"])
def test_the_same_options_give_the_same_bytes(tmp_path, rough):
    options = ("--count", "2", "--seed", "7", "--dpi", str(DPI), "--rough", rough)
    first = run_generator(tmp_path / "a", *options)
    second = run_generator(tmp_path / "b", *options)
    assert len(first) == 5 and first == second


def test_a_faded_page_is_grey_type_on_greyish_paper():
    front, damaged, rough = front_and_damaged("faded", seed=first_seed("faded", bool))
    planned = rough["faded"]
    h, w = damaged.shape
    middle = (slice(h // 10, h - h // 10), slice(w // 10, w - w // 10))

    def levels(page: np.ndarray) -> tuple[float, float]:
        return np.percentile(page[middle], 1), np.percentile(page[middle], 50)

    front_ink, front_paper = levels(front)
    ink, paper = levels(damaged)
    assert front_paper - front_ink > 150  # the page was printed black on white
    assert 110 <= planned["ink"] <= 160 and 190 <= planned["paper"] <= 220
    assert abs(ink - planned["ink"]) <= 12 and abs(paper - planned["paper"]) <= 4
    assert paper - ink <= 110
    assert damaged[middle].min() >= planned["ink"] - 15  # nothing left at full black


def test_a_show_through_page_has_faint_mirrored_marks_where_the_front_has_none():
    front, damaged, rough = front_and_damaged("show_through", seed=3)
    spec = rough["show_through"]
    paper = np.median(front)
    # Paper on the front: no ink within a few pixels.
    clear = np.asarray(Image.fromarray(front.astype(np.uint8)).filter(ImageFilter.MinFilter(7)),
                       dtype=np.int16) >= paper - 3
    darker = (front - damaged)[clear]
    assert clear.mean() > 0.5
    assert (darker >= 8).mean() > 0.01, "no marks from the back on the clear paper"
    assert darker.max() <= round(255 * spec["ink"]) + 3, "the marks are not faint"
    # The marks are the back page, mirrored: they follow its ink, not the front's.
    back = np.asarray(ms.render_back(RENDERER, spec).convert("L"), dtype=np.int16)
    mirrored = 255 - back[:, ::-1]
    dx, dy = (round(v / 25.4 * DPI) for v in spec["offset_mm"])
    mirrored = np.roll(mirrored, (dy, dx), axis=(0, 1))
    assert np.corrcoef(darker, mirrored[clear])[0, 1] > 0.5
    unmirrored = np.roll(255 - back, (dy, dx), axis=(0, 1))
    assert np.corrcoef(darker, unmirrored[clear])[0, 1] < 0.3


def test_a_stain_darkens_the_paper_locally_with_a_darker_rim():
    seed = first_seed("stain", lambda r: len(r["stain"]["blots"]) == 1
                      and r["stain"]["gradient"] is None)
    front, damaged, rough = front_and_damaged("stain", seed)
    blot = rough["stain"]["blots"][0]
    h, w = damaged.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius = blot["radius_mm"] / 25.4 * DPI
    distance = np.hypot(xx - blot["x"] * w, yy - blot["y"] * h)
    darker = front - damaged
    paper = front >= np.median(front) - 3
    centre = darker[(distance < 0.3 * radius) & paper]
    near = darker[(distance < 1.8 * radius) & paper]
    far = darker[(distance > 2.5 * radius) & paper]
    assert centre.size and near.size and far.size
    assert abs(np.median(centre) - blot["interior"]) <= 6
    assert np.percentile(near, 99.5) >= max(blot["interior"] + 10, 0.6 * blot["rim"])
    assert np.abs(far).max() <= 1, "the stain spread beyond its place"


def test_an_uneven_paper_tone_darkens_toward_its_side():
    seed = first_seed("stain", lambda r: not r["stain"]["blots"]
                      and r["stain"]["gradient"]["kind"] in ("left", "right"))
    front, damaged, rough = front_and_damaged("stain", seed)
    gradient = rough["stain"]["gradient"]
    darker = np.where(front >= np.median(front) - 3, front - damaged, np.nan)
    columns = np.nanmedian(darker, axis=0)
    edge, middle = (columns[2], columns[len(columns) // 2])
    if gradient["kind"] == "right":
        edge = columns[-3]
    assert edge >= 0.7 * gradient["depth"]
    assert middle <= 1
