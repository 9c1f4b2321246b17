"""An edited guideline text reaches the answers without a restart, also in the action server's
process; a broken edit keeps the last good text."""

from __future__ import annotations

import os
import shutil
import time

from actions.base import content_store
from tests.conftest import ROOT


def test_actions_pick_up_edited_content_and_keep_the_last_good_one(tmp_path, monkeypatch):
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    monkeypatch.setenv("VEIVISER_CONTENT_DIR", str(content))
    first = content_store()
    assert content_store() is first  # unchanged files: the same loaded store

    document = content / "document.yml"
    text = document.read_text(encoding="utf-8")
    assert first.document.edition in text
    document.write_text(text.replace(first.document.edition, "revidert utgave 2027"), encoding="utf-8")
    later = time.time() + 5
    os.utime(document, (later, later))
    edited = content_store()
    assert edited.document.edition == "revidert utgave 2027"

    document.write_text("title: [ødelagt", encoding="utf-8")
    os.utime(document, (later + 5, later + 5))
    assert content_store().document.edition == "revidert utgave 2027"
