#ifndef SG_BENCHSTAT_H
#define SG_BENCHSTAT_H

double	bench_now_ns(void);
int	bench_cmp_double(const void *, const void *);

#endif
