#ifndef SG_SYSLOGC_H
#define SG_SYSLOGC_H

#include <pthread.h>
#include <stddef.h>

#define SYSLOGC_PATH	"/dev/log"

/* A syslog client: one non-blocking datagram socket to the local syslogd. */
struct syslogc {
	int		 fd;		/* -1: no socket */
	int		 facility;	/* LOG_MAIL, ... */
	char		 tag[32];
	char		 path[108];
	pthread_mutex_t	 lock;		/* reconnect */
};

int	syslogc_open(struct syslogc *, const char *, const char *, int);
int	syslogc_send(struct syslogc *, int, const char *, size_t, int);
void	syslogc_close(struct syslogc *);

#endif
