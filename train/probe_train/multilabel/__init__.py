"""Multi-label classification: several labels per text (or none), one logistic regression and one threshold per label.

- `data`: read a label cell with several labels, a JSON list, or one 0/1 column per label; detect multi-label data.
- `fit`: per-label logistic regressions on one embedding matrix, C by cross-validation, out-of-fold probabilities.
- `thresholds`: a threshold per label, chosen on out-of-fold probabilities for a target (F1, precision, recall).
- `metrics`: micro/macro/weighted F1, per-label figures, subset accuracy, Hamming loss.
"""
