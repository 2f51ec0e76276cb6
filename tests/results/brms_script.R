# Posterior of the toenail random-intercept logistic model by brms (Stan's NUTS),
# with the priors that tests/bayes/test_brms_reference.py gives fit_bayes:
#   fixed effects (original scale)       normal(0, 5)
#   intercept at the predictors' means   normal(0, 10)
#   patientID intercept SD               half student_t(3, 0, 2.5)
# Writes tests/results/brms_toenail_ri.json: posterior mean, SD and Monte Carlo
# standard error (posterior::mcse_mean) of every parameter, the bulk ESS and the
# wall-clock time of the whole run (compilation included).
# Run from the repository root:  Rscript tests/results/brms_script.R
suppressPackageStartupMessages({
  library(brms)
  library(posterior)
  library(jsonlite)
})
# Debian's BH package uses the system's Boost headers
if (!dir.exists(file.path(system.file(package = "BH"), "include")) &&
    dir.exists("/usr/include/boost")) {
  rstan::rstan_options(boost_lib = "/usr/include")
}
df <- read.csv("tests/data/real/toenail.csv")
df$treatment <- factor(df$treatment, levels = c("itraconazole", "terbinafine"))
df$patientID <- factor(df$patientID)
priors <- c(prior(normal(0, 5), class = "b"),
            prior(normal(0, 10), class = "Intercept"),
            prior(student_t(3, 0, 2.5), class = "sd"))
t0 <- Sys.time()
fit <- brm(outcome_bin ~ treatment * time + (1 | patientID), data = df,
           family = bernoulli(link = "logit"), prior = priors,
           chains = 4, iter = 6000, warmup = 1000, cores = 2, seed = 20240601,
           refresh = 0)
elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
dr <- as_draws_df(fit)
dr$var_patientID <- dr$sd_patientID__Intercept^2
map <- c("b_Intercept" = "Intercept",
         "b_treatmentterbinafine" = "treatment[T.terbinafine]",
         "b_time" = "time",
         "b_treatmentterbinafine:time" = "treatment[T.terbinafine]:time",
         "var_patientID" = "patientID Intercept Var",
         "sd_patientID__Intercept" = "patientID Intercept SD")
out <- list()
for (nm in names(map)) {
  x <- extract_variable(dr, nm)
  xm <- extract_variable_matrix(dr, nm)
  out[[map[[nm]]]] <- list(mean = mean(x), sd = sd(x), mcse_mean = mcse_mean(xm),
                           ess_bulk = ess_bulk(xm), rhat = rhat(xm))
}
res <- list(model = "outcome_bin ~ treatment * time + (1 | patientID), bernoulli logit",
            priors = c(b = "normal(0, 5)", Intercept = "normal(0, 10) (centred predictors)",
                       sd = "student_t(3, 0, 2.5), lower bound 0"),
            chains = 4, iter = 6000, warmup = 1000,
            brms_version = as.character(packageVersion("brms")),
            rstan_version = as.character(packageVersion("rstan")),
            seconds_total = elapsed, params = out)
write_json(res, "tests/results/brms_toenail_ri.json", auto_unbox = TRUE, digits = 10,
           pretty = TRUE)
cat("done in", elapsed, "s\n")
