# performance::icc() and performance::r2_nakagawa() (Nakagawa, Johnson &
# Schielzeth 2017) on two random-intercept glmer fits (Laplace, glmerControl()
# defaults, the same models as toenail__glmer_ri_laplace and
# epil__glmer_pois_ri_laplace), with the variance components that
# insight::get_variance() uses. Each JSON holds the full glmer fit (fields as
# in fit_lme4.R) plus the performance/insight numbers.
#
#   Rscript tests/results/r_scripts/performance_icc_r2.R    (run from the repo root)
source(file.path("tests", "results", "r_scripts", "multifactor_common.R"))
suppressPackageStartupMessages(library(performance))

scalar <- function(x) num(unname(x))

perf_block <- function(fit) {
  ic <- capture(function() performance::icc(fit))
  r2 <- capture(function() performance::r2_nakagawa(fit))
  gv <- capture(function() insight::get_variance(fit))
  nm <- capture(function() insight::null_model(fit))
  for (x in list(ic, r2, gv, nm))
    if (inherits(x$value, "fit_error")) stop("performance/insight failed: ", x$value$msg)
  v <- gv$value
  null_int <- unname(fixef(nm$value)[1])
  out <- list(
    icc_adjusted = scalar(ic$value$ICC_adjusted),
    icc_unadjusted = scalar(ic$value$ICC_unadjusted),
    icc_conditional = scalar(ic$value$ICC_conditional),
    r2_marginal = scalar(r2$value$R2_marginal),
    r2_conditional = scalar(r2$value$R2_conditional),
    get_variance = list(
      var.fixed = scalar(v$var.fixed), var.random = scalar(v$var.random),
      var.residual = scalar(v$var.residual), var.distribution = scalar(v$var.distribution),
      var.dispersion = scalar(v$var.dispersion),
      var.intercept = as.list(setNames(num(v$var.intercept), names(v$var.intercept)))),
    null_model = list(
      formula = paste(deparse(formula(nm$value)), collapse = " "),
      intercept = num(null_int), mu = num(exp(null_int)),
      random_sd = num(attr(VarCorr(nm$value)[[1]], "stddev")),
      logLik = num(logLik(nm$value))),
    check_var_fixed_n_minus_1 = num(var(as.vector(getME(fit, "X") %*% fixef(fit)))),
    performance_warnings = chr(unique(c(ic$warnings, r2$warnings, gv$warnings, nm$warnings))),
    performance_messages = chr(unique(c(ic$messages, r2$messages, gv$messages, nm$messages))))
  out
}

extract_perf <- function(fit, data, spec) {
  out <- extract_glmer(fit, data, spec)
  out <- c(out, perf_block(fit))
  out$performance_definitions <- list(
    var.fixed = "var(X %*% beta) over the rows, R's var() with denominator n - 1 (check_var_fixed_n_minus_1 recomputes it)",
    var.random = "sum of the random-effect variances (random intercepts only here)",
    var.distribution = spec$var_distribution_def,
    var.dispersion = "0 for binomial and Poisson",
    var.residual = "var.distribution + var.dispersion",
    icc_adjusted = "var.random / (var.random + var.residual)",
    icc_unadjusted = "var.random / (var.fixed + var.random + var.residual) (performance also returns it as ICC_conditional)",
    r2_marginal = "var.fixed / (var.fixed + var.random + var.residual)",
    r2_conditional = "(var.fixed + var.random) / (var.fixed + var.random + var.residual)")
  # the same numbers at the exact-Laplace optimum (tight PIRLS tolerance)
  ft <- glmer_global(spec$formula, spec$family, data, control = "glmerControl(tolPwrss = 1e-12)")
  pt <- perf_block(ft)
  out$tight_tolerance <- c(list(
    control = "glmerControl(tolPwrss = 1e-12)", logLik = num(logLik(ft)),
    fixef = as.list(fixef(ft)),
    random_sd = num(attr(VarCorr(ft)[[1]], "stddev"))), pt[c(
      "icc_adjusted", "icc_unadjusted", "r2_marginal", "r2_conditional", "get_variance",
      "null_model", "performance_warnings")])
  out
}

perf_spec <- function(id, dataset, model, formula, family, vdef, notes) {
  s <- glmer_spec(id, dataset, model, formula, family, 1L, notes = notes)
  s$var_distribution_def <- vdef
  s$performance_calls <- "performance::icc(fit); performance::r2_nakagawa(fit); insight::get_variance(fit)"
  s
}

note_tt <- "tight_tolerance: the same quantities for a refit with glmerControl(tolPwrss = 1e-12), whose logLik is the exact Laplace optimum (lme4's default PIRLS tolerance stops slightly short)"
specs <- list(
  perf_spec("toenail__performance_icc_r2", "toenail", "binary RI, Laplace: ICC and Nakagawa R2",
            "outcome_bin ~ treatment * time + (1 | patientID)", "binomial",
            "pi^2 / 3 (logit link, observation-level variance of the latent logistic scale)",
            c("same model and control as toenail__glmer_ri_laplace", note_tt)),
  perf_spec("epil__performance_icc_r2", "epil", "Poisson RI, Laplace: ICC and Nakagawa R2",
            "y ~ lbase * trt + lage + V4 + (1 | subject)", "poisson",
            "log1p(1 / mu) (lognormal approximation), mu = exp(intercept of the null model y ~ 1 + (1 | subject) refitted by insight::null_model; null_model.mu)",
            c("same model and control as epil__glmer_pois_ri_laplace", note_tt,
              "performance warns that mu (about 5.1) is small for the lognormal approximation (performance_warnings)")))

for (s in specs) {
  local({
    fam <- s$family; f <- s$formula
    run_spec(s, function(d) glmer_global(f, fam, d), extract_perf)
  })
}
cat("performance_icc_r2.R done\n")
