#!/bin/sh
# Install R and MatchIt 4.7.2 from source tarballs you supply, for benchmarks/bench_matchit.py.
#
# CRAN is not reachable from every machine, and Debian's r-cran-matchit is 4.5.1 (its calipers are broken:
# never compare with it). Download these from CRAN yourself (https://cran.r-project.org/src/contrib/ and
# .../Archive/) and pass their paths, dependencies first:
#
#   sh benchmarks/install_matchit.sh rlang_1.1.4.tar.gz chk_0.10.0.tar.gz MatchIt_4.7.2.tar.gz
#
# MatchIt 4.7.2 needs rlang >= 1.1.0 and chk >= 0.8.1, newer than Debian bookworm's; its other dependencies
# (Rcpp, RcppProgress, backports) and data.table (the benchmark reads its data with fread) come from Debian.
set -eu
if [ "$#" -eq 0 ]; then
    sed -n '2,11p' "$0"
    exit 2
fi
if ! command -v Rscript >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends r-base-core r-base-dev r-cran-rcpp r-cran-rcppprogress \
        r-cran-backports r-cran-data.table
fi
for tarball in "$@"; do
    R CMD INSTALL "$tarball"
done
Rscript -e 'v <- as.character(packageVersion("MatchIt")); cat("MatchIt", v, "\n"); if (v != "4.7.2") quit(status = 1)'
