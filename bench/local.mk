# bench/: benchmarks.  Each prints one JSON object per line on stdout;
# `make bench` runs every program in BENCHES.

# Hypervisor drivers against a real test guest: dirty rates with log-dirty
# off and on, harvest cost, write-protect fault cost.
noinst_PROGRAMS += bench/bench-hv
BENCHES += bench/bench-hv
bench_bench_hv_SOURCES = bench/bench_hv.c
bench_bench_hv_LDADD = $(HV_LIBS)
