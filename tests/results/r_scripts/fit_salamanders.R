# glmmTMB's Salamanders data (Price et al. 2016): export to CSV and fit the
# zero-inflated models with a rich zero-inflation formula,
#   count ~ spp * mined + (1 | site), ziformula = ~ spp * mined,
# Poisson and NB2 (Laplace via TMB, glmmTMBControl() defaults).
#
#   Rscript tests/results/r_scripts/fit_salamanders.R      (run from the repo root)
#
# 1. writes tests/data/real/Salamanders.csv with the CSV writer and round-trip
#    check of export_datasets.R, and sets the "Salamanders" entry of
#    tests/data/factor_levels.json (other entries are kept as they are);
# 2. writes tests/results/Salamanders__tmb_zip_rich.json and
#    Salamanders__tmb_zinb2_rich.json with the fields of fit_glmmtmb.R;
#    timing: median of REFS_TIMING_RUNS (default here 5) fit calls.
if (!nzchar(Sys.getenv("REFS_TIMING_RUNS"))) Sys.setenv(REFS_TIMING_RUNS = "5")
# common.R records the versions of packages some of which (ordinal, HSAUR3) this
# script does not use: a missing one is recorded as null instead of stopping
packageVersion <- function(pkg, ...)
  tryCatch(utils::packageVersion(pkg, ...), error = function(e) NA)
source(file.path("tests", "results", "r_scripts", "multifactor_common.R"))  # works from tests/

## 1. data -------------------------------------------------------------------------
load_defs(file.path("results", "r_scripts", "export_datasets.R"))   # fmt_num, export
out_dir <- file.path("data", "real")   # used by export()
levels_info <- list()                   # filled by export()
data(Salamanders, package = "glmmTMB")
# site is an *ordered* factor in glmmTMB (kept as such in factor_levels.json);
# the fits use it only as a grouping factor (load_real() drops the ordering)
export(Salamanders, "Salamanders")

fl_path <- file.path("data", "factor_levels.json")
fl <- read_json(fl_path, simplifyVector = FALSE)
fl[["Salamanders"]] <- lapply(levels_info[["Salamanders"]], function(v)
  list(levels = as.list(as.character(v$levels)), ordered = v$ordered, reference = v$reference))
txt <- toJSON(fl, auto_unbox = TRUE, pretty = 1, digits = NA)
cat(sub("\n$", "", txt), file = fl_path)   # 1-space indent, no trailing newline, as the file is
LEVELS <- fromJSON(fl_path, simplifyVector = TRUE)   # read by load_real()

## 2. fits -------------------------------------------------------------------------
f_cond <- "count ~ spp * mined + (1 | site)"
f_zi <- "~ spp * mined"
note <- c("mined has R level order (yes, no): coefficients minedno, spp*:minedno",
          "spp levels in R order GP, PR, DM, EC-A, EC-L, DES-L, DF (reference GP)",
          "several zero-inflation coefficients are weakly identified (cells of spp x mined with (almost) no non-zero count): their SEs are very large")
specs <- list(
  tmb_spec("Salamanders__tmb_zip_rich", "Salamanders",
           "zero-inflated Poisson, zi ~ spp * mined, (1|site)", f_cond, "poisson",
           ziformula = f_zi, notes = note),
  tmb_spec("Salamanders__tmb_zinb2_rich", "Salamanders",
           "zero-inflated NB2, zi ~ spp * mined, (1|site)", f_cond, "nbinom2",
           ziformula = f_zi,
           notes = c(note, "NB2: var = mu + mu^2/theta; dispersion.nb_theta = theta = sigma(fit)")))
for (s in specs) run_tmb(s)
cat("fit_salamanders.R done\n")
