/*
 * NAME
 *	benchstat - timing helpers of the in-process benchmarks
 * SYNOPSIS
 *	#include "benchstat.h"
 *
 *	double bench_now_ns(void)
 *
 *	int bench_cmp_double(const void *a, const void *b)
 * DESCRIPTION
 *	bench_now_ns() reads CLOCK_MONOTONIC in nanoseconds, as a double.
 *
 *	bench_cmp_double() orders doubles for qsort(), so that a benchmark
 *	can take percentiles of its samples.
 * DIAGNOSTICS
 *	None.
 */
#include <time.h>

#include "benchstat.h"

double
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int
bench_cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}
