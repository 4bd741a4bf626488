import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from utils.plotting import plot_confusion_matrix, plot_history, show_images  # noqa: E402
from utils.training import History  # noqa: E402


def test_plot_history_draws_train_and_val_with_labels():
    history = History([{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5 + e / 10,
                        "val_accuracy": 0.4 + e / 10} for e in (1, 2, 3)])
    axes = plot_history({"run A": history, "run B": history})
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["run A train", "run A val", "run B train", "run B val"]
    assert list(axes[0].get_lines()[1].get_ydata()) == history["val_loss"]


def test_show_images_grey_and_colour():
    fig = show_images(torch.zeros(10, 28, 28, dtype=torch.uint8), titles=[str(i) for i in range(10)], ncols=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(shown) == 10 and shown[3].get_title() == "3"
    fig = show_images(torch.rand(3, 3, 8, 8))
    assert [ax.images[0].get_array().shape for ax in fig.axes if ax.images] == [(8, 8, 3)] * 3


def test_confusion_matrix_plot_shows_counts():
    ax = plot_confusion_matrix(torch.tensor([[5, 1], [0, 7]]), ["cat", "dog"])
    assert [t.get_text() for t in ax.texts] == ["5", "1", "0", "7"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_plot_contours_labels_and_levels():
    from utils.plotting import plot_contours

    ax = plot_contours(lambda a, b: a ** 2 + 4 * b ** 2, (-1, 1), (-1, 1), levels=7)
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
    assert len(ax.collections) >= 1
