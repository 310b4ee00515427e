"""Labelled data for training: labels.csv rows, patient-level splits, datasets, augmentation, lung masks."""
