/*
 * A fault injector for the protocol tests, loaded with LD_PRELOAD into the
 * daemon only: calloc() of SG_FAIL_CALLOC_MIN bytes or more fails once the
 * file named by SG_FAIL_CALLOC_FILE exists. sessguard allocates one
 * session with calloc() at connect, so a test can make exactly that fail
 * after start-up and watch the daemon answer TEMPFAIL and stay up.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*real_calloc)(size_t, size_t);
static char bootstrap[4096];
static size_t used;

void *
calloc(size_t n, size_t size)
{
	const char *min, *file;

	if (real_calloc == NULL) {
		/* dlsym() itself may call calloc(): serve it from a static pool */
		static int resolving;

		if (resolving) {
			size_t want = (n * size + 15) & ~(size_t)15;

			if (used + want > sizeof(bootstrap))
				return NULL;
			used += want;
			return memset(bootstrap + used - want, 0, want);
		}
		resolving = 1;
		real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
		resolving = 0;
	}
	min = getenv("SG_FAIL_CALLOC_MIN");
	file = getenv("SG_FAIL_CALLOC_FILE");
	if (min && file && n * size >= (size_t)atol(min)
	    && access(file, F_OK) == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return real_calloc(n, size);
}
