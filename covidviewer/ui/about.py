"""Help > About: version, the research-use notice and a card per installed weight set.

The cards come from the weights' sidecars (covidviewer.model_cards), so opening the dialog never
imports torch.
"""
from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from covidviewer import RESEARCH_NOTICE, __version__
from covidviewer.consensus_record import consensus_lines, read_consensus
from covidviewer.model_cards import ModelCard, ablation_family, ablation_labels, installed_cards, weights_root
from covidviewer.ui.icons import app_icon


def about_html(cards: list[ModelCard] | None = None) -> str:
    """The dialog's text; ``cards`` default to the installed weight sets."""
    cards = installed_cards() if cards is None else cards
    parts = [
        f"<h3>CovidViewer {escape(__version__)}</h3>",
        "<p>Offline viewer for chest radiographs and CT series with research COVID-19 classifiers.</p>",
        f"<p><b>{escape(RESEARCH_NOTICE)}.</b> The classifiers and attention maps are research results from "
        "published papers; they are not a medical device and must not guide patient care.</p>",
        f"<h4>Installed models ({len(cards)})</h4>",
    ]
    if not cards:
        parts.append(f"<p>No trained weights are installed in {escape(str(weights_root()))}.</p>")
    for card in cards:
        parts.append(_card_html(card, cards))
    consensus = read_consensus()
    if consensus is not None:  # the mean of two models' p(COVID-19), shown above their cards after an Analyse
        parts.append("<p><b>Consensus</b></p><ul>" + "".join(f"<li>{escape(line)}</li>" for line in consensus_lines(consensus)) + "</ul>")
    parts.append(
        "<p>Models not listed have no trained weights here (DARNet, for one, needs training on your own "
        "labelled CT volumes: <code>python -m trainer fit darnet --data LABELS.csv --out runs/darnet</code>).</p>"
    )
    return "\n".join(parts)


def _card_html(card: ModelCard, cards: list[ModelCard]) -> str:
    rows = [
        ("Version", card.version),
        ("Weights SHA-256", f"<code>{escape(card.sha256)}</code>"),
        ("Classes", ", ".join(card.classes)),
        ("Input", " x ".join(str(v) for v in card.input_size) + " px" if card.input_size else ""),
        ("Parameters", f"{card.parameters / 1e6:.2f} M" if card.parameters else ""),
        ("Trained on", card.trained_on),
        ("Validation (95% CI)", card.validation),
        ("The paper reported", card.paper_reported + " (on its own data)" if card.paper_reported else ""),
        ("Lung attention", card.lung_attention),
        ("Calibration", card.calibration),
        ("Shortcut audit", card.audit),
        ("Style stress test", card.style_stress),
        ("WITHDRAWN", card.withdrawn),
        ("Exported", card.created),
    ]
    body = "".join(
        f"<tr><td><b>{escape(k)}</b></td><td>{v if k == 'Weights SHA-256' else escape(v)}</td></tr>" for k, v in rows if v
    )
    html = f"<p><b>{escape(card.name)}</b></p><table cellspacing='2'>{body}</table>"
    html += _ablation_table_html(card, cards)
    if card.biases:
        html += "<p><i>Known biases:</i></p><ul>" + "".join(f"<li>{escape(b)}</li>" for b in card.biases) + "</ul>"
    if card.deviations:
        html += "<p><i>Deviations from the paper:</i></p><ul>" + "".join(f"<li>{escape(d)}</li>" for d in card.deviations) + "</ul>"
    return html


def _ablation_table_html(card: ModelCard, cards: list[ModelCard]) -> str:
    """The family's ablation table (the paper's model and each installed ablation, validation figures
    with 95% intervals: the rows of ``python -m trainer ablation-table``), on every member's card."""
    family = ablation_family(card, cards)
    if not family:
        return ""
    labels = ablation_labels() + ["trained"]
    head = "<tr><th>model</th>" + "".join(f"<th>{escape(label)}</th>" for label in labels) + "</tr>"
    rows = "".join(
        f"<tr><td>{'<b>' if member is card else ''}{escape(member.name)}{'</b>' if member is card else ''}</td>"
        + "".join(f"<td>{escape(member.ablation_row.get(label, ''))}</td>" for label in labels) + "</tr>"
        for member in family
    )
    return (f"<p><i>Ablations of {escape(family[0].name)} (validation, 95% CI):</i></p>"
            f"<table cellspacing='2' border='1'>{head}{rows}</table>")


class AboutDialog(QDialog):
    """Scrollable About text (version, notice, model cards) with a Close button."""

    def __init__(self, parent: QWidget | None = None, cards: list[ModelCard] | None = None):
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About CovidViewer")
        self.setWindowIcon(app_icon())
        self.text = QTextBrowser()
        self.text.setObjectName("aboutText")
        self.text.setOpenExternalLinks(False)
        self.text.setHtml(about_html(cards))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(720, 560)
