#ifndef SG_TRACE_INPUT_H
#define SG_TRACE_INPUT_H

#include <stddef.h>

struct input;

struct input *input_open(const char *, const char **);
int	input_line(struct input *, const char **, size_t *, int *);
const char *input_name(const struct input *);
const char *input_error(const struct input *);
void	input_close(struct input *);

#endif
