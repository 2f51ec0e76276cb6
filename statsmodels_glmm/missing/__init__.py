"""
Missing data: what is missing, covariate imputation, and sensitivity to data missing not at random.

- :mod:`.report`: :func:`~.report.missing_report`, rows dropped per column, patterns of
  observed waves (complete, monotone dropout, intermittent), dropout by wave and arm;
- :mod:`.mice`: :func:`~.mice.mice`, multiple imputation of missing covariates
  (substantive-model-compatible by default, or predictive mean matching with statsmodels'
  ``MICEData`` and person means), pooled by Rubin's rules;
- :mod:`.smc`: the substantive-model-compatible sampler (rejection sampling under the GLMM);
- :mod:`.rubin`: Rubin's rules with Barnard-Rubin degrees of freedom
  (:func:`~.rubin.rubin_pool`, :class:`~.rubin.PooledResults`);
- :mod:`.tipping`: :func:`~.tipping.tipping_point`, delta-adjusted multiple imputation
  of missing outcomes;
- :mod:`.pattern`: :func:`~.pattern.pattern_mixture`, estimates averaged over dropout
  patterns;
- :mod:`.imputation`: drawing parameters, random effects and outcomes from a fit, and
  refitting to completed data through the model's own class.

The functions take a fitted results object or a model builder; they import neither the
model nor the results classes.
"""
