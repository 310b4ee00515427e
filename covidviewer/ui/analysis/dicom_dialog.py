"""The "Save as DICOM Secondary Capture + SR" dialog: folder, file name, anonymise."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

ANONYMISE_TEXT = "Anonymise (DICOM PS3.15 basic profile: patient details removed, new UIDs)"


class DicomExportDialog(QDialog):
    """Asks where the two DICOM files go: a folder (Browse... opens a folder chooser), a name
    (``NAME_SC.dcm`` and ``NAME_SR.dcm`` are written) and whether to anonymise them.

    ``folder()``, ``stem()`` and ``anonymised()`` read the choices after ``exec()`` accepted.
    """

    def __init__(self, parent: QWidget | None, folder: str, stem: str, anonymised: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save as DICOM Secondary Capture + SR")
        self.setObjectName("dicomExportDialog")
        self.folder_edit = QLineEdit(folder)
        self.folder_edit.setObjectName("dicomFolder")
        browse = QPushButton("Browse\u2026")
        browse.setObjectName("dicomBrowse")
        browse.clicked.connect(self.browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.name_edit = QLineEdit(stem)
        self.name_edit.setObjectName("dicomName")
        self.anonymise_box = QCheckBox(ANONYMISE_TEXT)
        self.anonymise_box.setObjectName("dicomAnonymise")
        self.anonymise_box.setChecked(anonymised)
        note = QLabel(
            "Writes NAME_SC.dcm (the view with the map, captions and the research notice) and NAME_SR.dcm "
            "(model, version, weights, scores, measurements), both in the source study. Never into the "
            "folder of the source images."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        for edit in (self.folder_edit, self.name_edit):
            edit.textChanged.connect(self._update_save)
        form = QFormLayout(self)
        form.addRow("Folder", folder_row)
        form.addRow("Name", self.name_edit)
        form.addRow(self.anonymise_box)
        form.addRow(note)
        form.addRow(buttons)
        self._update_save()

    def browse(self) -> None:
        """Choose the folder with the platform's folder dialog."""
        chosen = QFileDialog.getExistingDirectory(self, "Folder for the DICOM files", self.folder_edit.text())
        if chosen:
            self.folder_edit.setText(chosen)

    def folder(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def stem(self) -> str:
        name = self.name_edit.text().strip()
        return name[:-4] if name.lower().endswith(".dcm") else name

    def anonymised(self) -> bool:
        return self.anonymise_box.isChecked()

    def _update_save(self) -> None:
        self.save_button.setEnabled(bool(self.folder_edit.text().strip() and self.stem()))
