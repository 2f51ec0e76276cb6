"""
Bayesian estimation of generalized linear mixed models by MCMC (NUTS).
"""
