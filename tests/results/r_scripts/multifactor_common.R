# Set-up shared by fit_multifactor.R, profile_ci.R and performance_icc_r2.R.
# Sourced by those scripts, which are run from the repo root, e.g.
#   Rscript tests/results/r_scripts/fit_multifactor.R
#
# Works from tests/ so that the relative paths of common.R ("data/...",
# "results/...") point at tests/data and tests/results. The result extraction
# is the one of fit_lme4.R / fit_glmmtmb.R (their function definitions are
# loaded from those files; their fit lists are not run), so the new JSON files
# have the same fields as the existing ones.
if (!dir.exists(file.path("tests", "results", "r_scripts")))
  stop("run from the repository root: Rscript tests/results/r_scripts/<script>.R")
setwd("tests")
source(file.path("results", "r_scripts", "common.R"))
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
})

## evaluate only the top-level `name <- function(...)` definitions of a script
load_defs <- function(path, env = globalenv()) {
  for (e in parse(path)) {
    if (is.call(e) && identical(e[[1]], as.name("<-")) && is.call(e[[3]]) &&
        identical(e[[3]][[1]], as.name("function")))
      eval(e, env)
  }
}
load_defs(file.path("results", "r_scripts", "fit_lme4.R"))
load_defs(file.path("results", "r_scripts", "fit_glmmtmb.R"))

## versions: the existing `environment` block plus performance/insight, and a
## flat `versions` summary
pkg_version <- function(p) tryCatch(as.character(packageVersion(p)), error = function(e) NA_character_)
ENV_INFO$packages <- c(ENV_INFO$packages,
                       list(performance = pkg_version("performance"), insight = pkg_version("insight")))
VERSIONS <- c(list(R = paste(R.version$major, R.version$minor, sep = ".")),
              ENV_INFO$packages[c("lme4", "glmmTMB", "TMB", "Matrix", "performance", "insight")])

write_result <- function(res, id) {
  if (is.null(res$versions)) res$versions <- VERSIONS
  path <- file.path(RESULTS_DIR, paste0(id, ".json"))
  txt <- toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                pretty = TRUE, force = TRUE)
  writeLines(txt, path)
  invisible(path)
}

## data: the real sets as in common.R (factor levels from factor_levels.json);
## the simulated multi-factor sets with their id columns as factors in numeric
## order; cbpp gains obs = row number (observation-level random effect)
load_dataset <- function(name) {
  if (name == "sim_nested" || name == "sim_crossed") {
    path <- file.path("data", "sim", paste0(name, ".csv"))
    df <- read.csv(path)
    ids <- if (name == "sim_nested") c("clinic", "patient") else c("subj", "item")
    for (v in ids) df[[v]] <- factor(df[[v]], levels = sort(unique(df[[v]])))
    attr(df, "data_file") <- path
    return(df)
  }
  if (startsWith(name, "sim_")) return(load_sim(name))
  df <- load_real(name)
  if (name == "cbpp") df$obs <- factor(seq_len(nrow(df)))
  df
}

## glmer / glmmTMB specs (fields as in fit_lme4.R / fit_glmmtmb.R)
mf_glmer_spec <- function(id, dataset, model, formula, family, notes = NULL)
  glmer_spec(id, dataset, model, formula, family, 1L, notes = notes)
mf_tmb_spec <- function(id, dataset, model, formula, family, notes = NULL)
  tmb_spec(id, dataset, model, formula, family, notes = notes)

## glmer fitted with the data frame in a global variable and the formula written
## into the call, so that update() inside confint()/profile() and
## insight::null_model() can re-evaluate the call
## (control: NULL for glmerControl() defaults, else a glmerControl() call as text)
glmer_global <- function(formula, family, data, nAGQ = 1L, control = NULL) {
  assign(".ref_data", data, envir = globalenv())
  cl <- call("glmer", as.formula(formula, env = globalenv()), data = as.name(".ref_data"),
             family = as.name(family), nAGQ = nAGQ)
  if (!is.null(control)) cl$control <- str2lang(control)
  eval(cl, globalenv())
}
