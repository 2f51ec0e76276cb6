# Export lme4's grouseticks and Arabidopsis data to CSV and fit the Poisson
# models with two crossed/nested grouping factors by glmer (Laplace), storing
# log-likelihood, fixed effects, standard errors and variance components.
#
#   cd tests && Rscript results/r_scripts/fit_multifactor_speed.R
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
dir.create(file.path("data", "real"), recursive = TRUE, showWarnings = FALSE)

data(grouseticks, package = "lme4")
g <- grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")]
write.csv(g, file.path("data", "real", "grouseticks.csv"), row.names = FALSE)
data(Arabidopsis, package = "lme4")
write.csv(Arabidopsis, file.path("data", "real", "Arabidopsis.csv"), row.names = FALSE)

fit_one <- function(id, dataset, formula, data) {
  t0 <- Sys.time()
  m <- glmer(as.formula(formula), data = data, family = poisson, nAGQ = 1L)
  el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  cf <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  out <- list(
    id = id, dataset = dataset, data_file = sprintf("data/real/%s.csv", dataset),
    engine = "lme4::glmer", engine_version = as.character(packageVersion("lme4")),
    formula = formula, family = "poisson", link = "log", method = "Laplace", nAGQ = 1L,
    control = "glmerControl() defaults (bobyqa + Nelder_Mead)",
    warnings = as.list(m@optinfo$conv$lme4$messages),
    logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), nobs = nobs(m),
    fixed_effects = lapply(seq_len(nrow(cf)), function(i)
      list(term = rownames(cf)[i], estimate = cf[i, 1], se = cf[i, 2])),
    variance_components = lapply(seq_len(nrow(vc)), function(i)
      list(group = vc$grp[i], var = vc$vcov[i], sd = vc$sdcor[i])),
    elapsed_s = el)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path("results", sprintf("%s.json", id)))
}
fit_one("grouseticks__glmer_pois_brood_location", "grouseticks",
        "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", grouseticks)
Arabidopsis$rack <- as.numeric(Arabidopsis$rack)
fit_one("Arabidopsis__glmer_pois_popu_gen", "Arabidopsis",
        "total.fruits ~ nutrient + amd + rack + status + (1 | popu) + (1 | gen)", Arabidopsis)
# the same model with centred height (cHEIGHT = HEIGHT - mean(HEIGHT)): the same
# likelihood, which glmer maximises without the convergence warnings of the
# uncentred fit
fit_one("grouseticks__glmer_pois_brood_location_centred", "grouseticks",
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", grouseticks)
