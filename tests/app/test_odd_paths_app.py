"""A photo whose file and folder names are not UTF-8, in the results grid: its tile and
tooltip show the name with escapes, and every URL made from it (drag out, reveal in the
file manager, open its folder) names the exact file, where Qt alone would drop the bytes."""

from __future__ import annotations

import os
import shutil
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import Qt, QUrl

from app.results_model import ResultsModel
from app.results_view import ResultsView
from app.reveal import file_url
from app.state.reveal import reveal_plan
from engine.library import Library
from tests.engine.conftest import make_photos

BAD_FILE = os.fsdecode(b"bad\xff\xfename.jpg")
BAD_FOLDER = os.fsdecode(b"dossier \xe9t\xe9")


def named(url: QUrl | str) -> bytes:
    """The file name bytes a file URL stands for."""
    text = url if isinstance(url, str) else bytes(url.toEncoded()).decode("ascii")
    assert text.startswith("file:///")
    return unquote_to_bytes(text.removeprefix("file://"))


def test_tiles_tooltips_and_urls_of_a_non_utf8_name(tmp_path, app_bundle, qtbot):
    folder = tmp_path / "photos" / BAD_FOLDER
    first, _ = make_photos(folder, 2, seed=3)
    bad = str(folder / BAD_FILE)
    shutil.move(first, bad)
    plain = str(make_photos(tmp_path / "photos" / "plain", 1, seed=4)[0])
    with Library.open(tmp_path / "lib", bundle=app_bundle) as lib:
        lib.index([tmp_path / "photos"])
        res = lib.search("anything", k=10)
        row = [h.path for h in res.hits].index(bad)
        assert lib.thumbnail(res.hits[row].photo_id).is_file()

    m = ResultsModel()
    m.set_result(res)
    i = m.index(row)
    assert i.data() == "bad\\xff\\xfename.jpg"
    assert i.data(Qt.ItemDataRole.ToolTipRole).startswith(str(tmp_path / "photos" / "dossier \\xe9t\\xe9" / i.data()))
    assert named(m.mimeData([i]).urls()[0]) == os.fsencode(bad)  # dragged out: the exact file
    other = m.index([h.path for h in res.hits].index(plain))
    assert m.mimeData([other]).urls()[0] == QUrl.fromLocalFile(plain)  # a plain name as before

    plan = reveal_plan(bad, "linux", True)  # FileManager1.ShowItems
    assert named(plan.target) == os.fsencode(bad)
    plan = reveal_plan(bad, "linux", False)  # open the folder
    assert named(file_url(plan.target)) == os.fsencode(str(folder))

    view = ResultsView(96)
    qtbot.addWidget(view)
    view.setModel(m)
    view.resize(400, 300)
    assert not view.grab().isNull()  # paints the tiles (a Qt warning would fail the test)
