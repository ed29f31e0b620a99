"""tools/inspect_data.py: the pictures of a prepared directory are written and show something."""
import os
import shutil

import cv2
import numpy as np
import pytest

from atnet.data.prepare import Settings, prepare
from atnet.data.prepared import load_feature, load_index
from atnet.data.release import import_release, write_apex_list, write_optical_text

import data_support as common


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("prepared"))
    prepare(common.roots(common.release(tmp_path_factory, common.MICRO)), out, Settings(workers=1),
            log=lambda *a: None)
    return out


def _check_picture(path, min_side=300, min_values=500):
    """A real picture: large enough, many distinct values, not one flat colour."""
    assert os.path.getsize(path) > 20000, path
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    assert image is not None and min(image.shape[:2]) >= min_side, path
    assert image.std() > 20, path                                   # not blank
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > min_values, path   # not a few flat colours
    return image


def test_inspect_writes_every_picture(prepared, tmp_path):
    out = tmp_path / "inspect"
    result = common.run_tool("../tools/inspect_data.py", prepared, "--out", out)
    assert result.returncode == 0, result.stderr
    expected = {"%s-%s.png" % (kind, dataset) for kind in ("faces", "adm", "flow")
                for dataset in ("casme2", "samm", "smic")} | {"mean-adm.png"}
    assert set(os.listdir(out)) == expected
    for name in sorted(expected):
        _check_picture(str(out / name))
    assert "wrote %s" % (out / "mean-adm.png") in result.stdout


def test_contact_sheet_draws_the_box(prepared, tmp_path):
    """The green box colour appears on the sheet (the apex frame with the detected box)."""
    common.run_tool("../tools/inspect_data.py", prepared, "--out", tmp_path)
    image = cv2.cvtColor(cv2.imread(str(tmp_path / "faces-casme2.png")), cv2.COLOR_BGR2RGB).astype(int)
    green = (image[..., 1] > 180) & (image[..., 0] < 80) & (image[..., 2] < 80)
    assert green.sum() > 200


def test_imported_release_gets_pictures_without_frames(prepared, tmp_path):
    """An imported directory has no frames: faces and ADM pictures, no flow picture."""
    rows = load_index(prepared)
    apex_dir = tmp_path / "apex"
    apex_dir.mkdir()
    records = []
    for row in rows:
        name = "%s-%s" % (row.key, row.apex_frame)
        shutil.copy(os.path.join(prepared, row.apex_image), apex_dir / name)
        records.append(type("Record", (), {"file_name": name, "label": row.label}))
    write_apex_list(str(tmp_path / "Apex_Cropped_images.txt"), records)
    write_optical_text(str(tmp_path / "OpticalFlowFeatureData.txt"),
                       [(row.key, load_feature(prepared, row)) for row in rows])
    imported = str(tmp_path / "imported")
    import_release(str(tmp_path / "Apex_Cropped_images.txt"), str(apex_dir),
                   str(tmp_path / "OpticalFlowFeatureData.txt"), imported, log=lambda *a: None)
    result = common.run_tool("../tools/inspect_data.py", imported)
    assert result.returncode == 0, result.stderr
    names = set(os.listdir(os.path.join(imported, "inspect")))
    assert names == {"faces-casme2.png", "faces-samm.png", "faces-smic.png", "adm-casme2.png", "adm-samm.png",
                     "adm-smic.png", "mean-adm.png"}
    assert "no flow picture" in result.stdout
    _check_picture(os.path.join(imported, "inspect", "faces-casme2.png"), min_side=200,
                   min_values=150)     # grey faces only
