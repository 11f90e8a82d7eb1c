"""tools/demo_model/attribute_errors.py: per-attribute agreement of the top 5 with the
target, on rankings written the way ``eval --dump-rankings`` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.world.errors import WorldError
from engine.world.layout import read_world
from tests.world.conftest import demo_model_tool


def _tool():
    return demo_model_tool("attribute_errors")


@pytest.fixture
def world(tool_world):
    return tool_world


def _write(out: Path, world_root, pick) -> None:
    """Rankings whose top 5 are pick(target garment, corpus garments) for every query."""
    w = read_world(world_root)
    out.mkdir(exist_ok=True)
    for category in w.meta["categories"]:
        corpus = w.splits[(category, "test")]
        rows = [pick(w.attributes[t.target], corpus, w.attributes) for t in w.triplets[(category, "test")]]
        (out / f"{category}.json").write_text(json.dumps(rows))


def test_a_perfect_ranking_agrees_everywhere_and_a_wrong_neckline_is_seen(tmp_path, world):
    tool = _tool()
    _write(tmp_path / "right", world, lambda g, corpus, attrs: [n for n in corpus if attrs[n] == g][:1] * 5)
    out = tool.attribute_errors(world, tmp_path / "right")
    assert out["attributes"] and all(r["agree"] == 100.0 for r in out["attributes"].values())
    assert all(r["p@k"] == 100.0 for r in out["p@k_by_pattern"].values())

    def other_neck(g, corpus, attrs):
        if g.neckline is None:
            return [n for n in corpus if attrs[n] == g][:1] * 5
        flipped = g.replace(neckline="round" if g.neckline == "v-neck" else "v-neck")
        same_rest = [n for n in corpus if attrs[n] == flipped]
        return (same_rest or [n for n in corpus if attrs[n].neckline == flipped.neckline])[:1] * 5

    _write(tmp_path / "neck", world, other_neck)
    out = tool.attribute_errors(world, tmp_path / "neck")
    necks = {k: r for k, r in out["attributes"].items() if k.startswith("neckline")}
    assert necks and all(r["agree"] == 0.0 for r in necks.values())
    assert out["neckline_by_pattern"] and all(r["agree"] == 0.0 for r in out["neckline_by_pattern"].values())


def test_rankings_that_do_not_fit_the_split_are_refused(tmp_path, world, capsys):
    tool = _tool()
    _write(tmp_path / "r", world, lambda g, corpus, attrs: corpus[:5])
    first = sorted((tmp_path / "r").glob("*.json"))[0]
    first.write_text(json.dumps(json.loads(first.read_text())[:-1]))
    with pytest.raises(WorldError, match="rankings for"):
        tool.attribute_errors(world, tmp_path / "r")
    assert tool.main([str(world), str(tmp_path / "missing")]) == 2
    assert "no rankings" in capsys.readouterr().err


def test_agreement_by_visibility_puts_the_misses_where_the_attribute_is_faint(tmp_path, world, capsys):
    """With a visibility table, a model that misses the neckline only where the target shows it
    in few pixels has its misses in the lowest quartile, and none in the highest."""
    tool = _tool()
    w = read_world(world)
    names = sorted(n for n, g in w.attributes.items() if g.neckline is not None)
    vis = {n: {"neckline": 5 + 3 * i} for i, n in enumerate(names)}  # distinct pixel counts
    kept = sorted(vis[t.target]["neckline"] for c in w.meta["categories"] for t in w.triplets[(c, "test")]
                  if w.attributes[t.target].neckline is not None
                  and "neckline" not in {s.attribute for cap in t.captions for s in cap.statements
                                         if s.relation != "same"})
    assert len(kept) >= 4
    faint = kept[len(kept) // 4]  # the first count of the second quartile
    out_dir = tmp_path / "r"
    out_dir.mkdir()
    for category in w.meta["categories"]:
        corpus, rows = w.splits[(category, "test")], []
        for t in w.triplets[(category, "test")]:
            g = w.attributes[t.target]
            if g.neckline is not None and vis[t.target]["neckline"] < faint:
                g = g.replace(neckline="round" if g.neckline == "v-neck" else "v-neck")
            pick = [n for n in corpus if w.attributes[n].neckline == g.neckline] if g.neckline else corpus
            rows.append(pick[:1] * 5)
        (out_dir / f"{category}.json").write_text(json.dumps(rows))
    (tmp_path / "vis.json").write_text(json.dumps({"per_image": vis}))
    assert tool.main([str(world), str(out_dir), "--visibility", str(tmp_path / "vis.json"),
                      "--json", str(tmp_path / "out.json")]) == 0
    rows = json.loads((tmp_path / "out.json").read_text())["kept_by_visibility"]
    q = [r for name, r in rows.items() if name.startswith("neckline q")]
    assert len(q) == 4 and sum(r["queries"] for r in q) == len(kept)
    assert q[0]["agree"] == 0.0 and q[3]["agree"] == 100.0
    assert "kept attribute by the input pixels" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert tool.main([str(world), str(out_dir), "--visibility", str(tmp_path / "bad.json")]) == 2
    assert "is not attribute_visibility.py --json output" in capsys.readouterr().err
