# Cluster-robust (sandwich) covariances of glmmTMB fits, for tests/inference/test_sandwich.py.
#
# Run from tests/ (paths data/ and results/ are relative to it):
#   Rscript results/r_scripts/sandwich_glmmtmb.R
#
# glmmTMB >= 1.1.12 has sandwich(fit) / vcov(fit, sandwich = TRUE): bread = vcov(fit, full = TRUE)
# (the inverse Hessian of the marginal log-likelihood, sdr$cov.fixed), meat = crossprod of
# the cluster scores, each cluster's score being the gradient of the log-likelihood with the
# weights of all other clusters set to zero; no small-sample factor.  glmmTMB 1.1.5 (the
# version here) has no sandwich method, so this script computes exactly that, with the same
# zero-weight construction on the fitted TMB object.
suppressPackageStartupMessages({
  library(glmmTMB)
  library(jsonlite)
})

LEVELS <- fromJSON(file.path("data", "factor_levels.json"), simplifyVector = TRUE)

load_real <- function(name) {
  path <- file.path("data", "real", paste0(name, ".csv"))
  lv <- LEVELS[[name]]
  hdr <- names(read.csv(path, nrows = 1, check.names = FALSE))
  cc <- ifelse(hdr %in% names(lv), "character", NA)
  df <- read.csv(path, colClasses = cc, check.names = FALSE, na.strings = "")
  for (v in names(lv)) df[[v]] <- factor(df[[v]], levels = lv[[v]]$levels)
  df
}

load_sim <- function(name) read.csv(file.path("data", "sim", paste0(name, ".csv")))

# score contributions of the clusters: minus the gradient of each cluster's negative
# log-likelihood (other clusters' weights zero), at the fitted parameters
cluster_scores <- function(fit, cluster) {
  obj <- fit$obj
  par <- fit$fit$par
  w0 <- obj$env$data$weights
  on.exit({
    obj$env$data$weights <- w0
    obj$retape(set.defaults = FALSE)
  })
  rows <- lapply(levels(cluster), function(k) {
    obj$env$data$weights <- ifelse(cluster == k, w0, 0)
    obj$retape(set.defaults = FALSE)
    list(nll = obj$fn(par), score = -obj$gr(par))
  })
  S <- do.call(rbind, lapply(rows, `[[`, "score"))
  colnames(S) <- names(par)
  list(S = S, nll_sum = sum(sapply(rows, `[[`, "nll")))
}

run <- function(id, dataset, formula, family, cluster_fun, cluster_desc) {
  d <- if (startsWith(dataset, "sim_")) load_sim(dataset) else load_real(dataset)
  fit <- glmmTMB(as.formula(formula), data = d, family = family)
  cluster <- factor(cluster_fun(d))
  sc <- cluster_scores(fit, cluster)
  bread <- fit$sdr$cov.fixed
  meat <- crossprod(sc$S)
  V <- bread %*% meat %*% bread
  beta <- which(names(fit$fit$par) == "beta")
  fe_names <- names(fixef(fit)$cond)
  Vb <- V[beta, beta, drop = FALSE]
  dimnames(Vb) <- list(fe_names, fe_names)
  res <- list(
    id = id, dataset = dataset,
    model = paste("cluster-robust (sandwich) covariance, clusters:", cluster_desc),
    engine = "glmmTMB", engine_version = as.character(packageVersion("glmmTMB")),
    formula = formula, family = family$family, nobs = nobs(fit),
    cluster = cluster_desc, n_clusters = nlevels(cluster),
    fixed_effects = lapply(seq_along(fe_names), function(i) list(
      term = fe_names[i], estimate = unname(fixef(fit)$cond[i]),
      se_model = sqrt(bread[beta[i], beta[i]]), se_sandwich = sqrt(Vb[i, i]))),
    vcov_sandwich_fixed = list(rownames = I(fe_names), values = unname(Vb)),
    small_sample_factor = 1,
    logLik = as.numeric(logLik(fit)),
    check_sum_cluster_nll_minus_nll = sc$nll_sum - fit$fit$objective,
    max_abs_gradient_at_fit = max(abs(fit$obj$gr(fit$fit$par))),
    method = paste("bread = sdr$cov.fixed (all parameters), meat = crossprod of cluster",
                   "scores from zero weights outside the cluster, V = bread meat bread"),
    environment = list(R_version = R.version.string,
                       glmmTMB = as.character(packageVersion("glmmTMB")),
                       TMB = as.character(packageVersion("TMB"))),
    generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"))
  path <- file.path("results", paste0(id, ".json"))
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), path)
  cat(id, ": sandwich SE", signif(sqrt(diag(Vb)), 6), "\n")
}

run("toenail__tmb_ri_sandwich", "toenail", "outcome_bin ~ treatment * time + (1 | patientID)",
    binomial(), function(d) d$patientID, "patientID")
run("toenail__tmb_ri_sandwich_blocks", "toenail",
    "outcome_bin ~ treatment * time + (1 | patientID)", binomial(),
    function(d) as.integer(as.character(d$patientID)) %/% 10,
    "integer patientID %/% 10 (blocks of patients)")
run("epil__tmb_pois_ri_sandwich", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject)",
    poisson(), function(d) d$subject, "subject")
run("epil__tmb_pois_rs_sandwich", "epil", "y ~ lbase * trt + lage + Visit + (Visit | subject)",
    poisson(), function(d) d$subject, "subject")
run("epil__tmb_nbinom2_ri_sandwich", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject)",
    nbinom2(), function(d) d$subject, "subject")
run("sim_nested__tmb_poisson_ri_sandwich", "sim_nested",
    "ycount ~ time + treat + (1 | clinic/patient)", poisson(), function(d) d$clinic,
    "clinic (the outer of the nested factors)")
