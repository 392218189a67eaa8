#!/bin/sh
# Install R and MatchIt 4.7.2 from source tarballs or source folders you supply, for benchmarks/bench_matchit.py.
#
# CRAN is not reachable from every machine, and Debian's r-cran-matchit is 4.5.1 (its calipers are broken:
# never compare with it). Download these from CRAN yourself (https://cran.r-project.org/src/contrib/ and
# .../Archive/) and pass their paths, dependencies first:
#
#   sh benchmarks/install_matchit.sh rlang_1.1.4.tar.gz chk_0.10.0.tar.gz MatchIt_4.7.2.tar.gz
#
# or pass folders exported from the packages' GitHub repositories at their release commits (how the
# README's side-by-side run got them): r-lib/rlang tag v1.1.6, poissonconsulting/chk commit 2bb4ce87
# (Version 0.10.0), kosukeimai/MatchIt commit 14a3cab (4.7.2 as submitted on 2025-05-29; later commits
# touch only the README), e.g. `git archive --prefix=MatchIt/ 14a3cab | tar x`.
#
# MatchIt 4.7.2 needs rlang >= 1.1.0 and chk >= 0.10.0, newer than Debian bookworm's; its other dependencies
# (Rcpp, RcppProgress, backports; lifecycle for chk) and data.table (the benchmark reads its data with fread) come from Debian.
set -eu
if [ "$#" -eq 0 ]; then
    sed -n '2,16p' "$0"
    exit 2
fi
if ! command -v Rscript >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends r-base-core r-base-dev r-cran-rcpp r-cran-rcppprogress \
        r-cran-backports r-cran-lifecycle r-cran-data.table
fi
for tarball in "$@"; do
    R CMD INSTALL "$tarball"
done
Rscript -e 'v <- as.character(packageVersion("MatchIt")); cat("MatchIt", v, "\n"); if (v != "4.7.2") quit(status = 1)'
