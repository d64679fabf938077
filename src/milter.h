#ifndef SG_MILTER_H
#define SG_MILTER_H

int	milter_register(void);

#endif
