"""
Population-averaged answers: marginal predictions and coefficients (the random
effects integrated out), and the comparison with statsmodels' GEE.
"""
