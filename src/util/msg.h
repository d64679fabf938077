#ifndef SG_MSG_H
#define SG_MSG_H

#include <stddef.h>

void	msg_init(const char *, int);
void	msg_to_syslog(int);
void	msg_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	msg_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	msg_fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	errf(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
