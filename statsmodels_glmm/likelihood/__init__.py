"""
The likelihood engines: conditional modes by Newton's method, the Laplace and
adaptive Gauss-Hermite log-likelihoods with analytic gradients, the closed-form
fixed-effects Hessian, the sparse engine for several grouping factors, the thread
pool over chunks of groups, warm starts and starting values.
"""
