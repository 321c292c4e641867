"""A run's figures (nnexp/training/run_figures.py): which figure is drawn from which file, under which name
and title. The drawing itself is replaced by a recorder (tests/figures test the drawings)."""

from types import SimpleNamespace

import numpy as np
import pytest

from nnexp.figures import network_images, run_plots
from nnexp.nn.build import build_network, mlp
from nnexp.training.run_figures import run_figures, write_network_figures


@pytest.fixture
def drawn(monkeypatch):
    """[(function name, the table or array given, path)] of every drawing asked for."""
    calls = []

    def recorder(name):
        def draw(what, path, *args, **kwargs):
            calls.append((name, what, path, args, kwargs))
            return path
        return draw

    for module, names in ((run_plots, ("loss_per_batch", "loss_per_epoch", "confusion", "per_label_errors")),
                          (network_images, ("filter_grid", "feature_map_grid"))):
        for name in names:
            monkeypatch.setattr(module, name, recorder(name))
    return calls


def write_tables(run_dir, epochs=2):
    run_dir.mkdir(exist_ok=True)
    (run_dir / "batches.csv").write_text("epoch,batch,samples,train_loss\n1,1,10,0.5\n")
    (run_dir / "history.csv").write_text("epoch,test_loss\n" + "".join(f"{e},0.{e}\n" for e in range(1, epochs + 1)))
    (run_dir / "confusion.csv").write_text("label,name,pred_0\n0,zero,3\n")
    (run_dir / "per_label.csv").write_text("label,name,count,errors\n0,zero,3,0\n")


def test_every_table_of_a_run_is_drawn_under_its_name_and_title(tmp_path, drawn):
    write_tables(tmp_path)
    (tmp_path / "filters.png").write_bytes(b"filters")
    found = run_figures(tmp_path)
    assert found == [("Training loss per batch", tmp_path / "loss_per_batch.png"),
                     ("Loss per epoch", tmp_path / "loss_per_epoch.png"),
                     ("Confusion matrix", tmp_path / "confusion.png"),
                     ("Errors per label", tmp_path / "per_label.png"),
                     ("First-layer filters", tmp_path / "filters.png")]
    assert [name for name, *_ in drawn] == ["loss_per_batch", "loss_per_epoch", "confusion", "per_label_errors"]
    assert drawn[0][1]["train_loss"].tolist() == [0.5] and drawn[1][1]["epoch"].tolist() == [1, 2]
    assert drawn[2][1]["pred_0"].tolist() == [3] and drawn[3][1]["count"].tolist() == [3]
    assert (tmp_path / "filters.png").read_bytes() == b"filters"


def test_figures_go_to_another_directory_with_a_prefix_and_the_networks_are_copied(tmp_path, drawn):
    run_dir, out = tmp_path / "run", tmp_path / "report"
    write_tables(run_dir)
    out.mkdir()
    for name in ("filters.png", "feature_maps.png"):
        (run_dir / name).write_bytes(name.encode())
    found = run_figures(str(run_dir), out_dir=str(out), prefix="best_")
    assert [path for _, path in found] == [out / f"best_{name}" for name in (
        "loss_per_batch.png", "loss_per_epoch.png", "confusion.png", "per_label.png", "filters.png",
        "feature_maps.png")]
    assert found[-1][0] == "Feature maps of one test image"
    assert (out / "best_filters.png").read_bytes() == b"filters.png"
    assert (out / "best_feature_maps.png").read_bytes() == b"feature_maps.png"


def test_missing_empty_or_unreadable_tables_and_a_single_epoch_are_not_drawn(tmp_path, drawn, caplog):
    write_tables(tmp_path, epochs=1)
    (tmp_path / "confusion.csv").write_text("")                       # empty: unreadable
    (tmp_path / "per_label.csv").write_text("label,name,count,errors\n")  # a header alone: nothing to draw
    (tmp_path / "batches.csv").write_bytes(b'"unclosed\n')            # pandas cannot parse it
    assert run_figures(tmp_path) == []
    assert drawn == []
    assert [r.getMessage() for r in caplog.records] == [f"skipping unreadable {tmp_path / 'batches.csv'}",
                                                        f"skipping unreadable {tmp_path / 'confusion.csv'}"]
    assert run_figures(tmp_path / "nothing") == []


def test_a_network_with_convolutions_draws_its_filters_and_the_maps_of_the_first_test_image(tmp_path, drawn):
    layers = [{"type": "conv", "filters": 2, "kernel": 3, "pad": 1}, {"type": "flatten"},
              {"type": "dense", "units": None}]
    model = {"name": "cnn", "layers": layers, "output_activation": "softmax", "loss": "cross_entropy", "bias": True,
             "init": "he", "uniform_limit": 0.5}
    network = build_network(model, (1, 4, 4), 3, dtype=np.float64)
    x_test = np.random.default_rng(0).random((2, 16))
    predicted = int(network.predict(x_test[:1]).argmax())
    data = SimpleNamespace(x_test=x_test, labels_test=np.array([(predicted + 1) % 3, predicted]),
                           class_names=("zero", "one", "two"))
    paths = write_network_figures(tmp_path, network, data)
    assert paths == [tmp_path / "filters.png", tmp_path / "feature_maps.png"]
    (_, filters, _, _, filters_kwargs), (_, maps, _, _, maps_kwargs) = drawn
    np.testing.assert_array_equal(filters, network.first_conv_filters())
    assert filters_kwargs == {"title": f"First-layer filters ({network.names[0]})"}
    assert [name for name, _ in maps] == [name for name, _ in network.feature_maps(x_test[0])]
    np.testing.assert_array_equal(maps[0][1], x_test[0].reshape(1, 4, 4))
    names = data.class_names
    assert maps_kwargs == {"title": f"Feature maps of test image 1 (label {names[(predicted + 1) % 3]}, predicted "
                                    f"{names[predicted]})", "class_names": names}
    assert write_network_figures(tmp_path, mlp([16, 3]), data) == [] and len(drawn) == 2
