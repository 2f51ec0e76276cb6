# Reference fits with more than one grouping factor: crossed (VerbAgg,
# sim_crossed), nested (sim_nested) and an observation-level random effect
# (cbpp). lme4::glmer (Laplace) and glmmTMB (Laplace via TMB), default controls.
#
#   Rscript tests/results/r_scripts/fit_multifactor.R      (run from the repo root)
#
# Writes tests/results/<fit id>.json. REFS_ONLY=<regex> runs only matching ids;
# REFS_TIMING_RUNS (default 3) sets the number of timed runs.
source(file.path("tests", "results", "r_scripts", "multifactor_common.R"))

glmer_specs <- list(); tmb_specs <- list()
add_glmer <- function(...) glmer_specs[[length(glmer_specs) + 1]] <<- mf_glmer_spec(...)
add_tmb <- function(...) tmb_specs[[length(tmb_specs) + 1]] <<- mf_tmb_spec(...)

## VerbAgg: subjects crossed with items ---------------------------------------
f_va <- "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
note_va <- "response r2 is a factor (N, Y): R models P(r2 = Y); r2num in the CSV is the same outcome as 0/1"
add_glmer("VerbAgg__glmer_crossed", "VerbAgg", "binary, crossed (1|id) + (1|item), Laplace",
          f_va, "binomial", notes = note_va)
add_tmb("VerbAgg__tmb_crossed", "VerbAgg", "binary, crossed (1|id) + (1|item) (peer of glmer)",
        f_va, "binomial", notes = note_va)

## cbpp with an observation-level random effect ----------------------------------
f_ol <- "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)"
note_ol <- c("obs = factor(row number of the CSV), levels 1..56 in numeric order (observation-level random effect for overdispersion)",
             "logLik includes the log binomial coefficients log(choose(size, incidence))")
add_glmer("cbpp__glmer_olre", "cbpp", "binomial(trials), (1|herd) + (1|obs), Laplace",
          f_ol, "binomial", notes = note_ol)
add_tmb("cbpp__tmb_olre", "cbpp", "binomial(trials), (1|herd) + (1|obs) (peer of glmer)",
        f_ol, "binomial", notes = note_ol)

## sim_nested: patients nested in clinics -----------------------------------------
note_ne <- "patient is numbered 1..20 within each clinic; the patient grouping factor is clinic:patient (800 levels). clinic and patient are factors in numeric order."
f_nb <- "ybin ~ time + treat + (1 | clinic) + (1 + time | clinic:patient)"
f_nc <- "ycount ~ time + treat + (1 | clinic) + (1 + time | clinic:patient)"
add_glmer("sim_nested__glmer_binary", "sim_nested", "binary, nested clinic / patient (random intercept + slope), Laplace",
          f_nb, "binomial", notes = note_ne)
add_tmb("sim_nested__tmb_binary", "sim_nested", "binary, nested clinic / patient (random intercept + slope)",
        f_nb, "binomial", notes = note_ne)
add_glmer("sim_nested__glmer_poisson", "sim_nested", "Poisson, nested clinic / patient (random intercept + slope), Laplace",
          f_nc, "poisson", notes = note_ne)
## the random-slope binary fit lands on the boundary (correlation -> +1), so a
## random-intercept-only binary fit gives a well-determined nested target too
f_nbri <- "ybin ~ time + treat + (1 | clinic) + (1 | clinic:patient)"
add_glmer("sim_nested__glmer_binary_ri", "sim_nested", "binary, nested clinic / patient (random intercepts only), Laplace",
          f_nbri, "binomial", notes = note_ne)
add_tmb("sim_nested__tmb_binary_ri", "sim_nested", "binary, nested clinic / patient (random intercepts only)",
        f_nbri, "binomial", notes = note_ne)
add_tmb("sim_nested__tmb_poisson", "sim_nested", "Poisson, nested clinic / patient (random intercept + slope)",
        f_nc, "poisson", notes = note_ne)

## sim_crossed: subjects crossed with items -----------------------------------------
add_tmb("sim_crossed__tmb_poisson", "sim_crossed", "Poisson, crossed (1|subj) + (1|item)",
        "y ~ x + cond + (1 | subj) + (1 | item)", "poisson")
add_tmb("sim_crossed__tmb_nbinom2", "sim_crossed", "NB2, crossed (1|subj) + (1|item)",
        "ynb ~ x + cond + (1 | subj) + (1 | item)", "nbinom2",
        notes = "NB2: var = mu + mu^2/theta; dispersion.nb_theta = theta = sigma(fit); alpha = 1/theta is in dispersion.nb_alpha")

for (s in glmer_specs) run_glmer(s)
for (s in tmb_specs) {
  res <- run_tmb(s)
  # NB2: add alpha = 1/theta (with a delta-method SE from log(theta)) next to theta
  if (!is.null(res) && identical(res$status, "ok") && s$family == "nbinom2") {
    th <- res$dispersion$nb_theta
    res$dispersion$nb_alpha <- 1 / th
    res$dispersion$nb_alpha_se <- res$dispersion$log_sigma_se / th
    res$dispersion$nb_theta_se <- res$dispersion$log_sigma_se * th
    res$dispersion$se_note <- "nb_theta_se = theta * SE(log theta); nb_alpha_se = SE(log theta) / theta (delta method from the sdreport SE of log(theta))"
    write_result(res, s$id)
  }
}
cat("fit_multifactor.R done\n")
