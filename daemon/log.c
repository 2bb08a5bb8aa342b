// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"

static bool use_syslog;
static bool verbose_log;
/* stderr is journald's stream (systemd's JOURNAL_STREAM names it): each
 * line starts with its priority as <N>, which journald takes as such */
static bool journal_prefix;

void cs_log_init(bool verbose)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	verbose_log = verbose;
	journal_prefix = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
			 !fstat(2, &st) && st.st_dev == dev && st.st_ino == ino;
}

void cs_log_to_syslog(void)
{
	openlog("cowsnapd", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

void cs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !verbose_log)
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		if (journal_prefix)
			fprintf(stderr, "<%d>", prio);
		fputs("cowsnapd: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

bool cs_ratelimit(struct cs_ratelimit *r, unsigned long long now_ms, unsigned int *missed)
{
	*missed = 0;
	if (!r->start_ms || now_ms - r->start_ms >= r->period_ms) {
		*missed = r->missed;
		r->start_ms = now_ms ? now_ms : 1;
		r->n = 0;
		r->missed = 0;
	}
	if (r->n < r->burst) {
		r->n++;
		return true;
	}
	r->missed++;
	return false;
}
