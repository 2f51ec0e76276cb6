# lme4's nAGQ > 1 value depends on how tightly the conditional modes are solved
# (the quadrature nodes are centred at them).  Fit toenail with nAGQ = 7 at lme4's
# default PIRLS tolerance and with a much tighter one, and evaluate the deviance
# function at both estimates.  Run from the project root:
#   Rscript tests/results/r_scripts/toenail_agq_pwrss_tolerance.R
suppressMessages(library(lme4))
library(jsonlite)
lv <- fromJSON("tests/data/factor_levels.json")$toenail
d <- read.csv("tests/data/real/toenail.csv", colClasses = c(patientID = "character",
              treatment = "character", outcome = "character"))
d$patientID <- factor(d$patientID, levels = lv$patientID$levels)
d$treatment <- factor(d$treatment, levels = lv$treatment$levels)
f <- outcome_bin ~ treatment * time + (1 | patientID)
out <- list()
for (tol in c(1e-7, 1e-12)) {
  m <- glmer(f, data = d, family = binomial, nAGQ = 7,
             control = glmerControl(tolPwrss = tol))
  # Bernoulli: the saturated log-likelihood is 0, so logLik is the full value
  out[[sprintf("tolPwrss_%g", tol)]] <- list(
    tolPwrss = tol, logLik = as.numeric(logLik(m)), fixef = as.list(fixef(m)),
    var = as.numeric(VarCorr(m)$patientID))
}
write(toJSON(out, digits = 15, auto_unbox = TRUE, pretty = TRUE),
      "tests/results/toenail__glmer_ri_agq7_tolpwrss.json")
print(out)
