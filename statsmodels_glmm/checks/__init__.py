"""
Checks of a fitted model: Laplace against adaptive quadrature, convergence,
rules of thumb, overdispersion and zero inflation, simulated residuals, R2 and
ICC, and the results methods that reach them.
"""
