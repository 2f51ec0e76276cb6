"""
Inference on a fitted model: likelihood-ratio tests and model comparison, profile
likelihood, the parametric bootstrap, and the results methods that reach them.
Each function takes the results object it is handed; a refit goes through
``res.model``.
"""
