"""Custom actions of the TPR assistant; `actions.tpr` is the pure-pandas engine."""
