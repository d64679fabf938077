#ifndef SG_TRACE_DIAG_H
#define SG_TRACE_DIAG_H

#include <stddef.h>

void	diag_init(const char *);
void	diag_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	diag_fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

void	*mem_alloc(size_t);
void	*mem_array(void *, size_t, size_t);
char	*mem_strdup(const char *);

#endif
