# Export lme4's VerbAgg and ordinal's soup to CSV and add their factor level
# order to tests/data/factor_levels.json (existing entries are kept as they are).
#
#   Rscript tests/results/r_scripts/export_datasets_multifactor.R   (run from the repo root)
#
# The CSV writer and the round-trip check are the ones of export_datasets.R
# (its function definitions are loaded from that file, nothing else of it runs).
suppressPackageStartupMessages(library(jsonlite))

## load only the function definitions (fmt_num, export) of export_datasets.R
load_defs <- function(path, env = globalenv()) {
  for (e in parse(path)) {
    if (is.call(e) && identical(e[[1]], as.name("<-")) && is.call(e[[3]]) &&
        identical(e[[3]][[1]], as.name("function")))
      eval(e, env)
  }
}
load_defs(file.path("tests", "results", "r_scripts", "export_datasets.R"))

out_dir <- file.path("tests", "data", "real")   # used by export()
levels_info <- list()                            # filled by export()

## VerbAgg (lme4) --------------------------------------------------------------
data(VerbAgg, package = "lme4")
VerbAgg$r2num <- as.integer(VerbAgg$r2 == "Y")
export(VerbAgg, "VerbAgg")

## soup (ordinal) ---------------------------------------------------------------
data(soup, package = "ordinal")
soup$SURENESS_int <- as.integer(as.character(soup$SURENESS))
export(soup, "soup")

## merge into factor_levels.json (1-space indent, no trailing newline, as the file is)
fl_path <- file.path("tests", "data", "factor_levels.json")
fl <- read_json(fl_path, simplifyVector = FALSE)
for (nm in names(levels_info)) {
  fl[[nm]] <- lapply(levels_info[[nm]], function(v)
    list(levels = as.list(as.character(v$levels)), ordered = v$ordered, reference = v$reference))
}
txt <- toJSON(fl, auto_unbox = TRUE, pretty = 1, digits = NA)
cat(sub("\n$", "", txt), file = fl_path)
cat("updated", fl_path, "with", paste(names(levels_info), collapse = ", "), "\n")
